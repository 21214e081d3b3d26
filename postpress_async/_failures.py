"""What a failure on the way to the server becomes: the transport's exceptions, mapped once.

A certificate that fails verification is a ``CertificateError`` (naming the proxy when it is
the proxy's own), a proxy's refusal a ``ProxyError`` (both final), anything else an
``APIConnectionError`` that may be retried; a 401/403/407 that the proxy answered itself, not
the API, is a ``ProxyError`` too (``Failures.response``); a timeout says which limit ran out.
Messages are bounded, quote no response bytes of a 2xx, and show a proxy only as its URL
without credentials.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl as _ssl
from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

import aiohttp
from yarl import URL

from ._config import Timeout
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

__all__ = [
    "CERTIFICATE_ERRORS",
    "Failures",
    "deadline_error",
    "describe",
    "missing_decoder",
    "proxy_evidence",
    "shown_path",
    "shown_url",
    "timeout_error",
    "unreachable_cause",
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


_UNREACHABLE: Final = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.EADDRNOTAVAIL,
    }
)


def unreachable_cause(exc: BaseException) -> tuple[str, object] | None:
    """What stopped ``exc``'s connection from being made (refused, unreachable, DNS, or no
    answer within ``Timeout.connect``: a black hole), or None.

    Only a connection that was never made: any other timeout, a reset in the middle of a
    response or any answer from the server is not one. The transport raises its
    ``APIConnectionError`` from the dependency's exception (an ``OSError``: aiohttp's connector
    errors, the SOCKS proxy's), which names the cause; the message, which names the id, does
    not.
    """
    if isinstance(exc, APITimeoutError):
        return ("connect timeout", exc.seconds) if exc.limit == "connect" else None
    if not isinstance(exc, APIConnectionError):
        return None
    cause = exc.__cause__
    if not isinstance(cause, OSError):
        return None
    reason = getattr(cause, "os_error", None)  # aiohttp's connector errors: connecting failed
    if isinstance(reason, socket.gaierror) or isinstance(cause, socket.gaierror):
        return (type(cause).__name__, "dns")
    name = type(cause).__name__
    if isinstance(reason, OSError) or cause.errno in _UNREACHABLE or name == "ProxyConnectionError":
        return (name, reason.errno if isinstance(reason, OSError) else cause.errno)
    return None
