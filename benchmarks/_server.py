"""The canned server the network suites talk to: any GET gets ``data/chat.json``, 200, kept alive,
with the chat's ``id`` set to the id the request's path ends with.

    python benchmarks/_server.py [--port 0] [--cpu 0]      # prints its port, serves until killed

A raw ``asyncio.Protocol`` over HTTP/1.1 keep-alive (uvloop's loop if it is installed): it
counts the requests in what arrives (each ends at the blank line; a GET has no body) and
answers them with one prebuilt response each: status line, ``Content-Type``,
``Content-Length`` and the compact body, the requested id spliced in as its ``id`` (the SDK
refuses another chat than the one it asked for). There is no routing and no parsing beyond
that, so its cost per request is a few microseconds, far below any client's.

``running()`` starts it in its own process, pinned to one core, for ``run.py`` to share
between the cases of a suite (the cases pin themselves to the other core); ``Meter`` times a
case's run: its wall-clock time, its own CPU time, and the server process's CPU time over the
same interval, which shows whether the server was anywhere near its limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from _harness import CPU_ENV, Figures

HERE = Path(__file__).resolve().parent
PAYLOAD = HERE / "data" / "chat.json"

URL_ENV = "PP_BENCH_URL"
"""The base URL of a running server, handed to the case processes."""
PID_ENV = "PP_BENCH_SERVER_PID"
"""Its process id, so that a case can read the server's CPU time around its timed run."""
API_PATH = "/api/v1"
"""Any path is answered; the clients use the API's, ``{base_url}/chats/{id}``."""


def base_url() -> str:
    """The running server's API root, as the clients are configured with it."""
    return os.environ[URL_ENV] + API_PATH


def chat_ids(count: int) -> list[str]:
    """Distinct ids shaped like the API's, the same for every case."""
    return [f"chat_01HY7Q2M4RZKX9T3V{index:09d}" for index in range(count)]


def payload() -> bytes:
    """The chat as the API sends it: compact JSON, UTF-8 (as ``bench_decode`` times it)."""
    data = json.loads(PAYLOAD.read_bytes())
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def response(body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Canned:
    """The one response, with the chat's ``id`` swapped for the id the request asked for.

    The SDK refuses a chat whose id is not the one asked for, so the server answers each id
    with its own chat: the body is cut around its ``id`` once, and each response is
    ``head + before + id + after`` (a few hundred nanoseconds of the server's core).
    """

    def __init__(self, body: bytes) -> None:
        chat_id = json.loads(body)["id"].encode()
        marker = b'"id":"' + chat_id + b'"'
        at = body.index(marker) + len(b'"id":"')
        self.before, self.after = body[:at], body[at + len(chat_id) :]
        self.heads: dict[int, bytes] = {}

    def answer(self, request_head: bytes) -> bytes:
        target = request_head[: request_head.find(b" HTTP/")]
        chat_id = target[target.rfind(b"/") + 1 :].split(b"?", 1)[0]
        size = len(self.before) + len(chat_id) + len(self.after)
        head = self.heads.get(size)
        if head is None:
            head = self.heads[size] = response(b"").replace(b": 0\r\n", b": %d\r\n" % size)
        return b"".join((head, self.before, chat_id, self.after))


class CannedHTTP(asyncio.Protocol):
    """Answers every request head that arrives with the chat it asked for."""

    def __init__(self, canned: Canned) -> None:
        self.canned = canned
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.pending:
            data = self.pending + data
        heads = data.split(b"\r\n\r\n")
        self.pending = heads.pop()
        if heads and self.transport is not None:
            answer = self.canned.answer
            self.transport.write(b"".join([answer(head) for head in heads]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def serve(port: int) -> None:
    """Serve until SIGTERM/SIGINT; print the bound port first, on its own line."""
    try:
        import uvloop  # type: ignore[import-not-found]

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    canned = Canned(payload())

    async def main() -> None:
        server = await loop.create_server(
            lambda: CannedHTTP(canned), "127.0.0.1", port, backlog=1024, reuse_address=True
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await stop.wait()

    loop.run_until_complete(main())
    loop.close()


def pin(cpu: int | None) -> None:
    """Run this process on core ``cpu`` only (where the OS allows it)."""
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def cores() -> tuple[int | None, int | None]:
    """(server core, client core): the first two cores, or no pinning on a single core."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


def stop(proc: subprocess.Popen[Any]) -> None:
    """End a server process: terminate, then kill if it is still there after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running() -> Iterator[dict[str, str]]:
    """Start the server in its own process; yield the environment the cases need."""
    server_cpu, client_cpu = cores()
    command = [sys.executable, str(HERE / "_server.py"), "--port", "0"]
    if server_cpu is not None:
        command += ["--cpu", str(server_cpu)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        env = {URL_ENV: f"http://127.0.0.1:{port}", PID_ENV: str(proc.pid)}
        if client_cpu is not None:
            env[CPU_ENV] = str(client_cpu)
        yield env
    finally:
        stop(proc)


class Meter:
    """Times one run: wall clock, this process's CPU (all threads), the server's CPU.

    ``with meter: ...`` around the timed part; then ``figures(count)`` gives ``rate``
    (per wall-clock second), ``cpu_us`` (this process's CPU µs per item) and ``server_cpu``
    (the server's CPU time over the same interval, in % of one core).
    """

    def __init__(self) -> None:
        import psutil

        pid = os.environ.get(PID_ENV)
        self._server = psutil.Process(int(pid)) if pid else None
        self.wall = self.cpu = self.server = 0.0

    def _server_seconds(self) -> float:
        if self._server is None:
            return float("nan")
        times = self._server.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> Meter:
        self.server = -self._server_seconds()
        self.cpu = -time.process_time()
        self.wall = -time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()
        self.server += self._server_seconds()

    def figures(self, count: int) -> Figures:
        return {
            "count": count,
            "wall_s": self.wall,
            "rate": count / self.wall,
            "cpu_us": self.cpu / count * 1e6,
            "server_cpu": self.server / self.wall * 100,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    pin(args.cpu)
    serve(args.port)


if __name__ == "__main__":
    main()
