"""What every ``bench_*.py`` shares: the ``Suite`` it declares and the timing loop it runs.

A suite module defines ``SUITE = Suite(...)`` and ends with ``if __name__ == "__main__":
main(SUITE)``. Each case is a setup function that does its imports and preparation and returns
the zero-argument operation to time, so that a process only ever imports the library it times.
``run.py`` starts one process per case (``bench_x.py --lib NAME``) and reads the one JSON line
it prints.

A suite with ``columns`` measures whole runs instead (N requests through a client, say): each
case is then a function that does the entire measurement in its process and returns its
figures (requests/s, CPU per request, peak RSS growth, ...), named by the columns' keys. Its
``fixture`` (a server, say) is started once by ``run.py`` around all the rounds, and the
environment it yields is handed to every case process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], object]
Setup = Callable[[], Op]
Figures = dict[str, float]
Measure = Callable[[], Figures]
"""A whole-run case: does its own measurement and returns its figures by column key."""
Fixture = Callable[[], AbstractContextManager[dict[str, str]]]
"""Something the cases share (a server): entered once, yields environment for the cases."""

SCALE_ENV = "PP_BENCH_SCALE"
CPU_ENV = "PP_BENCH_CLIENT_CPU"
FIXTURE_ENV = "PP_BENCH_FIXTURE"
"""Set while a fixture is up, so that a case process does not start another."""


@dataclass(frozen=True)
class Column:
    """One figure of a whole-run suite's table, read from each case's JSON line by ``key``."""

    key: str
    header: str
    fmt: str = "{:,.0f}"
    higher_is_better: bool = True
    versus: bool = False
    """Follow it with a "vs. <baseline>" column: the speed relative to the baseline."""

    def show(self, value: float) -> str:
        return "n/a" if math.isnan(value) else self.fmt.format(value)

    def speed(self, value: float, baseline: float) -> float:
        """Relative to ``baseline``, oriented so that above 1 is better."""
        return value / baseline if self.higher_is_better else baseline / value


@dataclass(frozen=True)
class Target:
    """A goal stated in the README: a case's figure, or its ratio to another case's."""

    text: str
    case: str
    key: str
    versus: str | None = None
    """Compare with this case (the ratio, oriented as ``Column.speed``); None: the figure."""
    at_least: float | None = None
    at_most: float | None = None


@dataclass(frozen=True)
class Suite:
    """A set of cases timed against one baseline."""

    name: str
    """Used on the command line (``run.py decode``) and in README markers."""
    title: str
    baseline: str
    """The case the "vs." column compares with."""
    cases: dict[str, Callable[[], Any]]
    """Name -> ``Setup`` (time one op), or ``Measure`` in a whole-run suite."""
    packages: list[str] = field(default_factory=list)
    """Distributions whose versions the table reports."""
    describe: Callable[[], str] = lambda: ""
    """One or two lines on what is measured (payload size, ...), shown above the table."""
    columns: tuple[Column, ...] = ()
    """Set for a whole-run suite: its figures; the first is the one rows are ordered by."""
    fixture: Fixture | None = None
    targets: tuple[Target, ...] = ()
    method: str = ""
    """For a whole-run suite: how one case's run goes, for the line under the table."""

    @property
    def whole_run(self) -> bool:
        return bool(self.columns)


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


def scaled(count: int) -> int:
    """``count`` times ``--scale`` (for a quick trial run), at least 1."""
    return max(1, round(count * float(os.environ.get(SCALE_ENV, "1"))))


def pin_to_client_core() -> None:
    """Keep a whole-run case on the core the fixture left it (the server has the other)."""
    cpu = os.environ.get(CPU_ENV)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})


@contextlib.contextmanager
def fixture_env(suite: Suite) -> Iterator[dict[str, str]]:
    """Enter the suite's fixture, unless the environment already names a running one."""
    if suite.fixture is None or os.environ.get(FIXTURE_ENV):
        yield {}
        return
    with suite.fixture() as fixture:
        env = {**fixture, FIXTURE_ENV: suite.name}
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def main(suite: Suite, argv: list[str] | None = None) -> None:
    """Time one case of ``suite`` in this process and print one JSON line."""
    parser = argparse.ArgumentParser(description=f"{suite.title}: time one case.")
    parser.add_argument("--lib", required=True, choices=sorted(suite.cases))
    parser.add_argument("--repeat", type=int, default=15, help="timed runs (default 15)")
    parser.add_argument("--number", type=int, default=0, help="calls per run (0: calibrate)")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="seconds per run when calibrating"
    )
    parser.add_argument(
        "--scale", type=float, default=None, help="whole-run suites: scale the request counts"
    )
    args = parser.parse_args(argv)
    if suite.whole_run:
        if args.scale is not None:
            os.environ[SCALE_ENV] = str(args.scale)
        with fixture_env(suite):  # run alone: start the fixture here
            pin_to_client_core()
            figures: Figures = suite.cases[args.lib]()
        json.dump({"suite": suite.name, "lib": args.lib, **figures}, sys.stdout)
        sys.stdout.write("\n")
        return
    op = suite.cases[args.lib]()
    result = measure(op, repeat=args.repeat, number=args.number, min_time=args.min_time)
    json.dump({"suite": suite.name, "lib": args.lib, **result}, sys.stdout)
    sys.stdout.write("\n")
