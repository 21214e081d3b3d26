"""Real proxies for the tests: pproxy in a subprocess, and a small forward proxy of our own.

pproxy (PyPI) serves http and SOCKS 4/5 well, but adopts uvloop whenever it can import it and
then fails to get an event loop, so it runs with uvloop hidden; ``--auth 0`` makes it check the
credentials of every connection (by default it trusts an address for 30 days once one passed).
``ForwardProxy`` is for refusals: absolute-form GET and CONNECT, Basic auth, a 407 for wrong
credentials, a chosen status for every CONNECT, and a record of what it was asked. It can also
listen with TLS (an https proxy), refuse GETs with a page of its own as tinyproxy and squid do
(``Canned``), add ``Via`` to what it forwards, and forward ``Proxy-Authorization``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from support import HANG

__all__ = [
    "Canned",
    "ForwardProxy",
    "PProxy",
    "ProxyRequest",
    "RefusingSocks5",
    "ReplyingSocks5",
    "free_port",
]

_PPROXY = (
    "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main(sys.argv[1:])"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 where a connection is never made, as behind a firewall that drops:
    a listener that accepts nothing, its queue already full, so the kernel drops every
    further SYN and the client waits out its connect timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + HANG
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.02)
    raise RuntimeError("the proxy did not start listening")


class PProxy:
    """pproxy serving one protocol on 127.0.0.1, in a subprocess; ``log()`` tells what it did."""

    def __init__(
        self,
        scheme: str = "http",
        *,
        username: str | None = None,
        password: str | None = None,
        log: Path,
    ) -> None:
        self.scheme = scheme
        self.username = username
        self.password = password
        self.port = 0
        self._log_path = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy URL to give a client, credentials included."""
        auth = f"{self.username}:{self.password}@" if self.username is not None else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def log(self) -> str:
        """What pproxy printed (-v: one line per connection it relayed)."""
        return self._log_path.read_text("utf-8", "replace")

    def __enter__(self) -> PProxy:
        self.port = free_port()
        listen = f"{self.scheme}://127.0.0.1:{self.port}"
        if self.username is not None:
            listen += f"#{self.username}:{self.password}"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-u", "-c", _PPROXY, "-l", listen, "-v", "--auth", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            _wait_until_listening(self.port, self._process)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(HANG)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class ProxyRequest:
    """One request as ``ForwardProxy`` received it."""

    method: str
    target: str
    """The request target: ``host:port`` for CONNECT, an absolute URL for GET."""
    credentials: str | None
    """The decoded ``user:password`` of its Proxy-Authorization, if any."""
    authorized: bool


@dataclass(frozen=True)
class Canned:
    """A whole answer of the proxy's own: status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 with optional Basic auth, in this loop or a thread."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        connect_status: int | None = None,
        ssl: ssl.SSLContext | None = None,
        refuse_get: Canned | None = None,
        deny_get: Canned | None = None,
        via: str | None = None,
        forward_credentials: bool = False,
    ) -> None:
        self.credentials = None if username is None else f"{username}:{password}"
        self.connect_status = connect_status
        """If set, every CONNECT is answered with this status instead of a tunnel."""
        self.ssl = ssl
        """If set, the proxy itself speaks TLS: an ``https://`` proxy."""
        self.refuse_get = refuse_get
        """How a GET with wrong credentials is refused, instead of a 407 (tinyproxy: a 401)."""
        self.deny_get = deny_get
        """If set, every authorized GET is answered with this instead of being forwarded."""
        self.via = via
        """If set, a ``Via`` header added to every response it forwards (as squid does)."""
        self.forward_credentials = forward_credentials
        """Forward ``Proxy-Authorization`` with a GET (tinyproxy, when it asks for none)."""
        self.requests: list[ProxyRequest] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        """Both ends of every open connection, so that ``astop`` can cut them all."""
        self._handlers: set[asyncio.Task[Any]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def url(self, username: str | None = None, password: str | None = None) -> str:
        """The proxy URL, with these credentials (none by default)."""
        auth = f"{username}:{password}@" if username is not None else ""
        scheme = "http" if self.ssl is None else "https"
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    # -- serving --------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            await self._close(writer)
            self._handlers.discard(handler)

    async def _open_upstream(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self._writers.add(up_writer)
        return up_reader, up_writer

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Close one end and wait until its socket is closed, so that none is left open."""
        self._writers.discard(writer)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = [line.partition(":") for line in header_lines if line]
        auth = next((v.strip() for k, _, v in headers if k.lower() == "proxy-authorization"), None)
        credentials = None
        if auth is not None and auth[:6].lower() == "basic ":
            credentials = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        authorized = self.credentials is None or credentials == self.credentials
        self.requests.append(ProxyRequest(method, target, credentials, authorized))
        if not authorized:
            if self.refuse_get is not None and method != "CONNECT":
                await _send(writer, self.refuse_get)
                return
            await _answer(writer, 407, [("Proxy-Authenticate", 'Basic realm="tests"')])
            return
        if self.deny_get is not None and method != "CONNECT":
            await _send(writer, self.deny_get)
            return
        if method == "CONNECT":
            if self.connect_status is not None:
                await _answer(writer, self.connect_status)
                return
            host, _, port = target.rpartition(":")
            try:
                up_reader, up_writer = await self._open_upstream(host.strip("[]"), int(port))
            except OSError:
                await _answer(writer, 502)
                return
            try:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                await self._close(up_writer)
            return
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            await _answer(writer, 400)
            return
        up_reader, up_writer = await self._open_upstream(url.hostname, url.port or 80)
        hop_by_hop = ("proxy-connection", "connection")
        if not self.forward_credentials:
            hop_by_hop += ("proxy-authorization",)
        keep = [f"{k}:{v}" for k, _, v in headers if k.lower() not in hop_by_hop]
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [f"{method} {path} HTTP/1.1", *keep, "Connection: close", "", ""]
        try:
            up_writer.write("\r\n".join(lines).encode("latin-1"))
            await up_writer.drain()
            if self.via is not None:  # the response's head, with a Via line of its own
                answer = await up_reader.readuntil(b"\r\n\r\n")
                writer.write(answer[:-2] + f"Via: {self.via}\r\n\r\n".encode("latin-1"))
            await _pipe(up_reader, writer)
        finally:
            await self._close(up_writer)

    # -- lifecycle ------------------------------------------------------------------------------

    async def astart(self) -> ForwardProxy:
        """Serve in the running event loop."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def astop(self) -> None:
        """Stop serving, cut every connection, and wait until each handler has closed its
        sockets (before 3.12, ``Server.wait_closed`` does not wait for the handlers)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()
            if self._handlers:
                await asyncio.wait(list(self._handlers), timeout=HANG)

    async def __aenter__(self) -> ForwardProxy:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    def __enter__(self) -> ForwardProxy:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="proxy", daemon=True)
        self._thread.start()
        self._loop = loop
        asyncio.run_coroutine_threadsafe(self.astart(), loop).result(HANG)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(HANG)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(HANG)
        loop.close()
        self._loop = self._thread = None


async def _answer(
    writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]] | None = None
) -> None:
    body = f"{status} {HTTPStatus(status).phrase} (from the test proxy)\n".encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    lines += ["Content-Type: text/plain", f"Content-Length: {len(body)}", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _send(writer: asyncio.StreamWriter, canned: Canned) -> None:
    lines = [f"HTTP/1.1 {canned.status} {HTTPStatus(canned.status).phrase}"]
    lines += [f"{k}: {v}" for k, v in canned.headers]
    lines += [f"Content-Length: {len(canned.body)}", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + canned.body)
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class RefusingSocks5:
    """A SOCKS5 server that asks for a user name and password and refuses any (RFC 1929)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _version, count = await reader.readexactly(2)
            await reader.readexactly(count)
            writer.write(b"\x05\x02")  # method: user name and password
            _auth_version, length = await reader.readexactly(2)
            await reader.readexactly(length)
            (length,) = await reader.readexactly(1)
            await reader.readexactly(length)
            self.attempts += 1
            writer.write(b"\x01\x01")  # failure
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RefusingSocks5:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class ReplyingSocks5:
    """A SOCKS5 server (no authentication) that answers every CONNECT with one reply code.

    As dante or ``ssh -D`` do when they cannot reach the target: 5 is "connection refused",
    4 "host unreachable", 2 "not allowed by the rules" (RFC 1928, section 6).
    """

    def __init__(self, reply: int) -> None:
        self.reply = reply
        self.connects: list[str] = []
        """The ``host:port`` of each CONNECT, in order."""
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _version, count = await reader.readexactly(2)
            await reader.readexactly(count)
            writer.write(b"\x05\x00")  # method: no authentication
            _version, _command, _reserved, kind = await reader.readexactly(4)
            if kind == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            elif kind == 4:
                host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
            else:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode("idna")
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.connects.append(f"{host}:{port}")
            writer.write(bytes([5, self.reply, 0, 1, 0, 0, 0, 0, 0, 0]))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> ReplyingSocks5:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
