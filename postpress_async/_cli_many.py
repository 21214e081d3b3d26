"""``postpress chats get-many``: ids in, chats out as JSON lines, safe to stop and resume.

Chats go to ``--output`` as wire JSON lines, failures to ``--errors`` as ``id TAB description``
lines. ``--resume`` skips every id already in either file (read line by line; only the set of
done ids is held), so a job stopped any number of times ends with each id exactly once across
the two. SIGINT and SIGTERM stop sending, give the requests in flight a moment to finish
(a second signal cancels them at once), flush the files, print one summary line and exit
130 / 143.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

import msgspec

from . import _errors as errors
from ._cli_common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    describe,
    make_client,
    summary,
)
from ._client import AsyncPostpress

__all__ = ["Stopper", "cmd_get_many", "fetch_to_jsonl", "read_ids"]

STOP_GRACE: Final = 5.0
"""Seconds the requests in flight get to finish after a first SIGINT/SIGTERM."""


class _Ids(msgspec.Struct):
    id: str | None = None
    provider_id: str | None = None


_decode_ids = msgspec.json.Decoder(_Ids).decode


def read_ids(source: Iterable[str]) -> Iterator[str]:
    """The ids of an ids file: one per line, blank lines and ``#`` comments skipped."""
    for line in source:
        chat_id = line.strip()
        if chat_id and not chat_id.startswith("#"):
            yield chat_id


def _trim_partial_line(path: str) -> None:
    """Cut a last line left without its newline (a killed run) so appending stays clean."""
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        position, tail = size, b""
        while position > 0 and b"\n" not in tail:
            step = min(64 * 1024, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
        if tail.endswith(b"\n"):
            return
        newline = tail.rfind(b"\n")
        handle.truncate(position + newline + 1 if newline >= 0 else 0)


def done_ids(output: str, errors_file: str | None) -> set[str]:
    """Ids already written to ``output`` (a chat's id and provider id) or ``errors_file``."""
    done: set[str] = set()
    if os.path.exists(output):
        _trim_partial_line(output)
        with open(output, "rb") as chats:
            for line in chats:
                try:
                    ids = _decode_ids(line)
                except msgspec.DecodeError:
                    continue
                done.update(i for i in (ids.id, ids.provider_id) if i)
    if errors_file is not None and os.path.exists(errors_file):
        _trim_partial_line(errors_file)
        with open(errors_file, encoding="utf-8") as failures:
            done.update(line.split("\t", 1)[0] for line in failures if "\t" in line)
    return done


class Stopper:
    """SIGINT/SIGTERM while a batch runs: the first stops sending, a second cancels.

    Its handlers stay until the command's loop closes (which removes them): a signal after
    the batch, while the summary prints, changes nothing.
    """

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.stopping = False
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self._loop = loop = task.get_loop()
        # No signal handlers on Windows, nor outside the main thread (main() called from one).
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._fire, signum)

    def _fire(self, signum: signal.Signals) -> None:
        if self.stopping:
            self._cancel()
            return
        self.signal, self.stopping = signum, True
        assert self._loop is not None
        self._loop.call_later(STOP_GRACE, self._cancel)

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class _Progress:
    """A tqdm bar on stderr when stderr is a terminal (or forced); nothing otherwise."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            # A terminal that reports no size (a fresh pty) gets a fixed one, or tqdm draws
            # nothing at all.
            try:
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            fixed: dict[str, Any] = {} if sized else {"ncols": 80, "nrows": 24}
            self._bar = tqdm(
                total=total, unit="chat", file=sys.stderr, dynamic_ncols=sized, **fixed
            )

    def update(self, failed: int, limit: int) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(failed=failed, in_flight_limit=limit, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class BatchStats:
    """What a get-many run did."""

    fetched: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    taken: int = 0
    """Ids handed to the pool (those neither fetched nor failed were cut off)."""
    elapsed: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def _taking(ids: Iterable[str], stats: BatchStats, stopper: Stopper | None) -> Iterator[str]:
    source = iter(ids)
    while stopper is None or not stopper.stopping:  # checked before an id is taken
        chat_id = next(source, None)
        if chat_id is None:
            return
        stats.taken += 1
        yield chat_id


async def fetch_to_jsonl(
    client: AsyncPostpress,
    ids: Iterable[str],
    *,
    out: IO[bytes],
    err: IO[str],
    concurrency: int,
    account_id: str | None = None,
    progress: bool = False,
    total: int | None = None,
    stopper: Stopper | None = None,
    fail_fast: bool = True,
    adaptive: bool = True,
    stats: BatchStats | None = None,
) -> BatchStats:
    """Stream chats to ``out`` as JSON lines and one line per failure to ``err``.

    After a ``stopper`` signal no new id is taken; a second signal (or the grace running out)
    cancels the requests in flight, and the results that came back are still written.
    """
    bar = _Progress(progress, total)
    stats = stats if stats is not None else BatchStats()
    started = time.perf_counter()
    results = client.chats.retrieve_many(
        _taking(ids, stats, stopper),
        account_id=account_id,
        concurrency=concurrency,
        fail_fast=fail_fast,
        adaptive=adaptive,
    )

    async def consume() -> None:
        async for result in results:
            if result.chat is not None:
                out.write(result.chat.to_json() + b"\n")
                stats.fetched += 1
            else:
                assert result.error is not None
                kind = getattr(result.error, "type", None) or type(result.error).__name__
                stats.failures[kind] += 1
                err.write(f"{result.chat_id}\t{describe(result.error)}\n")
            bar.update(stats.failed, results.limit)

    task = asyncio.ensure_future(consume())
    if stopper is not None:
        stopper.install(task)
    try:
        await task
    except asyncio.CancelledError:
        if stopper is None or not stopper.stopping:
            raise  # cancelled from outside, not by a signal
    finally:
        bar.close()
        stats.elapsed = time.perf_counter() - started
    return stats


def resume_command(argv: Sequence[str]) -> str:
    """The command that resumes this run: its arguments plus ``--resume``, minus the key."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--api-key":
            skip = True
        elif not arg.startswith("--api-key="):
            kept.append(arg)
    if "--resume" not in kept:
        kept.append("--resume")
    return shlex.join(["postpress", *kept])


@contextlib.contextmanager
def _open_out(path: str | None, append: bool) -> Iterator[IO[bytes]]:
    if path is None or path == "-":
        yield sys.stdout.buffer
    else:
        with open(path, "ab" if append else "wb") as handle:
            yield handle


@contextlib.contextmanager
def _open_err(path: str | None, append: bool) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stderr
    else:
        with open(path, "a" if append else "w", encoding="utf-8") as handle:
            yield handle


async def cmd_get_many(args: argparse.Namespace) -> int:
    """``postpress chats get-many``: stream ids in, chats out as JSON lines."""
    from_stdin = args.file in (None, "-")
    if args.resume and args.output in (None, "-"):
        raise ValueError("--resume needs --output FILE: it skips the ids already written there")
    done = done_ids(args.output, args.errors) if args.resume else set()
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    total = None
    if show and not from_stdin and os.path.isfile(args.file):
        with open(args.file, encoding="utf-8") as counting:  # a real bar needs the count
            total = sum(1 for i in read_ids(counting) if i not in done)
    source_cm = (
        contextlib.nullcontext(sys.stdin) if from_stdin else open(args.file, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    )
    stopper = Stopper()
    stats = BatchStats()
    with (
        source_cm as source,
        _open_out(args.output, args.resume) as out,
        _open_err(args.errors, args.resume) as err,
    ):
        pending = (i for i in read_ids(source) if i not in done)
        client = make_client(args)  # bad settings raise here, before any request
        try:
            async with client:
                stats = await fetch_to_jsonl(
                    client,
                    pending,
                    out=out,
                    err=err,
                    concurrency=args.concurrency,
                    account_id=args.account_id,
                    progress=show,
                    total=total,
                    stopper=stopper,
                    fail_fast=args.fail_fast,
                    adaptive=args.adaptive,
                    stats=stats,
                )
        except errors.PostpressError as exc:
            # A fail-fast stop: the error proves no other id can succeed. Say what was done and
            # how to go on; main prints the error line and exits with its code.
            cut_off = stats.taken - stats.fetched - stats.failed
            left = "the rest of stdin" if from_stdin else str(cut_off + sum(1 for _ in pending))
            print(
                f"stopped by {type(exc).__name__}: fetched {stats.fetched}, failed "
                f"{stats.failed}, not attempted {left}; after fixing it, resume with: "
                f"{resume_command(args.argv)}",
                file=sys.stderr,
            )
            raise
        if stopper.signal is None:
            print(summary(stats.fetched, stats.failures, stats.elapsed), file=sys.stderr)
            return EXIT_SOME_FAILED if stats.failures else EXIT_OK
        cut_off = stats.taken - stats.fetched - stats.failed
        left = "the rest of stdin" if from_stdin else str(cut_off + sum(1 for _ in pending))
    print(
        f"{stopper.signal.name}: fetched {stats.fetched}, failed {stats.failed}, "
        f"not attempted {left}; resume with: {resume_command(args.argv)}",
        file=sys.stderr,
    )
    return 128 + int(stopper.signal)
