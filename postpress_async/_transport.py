"""The aiohttp transport: owns the session, sends one attempt, follows safe redirects.

This is the only module that touches aiohttp, and the one place its exceptions become ours;
a response that is not a 2xx becomes its ``APIStatusError`` here too, through the pure
``_errors.status_error`` (by way of ``_failures.Failures.response``, which tells a proxy's own
401/403/407 from the API's). The key is sent only to the origin of ``base_url``: a redirect
elsewhere is refused, never followed with or without the key.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
import sys
import threading
import time
from typing import Any, Final

import aiohttp
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from ._config import Settings, Timeout
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    closed_in_flight,
)
from ._expiry import Expiries, Tick
from ._failures import (
    CERTIFICATE_ERRORS,
    Failures,
    deadline_error,
    describe,
    missing_decoder,
    shown_path,
    timeout_error,
)
from ._gate import Gate
from ._logging import logger
from ._network import connector, proxy_authorization, proxy_options, socks_errors, tls_context
from ._ratelimit import RateLimit, Ticket
from ._version import __version__

__all__ = ["USER_AGENT", "HttpResponse", "Transport", "client_timeout"]

USER_AGENT: Final = (
    f"postpress-async/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"
    f" aiohttp/{aiohttp.__version__}"
)


ERROR_BODY_LIMIT = 64 * 1024
"""An error response is read this far and no further: its envelope is small."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TIMEOUTS = (asyncio.TimeoutError, aiohttp.ServerTimeoutError)
_GONE: Final = object()

# Where the call's deadline ran out, as its APITimeoutError says it.
WAITING_FOR_SLOT: Final = "while waiting for a connection slot (Limits.max_connections)"
WAITING_FOR_RATE: Final = "while waiting for the rate limit (rate_limit)"
WAITING_FOR_RESPONSE: Final = "while waiting for the response"
BEFORE_SENDING: Final = "before the request was sent"


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """aiohttp's part of the time limits: ``connect`` and ``read``.

    The attempt's own limit is kept by ``Expiries`` (``_expiry``), not by aiohttp's ``total``,
    which would start a timer for every request.
    """
    return aiohttp.ClientTimeout(total=None, connect=timeout.connect, sock_read=timeout.read)


def request_headers(settings: Settings) -> dict[str, str]:
    """The constant headers of every request, built once per client."""
    return {
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        **settings.default_headers,
        "X-API-KEY": settings.api_key,
    }


class HttpResponse(msgspec.Struct, frozen=True, gc=False):
    """A response as the transport read it (a Struct: built in C, once per request)."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes
    url: URL


class Transport:
    """One aiohttp session (the client's own or the caller's) and the request function."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession | None = None,
        *,
        ssl: _ssl.SSLContext | bool = True,
    ) -> None:
        self._settings = settings
        self._headers = request_headers(settings)
        self._max_size = settings.max_response_size
        self._max_digits = len(str(self._max_size))
        self._timeout = client_timeout(settings.timeout)
        self._attempt = settings.timeout.attempt
        self._expiries = Expiries()  # the attempts' timers
        proxy = settings.proxy
        if session is not None and proxy is not None and proxy.source != "proxy":
            proxy = None  # a caller's session: its own trust_env decides on the environment
        if proxy is not None and proxy.is_socks and session is not None:
            raise ConfigurationError(
                f"a {proxy.scheme} proxy needs the client's own connections: leave out "
                "http_session, or give your session an aiohttp-socks connector"
            )
        tunnel = URL(settings.base_url).scheme == "https"
        via_proxy = proxy_options(proxy, tunnel=tunnel)
        if not tunnel:  # absolute-form requests to the proxy carry its credentials themselves
            self._headers.update(proxy_authorization(proxy))
        # On its own session the constant headers and timeout are the session's defaults, so
        # aiohttp does not merge them again for every request; a caller's session gets them
        # with each request instead, along with the settings its own defaults might override.
        self._request_options: dict[str, Any] = (
            {"allow_redirects": False, **via_proxy}
            if session is None
            else {
                "allow_redirects": False,
                "headers": self._headers,
                "timeout": self._timeout,
                "raise_for_status": False,
                "ssl": ssl,
                **via_proxy,
            }
        )
        self._origin = URL(settings.base_url).origin()
        # The trust store was read from the environment when the client was created.
        self._ssl = tls_context(settings, ssl) if session is None else ssl
        self._failures = Failures(self._origin, proxy)
        self._socks_errors = socks_errors(proxy)
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0  # the thread of the loop, once bound
        self._closed = False
        # Waiting for a pooled connection must not eat into an attempt's timeout: requests
        # queue here, outside it (but inside the call's deadline), for one of the connector's
        # connections.
        limits = settings.limits
        pool = [n for n in (limits.max_connections, limits.max_connections_per_host) if n]
        self._slots = Gate(min(pool)) if pool and session is None else None
        # At most rate_limit a second, a tenth of a second's worth at once (see _ratelimit),
        # counted when each request is sent where the session is ours to trace.
        rate = settings.rate_limit
        self._rate = None if rate is None else RateLimit(rate, counts_sends=session is None)

    @property
    def closed(self) -> bool:
        """True once ``aclose`` was called."""
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:  # a call made before (the client refuses those made after) close
            raise closed_in_flight()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._thread = threading.get_ident()
        elif self._loop is not loop:
            raise RuntimeError(
                "this postpress client is bound to the event loop it was first used in; "
                "create one client per event loop (or use pp.Postpress from sync code)"
            )
        if self._session is None:
            limits = self._settings.limits
            pool = connector(
                self._settings.proxy,  # the client's own session: the proxy it was given
                limit=limits.max_connections,
                limit_per_host=limits.max_connections_per_host,
                ttl_dns_cache=limits.dns_cache_ttl,
                use_dns_cache=limits.dns_cache_ttl is not None,
                keepalive_timeout=limits.keepalive_timeout,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=pool,
                headers=self._headers,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
                trace_configs=None if self._rate is None else [_sends_trace()],
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport created it; idempotent."""
        self._closed = True
        self._expiries.close()
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    async def send(self, url: URL, deadline_at: float | None = None) -> HttpResponse:
        """One attempt: GET ``url`` (following same-origin redirects), read a 2xx response.

        Any other status raises its ``APIStatusError``. ``deadline_at`` is the call's deadline
        (``time.monotonic()``; None: none): the waits for the rate limit and a connection slot,
        and every hop of the attempt, end by then, or the attempt raises ``APITimeoutError``.
        """
        # Used in the thread it was first used in, the client takes the session as it is: a
        # request from another event loop of that thread has no task of the client's loop and
        # is refused below, before it is sent. Anything else (first use, closed, another
        # thread, or a rate limit, which may wait in the loop) is checked first.
        session = self._session
        rate = self._rate
        ticket: Ticket | None = None  # a rate limit's grant for this hop
        if session is None or rate is not None or threading.get_ident() != self._thread:
            session = self._open()
            if rate is not None:
                ticket = await self._admit(rate, url, deadline_at, WAITING_FOR_RATE)
        slots = self._slots
        if slots is not None:
            if slots.free:  # Gate's uncontended path, inline
                slots.free -= 1
            else:
                await _queue(slots, url, self._settings.timeout, deadline_at, ticket)
        expiries = self._expiries
        tick: Tick | None = None  # the attempt's place among the timers, once it has one
        try:
            options = self._request_options
            # One clock read per attempt: the attempt's redirects share its time, and the
            # deadline shortens it when it leaves less than a whole attempt.
            started = time.monotonic()
            ends = started + self._attempt
            by_deadline = False
            if deadline_at is not None and deadline_at < ends:
                ends, by_deadline = deadline_at, True
                self._time_left(url, ends, by_deadline, BEFORE_SENDING)
            # The task of the client's own loop: None from another event loop of this thread
            # (refused before anything is sent), or outside any task (nothing to time out).
            current = asyncio.current_task(self._loop)
            if current is None:
                self._open()  # another loop: its error
                raise RuntimeError("a postpress call must run in an asyncio task")
            task: asyncio.Task[Any] = current
            if sys.version_info >= (3, 11):
                cancelling = task.cancelling()  # cancellations asked for before this attempt
            tick = expiries.add(task, ends, ends - started)
            hops = 0
            while True:
                if ticket is not None:
                    assert rate is not None  # a ticket is the rate limit's
                    if hops:  # each hop is a request of its own: it waits for the limit too
                        ticket.close()
                        ticket = None
                        during = f"{WAITING_FOR_RATE} before redirect {hops}"
                        ticket = await self._admit(rate, url, deadline_at, during)
                    if rate.counts_sends:
                        options = {**options, "trace_request_ctx": ticket}
                failure: APIConnectionError | ResponseDecodeError | None = None
                try:
                    # Awaited, not entered: `async with` costs five coroutines per request
                    # (two in, three out); release() is what leaving it does. An error's
                    # traceback holds ``resp``, so it must be released here, not left to GC.
                    resp = await session.get(url, **options)
                    try:
                        status = resp.status
                        headers = resp.headers
                        ok = status // 100 == 2
                        # aiohttp has checked that Content-Length is digits to read the body.
                        length = headers.get("Content-Length")
                        if (
                            ok
                            and length is not None
                            and "Content-Encoding" not in headers
                            # fewer digits than the cap is below it: nothing to compare
                            and (
                                len(length) < self._max_digits
                                or _declared_length(length) <= self._max_size
                            )
                        ):
                            # The usual response has arrived whole with its head: taken as it
                            # is, no await (a caller's session keeps read(), which tells its
                            # trace configs of the body).
                            content = resp.content
                            if content.is_eof() and self._owns_session:
                                body = content.read_nowait()
                            else:
                                body = await resp.read()
                        elif status == 407:  # only a proxy asks for proxy credentials
                            raise self._failures.refused_by_proxy(status, tunnel=False)
                        elif status in _REDIRECTS and "Location" in headers:
                            url = self._redirect_target(url, status, headers, hops)
                            hops += 1
                            # The next hop has what is left of the attempt, not a fresh one.
                            self._time_left(url, ends, by_deadline, f"before redirect {hops}")
                            continue
                        else:
                            body = await self._read(resp)
                        if logger.isEnabledFor(logging.DEBUG):
                            elapsed = (time.monotonic() - started) * 1000
                            logger.debug(
                                "GET %s -> %d in %.1f ms", url.raw_path_qs, status, elapsed
                            )
                        if ok:
                            return HttpResponse(status, headers, body, url)
                        raise self._failures.response(status, headers, body, url)
                    finally:
                        resp.release()
                except _TIMEOUTS as exc:  # aiohttp's own: connect or read
                    during = f"during redirect {hops}" if hops else WAITING_FOR_RESPONSE
                    raise timeout_error(
                        exc, url, self._settings.timeout, deadline=by_deadline, during=during
                    ) from exc
                # A response error's repr carries the request headers (the key, the proxy's
                # credentials): keep only its text, and raise outside this block so that it is not
                # even the implicit __context__.
                except aiohttp.ClientHttpProxyError as exc:
                    failure = self._failures.refused_by_proxy(exc.status, tunnel=True)
                except aiohttp.ClientResponseError as exc:
                    failure = missing_decoder(exc) or APIConnectionError(
                        f"GET {shown_path(url)} failed: {describe(exc)}"
                    )
                except CERTIFICATE_ERRORS as exc:
                    raise self._failures.certificate(exc) from exc
                except aiohttp.ClientProxyConnectionError as exc:
                    raise self._failures.proxy_unreachable(exc, url) from exc
                except self._socks_errors as exc:
                    raise self._failures.socks(exc, url) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    if self._closed:  # aclose() closed the connection under this request
                        raise closed_in_flight() from exc
                    raise self._failures.connection(exc, url) from exc
                except RuntimeError:
                    self._open()  # closed, or another event loop: raise that, not aiohttp's
                    raise
                raise failure
        except asyncio.CancelledError:
            # The attempt's tick fired: its time is up, unless the caller cancelled too.
            if tick is None or not expiries.expired(task):
                raise
            if sys.version_info >= (3, 11) and task.uncancel() > cancelling:
                raise
            during = f"during redirect {hops}" if hops else WAITING_FOR_RESPONSE
            expired = asyncio.TimeoutError()  # the cause, as aiohttp's own timer gave it
            timeout = self._settings.timeout
            raise timeout_error(
                expired, url, timeout, deadline=by_deadline, during=during
            ) from expired
        finally:
            if tick is not None and tick.pop(task, _GONE) is _GONE:
                expiries.settle(task)  # its tick fired while it ended: forget that
            if slots is not None:
                if slots.waiters:
                    slots.leave()
                else:  # Gate's uncontended path, inline
                    slots.free += 1
            if ticket is not None:
                ticket.close()

    async def _admit(
        self, rate: RateLimit, url: URL, deadline_at: float | None, during: str
    ) -> Ticket:
        """A grant of the rate limit, waiting for it no later than ``deadline_at``."""
        if not rate.try_acquire() and not await rate.acquire(deadline_at):
            raise deadline_error(url, self._settings.timeout, during)
        return Ticket(rate)

    def _time_left(self, url: URL, ends: float, by_deadline: bool, during: str) -> None:
        """Raise ``APITimeoutError`` if the attempt (or the call, ``by_deadline``), which
        ends at ``ends``, has no time left for what comes next (``during``)."""
        if ends - time.monotonic() > 0:
            return
        timeout = self._settings.timeout
        if by_deadline:
            raise deadline_error(url, timeout, during)
        raise APITimeoutError(
            f"GET {shown_path(url)} timed out: the attempt took longer than "
            f"Timeout.attempt={timeout.attempt:g}s {during}",
            limit="attempt",
            seconds=timeout.attempt,
        )

    def _redirect_target(
        self, url: URL, status: int, headers: CIMultiDictProxy[str], hops: int
    ) -> URL:
        if hops >= self._settings.max_redirects:
            raise APIStatusError(
                f"{status} redirect not followed: more than max_redirects="
                f"{self._settings.max_redirects} redirects",
                status=status,
                headers=headers,
                body=b"",
            )
        location = headers["Location"]
        try:
            target: URL | None = url.join(URL(location))
            same_origin = (
                target is not None
                and target.absolute
                and target.host is not None
                and target.origin() == self._origin
            )
        except ValueError:
            target, same_origin = None, False
        if target is None or not same_origin:
            shown = (
                f"{target.scheme}://{target.host or ''}" if target is not None else repr(location)
            )
            raise APIStatusError(
                f"{status} redirect to another origin ({shown}) refused: the API key is sent "
                f"only to {self._origin}",
                status=status,
                headers=headers,
                body=b"",
            )
        logger.debug("GET %s -> %d, following same-origin redirect", url.raw_path, status)
        return target

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        status = resp.status
        limit = self._settings.max_response_size if status < 300 else ERROR_BODY_LIMIT
        headers = resp.headers
        length = _declared_length(headers.get("Content-Length"))
        # Content-Length counts the bytes on the wire; a compressed body is measured as read.
        encoded = (
            "Content-Encoding" in headers and headers["Content-Encoding"].lower() != "identity"
        )
        if length >= 0 and not encoded:
            if length <= limit:
                return await resp.read()
            if status < 300:
                raise _too_large(length, limit)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                if status >= 300:  # an error page: its first bytes are all we keep
                    return bytes(body[:limit])
                raise _too_large(None, limit)
        return bytes(body)


_LENGTH_DIGITS: Final = 20
"""No body has a 21-digit length; aiohttp's own parser refuses one over 64 bits."""
_HUGE: Final = 10**_LENGTH_DIGITS


def _declared_length(value: str | None) -> int:
    """``Content-Length`` as a number, or -1 if it is absent or not one.

    Leading zeros are allowed (``1*DIGIT``), and aiohttp's C parser lets thousands through:
    they are stripped rather than handed to ``int()``, which refuses over 4,300 digits. A
    length of more than ``_LENGTH_DIGITS`` digits is ``_HUGE``, above any size limit.
    """
    if value is None:
        return -1
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return -1
    digits = text.lstrip("0")
    return int(digits or "0") if len(digits) <= _LENGTH_DIGITS else _HUGE


def _too_large(length: int | None, limit: int) -> ResponseTooLargeError:
    size = f"{length} bytes" if length is not None and length < _HUGE else "more than that"
    return ResponseTooLargeError(
        f"response body is larger than max_response_size={limit} bytes ({size}); "
        "raise max_response_size if this is expected"
    )


async def _queue(
    slots: Gate, url: URL, timeout: Timeout, deadline_at: float | None, ticket: Ticket | None
) -> None:
    """Wait for a connection slot, no later than ``deadline_at`` (the contended path only).

    If none comes, the rate limit's ``ticket`` (if any) is given up: its request never left.
    """
    try:
        if deadline_at is None:
            await slots.enter()
        else:
            await asyncio.wait_for(slots.enter(), deadline_at - time.monotonic())
    except asyncio.TimeoutError:
        if ticket is not None:
            ticket.close()
        raise deadline_error(url, timeout, WAITING_FOR_SLOT) from None
    except BaseException:
        if ticket is not None:
            ticket.close()
        raise


def _sends_trace() -> aiohttp.TraceConfig:
    """Tells each request's rate-limit ``Ticket`` when the request's head has been written."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_request_sent)
    return trace


async def _request_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    ticket = getattr(context, "trace_request_ctx", None)
    if isinstance(ticket, Ticket):
        ticket.sent()
