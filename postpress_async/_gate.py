"""``Gate`` and ``Inbox``: the two asyncio primitives of the request path, cut to what it uses.

``Gate`` is a semaphore whose uncontended path is an integer check.

``asyncio.Semaphore`` costs about 2.5% of a whole loopback request when it never blocks
(valgrind instruction counts, benchmarks/README.md); the request path passes one or two per
request, so it uses this instead. Waiters are served first come, first served, and a slot
handed to a waiter that was cancelled meanwhile is passed on, never lost.

A cancelled waiter is not searched for in the queue (``deque.remove`` is linear, and
``leave()`` may already have dropped it: cancelling many waiters at once made that a
``ValueError`` instead of the cancellation). It stays queued, done, and ``leave()`` skips it;
once the cancelled outnumber the rest the queue is compacted, so a storm of N cancellations
costs O(N) and the queue never holds more than about twice its live waiters.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

__all__ = ["Gate", "Inbox"]

T = TypeVar("T")


class Gate:
    """At most ``size`` holders at once. The request path writes both uncontended paths inline::

        if gate.free:  # enter
            gate.free -= 1
        else:
            await gate.enter()
        ...
        if gate.waiters:  # leave
            gate.leave()
        else:
            gate.free += 1

    ``free`` is above 0 only while no one waits, so taking a free slot never jumps the queue.
    """

    __slots__ = ("_cancelled", "free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        """Slots free right now; above 0 only while no one waits."""
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        """Those waiting for a slot, longest first, and cancelled ones not yet skipped (read
        it; only ``enter`` changes it, and ``leave`` takes from it)."""
        self._cancelled = 0  # cancelled waiters since the last compaction, an upper bound

    async def enter(self) -> None:
        """Take a slot, waiting for one if none is free."""
        if self.free:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:  # cancelled, as a rule
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the slot arrived as we were cancelled: pass it on
            else:  # no slot came: ``leave`` skips the waiter, or already has
                waiter.cancel()  # (done already, unless the exception was thrown in by hand)
                self._cancelled += 1
                if self._cancelled > len(self.waiters) >> 1:
                    self._compact()
            raise

    def _compact(self) -> None:
        """Drop the cancelled waiters from the queue, keeping the order of the rest."""
        live = [waiter for waiter in self.waiters if not waiter.done()]
        self.waiters.clear()
        self.waiters.extend(live)
        self._cancelled = 0

    def leave(self) -> None:
        """Give a slot back, to the longest waiter if there is one."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # handed over: ``free`` stays 0
                return
        self.free += 1


class Inbox(Generic[T]):
    """A queue of any number of producers and one consumer, in one event loop; never full.

    ``asyncio.Queue`` spends about ten Python calls per item (its bound, its count of
    unfinished tasks, an ``Event``) and asks for the running loop on every wait; a batch's
    results need none of it. The consumer reads ``items`` itself and, while it is empty,
    awaits ``wait()``: ``while not inbox.items: await inbox.wait()``.
    """

    __slots__ = ("_loop", "_waiter", "items")

    def __init__(self) -> None:
        self.items: collections.deque[T] = collections.deque()
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: T) -> None:
        """Add ``item`` and wake the consumer if it waits."""
        self.items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wait(self) -> asyncio.Future[None]:
        """A future that is done once an item has been put (await it while ``items`` is empty)."""
        waiter = self._waiter = self._loop.create_future()
        return waiter
