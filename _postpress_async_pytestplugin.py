"""postpress_async's pytest plugin (the ``pytest11`` entry point ``postpress_async``).

It provides two fixtures, each a fresh ``postpress_async.testing.FakePostpress``:
``fake_postpress`` (async, in the test's event loop; needs pytest-asyncio) and
``fake_postpress_thread`` (blocking, in a background thread).

The module lives outside the package, as Hypothesis's ``_hypothesis_pytestplugin`` does, and
imports nothing of the SDK until a test asks for one of its fixtures: every pytest run in a
project that merely has the SDK installed loads this file, and importing ``postpress_async``
(aiohttp, msgspec, ...) and the fake server (``aiohttp.web``) would cost each run ~0.2 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from postpress_async.testing import FakePostpress

__all__ = ["fake_postpress_thread"]


@pytest.fixture
def fake_postpress_thread() -> Iterator[FakePostpress]:
    """A FakePostpress running in a background thread for one test."""
    from postpress_async.testing import FakePostpress

    with FakePostpress() as server:
        yield server


try:
    import pytest_asyncio  # loaded already: pytest-asyncio is a plugin itself
except ImportError:  # pragma: no cover - the async fixture needs pytest-asyncio
    pass
else:
    __all__ += ["fake_postpress"]

    @pytest_asyncio.fixture
    async def fake_postpress() -> AsyncIterator[FakePostpress]:
        """A FakePostpress running in the test's event loop."""
        from postpress_async.testing import FakePostpress

        async with FakePostpress() as server:
            yield server
