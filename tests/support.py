"""What several test modules share: the API's tables, the example chat, a fake sleep, the wait
helper and subprocess helpers.

The tables are copied from API.md rather than imported from the package, so that a test can
disagree with the code.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import postpress_async as pp
from postpress_async.testing import FakePostpress

DATA = Path(__file__).parent / "data"
EXAMPLE: dict[str, Any] = json.loads((DATA / "example_chat.json").read_text("utf-8"))
"""The reference's example chat, verbatim."""
EXAMPLE_ID: str = EXAMPLE["id"]
EXAMPLE_BODY = json.dumps(EXAMPLE).encode()

PREFIX = "/api/v1"
"""The path prefix of the fake server's base_url."""

SECRET_KEY = "pp_live_reliability_SECRET_7f3a"
"""The API key of the secrets, redirect, hostile and fault tests: a value that cannot turn up by
accident, so finding it anywhere but in ``X-API-KEY`` (to the base_url's origin) is a leak."""

# API.md's retry table: the retryable error ids.
RETRYABLE_IDS = frozenset(
    {
        "errors/unexpected_error",
        "errors/provider_error",
        "errors/no_client_session",
        "errors/no_channel",
        "errors/network_down",
        "errors/service_unavailable",
        "errors/request_timeout",
    }
)

CLASS_BY_STATUS: dict[int, type[pp.APIStatusError]] = {
    401: pp.AuthenticationError,
    403: pp.PermissionDeniedError,
    404: pp.NotFoundError,
    500: pp.InternalServerError,
    503: pp.ServiceUnavailableError,
    504: pp.GatewayTimeoutError,
}


async def no_sleep(seconds: float) -> None:
    """A ``RetryPolicy.sleep`` that returns at once."""


class Sleeps:
    """A ``RetryPolicy.sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


HANG = 60.0
"""Seconds after which a subprocess counts as hung (a guard, not a timing assertion)."""

WAIT = 20.0
"""Seconds after which ``until`` gives up on a condition (a hang guard, not a timing assertion)."""

POLL = 0.01


async def until(condition: Callable[[], bool], within: float = WAIT) -> bool:
    """Let the event loop run until ``condition()`` holds; False if it still does not after
    ``within`` seconds. Use as ``assert await until(lambda: ...), "what never happened"``."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            return condition()
        await asyncio.sleep(POLL)
    return True


def until_sync(condition: Callable[[], bool], within: float = WAIT) -> bool:
    """``until`` for blocking tests, whose condition changes in other threads."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            return condition()
        time.sleep(POLL)
    return True


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any POSTPRESS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPRESS_")}
    env.update(settings)
    return env


def env_for(server: FakePostpress, **settings: str) -> dict[str, str]:
    """An environment that points the SDK at ``server``."""
    return clean_env(
        POSTPRESS_API_KEY=server.api_key, POSTPRESS_BASE_URL=server.base_url, **settings
    )


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = HANG,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion with text I/O captured; never raises on its exit code."""
    return subprocess.run(
        argv,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


# -- process resources and ports ----------------------------------------------------------------


def open_fds() -> int:
    """File descriptors open in this process (Linux: ``/proc/self/fd``)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process now (Linux: ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def padded_chat(size: int) -> bytes:
    """The example chat as exactly ``size`` bytes of valid JSON (padded with spaces)."""
    assert len(EXAMPLE_BODY) <= size
    return EXAMPLE_BODY[:-1] + b" " * (size - len(EXAMPLE_BODY)) + b"}"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


_HELD: list[socket.socket] = []


def _let_go() -> None:
    for sock in _HELD:
        sock.close()


def refusing_port() -> int:
    """A port on 127.0.0.1 that refuses every connection for the rest of the run: bound by
    this process and never listening, so that no other process (a test run beside this one)
    can start listening there, as it could on a port that was merely free."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if not _HELD:
        atexit.register(_let_go)
    _HELD.append(sock)
    port: int = sock.getsockname()[1]
    return port


class CountingIds:
    """An iterator of ids that records how many it has handed out."""

    def __init__(self, ids: Iterator[str]) -> None:
        self._ids = ids
        self.taken = 0

    def __iter__(self) -> CountingIds:
        return self

    def __next__(self) -> str:
        chat_id = next(self._ids)
        self.taken += 1
        return chat_id


async def drain(
    results: AsyncIterator[pp.ChatResult], into: list[pp.ChatResult] | None = None
) -> list[pp.ChatResult]:
    """Every result; ``into`` keeps those taken before an exception."""
    got = [] if into is None else into
    async for result in results:
        got.append(result)
    return got


T = TypeVar("T")

LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(sys.platform == "win32", reason="no uvloop")),
]
"""``@pytest.mark.parametrize("loop", LOOPS)``: asyncio's own loop and uvloop's."""


def on_loop(loop: str, main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` to completion on asyncio's own loop or on uvloop's."""
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.run(main())  # type: ignore[no-any-return]
    return asyncio.run(main())  # type: ignore[arg-type]
