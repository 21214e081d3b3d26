"""Export many chats to a JSON Lines file with ``retrieve_many``, then print a summary.

    export POSTPRESS_API_KEY=...        # and POSTPRESS_BASE_URL for a fake server
    python examples/batch_export.py ids.txt --output chats.jsonl --concurrency 64
    cat ids.txt | python examples/batch_export.py - --output chats.jsonl

Ids come one per line (blank lines and ``#`` comments skipped). Each chat is one line of wire
JSON; each failure is one line on stderr (``id<TAB>error``). Exits 1 if any id failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import postpress_async as pp


def read_ids(source: TextIO) -> Iterator[str]:
    for line in source:
        chat_id = line.strip()
        if chat_id and not chat_id.startswith("#"):
            yield chat_id


async def export(ids: Iterator[str], output: Path, concurrency: int) -> Counter[str]:
    """Write every chat of ``ids`` to ``output``; returns the outcomes by kind."""
    outcomes: Counter[str] = Counter()
    async with pp.AsyncPostpress() as client:
        with output.open("wb") as out:
            async for result in client.chats.retrieve_many(ids, concurrency=concurrency):
                if result.chat is not None:
                    out.write(result.chat.to_json() + b"\n")
                    outcomes["exported"] += 1
                else:
                    error = result.error
                    kind = getattr(error, "type", None) or type(error).__name__
                    outcomes[kind] += 1
                    print(f"{result.chat_id}\t{type(error).__name__}: {error}", file=sys.stderr)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description="Export chats to a JSON Lines file.")
    parser.add_argument("ids", help="file of chat ids, one per line, or - for stdin")
    parser.add_argument("--output", "-o", type=Path, default=Path("chats.jsonl"))
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.ids == "-":
        outcomes = asyncio.run(export(read_ids(sys.stdin), args.output, args.concurrency))
    else:
        with open(args.ids, encoding="utf-8") as source:
            outcomes = asyncio.run(export(read_ids(source), args.output, args.concurrency))
    exported = outcomes.pop("exported", 0)
    failed = sum(outcomes.values())
    elapsed = time.perf_counter() - started
    print(f"exported {exported} chats to {args.output}, {failed} failed in {elapsed:.2f}s")
    for kind, count in outcomes.most_common():
        print(f"  {count:>6}  {kind}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
