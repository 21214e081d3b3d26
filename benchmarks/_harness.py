"""What every ``bench_*.py`` shares: the ``Suite`` it declares and the timing loop it runs.

A suite module defines ``SUITE = Suite(...)`` and ends with ``if __name__ == "__main__":
main(SUITE)``. Each case is a setup function that does its imports and preparation and returns
the zero-argument operation to time, so that a process only ever imports the library it times.
``run.py`` starts one process per case (``bench_x.py --lib NAME``) and reads the one JSON line
it prints.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], object]
Setup = Callable[[], Op]


@dataclass(frozen=True)
class Suite:
    """A set of cases timed against one baseline."""

    name: str
    """Used on the command line (``run.py decode``) and in README markers."""
    title: str
    baseline: str
    """The case the "vs." column compares with."""
    cases: dict[str, Setup]
    packages: list[str] = field(default_factory=list)
    """Distributions whose versions the table reports."""
    describe: Callable[[], str] = lambda: ""
    """One or two lines on what is measured (payload size, ...), shown above the table."""


def measure(op: Op, *, repeat: int, number: int, min_time: float) -> dict[str, Any]:
    """Median and min seconds per call over ``repeat`` runs of ``number`` calls each.

    With ``number == 0`` the count is calibrated so that one run takes at least ``min_time``.
    The calibration doubles as the warm-up.
    """
    timer = time.perf_counter
    if number <= 0:
        number = 1
        while True:
            start = timer()
            for _ in range(number):
                op()
            if timer() - start >= min_time:
                break
            number *= 2
    else:
        for _ in range(number):
            op()
    runs = []
    for _ in range(repeat):
        start = timer()
        for _ in range(number):
            op()
        runs.append((timer() - start) / number)
    return {
        "median_s": statistics.median(runs),
        "min_s": min(runs),
        "repeat": repeat,
        "number": number,
    }


def main(suite: Suite, argv: list[str] | None = None) -> None:
    """Time one case of ``suite`` in this process and print one JSON line."""
    parser = argparse.ArgumentParser(description=f"{suite.title}: time one case.")
    parser.add_argument("--lib", required=True, choices=sorted(suite.cases))
    parser.add_argument("--repeat", type=int, default=15, help="timed runs (default 15)")
    parser.add_argument("--number", type=int, default=0, help="calls per run (0: calibrate)")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="seconds per run when calibrating"
    )
    args = parser.parse_args(argv)
    op = suite.cases[args.lib]()
    result = measure(op, repeat=args.repeat, number=args.number, min_time=args.min_time)
    json.dump({"suite": suite.name, "lib": args.lib, **result}, sys.stdout)
    sys.stdout.write("\n")
