"""The fault matrix's harness: what a row is, and how one is run and checked.

``run_row`` sends one request through ``AsyncPostpress.chats.retrieve`` to the server a row's
setup started, then checks the outcome, the attempts and hits, and that nothing leaked. The
rows themselves are in ``fault_rows.py``; ``test_fault_matrix.py`` asserts them and
``scripts/fault_matrix_report.py`` writes ``docs/reliability.md`` from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from insides import connector_of, pooled_protocols
from rawserver import RawServer
from support import EXAMPLE_ID, open_fds, until
from support import SECRET_KEY as KEY

import postpress_async as pp

SETTLE = 5.0
"""Seconds the harness lets connections, descriptors and tasks wind down before it calls them
leaked (a hang guard, not a timing assertion)."""


def unclosed_protocols(protocols: Sequence[Any]) -> list[Any]:
    """Those of ``protocols`` whose transport is still open."""
    return [p for p in protocols if p.transport is not None and not p.transport.is_closing()]


@dataclass
class Target:
    """What a row's setup started: where to send the request, and how to count what arrived."""

    base_url: str
    chat_id: str
    hits: Callable[[], int]
    raw: RawServer | None = None
    idle: Callable[[], bool] = lambda: True
    """True once the server has nothing in flight and no connection from the client open."""
    expected_chat_id: str = EXAMPLE_ID
    checks: list[Callable[[Observation], str | None]] = field(default_factory=list)


Setup = Callable[[contextlib.AsyncExitStack], Awaitable[Target]]

Count = int | tuple[int, int]
"""An exact count, or an inclusive range where timing decides (a deadline)."""

DEFAULT_TIMEOUT = pp.Timeout(attempt=5.0, connect=2.0, deadline=10.0)


@dataclass(frozen=True)
class Row:
    """One fault: what the server does, and what the SDK must make of it."""

    name: str
    behaviour: str
    setup: Setup = field(repr=False)
    expect: type[pp.PostpressError] | None
    """The exact exception class, or None for success."""
    attempts: Count
    """Attempts the SDK makes (``exc.attempts``; on success, retry waits + 1)."""
    hits: Count
    """Requests the server receives."""
    timeout: pp.Timeout = DEFAULT_TIMEOUT
    max_retries: int = 2
    retry_after_max: float = 30.0
    client: dict[str, Any] = field(default_factory=dict)
    warm: bool = False
    """Fetch once successfully first, so the fault meets a reused keep-alive connection."""
    note: str = ""

    @property
    def slug(self) -> str:
        """The row's name as a test id."""
        words = "".join(ch if ch.isalnum() else " " for ch in self.name.lower()).split()
        return "_".join(words)


@dataclass
class Observation:
    """What running a row produced, and every way it differed from the row."""

    row: Row
    chat: pp.Chat | None = None
    error: BaseException | None = None
    waits: list[float] = field(default_factory=list)
    hits: int = 0
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "success" if self.error is None else type(self.error).__name__

    @property
    def attempts(self) -> int:
        """Attempts made: one more than the retry waits."""
        return len(self.waits) + 1


def _in(value: int, expected: Count) -> bool:
    if isinstance(expected, tuple):
        return expected[0] <= value <= expected[1]
    return value == expected


def show_count(expected: Count) -> str:
    return f"{expected[0]}-{expected[1]}" if isinstance(expected, tuple) else str(expected)


async def run_row(row: Row) -> Observation:
    """Run one row against a real local server; ``problems`` lists every deviation."""
    gc.collect()
    fds_before = open_fds()
    tasks_before = asyncio.all_tasks()
    seen = Observation(row)

    async def fake_sleep(seconds: float) -> None:
        seen.waits.append(seconds)

    policy = pp.RetryPolicy(
        max_retries=row.max_retries,
        backoff_initial=0.01,
        backoff_max=0.1,
        retry_after_max=row.retry_after_max,
        sleep=fake_sleep,
    )
    limit = (row.timeout.deadline or 60.0) + 5.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with contextlib.AsyncExitStack() as stack:
            target = await row.setup(stack)
            client = pp.AsyncPostpress(
                KEY, base_url=target.base_url, retry=policy, timeout=row.timeout, **row.client
            )
            warm_hits = 0
            if row.warm:
                await client.chats.retrieve(target.chat_id)
                warm_hits = target.hits()
            started = time.monotonic()
            try:
                seen.chat = await asyncio.wait_for(client.chats.retrieve(target.chat_id), limit)
            except asyncio.TimeoutError:
                seen.problems.append(f"hang: no outcome within {limit:.0f} s")
            except Exception as exc:
                seen.error = exc
            seen.elapsed = time.monotonic() - started
            connector = connector_of(client)
            protocols = pooled_protocols(client)
            await client.aclose()
            seen.hits = target.hits() - warm_hits
            if connector is not None and not connector.closed:
                seen.problems.append("connector still open after aclose()")
            if unclosed_protocols(protocols):
                seen.problems.append(f"{len(unclosed_protocols(protocols))} connections open")
            if not await until(target.idle, SETTLE):
                seen.problems.append("the server still has a request or connection from the client")
            _check_outcome(seen, target)
            for check in target.checks:
                problem = check(seen)
                if problem:
                    seen.problems.append(problem)
            del client, connector, protocols
        gc.collect()
    for warning in caught:
        seen.problems.append(f"warning: {warning.category.__name__}: {warning.message}")
    if not await until(lambda: open_fds() <= fds_before, SETTLE):
        seen.problems.append(f"file descriptors: {fds_before} before, {open_fds()} after")
    current = asyncio.current_task()
    if not await until(lambda: not (asyncio.all_tasks() - tasks_before - {current}), SETTLE):
        seen.problems.append(f"tasks left: {asyncio.all_tasks() - tasks_before - {current}}")
    return seen


def _check_outcome(seen: Observation, target: Target) -> None:
    row = seen.row
    if row.expect is None:
        if seen.error is not None:
            seen.problems.append(f"expected success, got {type(seen.error).__name__}: {seen.error}")
        elif seen.chat is not None and seen.chat.id != target.expected_chat_id:
            seen.problems.append(f"got chat {seen.chat.id!r}, not {target.expected_chat_id!r}")
    elif type(seen.error) is not row.expect:
        got = "success" if seen.error is None else f"{type(seen.error).__name__}: {seen.error}"
        seen.problems.append(f"expected {row.expect.__name__}, got {got}")
    if not _in(seen.attempts, row.attempts):
        seen.problems.append(f"attempts: expected {show_count(row.attempts)}, saw {seen.attempts}")
    if isinstance(seen.error, pp.PostpressError) and seen.error.attempts != seen.attempts:
        seen.problems.append(
            f"exc.attempts is {seen.error.attempts}, but {seen.attempts} attempts were made"
        )
    if not _in(seen.hits, row.hits):
        seen.problems.append(f"server hits: expected {show_count(row.hits)}, saw {seen.hits}")
    limit = (row.timeout.deadline or 60.0) + 5.0
    if seen.elapsed >= limit:
        seen.problems.append(f"took {seen.elapsed:.1f} s, deadline + 5 s is {limit:.0f} s")
