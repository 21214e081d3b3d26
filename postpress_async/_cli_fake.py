"""``postpress fake-server`` and ``postpress demo``: the fake server, with faults, from a shell.

Faults are drawn from a seeded random generator, so a seed gives the same faults on the same
ids every time: a share ``fault_rate`` of the ids meets one. Most are retryable (the documented
retryable error ids, once or twice, some with ``Retry-After``), and a retry sees them through;
the rest are documented non-retryable ids that fail their id for good (never the ones that
stop a whole batch: a bad key is the client's to have, not an id's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from typing import Final

from ._batch import FATAL_AUTH_TYPES
from ._cli_common import EXIT_OK, EXIT_SOME_FAILED, pretty, summary
from ._cli_many import fetch_to_jsonl
from ._client import AsyncPostpress
from ._config import API_KEY_ENV, BASE_URL_ENV, RetryPolicy
from ._constants import ERROR_STATUS, ErrorType
from ._errors import RETRYABLE_TYPES
from ._fake_data import EXAMPLE_CHAT
from ._loops import loop_name
from .testing import FakePostpress, Fault

__all__ = ["FaultPlan", "cmd_demo", "cmd_fake_server", "inject_faults"]

RETRYABLE_SHARE: Final = 0.8
"""Of the ids that meet a fault, the share whose fault is retryable."""

_RETRYABLE: Final = sorted(RETRYABLE_TYPES)
_FOR_GOOD: Final = sorted(
    error_id
    for error_id in ERROR_STATUS
    if error_id not in RETRYABLE_TYPES and error_id not in FATAL_AUTH_TYPES
)


@dataclass
class FaultPlan:
    """The faults injected into a server: ``retryable`` ones pass, ``for_good`` ones stay."""

    retryable: list[Fault]
    for_good: list[Fault]

    @property
    def injected(self) -> int:
        """Faulty responses served so far."""
        return sum(f.hits for f in self.retryable) + sum(f.hits for f in self.for_good)


def inject_faults(server: FakePostpress, ids: list[str], rate: float, seed: int) -> FaultPlan:
    """Give a share ``rate`` of ``ids`` a fault, drawn reproducibly from ``seed``."""
    draw = random.Random(seed)
    plan = FaultPlan([], [])
    for chat_id in ids:
        if draw.random() >= rate:
            continue
        if draw.random() < RETRYABLE_SHARE:
            error = ErrorType(draw.choice(_RETRYABLE))
            times = draw.choice((1, 2))
            retry_after = 0 if draw.random() < 0.3 else None
            plan.retryable.append(
                server.fail(chat_id, error=error, times=times, retry_after=retry_after)
            )
        else:
            error = ErrorType(draw.choice(_FOR_GOOD))
            plan.for_good.append(server.fail(chat_id, error=error, times=None))
    return plan


async def cmd_fake_server(args: argparse.Namespace) -> int:
    """``postpress fake-server``: serve generated chats until interrupted."""
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or "pp_test_key"
    async with FakePostpress(api_key=api_key, port=args.port) as server:
        # The docs' example id is always served, so their examples run as written.
        example_id = server.add_chat(EXAMPLE_CHAT)
        ids = server.add_chats(args.chats, seed=args.seed)
        plan = inject_faults(server, ids, args.fault_rate, args.seed)
        if args.ids_out is not None:
            with open(args.ids_out, "w", encoding="utf-8") as ids_file:
                ids_file.writelines(f"{chat_id}\n" for chat_id in ids)
        print(f"fake postpress serving {len(ids)} chats at {server.base_url}", file=sys.stderr)
        print(f"  and the docs' example chat {example_id}", file=sys.stderr)
        if args.fault_rate:
            print(
                f"  faults (seed {args.seed}): {len(plan.retryable)} ids fail once or twice "
                f"then recover, {len(plan.for_good)} ids fail for good",
                file=sys.stderr,
            )
        if args.ids_out is not None:
            print(f"  ids written to {args.ids_out}", file=sys.stderr)
        print(f"  export {BASE_URL_ENV}={server.base_url}", file=sys.stderr)
        print(f"  export {API_KEY_ENV}={api_key}", file=sys.stderr)
        if ids:
            print(f"  e.g. postpress chats get {ids[0]}", file=sys.stderr)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    """``postpress demo``: the SDK end to end against the embedded fake server, with faults."""
    total = args.chats
    async with FakePostpress() as server:
        ids = server.add_chats(total, seed=7)
        plan = inject_faults(server, ids[1:], args.fault_rate, seed=7)
        planted = {fault.chat_id for fault in plan.for_good}
        policy = RetryPolicy(max_retries=5, backoff_initial=0.01, backoff_max=0.2)
        async with AsyncPostpress(server.api_key, base_url=server.base_url, retry=policy) as client:
            print(f"fake postpress at {server.base_url} holding {total} chats", file=sys.stderr)
            print(
                f"faults planted (seed 7): {len(plan.retryable)} ids fail once or twice, "
                f"{len(plan.for_good)} ids fail for good\n",
                file=sys.stderr,
            )
            print(f"client.chats.retrieve({ids[0]!r}):", file=sys.stderr)
            chat = await client.chats.retrieve(ids[0])
            sys.stdout.buffer.write(pretty(chat.to_json()) + b"\n")
            sys.stdout.flush()
            print(f"\nclient.chats.retrieve_many({total} ids, concurrency=64):", file=sys.stderr)
            before = server.request_count
            started = time.perf_counter()
            failures = io.StringIO()
            with open(os.devnull, "wb") as sink:
                stats = await fetch_to_jsonl(
                    client,
                    ids,
                    out=sink,
                    err=failures,
                    concurrency=64,
                    progress=sys.stderr.isatty(),
                    total=total,
                )
            elapsed = time.perf_counter() - started
            requests = server.request_count - before
    sys.stderr.write(failures.getvalue())
    print(summary(stats.fetched, stats.failures, stats.elapsed), file=sys.stderr)
    print(
        f"faults injected {plan.injected}, retries spent {requests - total}, "
        f"ids failed for good {stats.failed} (planted {len(planted)}), "
        f"{requests / elapsed:,.0f} requests/s on {loop_name()}",
        file=sys.stderr,
    )
    failed = {line.split("\t", 1)[0] for line in failures.getvalue().splitlines()}
    # The demo succeeds when retries saw every passing fault through and only the ids planted
    # to fail for good failed.
    return EXIT_OK if failed == planted else EXIT_SOME_FAILED
