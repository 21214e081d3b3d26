"""Counts per request that the shared machine's noise does not move: the SDK and its bare peer.

    python benchmarks/per_request.py [--server nginx] [--loop uvloop] gc        # GC, garbage
    python benchmarks/per_request.py [--server nginx] [--loop uvloop] bytecodes # interpreter
    python benchmarks/per_request.py --server nginx --loop uvloop run retrieve 3000

- ``gc``: garbage collections per 10,000 requests by generation (``gc.get_stats``), the time
  spent in them (``gc.callbacks``), and the objects the cyclic collector found unreachable
  (``gc.DEBUG_SAVEALL``) per 1,000 requests: what a request leaves for the collector rather
  than freeing by reference counting.
- ``bytecodes``: bytecodes executed and Python calls per request (an opcode tracer), in all
  and for the functions where the two differ most.
- ``run CASE N``: only N requests of one case after a warm-up, for an outside counter, with
  a server already up (``PP_BENCH_URL=http://127.0.0.1:PORT``): ``valgrind --tool=cachegrind
  --cache-sim=yes --branch-sim=yes python benchmarks/per_request.py --loop uvloop run
  retrieve 3000``, and 1000: the difference over 2,000 is per request.

The cases: ``retrieve`` and ``aiohttp-msgspec`` (64 tasks, as in bench_throughput.py),
``retrieve_many`` and ``aiohttp-pool`` (concurrency 64, as in bench_batch.py).
"""

from __future__ import annotations

import argparse
import collections
import gc
import math
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

from _paired import run_on

Block = Callable[[int], Awaitable[object]]
PAIRS = (("retrieve", "aiohttp-msgspec"), ("retrieve_many", "aiohttp-pool"))
WARMUP = 2_000


async def with_cases(use: Callable[[dict[str, Block]], Awaitable[None]]) -> None:
    """The four cases, each a function of a count, on one client and one session."""
    import aiohttp
    import bench_batch
    import bench_throughput
    import msgspec
    from _server import base_url, chat_ids

    import postpress_async as pp

    decode = msgspec.json.Decoder(pp.Chat).decode
    async with (
        pp.AsyncPostpress(api_key="k", base_url=base_url()) as client,
        aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session,
    ):
        pool = bench_batch.hand_written_pool(session, decode, base_url() + "/chats/")

        def tasks(fetch: bench_throughput.Fetch) -> Block:
            return lambda count: bench_throughput.drive(fetch, chat_ids(count), seconds=math.inf)

        async def many(count: int) -> None:
            results = client.chats.retrieve_many(bench_batch.id_stream(count), concurrency=64)
            await bench_batch.consume(results, lambda result: result.unwrap())

        async def pooled(count: int) -> None:
            await bench_batch.consume(pool(bench_batch.id_stream(count)), lambda chat: chat)

        await use(
            {
                "retrieve": tasks(client.chats.retrieve),
                "aiohttp-msgspec": tasks(bench_throughput.bare_fetch(session, decode)),
                "retrieve_many": many,
                "aiohttp-pool": pooled,
            }
        )


def count_gc(loop: str, count: int = 30_000) -> None:
    spent = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        spent[0] += time.perf_counter() if phase == "stop" else -time.perf_counter()

    async def use(cases: dict[str, Block]) -> None:
        for name, run in cases.items():
            await run(WARMUP)
            gc.collect()
            before = [stats["collections"] for stats in gc.get_stats()]
            spent[0] = 0.0
            gc.callbacks.append(timed)
            await run(count)
            gc.callbacks.remove(timed)
            after = [stats["collections"] for stats in gc.get_stats()]
            per_10k = [(a - b) * 10_000 / count for a, b in zip(after, before, strict=True)]
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            await run(count // 10)
            gc.collect()
            garbage = collections.Counter(type(item).__qualname__ for item in gc.garbage)
            gc.garbage.clear()
            gc.set_debug(0)
            per_1k = {kind: n * 1_000 / (count // 10) for kind, n in garbage.items()}
            found = ", ".join(f"{kind} {n:.1f}" for kind, n in per_1k.items())
            print(
                f"{loop:<8} {name:<16} collections per 10,000 requests (gen 0/1/2): "
                f"{per_10k[0]:.1f} / {per_10k[1]:.1f} / {per_10k[2]:.1f}, "
                f"{spent[0] * 1e6 / count:.2f} µs per request in them; "
                f"unreachable objects per 1,000: {found or 'none'}",
                flush=True,
            )

    run_on(loop, lambda: with_cases(use))


Counts = tuple[collections.Counter[str], collections.Counter[str]]


async def traced(run: Block, count: int) -> Counts:
    """Bytecodes and calls per function over ``run(count)``."""
    ops: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        where = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"
        if event == "call":
            calls[where] += 1
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
        elif event == "opcode":
            ops[where] += 1
        return tracer

    sys.settrace(tracer)
    try:
        await run(count)
    finally:
        sys.settrace(None)
    return ops, calls


def count_bytecodes(loop: str, count: int = 1_000) -> None:
    async def use(cases: dict[str, Block]) -> None:
        counted: dict[str, Counts] = {}
        for name, run in cases.items():
            await run(WARMUP)
            counted[name] = await traced(run, count)
        for subject, baseline in PAIRS:
            (ops, calls), (base_ops, base_calls) = counted[subject], counted[baseline]
            print(
                f"{loop:<8} {subject}: {ops.total() / count:,.0f} bytecodes, "
                f"{calls.total() / count:.1f} Python calls per request; {baseline}: "
                f"{base_ops.total() / count:,.0f} and {base_calls.total() / count:.1f}"
            )
            differ = sorted(set(ops) | set(base_ops), key=lambda k: base_ops[k] - ops[k])
            for where in differ[:12] + differ[-8:]:
                delta = (ops[where] - base_ops[where]) / count
                if abs(delta) >= 1:
                    print(f"    {delta:+7.1f}  {where}")

    run_on(loop, lambda: with_cases(use))


def run_only(loop: str, case: str, count: int) -> None:
    async def use(cases: dict[str, Block]) -> None:
        await cases[case](WARMUP)
        await cases[case](count)

    run_on(loop, lambda: with_cases(use))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("canned", "nginx"), default="canned")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("what", choices=("gc", "bytecodes", "run"))
    parser.add_argument("case", nargs="?", choices=[name for pair in PAIRS for name in pair])
    parser.add_argument("count", nargs="?", type=int, default=3_000)
    args = parser.parse_args()
    from _harness import FIXTURE_ENV, pin_to_client_core
    from _server import URL_ENV

    if os.environ.get(FIXTURE_ENV) or os.environ.get(URL_ENV):  # a server is up: measure
        pin_to_client_core()
        for loop in ("asyncio", "uvloop") if args.loop == "both" else (args.loop,):
            if args.what == "gc":
                count_gc(loop)
            elif args.what == "bytecodes":
                count_bytecodes(loop)
            else:
                run_only(loop, args.case or "retrieve", args.count)
        return
    server: AbstractContextManager[dict[str, str]]
    if args.server == "nginx":
        import _nginx

        server = _nginx.running()
    else:
        import _server

        server = _server.running()
    with server as env:
        env[FIXTURE_ENV] = "1"
        subprocess.run([sys.executable, *sys.argv], env={**os.environ, **env}, check=True)


if __name__ == "__main__":
    main()
