"""Run benchmark suites, one process per case, and print (or write) a markdown table.

    python benchmarks/run.py decode                 # run the decode suite, print its table
    python benchmarks/run.py decode --write         # ...and update its section of README.md
    python benchmarks/run.py --list                 # the suites and their cases

A suite is a ``bench_<name>.py`` beside this file that defines ``SUITE`` (see ``_harness``);
dropping one in is all it takes to register it. Every case runs in a fresh interpreter so
that no library's imports, caches or garbage affect another's. Rounds alternate the order of
the cases; a case's figure is the median over rounds of each process's median.

A whole-run suite (``Suite.columns``: requests/s, peak RSS, ...) has each case process make
one measured run and report its figures; the table shows, per column, the median over rounds,
and "vs." the ratio of those medians to the baseline's, oriented so that above 1 is better.
Its fixture (the canned server) is started once, around all rounds, and its targets are
checked against the medians under the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from _harness import SCALE_ENV, Column, Suite, fixture_env

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
RESULTS = HERE / "results"


def discover() -> dict[str, Path]:
    """Every suite beside this file: ``bench_decode.py`` -> ``"decode"``."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def load(path: Path) -> Suite:
    suite: Suite = importlib.import_module(path.stem).SUITE
    return suite


def run_case(path: Path, lib: str, repeat: int) -> dict[str, Any]:
    """One case in its own interpreter; its one JSON line."""
    proc = subprocess.run(
        [sys.executable, str(path), "--lib", lib, "--repeat", str(repeat)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=HERE,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{path.name} --lib {lib} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def orders(
    libs: list[str], rounds: int, pairs: list[tuple[str, str]] | None = None
) -> list[list[str]]:
    """Rotate and alternate direction so no case always runs first, last or after another.

    The two cases of each of ``pairs`` (a target's case and the one it is compared with) stay
    back to back, in alternating order, so that their ratio is taken within seconds.
    """
    groups: list[list[str]] = []
    grouped: set[str] = set()
    for first, second in pairs or []:
        if first in libs and second in libs and not {first, second} & grouped:
            groups.append([first, second])
            grouped |= {first, second}
    groups += [[lib] for lib in libs if lib not in grouped]
    result = []
    for round_ in range(rounds):
        shift = round_ % len(groups)
        order = groups[shift:] + groups[:shift]
        if round_ % 2:
            order = [group[::-1] for group in reversed(order)]
        result.append([lib for group in order for lib in group])
    return result


def run_suite(
    suite: Suite, path: Path, *, rounds: int, repeat: int, libs: list[str]
) -> dict[str, list[float]]:
    """Per case, the median seconds per op of each round's process."""
    medians: dict[str, list[float]] = {lib: [] for lib in libs}
    for round_, order in enumerate(orders(libs, rounds)):
        for lib in order:
            result = run_case(path, lib, repeat)
            medians[lib].append(result["median_s"])
            print(
                f"  round {round_ + 1}/{rounds}  {lib:<16} {result['median_s'] * 1e6:10.2f} µs/op",
                file=sys.stderr,
            )
    return medians


def run_whole(
    suite: Suite, path: Path, *, rounds: int, libs: list[str]
) -> dict[str, list[dict[str, float]]]:
    """Per case, the figures of each round's process; the fixture is up for all of them."""
    figures: dict[str, list[dict[str, float]]] = {lib: [] for lib in libs}
    with fixture_env(suite):
        pairs = [(t.case, t.versus) for t in suite.targets if t.versus is not None]
        for round_, order in enumerate(orders(libs, rounds, pairs)):
            for lib in order:
                result = run_case(path, lib, 1)
                figures[lib].append({c.key: result[c.key] for c in suite.columns})
                shown = "  ".join(f"{c.header} {c.show(result[c.key])}" for c in suite.columns)
                print(f"  round {round_ + 1}/{rounds}  {lib:<22} {shown}", file=sys.stderr)
    return figures


def medians_of(figures: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per case and key, the median over rounds (NaN where a case has no such figure)."""
    result: dict[str, dict[str, float]] = {}
    for lib, rounds in figures.items():
        keys = {key for figure in rounds for key in figure}
        result[lib] = {}
        for key in keys:
            values = [f[key] for f in rounds if key in f and not math.isnan(f[key])]
            result[lib][key] = statistics.median(values) if values else math.nan
    return result


def paired(
    figures: dict[str, list[dict[str, float]]], lib: str, versus: str, column: Column
) -> list[float]:
    """``lib``'s figure against ``versus``'s in each round (oriented as ``Column.speed``).

    The cases of a round run back to back, so a round's ratio is taken on a machine in one
    state; a shared machine that slows down for minutes moves both figures, not the ratio.
    """
    result = []
    for mine, theirs in zip(figures[lib], figures[versus], strict=True):
        value, reference = mine.get(column.key, math.nan), theirs.get(column.key, math.nan)
        if not (math.isnan(value) or math.isnan(reference)):
            result.append(column.speed(value, reference))
    return result


def paired_median(
    figures: dict[str, list[dict[str, float]]], lib: str, versus: str, column: Column
) -> float:
    """The median over rounds of ``lib``'s ratio to ``versus`` (NaN if never both ran)."""
    ratios = paired(figures, lib, versus, column)
    return statistics.median(ratios) if ratios else math.nan


def ratio(seconds: float, baseline: float) -> str:
    """How ``seconds`` compares with ``baseline``; two decimals while the factor is under 2."""
    factor = max(seconds, baseline) / min(seconds, baseline)
    text = f"{factor:.2f}x" if factor < 2 else f"{factor:.1f}x"
    if seconds == baseline:
        return "1.00x"
    return f"{text} slower" if seconds > baseline else f"{text} faster"


def table(suite: Suite, medians: dict[str, list[float]]) -> str:
    result = {lib: statistics.median(values) for lib, values in medians.items()}
    base = result.get(suite.baseline)
    lines = [
        f"| lib | median µs/op | ops/s | vs. {suite.baseline} |",
        "|---|---:|---:|---|",
    ]
    for lib, seconds in sorted(result.items(), key=lambda item: item[1]):
        versus = "baseline" if lib == suite.baseline else ratio(seconds, base) if base else "n/a"
        name = f"**{lib}**" if lib == suite.baseline else lib
        lines.append(f"| {name} | {seconds * 1e6:,.2f} | {1 / seconds:,.0f} | {versus} |")
    return "\n".join(lines)


def speed_ratio(speed: float) -> str:
    """A speed relative to the baseline (above 1 is better); two decimals under 2x."""
    if math.isnan(speed):
        return "n/a"
    return f"{speed:.2f}x" if speed < 2 else f"{speed:.1f}x"


def whole_table(suite: Suite, figures: dict[str, list[dict[str, float]]]) -> str:
    """One row per case, ordered by the first column; a "vs." after each column that asks."""
    result = medians_of(figures)
    header, align = ["lib"], ["---"]
    for column in suite.columns:
        header.append(column.header)
        align.append("---:")
        if column.versus:
            header.append(f"vs. {suite.baseline}")
            align.append("---:")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    first = suite.columns[0]
    sign = -1 if first.higher_is_better else 1

    def order(item: tuple[str, dict[str, float]]) -> float:
        value = item[1].get(first.key, math.nan)
        return math.inf if math.isnan(value) else sign * value

    for lib, values in sorted(result.items(), key=order):
        cells = [f"**{lib}**" if lib == suite.baseline else lib]
        for column in suite.columns:
            value = values.get(column.key, math.nan)
            cells.append(column.show(value))
            if column.versus:
                if lib == suite.baseline:
                    cells.append("baseline")
                elif suite.baseline not in figures:
                    cells.append("n/a")
                else:
                    cells.append(speed_ratio(paired_median(figures, lib, suite.baseline, column)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_lines(suite: Suite, figures: dict[str, list[dict[str, float]]]) -> list[str]:
    """Each target, its measured value, and whether it is met.

    A figure is the median over rounds; a ratio to another case is the median of the rounds'
    ratios, shown with their range.
    """
    result = medians_of(figures)
    columns: dict[str, Column] = {c.key: c for c in suite.columns}
    lines = []
    for target in suite.targets:
        if target.case not in result or (target.versus and target.versus not in result):
            lines.append(f"- Target {target.text}: not run")
            continue
        value = result[target.case].get(target.key, math.nan)
        if target.versus is not None:
            column = columns[target.key]
            ratios = paired(figures, target.case, target.versus, column)
            value = statistics.median(ratios) if ratios else math.nan
            spread = f"{min(ratios):.2f} to {max(ratios):.2f}" if ratios else "none"
            shown = f"{speed_ratio(value)} (rounds: {spread})"
        else:
            shown = columns[target.key].show(value)
        met = (target.at_least is None or value >= target.at_least) and (
            target.at_most is None or value <= target.at_most
        )
        lines.append(f"- Target {target.text}: {shown}, **{'met' if met else 'NOT met'}**")
    return lines


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return f"{platform.platform()}; {cpu_model()}; {os.cpu_count()} logical cores"


def versions(packages: list[str]) -> str:
    parts = [f"python {platform.python_version()} ({platform.python_implementation()})"]
    for name in packages:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def report(
    suite: Suite, medians: dict[str, list[float]], *, rounds: int, repeat: int, date: str
) -> str:
    description = suite.describe()
    return "\n".join(
        [
            f"### {suite.title}",
            "",
            *([description, ""] if description else []),
            table(suite, medians),
            "",
            f"- Run: {date}, `python benchmarks/run.py {suite.name} --rounds {rounds} "
            f"--repeat {repeat}`: each case in its own process per round, timing {repeat} runs "
            "after a warm-up; the figure is the median over rounds of each process's median.",
            f"- Machine: {machine()}",
            f"- Versions: {versions(suite.packages)}",
        ]
    )


def whole_report(
    suite: Suite,
    figures: dict[str, list[dict[str, float]]],
    *,
    rounds: int,
    scale: float,
    date: str,
) -> str:
    description = suite.describe()
    scaled = f" --scale {scale:g}" if scale != 1 else ""
    return "\n".join(
        [
            f"### {suite.title}",
            "",
            *([description, ""] if description else []),
            whole_table(suite, figures),
            "",
            *target_lines(suite, figures),
            f"- Run: {date}, `python benchmarks/run.py {suite.name} --rounds {rounds}{scaled}`: "
            "each case in its own process per round, the order rotated and alternated between "
            f"rounds (the two cases of a target back to back); {suite.method}. Each figure is "
            f'the median over the {rounds} rounds; "vs." is the median over the rounds of each '
            "round's ratio to the baseline, above 1 is better.",
            f"- Machine: {machine()}",
            f"- Versions: {versions(suite.packages)}",
        ]
    )


def write_section(name: str, text: str, readme: Path = README) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``, or append."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text}\n{end}"
    current = readme.read_text("utf-8") if readme.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _match: block, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(updated, "utf-8")


def whole_suite(suite: Suite, path: Path, args: argparse.Namespace, saved: Path) -> str:
    """Run (or reload) a whole-run suite; its report."""
    if args.from_results:
        last = json.loads(saved.read_text("utf-8"))
    else:
        libs = [lib for lib in suite.cases if not args.lib or lib in args.lib]
        print(f"{suite.title}: {len(libs)} cases x {args.rounds} rounds", file=sys.stderr)
        figures = run_whole(suite, path, rounds=args.rounds, libs=libs)
        last = {
            "date": dt.date.today().isoformat(),
            "rounds": args.rounds,
            "scale": args.scale,
            "figures": figures,
        }
        RESULTS.mkdir(exist_ok=True)
        saved.write_text(json.dumps(last, indent=1) + "\n", "utf-8")
    return whole_report(
        suite,
        last["figures"],
        rounds=last["rounds"],
        scale=last.get("scale", 1.0),
        date=last["date"],
    )


def main(argv: list[str] | None = None) -> None:
    suites = discover()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=", ".join(suites))
    parser.add_argument("--list", action="store_true", help="list suites and cases")
    parser.add_argument("--rounds", type=int, default=5, help="processes per case (default 5)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per process")
    parser.add_argument("--lib", action="append", help="only these cases (repeatable)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="whole-run suites: scale their request counts (a quick trial: 0.1)",
    )
    parser.add_argument("--write", action="store_true", help="update README.md's section")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="no new run: make the table from the last run's benchmarks/results/<suite>.json",
    )
    args = parser.parse_args(argv)

    unknown = [name for name in args.suites if name not in suites]
    if unknown:
        parser.error(f"no suite {', '.join(unknown)}; there are: {', '.join(suites)}")
    if args.list or not args.suites:
        for name, path in suites.items():
            suite = load(path)
            print(f"{name}: {', '.join(suite.cases)}  (baseline {suite.baseline})")
        return
    if args.scale != 1:
        os.environ[SCALE_ENV] = str(args.scale)
    for name in args.suites:
        path = suites[name]
        suite = load(path)
        saved = RESULTS / f"{name}.json"
        if suite.whole_run:
            text = whole_suite(suite, path, args, saved)
            print(text)
            if args.write:
                write_section(name, text)
                print(f"updated {README.relative_to(HERE.parent)}", file=sys.stderr)
            continue
        if args.from_results:
            last = json.loads(saved.read_text("utf-8"))
            rounds, repeat, medians = last["rounds"], last["repeat"], last["medians"]
            date = last["date"]
        else:
            rounds, repeat = args.rounds, args.repeat
            date = dt.date.today().isoformat()
            libs = [lib for lib in suite.cases if not args.lib or lib in args.lib]
            print(f"{suite.title}: {len(libs)} cases x {rounds} rounds", file=sys.stderr)
            medians = run_suite(suite, path, rounds=rounds, repeat=repeat, libs=libs)
            RESULTS.mkdir(exist_ok=True)
            last = {"date": date, "rounds": rounds, "repeat": repeat, "medians": medians}
            saved.write_text(json.dumps(last, indent=1) + "\n", "utf-8")
        text = report(suite, medians, rounds=rounds, repeat=repeat, date=date)
        print(text)
        if args.write:
            write_section(name, text)
            print(f"updated {README.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
