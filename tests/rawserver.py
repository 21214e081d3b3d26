"""A raw HTTP/1.1 server on bare asyncio streams, and the behaviours it can be given.

``FakePostpress`` produces most faults; ``RawServer`` produces the ones an HTTP framework will
not: a TCP reset at a chosen byte, a body that stalls or never ends, a reply that is not HTTP
at all. Used by the fault rows (``fault_rows.py``) and by ``test_hostile.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from support import EXAMPLE_BODY, PREFIX, until


@dataclass
class Exchange:
    """One request read by ``RawServer``: its head, and the connection to answer on."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: bytes
    hit: int
    """1 for the first request the server received, 2 for the second, ..."""
    sent: int = 0

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self.sent += len(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def until_client_leaves(self, bound: float = 60.0) -> None:
        """Wait until the client closes its side (or ``bound`` seconds, a safety net)."""
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.reader.read(), bound)


Behaviour = Callable[[Exchange], Awaitable[bool]]
"""Answers one request; returns True to keep the connection for another request."""


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 written on bare asyncio streams: any byte, any time.

    It reads each request head and hands it to ``behaviour``. It counts requests (``hits``),
    keeps their heads, and knows which connections the client has not closed yet.
    """

    def __init__(
        self, behaviour: Behaviour, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.host = host
        self.hits = 0
        self.heads: list[bytes] = []
        self.connections = 0
        self.open_connections = 0
        self.bytes_sent = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "RawServer is not running"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{PREFIX}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                self.hits += 1
                self.heads.append(head)
                exchange = Exchange(reader, writer, head, self.hits)
                try:
                    keep = await self.behaviour(exchange)
                except ConnectionError:
                    keep = False
                finally:
                    self.bytes_sent += exchange.sent
                if not keep:
                    break
        except ssl.SSLError:
            pass  # a client that refused our certificate
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._tasks.discard(task)

    async def all_connections_closed(self, within: float = 5.0) -> bool:
        """True once every connection a client opened has been closed by it (or us)."""
        return await until(lambda: self.open_connections == 0, within)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()


def response_head(status: int, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A status line and headers, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} Status"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int, body: bytes, *, content_type: str = "application/json") -> Behaviour:
    """Answer every request with a complete response, keeping the connection alive."""
    head = response_head(
        status, [("Content-Type", content_type), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body)
        return True

    return behave


def raw_bytes(data: bytes) -> Behaviour:
    """Answer every request with exactly ``data`` (HTTP or not), then close the connection."""

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(data)
        return False

    return behave


async def reset_before_status_line(exchange: Exchange) -> bool:
    """Read the request, then abort the connection (RST) without a byte of response."""
    exchange.reset()
    return False


def after_one_success(behaviour: Behaviour) -> Behaviour:
    """Serve the example chat (keep-alive) to the first request, then act as ``behaviour``."""
    serve = reply(200, EXAMPLE_BODY)

    async def behave(exchange: Exchange) -> bool:
        return await (serve if exchange.hit == 1 else behaviour)(exchange)

    return behave


def reset_mid_body(body: bytes) -> Behaviour:
    """Declare the whole body's length, send half of it, then abort the connection (RST)."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body[: len(body) // 2])
        await asyncio.sleep(0.05)  # let the client read the head before the reset
        exchange.reset()
        return False

    return behave


def stall_mid_body(body: bytes) -> Behaviour:
    """Send the head and the first bytes of the body, then nothing until the client leaves."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", f"{len(body)}")]
    )

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + body[:10])
        await exchange.until_client_leaves()
        return False

    return behave


def chunked(body: bytes, pieces: int = 7) -> Behaviour:
    """A chunked response: ``body`` in ``pieces`` chunks, connection kept alive."""
    head = response_head(
        200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    )
    size = -(-len(body) // pieces)

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head)
        for start in range(0, len(body), size):
            piece = body[start : start + size]
            await exchange.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        await exchange.send(b"0\r\n\r\n")
        return True

    return behave


ENDLESS_BOUND = 256 * 1024 * 1024
"""An endless body stops here anyway, so a client that never stops reading fails, not hangs."""


def endless_body(*, framing: str) -> Behaviour:
    """A body with no end: ``framing`` "chunked", or "eof" (no length, ``Connection: close``)."""
    if framing == "chunked":
        head = response_head(
            200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        )
    else:
        head = response_head(200, [("Content-Type", "application/json"), ("Connection", "close")])
    block = b" " * 65536
    piece = b"%x\r\n%s\r\n" % (len(block), block) if framing == "chunked" else block

    opening = b'{"object": "Chat", "padding": "'
    if framing == "chunked":
        opening = b"%x\r\n%s\r\n" % (len(opening), opening)

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(head + opening)
        while exchange.sent < ENDLESS_BOUND:
            await exchange.send(piece)
        return False

    return behave
