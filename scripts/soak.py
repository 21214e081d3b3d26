"""The full-size soak: ``retrieve_many`` over 50,000 ids with faults, async and threaded.

    .venv/bin/python scripts/soak.py                # 50,000 ids
    .venv/bin/python scripts/soak.py --ids 200000   # any size

Against FakePostpress on 127.0.0.1 with 0-5 ms latency: ~10% of the ids meet one or two
retryable faults, ~2% fail for good. It checks that every id is accounted for exactly once,
that permanent errors carry their ``.type`` and are never retried, that the server saw exactly
the planned number of requests, and that file descriptors, tasks, threads and RSS come back
after close. Prints a summary; exits 1 on any violation. ``tests/test_soak.py`` runs the same
code at 10,000 ids in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from soak_runner import soak_async, soak_threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=50_000, help="how many ids (default 50000)")
    parser.add_argument("--threads", type=int, default=4, help="threads sharing pp.Postpress")
    parser.add_argument("--concurrency", type=int, default=32, help="retrieve_many concurrency")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    args = parser.parse_args(argv)
    if args.ids < 1 or args.threads < 1 or args.concurrency < 1:
        parser.error("--ids, --threads and --concurrency must be at least 1")
    reports = [
        asyncio.run(soak_async(args.ids, concurrency=args.concurrency, seed=args.seed)),
        soak_threads(
            args.ids,
            threads=args.threads,
            concurrency=max(1, args.concurrency // 2),
            seed=args.seed,
        ),
    ]
    for report in reports:
        print(report.summary())
    failed = sum(len(report.violations) for report in reports)
    print("soak: OK" if not failed else f"soak: {failed} violation(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
