"""``rate_limit=N``: the rate a client delivers, and the busiest second, counted at the server.

    python benchmarks/run.py ratelimit                         # the sweep, a table
    python benchmarks/bench_ratelimit.py --lib "asyncio N=1000"   # one case, one JSON line

Each case is one ``AsyncPostpress(rate_limit=N)`` on asyncio's loop or uvloop's, fetching
``SECONDS * N`` ids through ``retrieve_many(concurrency=64, adaptive=False)`` (far more than N
could be in flight: the limit, not the concurrency, sets the pace) against a canned keep-alive
server in another process that stamps each request head as it arrives (``time.monotonic()``,
the machine's clock). Before the timed run the client opens its connections and then waits
out a second, so that the count starts from an idle, full bucket, as a user's first batch does.

- ``delivered``: requests / (last arrival - first arrival), at the server;
- ``vs. N``: that over N (the issue's floor: 0.95 when the server is faster);
- ``busiest second``: the most arrivals within any one-second window ``[t, t + 1)``, sliding
  over every arrival (never above N), and ``over``: by how many it exceeds N (0 expected).

``... no limit`` runs 9,000 ids with no ``rate_limit``: what this client and server manage on
this machine at that moment, the ceiling of every row below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, cast

from _harness import CPU_ENV, Column, Figures, Suite, Target, main, scaled
from _server import API_PATH, cores, payload, pin, response

HERE = Path(__file__).resolve().parent
URL_ENV = "PP_BENCH_RATE_URL"
SECONDS = 3
CONCURRENCY = 64
RATES = (100, 500, 1000, 2000, 3000)
ARRIVALS = b"GET /__arrivals "
"""A request whose head starts so is answered with the arrival times so far, which it clears."""


class RecordingHTTP(asyncio.Protocol):
    """The canned server's protocol, stamping each request head's arrival."""

    def __init__(self, canned: bytes, arrivals: list[float]) -> None:
        self.canned = canned
        self.arrivals = arrivals
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        heads = (self.pending + data).split(b"\r\n\r\n")
        self.pending = heads.pop()
        out = []
        for head in heads:
            if head.startswith(ARRIVALS):
                body = json.dumps(self.arrivals).encode()
                self.arrivals.clear()
                out.append(response(body))
            else:
                self.arrivals.append(now)
                out.append(self.canned)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


def serve() -> None:
    """Serve until SIGTERM/SIGINT; print the bound port first (uvloop if installed)."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    canned, arrivals = response(payload()), []

    async def run() -> None:
        server = await loop.create_server(
            lambda: RecordingHTTP(canned, arrivals), "127.0.0.1", 0, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await stop.wait()

    loop.run_until_complete(run())
    loop.close()


@contextlib.contextmanager
def recording() -> Iterator[dict[str, str]]:
    """The recording server in its own process, pinned to the first core."""
    server_cpu, client_cpu = cores()
    command = [sys.executable, str(Path(__file__)), "--serve"]
    if server_cpu is not None:
        command += ["--cpu", str(server_cpu)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            env = {URL_ENV: f"http://127.0.0.1:{int(proc.stdout.readline())}"}
            if client_cpu is not None:
                env[CPU_ENV] = str(client_cpu)
            yield env
        finally:
            proc.terminate()
            proc.wait(10)


def busiest(times: list[float], window: float = 1.0) -> int:
    """The most arrivals within any window ``[t, t + window)``."""
    most = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def sweep_case(loop: str, rate: int | None) -> Figures:
    """``rate=None``: no limit, for the client's (and server's) own ceiling on this machine."""
    import aiohttp

    import postpress_async as pp

    root = os.environ[URL_ENV]
    count = scaled(SECONDS * (rate or max(RATES)))
    ids = [f"chat_01HY7Q2M4RZKX9T3V{index:09d}" for index in range(count)]

    async def arrivals(session: aiohttp.ClientSession) -> list[float]:
        async with session.get(root + "/__arrivals") as resp:
            times: list[float] = json.loads(await resp.read())
        return sorted(times)

    async def run() -> Figures:
        async with (
            aiohttp.ClientSession() as session,
            pp.AsyncPostpress("k", base_url=root + API_PATH, rate_limit=rate) as client,
        ):
            warm = client.chats.retrieve_many(ids[:CONCURRENCY], concurrency=CONCURRENCY)
            assert [r async for r in warm if not r.ok] == []
            await asyncio.sleep(1.1)  # out of the window, the bucket full again
            await arrivals(session)  # clears them
            results = client.chats.retrieve_many(ids, concurrency=CONCURRENCY, adaptive=False)
            assert [r async for r in results if not r.ok] == []
            times = await arrivals(session)
        assert len(times) == count, (len(times), count)
        delivered = (len(times) - 1) / (times[-1] - times[0])
        most = busiest(times)
        return {
            "rate": delivered,
            "of_n": math.nan if rate is None else delivered / rate,
            "busiest": float(most),
            "over": math.nan if rate is None else float(max(0, most - rate)),
            "count": float(count),
        }

    return run_on(loop, run)


def run_on(loop: str, run: Callable[[], Coroutine[Any, Any, Figures]]) -> Figures:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(run())
    return asyncio.run(run())


CASES: dict[str, Callable[[], Figures]] = {
    f"{loop} N={rate}" if rate else f"{loop}, no limit": functools.partial(sweep_case, loop, rate)
    for loop in ("asyncio", "uvloop")
    for rate in (*RATES, None)
}


def describe() -> str:
    return (
        f"`AsyncPostpress(rate_limit=N)`, {SECONDS} s worth of ids (3 N) through "
        f"`retrieve_many(concurrency={CONCURRENCY}, adaptive=False)` from an idle client with "
        "its connections open, against a canned keep-alive server in another process that "
        "stamps each request's arrival; server and client pinned to one core each."
    )


SUITE = Suite(
    name="ratelimit",
    title="Rate limit: what rate_limit=N delivers, counted at the server",
    baseline="asyncio N=1000",
    cases=CASES,
    packages=["aiohttp", "postpress_async", "uvloop"],
    describe=describe,
    columns=(
        Column("rate", "delivered req/s"),
        Column("of_n", "vs. N", "{:.3f}"),
        Column("busiest", "busiest second"),
        Column("over", "over N", higher_is_better=False),
    ),
    fixture=recording,
    targets=tuple(
        target
        for loop in ("asyncio", "uvloop")
        for rate in (100, 1000, 3000)
        for target in (
            Target(f"{loop} N={rate}: delivered ≥ 0.95 N", f"{loop} N={rate}", "of_n", None, 0.95),
            Target(f"{loop} N={rate}: no second over N", f"{loop} N={rate}", "over", at_most=0),
        )
    ),
    method=(
        "one timed run per case after the connections are opened and a second has passed; "
        "delivered is the count over the span of arrivals at the server, busiest second the "
        "most arrivals in any sliding one-second window"
    ),
)

if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        if sys.argv[2:3] == ["--cpu"]:
            pin(int(sys.argv[3]))
        serve()
    else:
        main(SUITE)
