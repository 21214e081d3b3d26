"""The pytest plugin (entry point ``pytest11``): the fixtures ``fake_postpress`` (async, with
pytest-asyncio) and ``fake_postpress_thread`` (blocking), each a fresh ``FakePostpress``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ._server import FakePostpress

__all__ = ["fake_postpress_thread"]


@pytest.fixture
def fake_postpress_thread() -> Iterator[FakePostpress]:
    """A FakePostpress running in a background thread for one test."""
    with FakePostpress() as server:
        yield server


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the async fixture needs pytest-asyncio
    pass
else:
    __all__ += ["fake_postpress"]

    @pytest_asyncio.fixture
    async def fake_postpress() -> AsyncIterator[FakePostpress]:
        """A FakePostpress running in the test's event loop."""
        async with FakePostpress() as server:
            yield server
