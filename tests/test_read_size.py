"""On asyncio's own loop the client's connections read at most 64 KiB at a time.

asyncio reads each piece of a response into a new bytes object of 256 KiB (cut down to what
arrived), which glibc maps and unmaps for every read. The client's own connections read
``READ_SIZE`` at most instead, plain and TLS. Seen from the outside: the process's allocation
peak over requests on an open connection, traced by ``tracemalloc``. The server is the
standard library's, in a thread: its reads are a few KiB, so the peak is the client's.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import http.server
import ssl
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest
from certs import Certs
from support import EXAMPLE_BODY, EXAMPLE_ID

import postpress_async as pp
from postpress_async._network import READ_SIZE

ASYNCIO_READ = 256 * 1024
"""What asyncio reads at once (``max_size`` of its socket transport and of its TLS layer)."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the requests measured reuse one connection

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EXAMPLE_BODY)))
        self.end_headers()
        self.wfile.write(EXAMPLE_BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None) -> Iterator[str]:
    """A threaded HTTP/1.1 server on 127.0.0.1; yields its API root."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Peak:
    """The allocation peak, in bytes, over a ``with`` block (``bytes``, once it has ended)."""

    bytes = 0

    def __enter__(self) -> Peak:
        tracemalloc.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


async def peak_over(requests: int, get: Callable[[], Awaitable[object]]) -> int:
    """The allocation peak over ``requests`` calls of ``get``, after one untraced call (it
    opens the connection; TLS allocates its one receive buffer there)."""
    await get()
    with Peak() as peak:
        for _ in range(requests):
            await get()
    return peak.bytes


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(scheme: str, certs: Certs) -> Iterator[str]:
    with serving(certs.server() if scheme == "https" else None) as base_url:
        yield base_url


def client_ssl(scheme: str, certs: Certs) -> ssl.SSLContext | bool:
    return certs.client() if scheme == "https" else True


async def test_the_client_reads_in_pieces_of_64_kib(server: str, scheme: str, certs: Certs) -> None:
    if scheme == "https" and not hasattr(asyncio.sslproto.SSLProtocol, "_do_read__copied"):
        pytest.skip("Python 3.10's TLS layer has no read size to set (it came with 3.11's)")
    assert isinstance(asyncio.get_running_loop(), asyncio.SelectorEventLoop)
    async with pp.AsyncPostpress(
        "pp_test_key", base_url=server, ssl=client_ssl(scheme, certs)
    ) as client:
        peak = await peak_over(5, lambda: client.chats.retrieve(EXAMPLE_ID))
    assert READ_SIZE <= peak < ASYNCIO_READ, peak


async def test_a_plain_aiohttp_session_reads_256_kib_at_a_time(
    server: str, scheme: str, certs: Certs
) -> None:
    # The control: what the client changes. The same requests through a default aiohttp
    # session allocate asyncio's 256 KiB for each read.
    async with aiohttp.ClientSession() as session:

        async def get() -> bytes:
            async with session.get(
                f"{server}/chats/{EXAMPLE_ID}", ssl=client_ssl(scheme, certs)
            ) as resp:
                return await resp.read()

        peak = await peak_over(5, get)
    assert peak >= ASYNCIO_READ, peak


def test_the_blocking_client_on_asyncio_reads_in_pieces_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pp.Postpress runs its own loop: uvloop when installed (it reads into one buffer and
    # allocates nothing per read), asyncio's with POSTPRESS_UVLOOP=0, as here.
    monkeypatch.setenv("POSTPRESS_UVLOOP", "0")
    with serving(None) as base_url, pp.Postpress("pp_test_key", base_url=base_url) as client:
        client.chats.retrieve(EXAMPLE_ID)
        with Peak() as peak:
            for _ in range(5):
                client.chats.retrieve(EXAMPLE_ID)
    assert peak.bytes < ASYNCIO_READ, peak.bytes
