"""Two versions of postpress_async side by side in one process, each against the bare peer.

    python benchmarks/versions.py REV [--case retrieve_many] [--loop uvloop] [--server nginx]
                                      [--rounds 40] [--block 3000]

What a change to the package costs or saves, measured the way ``_paired.py`` measures the SDK
against its peer: the package at git revision REV (``git archive REV postpress_async``,
imported as ``postpress_async_old``), the working tree's package and the bare peer (the
hand-written pool for ``retrieve_many``, ``session.get`` + ``read()`` + decode at 64 tasks
for ``retrieve``) run in rotating, alternating blocks on one loop, and the median of the
per-round ratios is printed with its quartiles: new / old, and each / the peer. The benchmark
code is the working tree's for both, so only the package differs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _paired import quartiles, running

ROOT = Path(__file__).resolve().parent.parent
OLD = "postpress_async_old"


def export(rev: str, into: Path) -> None:
    """REV's package, as ``into/postpress_async_old`` (its imports are relative)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "postpress_async"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as tar:
        tar.write(archive)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as files:
            files.extractall(into, filter="data")
    (into / "postpress_async").rename(into / OLD)


async def rotate(
    cases: dict[str, Callable[[int], Awaitable[object]]], rounds: int, block: int
) -> dict[str, list[float]]:
    """Warm each case up, then time ``rounds`` rounds of one block each, the order rotated
    and reversed every other round; the seconds each block took."""
    for run in cases.values():
        await run(2_000)
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        turn = round_ % len(names)
        order = names[turn:] + names[:turn]
        for name in order[::-1] if round_ % 2 else order:
            started = time.perf_counter()
            await cases[name](block)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def ratio(faster: list[float], slower: list[float]) -> str:
    """The median (and quartiles) of the per-round rate ratios ``faster`` / ``slower``."""
    return quartiles([base / mine for mine, base in zip(faster, slower, strict=True)])


def measure(case: str, loop: str, rounds: int, block: int, rev: str) -> None:
    """In the case process: both packages and the peer, on ``loop``."""
    import aiohttp
    import bench_batch
    import bench_throughput
    import msgspec
    from _harness import pin_to_client_core
    from _paired import run_on
    from _server import base_url, chat_ids

    import postpress_async as new

    old = importlib.import_module(OLD)
    pin_to_client_core()
    decode = msgspec.json.Decoder(new.Chat).decode

    def batch_of(client: Any) -> Callable[[int], Awaitable[object]]:
        async def many(count: int) -> None:
            results = client.chats.retrieve_many(
                bench_batch.id_stream(count), concurrency=bench_batch.CONCURRENCY
            )
            assert await bench_batch.consume(results, lambda result: result.unwrap()) == count

        return many

    def calls_of(fetch: Any) -> Callable[[int], Awaitable[object]]:
        return lambda count: bench_throughput.drive(fetch, chat_ids(count), seconds=math.inf)

    async def run() -> dict[str, list[float]]:
        async with (
            old.AsyncPostpress(api_key="k", base_url=base_url()) as before,
            new.AsyncPostpress(api_key="k", base_url=base_url()) as after,
            aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session,
        ):
            if case == "retrieve_many":
                pool = bench_batch.hand_written_pool(session, decode, base_url() + "/chats/")

                async def peer(count: int) -> None:
                    ids = bench_batch.id_stream(count)
                    assert await bench_batch.consume(pool(ids), lambda chat: chat) == count

                cases = {"peer": peer, "old": batch_of(before), "new": batch_of(after)}
            else:
                cases = {
                    "peer": calls_of(bench_throughput.bare_fetch(session, decode)),
                    "old": calls_of(before.chats.retrieve),
                    "new": calls_of(after.chats.retrieve),
                }
            return await rotate(cases, rounds, block)

    seconds = run_on(loop, run)
    print(f"{loop:<8} {case}, {rounds} rounds of {block:,}: new ({rev}..working tree) / old:")
    print(f"    new / old   {ratio(seconds['new'], seconds['old'])}")
    print(f"    old / peer  {ratio(seconds['old'], seconds['peer'])}")
    print(f"    new / peer  {ratio(seconds['new'], seconds['peer'])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the git revision to compare the working tree with")
    parser.add_argument("--case", choices=("retrieve_many", "retrieve"), default="retrieve_many")
    parser.add_argument("--server", choices=("canned", "nginx"), default="canned")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=3_000, help="requests (ids) per block")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as packages, running(args.server) as env:
        export(args.rev, Path(packages))
        path = os.pathsep.join(filter(None, [packages, os.environ.get("PYTHONPATH")]))
        for loop in ("asyncio", "uvloop") if args.loop == "both" else (args.loop,):
            code = (
                "import versions; "
                f"versions.measure({args.case!r}, {loop!r}, {args.rounds}, {args.block}, "
                f"{args.rev!r})"
            )
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=Path(__file__).parent,
                env={**os.environ, **env, "PYTHONPATH": path},
                check=True,
            )


if __name__ == "__main__":
    main()
