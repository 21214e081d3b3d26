"""Fixtures shared by the test modules, built on the ones ``postpress_async.testing`` ships.

The pytest plugin ``postpress_async.testing`` (a ``pytest11`` entry point) provides
``fake_postpress`` (a ``FakePostpress`` in the test's event loop) and ``fake_postpress_thread``
(one in a background thread, for blocking code and subprocesses). The tests use them under
short names; a module that needs particular chats on the server extends ``server`` there.
No test sees a proxy variable of the machine running it (``no_proxy_from_the_machine``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cli_support import FEW
from payloads import load
from support import EXAMPLE, SECRET_KEY

from postpress_async.testing import FakePostpress

# The tests that press Ctrl-C on a child process play a user at a terminal, where SIGINT has
# its default action. A pytest started with SIGINT ignored (a background job of a
# non-interactive shell, as a CI script may start one per Python version) passes SIG_IGN on
# to every child it starts, as exec keeps ignored signals ignored, and those children, as
# they should, ignore the Ctrl-C the test sends. So the suite restores Python's default here:
# exec resets a handled signal to its default, and each child starts as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def server(fake_postpress: FakePostpress) -> FakePostpress:
    """An empty fake server in the test's event loop (the shipped ``fake_postpress``)."""
    return fake_postpress


@pytest.fixture
def thread_server(fake_postpress_thread: FakePostpress) -> FakePostpress:
    """An empty fake server in a thread of its own (the shipped ``fake_postpress_thread``),
    for the blocking client, the CLI and other subprocesses."""
    return fake_postpress_thread


@pytest.fixture
async def secret_server() -> AsyncIterator[FakePostpress]:
    """A fake server that accepts only ``SECRET_KEY``, with the example chat.

    Not built on the shipped fixture, because that one uses the default test key: the secrets
    tests need a key that can only appear where the SDK put it.
    """
    async with FakePostpress(api_key=SECRET_KEY) as fake:
        fake.add_chat(EXAMPLE)
        yield fake


@pytest.fixture
def example() -> dict[str, Any]:
    """A fresh copy of the reference's example chat payload, for a test to edit."""
    return load("example_chat.json")


@pytest.fixture
def rich() -> dict[str, Any]:
    """A fresh copy of the hand-written rich chat payload (every variant and optional field)."""
    return load("rich_chat.json")


@pytest.fixture
def ids(thread_server: FakePostpress) -> list[str]:
    """A few generated chats on ``thread_server`` (the CLI tests)."""
    return thread_server.add_chats(FEW)


@pytest.fixture
def cli_env(thread_server: FakePostpress, monkeypatch: pytest.MonkeyPatch) -> FakePostpress:
    """Point the in-process CLI at ``thread_server`` through the environment."""
    for name in [k for k in os.environ if k.startswith("POSTPRESS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("POSTPRESS_API_KEY", thread_server.api_key)
    monkeypatch.setenv("POSTPRESS_BASE_URL", thread_server.base_url)
    return thread_server


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both clients honour HTTPS_PROXY and friends by default: a CI machine behind a proxy
    would send the tests' requests for 127.0.0.1 through it. Proxy tests set what they mean."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
