"""How the transport reaches the server, and what a failure to reach it becomes.

The transport's half for the way there: its connector (direct, or through a SOCKS proxy with
the optional ``aiohttp-socks``), aiohttp's options for an http(s) proxy, the trust store, and
the mapping of connection failures: a certificate that fails verification is a
``CertificateError`` (naming the proxy when it is the proxy's own), a proxy's refusal a
``ProxyError`` (both final), anything else an ``APIConnectionError`` that may be retried. A
401/403/407 that the proxy answered itself, not the API, is a ``ProxyError`` too
(``Failures.response``). Messages are bounded, quote no response bytes of a 2xx, and show a
proxy only as its URL without credentials.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import asyncio.sslproto
import base64
import functools
import re
import ssl as _ssl
from collections.abc import Callable, Coroutine, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, cast

import aiohttp
from yarl import URL

from ._config import Settings, Timeout
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    CertificateError,
    PostpressError,
    ProxyError,
    ResponseDecodeError,
    status_error,
)
from ._proxy import Proxy
from ._redact import redact_urls
from ._tls import verifying_context

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler  # private modules: types only
    from aiohttp.client_reqrep import ConnectionKey

__all__ = [
    "CERTIFICATE_ERRORS",
    "READ_SIZE",
    "Failures",
    "connector",
    "deadline_error",
    "describe",
    "missing_decoder",
    "proxy_authorization",
    "proxy_evidence",
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

_PROXY_STATUSES: Final = frozenset({401, 403, 407})
"""What a proxy answers for itself: it wants credentials, or its rules refuse the request."""
_PROXY_ONLY_HEADERS: Final = ("Proxy-Authenticate", "Proxy-Status", "X-Squid-Error")
"""Headers only a proxy sends (RFC 9110 11.7.1, RFC 9209; squid's error pages)."""

_SOCKS_UNREACHABLE: Final = frozenset({1, 3, 4, 5, 6, 91})
"""SOCKS replies that the proxy could not reach the target (general failure, network or host
unreachable, refused, TTL expired; SOCKS4's "rejected or failed"): retried like a CONNECT's 5xx.
Any other reply (2: not allowed by its rules, 7/8: unsupported) is a refusal."""


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


class _StrayBytes(Exception):
    """Bytes arrived on a connection resting in the pool: no request of ours asked for them."""


class _Idle:
    """The HTTP parser of a pooled connection while it rests: any byte that arrives is stray.

    aiohttp keeps a connection's last parser after its response ends, and parses whatever
    arrives next as the answer to the next request sent on it: a stray response would be
    handed to the next call, and each later call the previous one's. Raising here makes
    aiohttp close the connection at once (a parse error), so it is never reused.
    """

    __slots__ = ()

    def feed_data(self, data: bytes) -> tuple[tuple[()], bool, bytes]:
        if data:
            raise _StrayBytes
        return (), False, b""  # aiohttp resuming a paused read: nothing arrived

    def feed_eof(self) -> None:
        return None


_IDLE: Final = _Idle()


_pooled_release: Final = aiohttp.TCPConnector._release
_pooled_get: Final = aiohttp.TCPConnector._get


class _PoolGuard(aiohttp.TCPConnector):
    """aiohttp's connector, that never reuses a pooled connection something arrived on.

    Two cheap checks, no system call: a connection going back to the pool gets ``_Idle`` as
    its parser (one attribute set), so a byte arriving while it rests closes it; and the one
    taken from the pool must hold no parsed response (``_buffer``). That catches a response
    that came in the same read as the end of the one before: aiohttp puts the connection back
    in the middle of parsing that read, and parses the rest of it with the old parser.

    aiohttp's own methods are called directly rather than through ``super()``, a few hundred
    nanoseconds a request (neither ``TCPConnector`` nor aiohttp-socks' connector overrides
    them; ``_socks_connector`` checks).
    """

    def _release(
        self, key: ConnectionKey, protocol: ResponseHandler, *, should_close: bool = False
    ) -> None:
        protocol._parser = _IDLE  # type: ignore[assignment]  # the next request sets its own
        _pooled_release(self, key, protocol, should_close=should_close)

    def _get(self, key: ConnectionKey, traces: list[Any]) -> Coroutine[Any, Any, Any]:
        conns = self._conns.get(key)
        if conns and conns[0][0]._buffer:  # aiohttp takes the oldest first, from a deque
            _close_unread(conns)
        return _pooled_get(self, key, traces)


def _close_unread(conns: Iterable[tuple[ResponseHandler, float]]) -> None:
    """Close each pooled connection holding a response nobody read, up to the first clean
    one; aiohttp then drops them as it drops one the server closed."""
    for protocol, _ in conns:
        if not protocol._buffer:
            break
        protocol.close()


class _Connector(_PoolGuard):
    """The client's own connector: each new connection reads in ``READ_SIZE`` pieces."""

    async def _wrap_create_connection(
        self, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        transport, protocol = await super()._wrap_create_connection(*args, **kwargs)
        read_in_pieces(transport)
        return transport, protocol


@functools.cache
def _socks_connector() -> Callable[..., aiohttp.TCPConnector]:
    """aiohttp-socks' connector with the same pool guard (built once, on first use)."""
    from aiohttp_socks import ProxyConnector

    if (ProxyConnector._get, ProxyConnector._release) != (_pooled_get, _pooled_release):
        return ProxyConnector  # a release that pools its own way: the id check still holds
    return type("_SocksConnector", (_PoolGuard, ProxyConnector), {})


def connector(proxy: Proxy | None, **settings: Any) -> aiohttp.TCPConnector:
    """The client's own connector: direct, or through a SOCKS proxy."""
    if proxy is None or not proxy.is_socks:
        return _Connector(**settings)
    from aiohttp_socks import ProxyType

    return _socks_connector()(
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


def _verification_failure(exc: BaseException) -> _ssl.SSLCertVerificationError | None:
    """A certificate verification failure that another exception hides, if any.

    Through an https proxy to an https API, Python 3.11's TLS-in-TLS fails to close the inner
    connection when its handshake fails (``SSLProtocol._abort`` raises ``TypeError``), and
    aiohttp reports that ``TypeError``: the verification failure is only its context.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, _ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


_CLOSED: Final = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    ConnectionError,
    _ssl.SSLEOFError,
)
"""A connection closed or reset under the client before a response (as a SOCKS tunnel is)."""


def _closed_reason(exc: BaseException) -> str:
    """``describe(exc)``, with what it wraps when it says nothing itself (aiohttp's bare
    ``ClientOSError()`` over a ``ConnectionResetError``)."""
    shown = describe(exc)
    inner = exc.__cause__ or exc.__context__
    return f"{shown}: {describe(inner)}" if shown == type(exc).__name__ and inner else shown


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


_DECODERS: Final = (
    # (the encoding, how aiohttp's message names it, what to install)
    ("br", "(br)", "Brotli (brotlicffi on PyPy)"),
    ("zstd", "(zstd)", "backports.zstd (built into Python 3.14)"),
)


def missing_decoder(exc: aiohttp.ClientResponseError) -> ResponseDecodeError | None:
    """A body in an encoding whose decoder is not installed: final, naming what to install.

    aiohttp refuses such a response before it reads the body, and says which package it
    lacks; every attempt would be refused the same way, so it is not retried.
    """
    text = exc.message if isinstance(exc.message, str) else ""
    if "content-encoding" not in text.lower() or "install" not in text.lower():
        return None
    for encoding, named, package in _DECODERS:
        if named in text:
            return ResponseDecodeError(
                f"the response body is compressed with {encoding} (Content-Encoding: "
                f"{encoding}), which aiohttp cannot decode without {package}: "
                "pip install 'aiohttp[speedups]' installs it"
            )
    return None


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
    exc: BaseException, url: URL, timeout: Timeout, *, deadline: bool, during: str = ""
) -> APITimeoutError:
    """Which limit fired, from aiohttp's exception; ``deadline``: the call's deadline cut this
    attempt short. ``during`` names the phase the deadline ran out in (``while ...``)."""
    limit: str
    seconds: float | None
    if isinstance(exc, _CONNECT_TIMEOUTS):
        limit, seconds = "connect", timeout.connect
    elif isinstance(exc, _READ_TIMEOUTS):
        limit, seconds = "read", timeout.read
    elif isinstance(exc, aiohttp.ServerTimeoutError):  # aiohttp before 3.10 says it in words
        reading = "read" in str(exc).lower()
        limit, seconds = ("read", timeout.read) if reading else ("connect", timeout.connect)
    elif deadline:
        return deadline_error(url, timeout, during)
    else:
        limit, seconds = "attempt", timeout.attempt
    value = "" if seconds is None else f"={seconds:g}s"
    message = f"GET {shown_path(url)} timed out: {_LIMIT_WORDING[limit]}{value}"
    return APITimeoutError(message, limit=limit, seconds=seconds)


def proxy_evidence(
    status: int, headers: Mapping[str, str], body: bytes, *, tunnel: bool
) -> str | None:
    """Why a 401/403/407 without the API's error envelope is the proxy's own answer, or None.

    A header only proxies send is enough, through a tunnel too (a TLS-inspecting proxy).
    Without a tunnel the proxy reads every request, so its ``Via`` or an HTML page (the API
    answers JSON) is enough as well; inside a tunnel neither is, as the API's own CDN may add
    them. Pure: the caller has already found that the body is not the envelope.
    """
    if status not in _PROXY_STATUSES:
        return None
    for name in _PROXY_ONLY_HEADERS:
        if name in headers:
            return f"it sent {name}"
    if tunnel:
        return None
    if "Via" in headers:
        return "it sent Via"
    media = headers.get("Content-Type", "").lower()
    if "html" in media or body.lstrip()[:1] == b"<":
        return "an HTML page, not the API's JSON error"
    return None


_TITLE: Final = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def _shown_page(headers: Mapping[str, str], body: bytes) -> str:
    """Who answered, as far as the page tells: its ``Server`` and its title or first bytes."""
    parts = []
    server = headers.get("Server")
    if server:
        parts.append(f"Server: {_bounded_text(server)}")
    title = _TITLE.search(body[:4096])
    if title is not None and title[1].strip():
        parts.append(f"title {_bounded_text(title[1].decode('utf-8', 'replace'))!r}")
    elif body.strip():
        parts.append(f"body starts {body[:120].decode('utf-8', 'replace').strip()!r}")
    return f" [{'; '.join(parts)}]" if parts else ""


def _bounded_text(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deadline_error(url: URL, timeout: Timeout, during: str) -> APITimeoutError:
    """The call's ``Timeout.deadline`` ran out ``during`` a phase (``while waiting for ...``)."""
    message = f"GET {shown_path(url)} timed out: {_LIMIT_WORDING['deadline']}"
    if timeout.deadline is not None:
        message += f"={timeout.deadline:g}s"
    if during:
        message += f" {during}"
    return APITimeoutError(message, limit="deadline", seconds=timeout.deadline)


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
        # Where a TLS certificate that failed is the proxy's own: an https proxy's address.
        self._proxy_tls = (
            (proxy.host, proxy.port) if proxy is not None and proxy.scheme == "https" else None
        )
        self._socks = proxy is not None and proxy.is_socks
        # An http(s) proxy reads (and may answer) every request unless it tunnels to https.
        self._http_proxy = proxy is not None and not proxy.is_socks
        self._tunnel = origin.scheme == "https"

    @property
    def _shown_proxy(self) -> str:
        return self._proxy or "between this client and the API"

    def refused_by_proxy(self, status: int, *, tunnel: bool) -> APIConnectionError:
        """A proxy's answer: a ``ProxyError``, but a tunnel's 5xx may be retried."""
        proxy, target = self._shown_proxy, self._target
        answer = f"{status} {_phrase(status)}"
        if status == 407:
            return ProxyError(
                f"the proxy {proxy} refused the request to {target}: {answer} (check the "
                "proxy's user name and password; they are not the postpress API key)",
                status=status,
                proxy=self._proxy,
            )
        if tunnel and 500 <= status < 600:
            # squid's 503, mitmproxy's 502, tinyproxy's 500: the proxy could not reach the
            # API just now, which is no proof that it never will.
            return APIConnectionError(
                f"the proxy {proxy} could not open a tunnel to {target}: {answer}"
            )
        return ProxyError(
            f"the proxy {proxy} refused to open a tunnel to {target}: {answer}",
            status=status,
            proxy=self._proxy,
        )

    def response(
        self, status: int, headers: Mapping[str, str], body: bytes, url: URL
    ) -> PostpressError:
        """The exception for a non-2xx response: the API's, or the proxy's own refusal.

        A 401/403/407 without the API's error envelope that ``proxy_evidence`` shows to be the
        configured proxy's is a ``ProxyError`` (final, like a 407), whose ``__cause__`` is the
        ``APIStatusError`` it would otherwise be (headers and the page's first bytes). An
        envelope is always the API's answer, whatever headers a proxy added to it.
        """
        error = status_error(status, headers, body, url=shown_url(url))
        if not self._http_proxy or error.type is not None:
            return error
        evidence = proxy_evidence(status, headers, body, tunnel=self._tunnel)
        if evidence is None:
            return error
        hint = (
            "it wants credentials: check the proxy's user name and password; they are not the "
            "postpress API key"
            if status != 403
            else "its rules refuse this request: ask whoever runs the proxy"
        )
        refused = ProxyError(
            f"the proxy {self._shown_proxy} answered GET {shown_path(url)} itself, not the API "
            f"at {self._target}: {status} {_phrase(status)} ({evidence}; {hint})"
            + _shown_page(headers, body),
            status=status,
            proxy=self._proxy,
        )
        refused.__cause__ = error
        return refused

    def certificate(self, exc: BaseException) -> CertificateError:
        """A certificate or host name failed verification: the API's, or an https proxy's."""
        cause = getattr(exc, "certificate_error", exc)
        reason = getattr(cause, "verify_message", None) or describe(cause)
        # aiohttp names the host it was connecting to: the proxy's, for the proxy's own TLS.
        connecting_to = (getattr(exc, "host", None), getattr(exc, "port", None))
        if self._proxy_tls is not None and connecting_to == self._proxy_tls:
            return CertificateError(
                f"the TLS certificate of the proxy {self._proxy} failed verification: {reason}; "
                f"no request was sent to it or to {self._target} (the proxy's certificate is "
                "checked against the same trust store as the API's: set SSL_CERT_FILE or pass "
                "ssl=ssl.create_default_context(cafile=...))"
            )
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

    def connection(self, exc: BaseException, url: URL) -> APIConnectionError:
        """Any other connection failure: retryable; through a SOCKS proxy, said so.

        A certificate failure hidden under another exception is still a ``CertificateError``.

        Some SOCKS proxies (pproxy) accept the tunnel before they try the target, then close
        the connection when they cannot reach it: the client sees only a disconnect or a reset.
        """
        hidden = _verification_failure(exc)
        if hidden is not None:  # the API's: a proxy's own would have failed first, and said so
            return self.certificate(hidden)
        if self._socks and isinstance(exc, _CLOSED):
            return APIConnectionError(
                f"GET {shown_path(url)} failed: the connection to {self._target} through the "
                f"SOCKS proxy {self._shown_proxy} was closed before any response "
                f"({_closed_reason(exc)}); the proxy may not reach {self._target}"
            )
        return APIConnectionError(f"GET {shown_path(url)} failed: {describe(exc)}")

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
        # aiohttp-socks's own class name (ProxyError) would read as ours: its text says enough.
        said = _bounded_text(redact_urls(str(exc)), DESCRIBE_LIMIT) or describe(exc)
        code = getattr(exc, "error_code", None)
        reply = f"{said} (SOCKS reply {code})" if code is not None else said
        if code in _SOCKS_UNREACHABLE:
            return APIConnectionError(
                f"GET {shown_path(url)} failed: the SOCKS proxy {self._shown_proxy} could not "
                f"connect to {self._target}: {reply}"
            )
        return ProxyError(
            f"the proxy {self._shown_proxy} refused the request to {self._target}: {reply}",
            proxy=self._proxy,
        )
