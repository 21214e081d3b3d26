"""How the transport reaches the server: its connector and what it is given.

The connector (direct, or through a SOCKS proxy with the optional ``aiohttp-socks``), with
the pool guard that never reuses a connection something arrived on while it rested; aiohttp's
options for an http(s) proxy; the trust store; the read size of asyncio's own connections.
What a failure on the way becomes is ``_failures``.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import asyncio.sslproto
import base64
import functools
import ssl as _ssl
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Final, cast

import aiohttp
from yarl import URL

from ._config import Settings
from ._proxy import Proxy
from ._tls import verifying_context

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler  # private modules: types only
    from aiohttp.client_reqrep import ConnectionKey

__all__ = [
    "READ_SIZE",
    "connector",
    "proxy_authorization",
    "proxy_options",
    "read_in_pieces",
    "socks_errors",
    "tls_context",
]


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
