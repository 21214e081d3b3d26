"""Fixtures shared by the test modules, built on the ones ``postpress_async.testing`` ships.

The pytest plugin ``postpress_async.testing`` (a ``pytest11`` entry point) provides
``fake_postpress`` (a ``FakePostpress`` in the test's event loop) and ``fake_postpress_thread``
(one in a background thread, for blocking code and subprocesses). The tests use them under
short names; a module that needs particular chats on the server extends ``server`` there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support import EXAMPLE, SECRET_KEY

from postpress_async.testing import FakePostpress


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
