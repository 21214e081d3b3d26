"""How the transport reaches the server, and what a failure to reach it becomes.

The transport's half for the way there: its connector (direct, or through a SOCKS proxy with
the optional ``aiohttp-socks``), aiohttp's options for an http(s) proxy, the trust store, and
the mapping of connection failures: a certificate that fails verification is a
``CertificateError``, a proxy's refusal a ``ProxyError`` (both final), anything else an
``APIConnectionError`` that may be retried. Messages are bounded, quote no response bytes, and
show a proxy only as its URL without credentials.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import asyncio.sslproto
import base64
import re
import ssl as _ssl
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, cast

import aiohttp
from yarl import URL

from ._config import Settings, Timeout
from ._errors import APIConnectionError, APITimeoutError, CertificateError, ProxyError
from ._proxy import Proxy
from ._redact import redact_urls
from ._tls import verifying_context

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler  # a private module: types only

__all__ = [
    "CERTIFICATE_ERRORS",
    "READ_SIZE",
    "Failures",
    "connector",
    "describe",
    "proxy_authorization",
    "proxy_options",
    "read_in_pieces",
    "shown_path",
    "shown_url",
    "socks_errors",
    "timeout_error",
    "tls_context",
]

CERTIFICATE_ERRORS: Final = (aiohttp.ClientConnectorCertificateError, _ssl.SSLCertVerificationError)
"""aiohttp's, and the bare one a SOCKS tunnel's TLS handshake raises."""

DESCRIBE_LIMIT: Final = 200
"""How much of a dependency's exception text a message quotes."""

_LEADING_WORDS: Final = re.compile(r"[A-Za-z][A-Za-z ,-]*")
_TUNNEL_GATEWAY_FAILURES: Final = frozenset({502, 503, 504})


def tls_context(settings: Settings, ssl: _ssl.SSLContext | bool) -> _ssl.SSLContext | bool:
    """What the client's own connector verifies with: ``ssl=`` if given, else the trust store."""
    return verifying_context(settings.trust_store) if ssl is True else ssl


def proxy_authorization(proxy: Proxy | None) -> dict[str, str]:
    """The ``Proxy-Authorization`` header for the proxy's credentials, if it has any."""
    if proxy is None or proxy.is_socks or (proxy.username is None and proxy.password is None):
        return {}
    # The header itself, not aiohttp.BasicAuth (deprecated in newer aiohttp, and latin-1 only).
    pair = f"{proxy.username or ''}:{proxy.password or ''}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def proxy_options(proxy: Proxy | None, *, tunnel: bool) -> dict[str, Any]:
    """aiohttp's per-request options for an http(s) proxy.

    Through a CONNECT ``tunnel`` (an https API) the credentials go with the CONNECT; otherwise
    the transport sends them as a header of each request (the proxy reads them there).
    """
    if proxy is None or proxy.is_socks:
        return {}
    options: dict[str, Any] = {"proxy": URL(proxy.url)}
    credentials = proxy_authorization(proxy)
    if tunnel and credentials:
        options["proxy_headers"] = credentials
    return options


READ_SIZE: Final = 64 * 1024
"""The most one read of a connection takes at once, on asyncio's own event loop.

asyncio reads up to 256 KiB at a time, each read into a new bytes object cut down to what
arrived. That size is above glibc's 128 KiB mmap threshold, so every read of a response maps,
remaps and unmaps memory: three system calls and two page faults, about a fifth of the CPU
time of a whole request on loopback (benchmarks/README.md). 64 KiB comes from the heap.
"""


_SOCKET_TRANSPORTS: Final = tuple(
    cls
    for cls in (getattr(asyncio.selector_events, "_SelectorSocketTransport", None),)
    if isinstance(cls, type)
)


def read_in_pieces(transport: asyncio.BaseTransport) -> None:
    """Make a new connection of asyncio's own loop read at most ``READ_SIZE`` at a time.

    Plain TCP: the socket transport's ``max_size``. TLS (Python 3.11+): the TLS layer's, which
    decrypts into a new bytes object of that size (its socket reads go into one buffer already).
    Any other transport (uvloop's reads into one buffer; Python 3.10's TLS) is left as it is.
    """
    if isinstance(transport, _SOCKET_TRANSPORTS):
        cast(Any, transport).max_size = READ_SIZE  # asyncio's own attribute, read on each recv
        return
    tls = getattr(transport, "_ssl_protocol", None)
    if isinstance(tls, asyncio.sslproto.SSLProtocol) and hasattr(tls, "_do_read__copied"):
        cast(Any, tls).max_size = READ_SIZE  # the same, read on each decrypting read


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, each new connection set to read in ``READ_SIZE`` pieces."""

    async def _wrap_create_connection(
        self, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        transport, protocol = await super()._wrap_create_connection(*args, **kwargs)
        read_in_pieces(transport)
        return transport, protocol


def connector(proxy: Proxy | None, **settings: Any) -> aiohttp.TCPConnector:
    """The client's own connector: direct, or through a SOCKS proxy."""
    if proxy is None or not proxy.is_socks:
        return _Connector(**settings)
    from aiohttp_socks import ProxyConnector, ProxyType

    return ProxyConnector(
        host=proxy.host,
        port=proxy.port,
        proxy_type=ProxyType.SOCKS4 if proxy.scheme == "socks4" else ProxyType.SOCKS5,
        username=proxy.username,
        password=proxy.password,
        rdns=proxy.scheme == "socks5h",
        **settings,
    )


def socks_errors(proxy: Proxy | None) -> tuple[type[Exception], ...]:
    """The exceptions a SOCKS connector raises (none without one)."""
    if proxy is None or not proxy.is_socks:
        return ()
    import aiohttp_socks

    return (
        aiohttp_socks.ProxyError,
        aiohttp_socks.ProxyConnectionError,
        aiohttp_socks.ProxyTimeoutError,
        asyncio.IncompleteReadError,  # the proxy hung up mid-handshake; aiohttp-socks lets it out
    )


def _hung_up_mid_handshake(exc: BaseException) -> bool:
    """The SOCKS proxy closed the connection before it answered.

    Older python-socks releases let asyncio's ``IncompleteReadError`` out; newer ones (3.2.2)
    raise a ``ProxyError`` caused by their own ``IncompleteReadError``: the same hang-up.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncio.IncompleteReadError) or type(seen).__name__ == (
            "IncompleteReadError"
        ):
            return True
        seen = seen.__cause__
    return False


def describe(exc: BaseException | None) -> str:
    """An exception as ``Name: text``: one line, bounded, no URL credentials, no quoted data."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, aiohttp.ClientResponseError):
        # A malformed response: aiohttp's text may quote the bytes it could not parse (a chat's
        # JSON, when a server sent more than its Content-Length); keep only the words before.
        found = _LEADING_WORDS.match(exc.message or "")
        text = found[0].strip(" ,-") if found else ""
    else:
        text = redact_urls(" ".join(str(exc).split()))
    if len(text) > DESCRIBE_LIMIT:
        text = text[: DESCRIBE_LIMIT - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def shown_path(url: URL) -> str:
    """The path to name in a message, bounded (an id may be long)."""
    path = url.raw_path
    return path if len(path) <= 120 else path[:119] + "…"


def shown_url(url: URL) -> str:
    """``url`` as a message may show it: origin and bounded path; no query, no credentials."""
    return f"{url.origin()}{shown_path(url)}"


_CONNECT_TIMEOUTS: Final = tuple(
    getattr(aiohttp, name) for name in ("ConnectionTimeoutError",) if hasattr(aiohttp, name)
)
_READ_TIMEOUTS: Final = tuple(
    getattr(aiohttp, name) for name in ("SocketTimeoutError",) if hasattr(aiohttp, name)
)
_LIMIT_WORDING: Final = {
    "attempt": "the attempt took longer than Timeout.attempt",
    "deadline": "the call reached its overall Timeout.deadline",
    "connect": "no connection within Timeout.connect",
    "read": "no data from the server for Timeout.read",
}


def timeout_error(
    exc: BaseException, url: URL, timeout: Timeout, budget: float | None
) -> APITimeoutError:
    """Which limit fired, from aiohttp's exception and this attempt's ``budget``."""
    limit: str
    seconds: float | None
    if isinstance(exc, _CONNECT_TIMEOUTS):
        limit, seconds = "connect", timeout.connect
    elif isinstance(exc, _READ_TIMEOUTS):
        limit, seconds = "read", timeout.read
    elif isinstance(exc, aiohttp.ServerTimeoutError):  # aiohttp before 3.10 says it in words
        reading = "read" in str(exc).lower()
        limit, seconds = ("read", timeout.read) if reading else ("connect", timeout.connect)
    else:
        total = timeout.attempt_total if budget is None else min(timeout.attempt_total, budget)
        if timeout.deadline is not None and total < timeout.attempt:
            limit, seconds = "deadline", timeout.deadline
        else:
            limit, seconds = "attempt", timeout.attempt
    value = "" if seconds is None else f"={seconds:g}s"
    message = f"GET {shown_path(url)} timed out: {_LIMIT_WORDING[limit]}{value}"
    return APITimeoutError(message, limit=limit, seconds=seconds)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


class Failures:
    """Builds the exceptions for failures on the way to one origin, through one proxy."""

    def __init__(self, origin: URL, proxy: Proxy | None) -> None:
        self._target = f"{origin.host}:{origin.port}"
        self._proxy = proxy.redacted if proxy is not None else None

    @property
    def _shown_proxy(self) -> str:
        return self._proxy or "between this client and the API"

    def refused_by_proxy(self, status: int, *, tunnel: bool) -> APIConnectionError:
        """A proxy's answer: a ``ProxyError``, but a tunnel's gateway failure may be retried."""
        proxy, target = self._shown_proxy, self._target
        answer = f"{status} {_phrase(status)}"
        if status == 407:
            return ProxyError(
                f"the proxy {proxy} refused the request to {target}: {answer} (check the "
                "proxy's user name and password; they are not the postpress API key)",
                status=status,
                proxy=self._proxy,
            )
        if tunnel and status in _TUNNEL_GATEWAY_FAILURES:
            return APIConnectionError(
                f"the proxy {proxy} could not open a tunnel to {target}: {answer}"
            )
        return ProxyError(
            f"the proxy {proxy} refused to open a tunnel to {target}: {answer}",
            status=status,
            proxy=self._proxy,
        )

    def certificate(self, exc: BaseException) -> CertificateError:
        """The server's certificate or host name failed verification."""
        cause = getattr(exc, "certificate_error", exc)
        reason = getattr(cause, "verify_message", None) or describe(cause)
        return CertificateError(
            f"the TLS certificate of {self._target} failed verification: {reason}; no request "
            "was sent (to trust a private CA, set SSL_CERT_FILE or pass "
            "ssl=ssl.create_default_context(cafile=...))"
        )

    def proxy_unreachable(self, exc: aiohttp.ClientProxyConnectionError, url: URL) -> Exception:
        """No connection to the proxy itself (down, refused): retryable like any connection."""
        return APIConnectionError(
            f"GET {shown_path(url)} failed: could not connect to the proxy {self._shown_proxy}: "
            f"{describe(exc.os_error)}"
        )

    def socks(self, exc: BaseException, url: URL) -> Exception:
        """An ``aiohttp-socks`` failure: unreachable, timed out, or refused by the proxy."""
        kind = type(exc).__name__
        if kind == "ProxyTimeoutError":
            return APITimeoutError(f"GET {shown_path(url)} timed out at the proxy")
        if _hung_up_mid_handshake(exc):
            return APIConnectionError(
                f"GET {shown_path(url)} failed: the proxy {self._shown_proxy} closed the "
                "connection during the SOCKS handshake (some proxies do so for wrong credentials)"
            )
        if kind == "ProxyConnectionError":
            return APIConnectionError(
                f"GET {shown_path(url)} failed: could not connect to the proxy "
                f"{self._shown_proxy}: {describe(exc)}"
            )
        return ProxyError(
            f"the proxy {self._shown_proxy} refused the request to {self._target}: {describe(exc)}",
            proxy=self._proxy,
        )
