"""``Expiries``: the attempt timeout, with one loop timer per tick instead of one per request.

aiohttp's ``ClientTimeout.total`` starts a timer for every request and wraps it in two
context managers; on uvloop each such timer is a libuv timer made, started, stopped and
closed. Measured side by side that is about 8% of a whole request (benchmarks/README.md,
"The attempt timeout"). Here every attempt whose end falls in the same tick shares one timer,
and an attempt costs a dict insertion and removal.

A tick is 10 ms; for an attempt of 5 s or more, a whole second, as aiohttp rounds those too
(``timeout_ceil_threshold``). So an attempt times out at most one tick after its end. When a
tick's timer fires, each task still registered in it is cancelled; the attempt asks
``expired(task)`` whether a ``CancelledError`` is its timeout rather than the caller's, and on
Python 3.11+ gives the cancellation back (``uncancel``) unless someone else also asked for one,
as aiohttp's own timer does.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Final

__all__ = ["Expiries", "Tick"]

FINE: Final = 100.0
"""Ticks per second for a short attempt."""
COARSE_FROM: Final = 5.0
"""An attempt this long or longer ends on a whole second (aiohttp's ceil threshold)."""
_SLACK: Final = 0.001
"""uvloop's clock counts whole milliseconds: a timer could fire up to one before its time."""

Tick = dict["asyncio.Task[Any]", None]
"""The tasks whose attempts end in one tick (a dict as an ordered set)."""


class Expiries:
    """The attempts of one client (so of one event loop), grouped by the tick they end in."""

    __slots__ = ("_expired", "_handles", "_ticks")

    def __init__(self) -> None:
        self._ticks: dict[float, Tick] = {}
        self._handles: dict[float, asyncio.TimerHandle] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    def add(self, task: asyncio.Task[Any], ends: float, seconds: float) -> Tick:
        """Cancel ``task`` once ``ends`` (``time.monotonic()``) has passed, unless it is taken
        out of the returned tick first (``tick.pop(task, None)``). ``seconds``: the attempt's
        length, which sets the tick's size."""
        scale = 1.0 if seconds >= COARSE_FROM else FINE
        at = (int(ends * scale) + 1) / scale
        tick = self._ticks.get(at)
        if tick is None:
            tick = self._ticks[at] = {}
            delay = max(0.0, at - time.monotonic()) + _SLACK
            loop = asyncio.get_running_loop()  # a client's requests all run in one loop
            self._handles[at] = loop.call_later(delay, self._fire, at)
        tick[task] = None
        return tick

    def _fire(self, at: float) -> None:
        del self._handles[at]
        tick = self._ticks.pop(at)
        for task in tick:
            if not task.done():
                self._expired.add(task)
                task.cancel()
        tick.clear()

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """True, once, if ``task`` was cancelled because its attempt ran out of time."""
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def settle(self, task: asyncio.Task[Any]) -> None:
        """``task``'s attempt ended after its tick fired without ``expired`` being asked (a
        layer below turned the cancellation into an error): take the cancellation back."""
        if self.expired(task) and sys.version_info >= (3, 11):
            task.uncancel()

    def close(self) -> None:
        """Stop every timer (the client is closing)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._ticks.clear()
        self._expired.clear()
