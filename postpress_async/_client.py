"""``AsyncPostpress``: configuration, lifecycle, and the request path its resources share."""

from __future__ import annotations

import ssl as _ssl
import time
from collections.abc import Mapping
from types import TracebackType

import aiohttp
from yarl import URL

from ._chats import AsyncChats
from ._config import (
    DEFAULT_MAX_RESPONSE_SIZE,
    NOT_GIVEN,
    ClientConfig,
    Limits,
    NotGiven,
    RetryPolicy,
    Timeout,
)
from ._logging import configure_from_env
from ._retry import retry_after_failure
from ._transport import HttpResponse, Transport, raise_for_status

__all__ = ["AsyncPostpress"]


class AsyncPostpress:
    """The asyncio client. Use ``async with``, or call ``await client.aclose()`` when done.

    Arguments left out fall back to ``POSTPRESS_API_KEY`` and ``POSTPRESS_BASE_URL``.
    ``timeout`` is seconds per attempt or a ``pp.Timeout``; ``max_retries`` counts retries
    after the first attempt; ``retry`` replaces the whole ``pp.RetryPolicy``. Pass your own
    ``http_session`` to share a connection pool: the client will use it and never close it.
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
        max_redirects: int = 5,
    ) -> None:
        configure_from_env()
        self._config = ClientConfig.build(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            limits=limits,
            default_headers=default_headers,
            max_response_size=max_response_size,
            max_redirects=max_redirects,
        )
        if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
            raise TypeError("http_session must be an aiohttp.ClientSession")
        if not isinstance(ssl, (bool, _ssl.SSLContext)):
            raise TypeError("ssl must be True, False or an ssl.SSLContext")
        self._transport = Transport(self._config, http_session, ssl=ssl)
        self.chats = AsyncChats(self)
        """Chats: ``retrieve``, ``retrieve_many``, ``with_raw_response.retrieve``."""

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._config.base_url

    @property
    def timeout(self) -> Timeout:
        """The time limits in force."""
        return self._config.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._config.retry

    @property
    def closed(self) -> bool:
        """True once the client has been closed."""
        return self._transport.closed

    async def _get(self, url: URL) -> HttpResponse:
        """GET ``url`` and return a 2xx response, retrying per the policy; raise otherwise."""
        started = time.monotonic()
        try:
            return raise_for_status(await self._transport.get(url))
        except Exception as exc:
            policy = self._config.retry
            if policy.max_retries == 0 or not policy.retry_if(exc):
                raise
            first_failure = exc  # tenacity is entered only here, never on the happy path

        async def attempt(budget: float | None) -> HttpResponse:
            return raise_for_status(await self._transport.get(url, budget=budget))

        return await retry_after_failure(
            attempt, first_failure, self._config.retry, self._config.timeout, started
        )

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
        return f"<AsyncPostpress base_url={self.base_url!r} api_key=<redacted>{state}>"
