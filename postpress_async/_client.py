"""``AsyncPostpress``: settings, lifecycle, and the one request path its resources share."""

from __future__ import annotations

import functools
import ssl as _ssl
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TypeVar

import aiohttp

from ._chats import AsyncChats
from ._config import (
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_SIZE,
    NOT_GIVEN,
    Limits,
    NotGiven,
    RetryPolicy,
    Timeout,
    settings,
)
from ._logging import configure_from_env
from ._retry import Attempt, AttemptObserver, with_retries
from ._tracing import tracing_for
from ._transport import HttpResponse, Transport
from ._url import Root, Route, query_string

__all__ = ["AsyncPostpress"]

T = TypeVar("T")


class AsyncPostpress:
    """The asyncio client. Use ``async with``, or call ``await client.aclose()`` when done.

    Arguments left out fall back to ``POSTPRESS_API_KEY`` and ``POSTPRESS_BASE_URL``.
    ``timeout`` is seconds per attempt or a ``pp.Timeout``; ``max_retries`` counts retries
    after the first attempt; ``retry`` replaces the whole ``pp.RetryPolicy``. Pass your own
    ``http_session`` to share a connection pool: the client will use it and never close it.
    ``proxy`` is an http, https, socks4, socks5 or socks5h URL (``user:password@`` allowed);
    with ``trust_env`` (the default) the proxy variables (``HTTPS_PROXY``, ``NO_PROXY``, ...)
    and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are read when the client is created.
    ``rate_limit`` caps the requests per second this client sends, retries included.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout = Timeout(),  # noqa: B008 - frozen value object
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_session: aiohttp.ClientSession | None = None,
        ssl: _ssl.SSLContext | bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        proxy: str | None = None,
        trust_env: bool = True,
        rate_limit: float | None = None,
    ) -> None:
        configure_from_env()
        self._settings = settings(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            limits=limits,
            default_headers=default_headers,
            max_response_size=max_response_size,
            max_redirects=max_redirects,
            proxy=proxy,
            trust_env=trust_env,
            rate_limit=rate_limit,
        )
        if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
            raise TypeError("http_session must be an aiohttp.ClientSession")
        if not isinstance(ssl, (bool, _ssl.SSLContext)):
            raise TypeError("ssl must be True, False or an ssl.SSLContext")
        self._transport = Transport(self._settings, http_session, ssl=ssl)
        self._root = Root(self._settings.base_url)
        self._retry, self._timeout = self._settings.retry, self._settings.timeout
        # Without opentelemetry-api the resources get the plain request path: no tracing code.
        self._tracing = tracing_for(self._settings.base_url)
        request = self._request if self._tracing is None else self._traced_request
        self.chats: AsyncChats = AsyncChats(
            request, self._tracing, self._settings.retry.retry_after_max, untraced=self._request
        )
        """Chats: ``retrieve``, ``retrieve_many``, ``with_raw_response.retrieve``."""

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._settings.base_url

    @property
    def timeout(self) -> Timeout:
        """The time limits in force."""
        return self._settings.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._settings.retry

    @property
    def closed(self) -> bool:
        """True once the client has been closed."""
        return self._transport.closed

    def _request(
        self,
        route: Route,
        path: tuple[object, ...],
        query: Mapping[str, object] | None,
        parse: Callable[[HttpResponse], T],
        observer: AttemptObserver | None = None,
        count: Callable[[Attempt[HttpResponse]], Attempt[HttpResponse]] | None = None,
    ) -> Awaitable[T]:
        """Call the API at ``route`` (retrying per the policy) and parse the 2xx response.

        ``observer`` (a batch's) hears of every failed attempt; a success costs it nothing.
        ``count`` wraps each attempt (tracing counts them). The call is the retry layer's
        coroutine itself: no frame of the client's around it.
        """
        if self._transport.closed:  # a call after close is a mistake; one in flight is not
            raise RuntimeError("this postpress client is closed; create a new one")
        url = self._root.url(route.path(path), query_string(query) if query else "")
        attempt: Attempt[HttpResponse] = functools.partial(self._transport.send, url)
        if count is not None:
            attempt = count(attempt)
        return with_retries(attempt, parse, self._retry, self._timeout, observer)

    def _traced_request(
        self,
        route: Route,
        path: tuple[object, ...],
        query: Mapping[str, object] | None,
        parse: Callable[[HttpResponse], T],
        observer: AttemptObserver | None = None,
    ) -> Awaitable[T]:
        """``_request``, inside a span once the application has set a tracer provider.

        Until then no span could record: the plain request's coroutine is handed back as it
        is, with no frame of its own around it.
        """
        assert self._tracing is not None
        if self._tracing.idle():
            return self._request(route, path, query, parse, observer)
        return self._recorded_request(route, path, query, parse, observer)

    async def _recorded_request(
        self,
        route: Route,
        path: tuple[object, ...],
        query: Mapping[str, object] | None,
        parse: Callable[[HttpResponse], T],
        observer: AttemptObserver | None,
    ) -> T:
        """``_request`` inside the call's span, its attempts counted (see ``_tracing``)."""
        assert self._tracing is not None
        call = self._tracing.call(route)
        if call is None:  # no tracer provider, or sampled out: nothing to record
            return await self._request(route, path, query, parse, observer)
        with call:
            return await self._request(route, path, query, parse, observer, call.counted)

    async def aclose(self) -> None:
        """Close the connections this client opened; safe to call more than once."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncPostpress:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        proxy = self._settings.proxy
        via = "" if proxy is None else f" proxy={proxy.redacted!r}"
        return f"<AsyncPostpress base_url={self.base_url!r}{via} api_key=<redacted>{state}>"
