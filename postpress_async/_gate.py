"""``Gate``: a semaphore whose uncontended path is an integer check.

``asyncio.Semaphore`` costs about 2.5% of a whole loopback request when it never blocks
(valgrind instruction counts, benchmarks/README.md); the request path passes one or two per
request, so it uses this instead. Waiters are served first come, first served, and a slot
handed to a waiter that was cancelled meanwhile is passed on, never lost.
"""

from __future__ import annotations

import asyncio
import collections

__all__ = ["Gate"]


class Gate:
    """At most ``size`` holders at once: ``if not gate.try_enter(): await gate.enter()``."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_enter(self) -> bool:
        """Take a slot if one is free right now."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Wait for a slot (call after ``try_enter`` said no)."""
        if self.try_enter():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the slot arrived as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """Give a slot back, to the longest waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
