"""``retrieve_many`` over 100,000 ids against a hand-written aiohttp worker pool: speed and memory.

    python benchmarks/run.py batch                              # both cases, a table
    python benchmarks/bench_batch.py --lib retrieve_many --scale 0.1   # one case, one JSON line
    python benchmarks/bench_batch.py --paired [--server nginx]  # both, alternating in one process

Both cases read 100,000 ids from a generator (never a list) at concurrency 64 against the
canned server of the throughput suite, and consume every result as it comes:

- ``retrieve_many``: ``async for r in client.chats.retrieve_many(ids, concurrency=64)``.
- ``aiohttp-pool`` (baseline): what one would write by hand: 64 tasks pull ids from the same
  generator, ``session.get`` + ``read()`` + ``msgspec.json.Decoder(pp.Chat)``, and hand each
  Chat to the consumer through an ``asyncio.Queue`` of 128 (so memory stays bounded too).
- ``... +uvloop``: the same two on uvloop's event loop (the ``speed`` extra), each compared
  with the other on the same loop.
- ``retrieve_many-fixed``: ``adaptive=False``, to show what the adaptive limit costs.

``retrieve_many`` runs with its defaults: ``adaptive=True`` (its AIMD limit starts small and
climbs to 64 within the warm-up) and ``fail_fast=True``; no fault is injected, so this measures
what the safety nets cost when nothing is wrong.

Memory: a thread samples the process's RSS every 10 ms during the timed run; the peak growth
is the highest sample (or ``ru_maxrss``, if that rose during the run) minus the RSS just
before it, after a 2,000-id warm-up through the same path.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from _harness import Column, Figures, Suite, Target, main, pin_to_client_core, scaled
from _paired import run_on
from _server import Meter, base_url, payload, running

IDS = 100_000
WARMUP = 2_000
CONCURRENCY = 64
MiB = 1024 * 1024


def id_stream(count: int) -> Iterator[str]:
    """Ids made one at a time, as a database cursor would hand them out."""
    return (f"chat_01HY7Q2M4RZKX9T3V{index:09d}" for index in range(count))


class PeakRSS:
    """The process's peak RSS growth over a ``with`` block, sampled by a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.before = self.peak = self.after = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _max_rss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    def __enter__(self) -> PeakRSS:
        self._max_before = self._max_rss()
        self.before = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.after = self._rss()
        max_after = self._max_rss()
        self.peak = max(self.peak, self.after)
        if max_after > self._max_before:  # a new high for the process: it was in this run
            self.peak = max(self.peak, max_after)

    def figures(self) -> Figures:
        return {
            "rss_before_mib": self.before / MiB,
            "rss_growth_mib": (self.peak - self.before) / MiB,
            "rss_end_growth_mib": (self.after - self.before) / MiB,
        }


def check_chat(chat: Any) -> None:
    assert chat.last_message.attachments[0].size.width == 1600
    assert chat.last_message.quoted.text


async def consume(results: AsyncIterator[Any], unwrap: Callable[[Any], Any]) -> int:
    """Take every result as it comes, as a caller would; the count."""
    count = 0
    async for item in results:
        unwrap(item)
        count += 1
    return count


async def measure(many: Callable[[Iterator[str]], AsyncIterator[Any]], unwrap: Any) -> Figures:
    """Check one result, warm up, then time ``IDS`` ids with their RSS sampled."""
    async for item in many(id_stream(1)):
        check_chat(unwrap(item))
    await consume(many(id_stream(scaled(WARMUP))), unwrap)
    with Meter() as meter, PeakRSS() as rss:
        count = await consume(many(id_stream(scaled(IDS))), unwrap)
    assert count == scaled(IDS)
    return {**meter.figures(count), **rss.figures()}


def retrieve_many(loop: str = "asyncio", adaptive: bool = True) -> Figures:
    import postpress_async as pp

    def unwrap(result: Any) -> Any:
        return result.unwrap()

    async def run() -> Figures:
        async with pp.AsyncPostpress(api_key="k", base_url=base_url()) as client:

            def many(ids: Iterator[str]) -> AsyncIterator[Any]:
                return client.chats.retrieve_many(ids, concurrency=CONCURRENCY, adaptive=adaptive)

            return await measure(many, unwrap)

    return run_on(loop, run)


def hand_written_pool(
    session: Any, decode: Callable[[bytes], Any], prefix: str
) -> Callable[[Iterator[str]], AsyncIterator[Any]]:
    """The baseline: 64 tasks pull ids, ``session.get`` + ``read()`` + decode, and hand each
    Chat to the consumer through an ``asyncio.Queue`` of 128."""
    done = object()

    async def many(ids: Iterator[str]) -> AsyncIterator[Any]:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2 * CONCURRENCY)

        async def worker() -> None:
            try:
                for chat_id in ids:
                    async with session.get(prefix + chat_id) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"status {resp.status}")
                        body = await resp.read()
                    await queue.put(decode(body))
            finally:
                await queue.put(done)

        workers = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        running = len(workers)
        while running:
            item = await queue.get()
            if item is done:
                running -= 1
                continue
            yield item
        await asyncio.gather(*workers)

    return many


def aiohttp_pool(loop: str = "asyncio") -> Figures:
    import aiohttp
    import msgspec

    import postpress_async as pp

    decode = msgspec.json.Decoder(pp.Chat).decode

    async def run() -> Figures:
        async with aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session:
            many = hand_written_pool(session, decode, base_url() + "/chats/")
            return await measure(many, lambda chat: chat)

    return run_on(loop, run)


def paired_in_process(loop: str, rounds: int, block: int, server: str) -> None:
    """``retrieve_many`` against the pool in alternating blocks of ``block`` ids (_paired)."""
    import aiohttp
    import msgspec
    from _paired import alternate, report

    import postpress_async as pp

    pin_to_client_core()
    decode = msgspec.json.Decoder(pp.Chat).decode

    async def run() -> dict[str, tuple[list[float], list[float]]]:
        async with (
            pp.AsyncPostpress(api_key="k", base_url=base_url()) as client,
            aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session,
        ):
            pool = hand_written_pool(session, decode, base_url() + "/chats/")

            async def pooled(count: int) -> None:
                assert await consume(pool(id_stream(count)), lambda chat: chat) == count

            async def many(count: int) -> None:
                results = client.chats.retrieve_many(id_stream(count), concurrency=CONCURRENCY)
                assert await consume(results, lambda result: result.unwrap()) == count

            return await alternate({"aiohttp-pool": pooled, "retrieve_many": many}, rounds, block)

    figures = run_on(loop, run)
    print(report(loop, server, figures, "retrieve_many", "aiohttp-pool", block), flush=True)


def describe() -> str:
    return (
        f"{scaled(IDS):,} ids from a generator at concurrency {CONCURRENCY}, every result "
        f"consumed as it arrives, against the canned keep-alive server of the throughput suite "
        f"in another process ({len(payload()):,}-byte `chat.json`); server and client pinned "
        "to one core each."
    )


SUITE = Suite(
    name="batch",
    title="retrieve_many: 100,000 ids at concurrency 64",
    baseline="aiohttp-pool",
    cases={
        "retrieve_many": retrieve_many,
        "aiohttp-pool": aiohttp_pool,
        "retrieve_many+uvloop": functools.partial(retrieve_many, "uvloop"),
        "aiohttp-pool+uvloop": functools.partial(aiohttp_pool, "uvloop"),
        "retrieve_many-fixed": functools.partial(retrieve_many, adaptive=False),
    },
    packages=["aiohttp", "msgspec", "postpress_async", "uvloop"],
    describe=describe,
    columns=(
        Column("rate", "ids/s", versus=True),
        Column("cpu_us", "client CPU µs/id", "{:,.1f}", higher_is_better=False, versus=True),
        Column("rss_growth_mib", "peak RSS growth", "{:.1f} MiB", higher_is_better=False),
        Column("rss_before_mib", "RSS before", "{:.0f} MiB", higher_is_better=False),
        Column("server_cpu", "server CPU", "{:.0f}%"),
    ),
    fixture=running,
    targets=(
        Target("retrieve_many ≥ 0.95x aiohttp-pool", "retrieve_many", "rate", "aiohttp-pool", 0.95),
        Target(
            "on uvloop: retrieve_many ≥ 0.95x aiohttp-pool",
            "retrieve_many+uvloop",
            "rate",
            "aiohttp-pool+uvloop",
            0.95,
        ),
        Target(
            "retrieve_many peak RSS growth < 50 MiB",
            "retrieve_many",
            "rss_growth_mib",
            at_most=50.0,
        ),
    ),
    method=(
        f"one timed run of {IDS:,} ids after {WARMUP:,} to warm up; ids/s is wall-clock, "
        "client CPU the process's CPU time per id, peak RSS growth as described above, "
        "server CPU the server process's CPU time over the run in % of its one core"
    ),
)

if __name__ == "__main__":
    import sys

    if "--paired" in sys.argv:
        import _paired

        _paired.main("bench_batch", sys.argv[1:], block=3_000, rounds=30)
    else:
        main(SUITE)
