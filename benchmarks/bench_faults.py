"""``retrieve_many`` against ``postpress fake-server --fault-rate 0.02``: adaptive vs fixed vs bare.

    python benchmarks/run.py faults                          # every case, a table
    python benchmarks/run.py faults --scale 0.25 --rounds 3  # a quicker trial
    python benchmarks/bench_faults.py --lib adaptive         # one case, one JSON line

Each case starts its own ``postpress fake-server --chats 20000 --fault-rate 0.02 --seed 7`` in
a subprocess, so every case meets the same faults (a retryable fault is used up once it has
answered): 2% of the ids meet one, 80% of those a retryable error id once or twice (some with
``Retry-After: 0``), the rest a documented final error. Then, at concurrency 64:

- ``adaptive``: ``retrieve_many(ids, concurrency=64)`` with its defaults (``adaptive=True``,
  ``fail_fast=True``, the default retry policy: up to 2 retries, backoff from 0.5 s).
- ``fixed``: the same with ``adaptive=False``. Issue 18 measured 1,080 ids/s for ``adaptive``
  against 5,479 for ``fixed`` before the adaptive limit was redesigned; the target is >= 0.9x.
- ``aiohttp-pool`` (baseline): a hand-written pool of 64 tasks (``session.get`` + ``read()`` +
  ``pp.decode_chat``) that retries a 429/5xx at once, up to twice, with no backoff: how fast the
  same chats can come when nothing waits.

The server is the SDK's own aiohttp fake, far slower than the canned server of the other
suites, so these figures compare the three with each other, not with the batch suite's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _harness import Column, Figures, Suite, Target, main, scaled
from _server import stop

IDS = 20_000
CONCURRENCY = 64
FAULT_RATE = 0.02
SEED = 7
API_KEY = "pp_bench_key"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@contextmanager
def fake_server() -> Iterator[tuple[str, list[str]]]:
    """A fresh ``postpress fake-server`` with the 2% fault mix: its base URL and its ids."""
    with tempfile.TemporaryDirectory() as tmp:
        ids_file = Path(tmp) / "ids.txt"
        command = [
            sys.executable,
            "-m",
            "postpress_async",
            "fake-server",
            "--port",
            "0",
            "--chats",
            str(scaled(IDS)),
            "--fault-rate",
            str(FAULT_RATE),
            "--seed",
            str(SEED),
            "--ids-out",
            str(ids_file),
        ]
        env = {**os.environ, "POSTPRESS_API_KEY": API_KEY}
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stderr is not None
            base_url = ""
            while not base_url:
                line = proc.stderr.readline()
                if not line:
                    raise RuntimeError(f"fake-server exited with {proc.wait()}")
                if " at http" in line:
                    base_url = line.rsplit(" at ", 1)[1].strip()
            while "ids written" not in proc.stderr.readline():
                pass
            ids = ids_file.read_text("utf-8").split()
            cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
            if len(cpus) >= 2:  # the server on one core, this case on the other
                os.sched_setaffinity(proc.pid, {cpus[0]})
                os.sched_setaffinity(0, {cpus[1]})
            yield base_url, ids
        finally:
            stop(proc)


def timed(count: int, started: float, cpu: float, fetched: int, **extra: float) -> Figures:
    wall = time.perf_counter() - started
    return {
        "rate": count / wall,
        "cpu_us": (time.process_time() - cpu) / count * 1e6,
        "fetched": fetched,
        "wall_s": wall,
        **extra,
    }


def retrieve_many(adaptive: bool) -> Figures:
    import postpress_async as pp

    async def run(base_url: str, ids: list[str]) -> Figures:
        async with pp.AsyncPostpress(API_KEY, base_url=base_url) as client:
            limits = 0
            fetched = 0
            started, cpu = time.perf_counter(), time.process_time()
            results = client.chats.retrieve_many(ids, concurrency=CONCURRENCY, adaptive=adaptive)
            async for result in results:
                fetched += result.ok
                limits += results.limit
            return timed(len(ids), started, cpu, fetched, limit=limits / len(ids))

    with fake_server() as (base_url, ids):
        return asyncio.run(run(base_url, ids))


def aiohttp_pool() -> Figures:
    import aiohttp

    import postpress_async as pp

    decode = pp.decode_chat  # the fake's chats have attachment types of its own: the fallback

    async def run(base_url: str, ids: list[str]) -> Figures:
        fetched = 0
        source = iter(ids)
        async with aiohttp.ClientSession(headers={"X-API-KEY": API_KEY}) as session:

            async def fetch(chat_id: str) -> Any:
                for _ in range(3):
                    async with session.get(f"{base_url}/chats/{chat_id}") as resp:
                        body = await resp.read()
                        if resp.status == 200:
                            return decode(body)
                        if resp.status not in RETRYABLE_STATUSES:
                            return None
                return None

            async def worker() -> None:
                nonlocal fetched
                for chat_id in source:
                    chat = await fetch(chat_id)
                    fetched += chat is not None

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return timed(len(ids), started, cpu, fetched, limit=float(CONCURRENCY))

    with fake_server() as (base_url, ids):
        return asyncio.run(run(base_url, ids))


def describe() -> str:
    return (
        f"{scaled(IDS):,} ids at concurrency {CONCURRENCY} against a fresh `postpress "
        f"fake-server --fault-rate {FAULT_RATE} --seed {SEED}` per case (its own process, on "
        "the other core): 2% of the ids meet a fault, 80% of them retryable (once or twice)."
    )


SUITE = Suite(
    name="faults",
    title="retrieve_many under the fake server's 2% fault mix: adaptive vs fixed vs bare",
    baseline="aiohttp-pool",
    cases={
        "adaptive": lambda: retrieve_many(adaptive=True),
        "fixed": lambda: retrieve_many(adaptive=False),
        "aiohttp-pool": aiohttp_pool,
    },
    packages=["aiohttp", "msgspec", "postpress_async"],
    describe=describe,
    columns=(
        Column("rate", "ids/s", versus=True),
        Column("limit", "average limit", "{:.1f}"),
        Column("fetched", "fetched", "{:,.0f}"),
        Column("cpu_us", "client CPU µs/id", "{:,.1f}", higher_is_better=False),
    ),
    targets=(Target("adaptive ≥ 0.9x fixed (ids/s)", "adaptive", "rate", "fixed", 0.9),),
    method=(
        "one timed run of every id after the server has started; ids/s is wall-clock, the "
        "average limit is `results.limit` averaged over the results (64 for the fixed pools)"
    ),
)

if __name__ == "__main__":
    main(SUITE)
