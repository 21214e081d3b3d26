"""Paired timing in one process: the SDK and its bare peer in alternating blocks on one loop.

    python benchmarks/bench_throughput.py --paired [--server nginx] [--loop uvloop] [--rounds 90]
    python benchmarks/bench_batch.py --paired [--server nginx] [--loop uvloop] [--block 2000]

On a shared machine two processes a few seconds apart differ by ±20%, more than the gaps being
measured. Here both cases run in one process on one event loop (both import aiohttp, msgspec
and postpress_async anyway), in blocks that alternate which goes first; each round's ratio is
taken between two blocks a fraction of a second apart, and the median of the ratios is
reported with their quartiles: of the rate (wall clock) and of the CPU time per request (the
process's, so that a round in which the server's core was taken by something else counts
less). Each loop runs in a process of its own, pinned to the client core, against one server
(the canned one, or nginx with ``--server nginx``) pinned to the other core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Block = Callable[[int], Awaitable[object]]
"""Runs one block: ``count`` requests (or ids) through one case."""

WARMUP = 2_000


def main(module: str, argv: list[str], *, block: int, rounds: int) -> None:
    """``--paired``: start the server, then run ``module.paired_in_process`` once per loop."""
    parser = argparse.ArgumentParser(prog=f"{module}.py --paired")
    parser.add_argument("--paired", action="store_true", required=True)
    parser.add_argument("--server", choices=("canned", "nginx"), default="canned")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--block", type=int, default=block, help="requests (ids) per block")
    args = parser.parse_args(argv)
    loops = ("asyncio", "uvloop") if args.loop == "both" else (args.loop,)
    with running(args.server) as env:
        for loop in loops:
            code = (
                f"import {module} as m; "
                f"m.paired_in_process({loop!r}, {args.rounds}, {args.block}, {args.server!r})"
            )
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=Path(__file__).parent,
                env={**os.environ, **env},
                check=True,
            )


def running(server: str) -> AbstractContextManager[dict[str, str]]:
    """The server of a paired run, started: nginx, or the canned one (``_server.py``)."""
    if server == "nginx":
        import _nginx

        return _nginx.running()
    import _server

    return _server.running()


def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on asyncio's own loop or on uvloop's."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main())
    import asyncio

    return asyncio.run(main())


async def alternate(
    cases: dict[str, Block], rounds: int, block: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Warm both cases up, then time ``rounds`` pairs of blocks, alternating the order.

    Returns, per case, the rate (per second) and the CPU µs per request of each round.
    """
    for run in cases.values():
        await run(WARMUP)
    names = list(cases)
    figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            await cases[name](block)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            figures[name][0].append(block / wall)
            figures[name][1].append(cpu / block * 1e6)
    return figures


def report(
    loop: str,
    server: str,
    figures: dict[str, tuple[list[float], list[float]]],
    subject: str,
    baseline: str,
    block: int,
) -> str:
    """One line: the median (and quartiles) of the per-round ratios, rate and CPU."""
    (rates, cpus), (base_rates, base_cpus) = figures[subject], figures[baseline]
    rate = quartiles([mine / base for mine, base in zip(rates, base_rates, strict=True)])
    cpu = quartiles([base / mine for mine, base in zip(cpus, base_cpus, strict=True)])
    return (
        f"{loop:<8} {server:<6} {subject} / {baseline}: rate {rate}, CPU per request {cpu}; "
        f"{len(rates)} rounds of {block:,}; medians {statistics.median(rates):,.0f} vs "
        f"{statistics.median(base_rates):,.0f} per s, {statistics.median(cpus):.1f} vs "
        f"{statistics.median(base_cpus):.1f} µs"
    )


def quartiles(ratios: list[float]) -> str:
    """The median of per-round ratios, with their quartiles."""
    low, median, high = statistics.quantiles(sorted(ratios), n=4)
    return f"{median:.3f}x (quartiles {low:.3f} to {high:.3f})"
