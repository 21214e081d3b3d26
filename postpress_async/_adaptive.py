"""``AdaptiveLimit``: the in-flight limit of an adaptive ``retrieve_many`` (AIMD, as TCP does).

``concurrency`` is a ceiling. The limit starts small and doubles each round trip (slow start)
until the first overload signal; then every signal cuts it in half (never below 1, at most once
per round trip: the requests already in flight when it was cut cannot have seen the cut) and
each success grows it by one per round trip. Overload signals are 429, 503, 504, timeouts and
connection errors, seen per attempt through ``attempt_failed``, which the client calls for every
failed attempt of a batch's request (retries included) and never on success. A retry queues
again for a place (``before_retry``), ahead of new ids, so retries back off together with the
batch instead of each on its own. A ``Retry-After`` on any response pauses new requests (and
retries) of the whole batch until it has passed.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Final

from ._errors import APIConnectionError, APIStatusError

__all__ = ["AdaptiveLimit", "is_overload"]

OVERLOAD_STATUSES: Final = frozenset({429, 503, 504})
INITIAL_LIMIT: Final = 4
"""Where slow start begins: a batch feels its way up instead of opening with a burst."""
DECREASE: Final = 0.5


def is_overload(exc: BaseException) -> bool:
    """True for the errors that say the service is overloaded, not that the request is wrong."""
    if isinstance(exc, APIStatusError):
        return exc.status in OVERLOAD_STATUSES
    # Timeouts and connection errors; a certificate or proxy refusal is not load.
    return isinstance(exc, APIConnectionError) and getattr(exc, "retryable", True)


class AdaptiveLimit:
    """An AIMD limit on the requests a batch has in flight; ``limit`` is the current value.

    ``if not limit.try_acquire(): await limit.acquire()`` before a request, and
    ``limit.release(overloaded)`` after it; ``attempt_failed`` makes it an ``AttemptObserver``.
    """

    __slots__ = (
        "_allowed",
        "_ceiling",
        "_hold",
        "_in_flight",
        "_limit",
        "_paused_until",
        "_retry_after_max",
        "_threshold",
        "_waiters",
        "cuts",
        "overloads",
    )

    def __init__(self, ceiling: int, *, retry_after_max: float = 60.0) -> None:
        self._ceiling = float(ceiling)  # compared with the float limit on every release
        self._limit = float(min(ceiling, INITIAL_LIMIT))
        self._allowed = int(self._limit)
        self._threshold = float(ceiling)  # slow start until the first overload
        self._in_flight = 0
        self._hold = 0  # completions to wait for before the next cut
        self._paused_until = 0.0
        self._retry_after_max = retry_after_max
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.overloads: int = 0
        """Overload signals seen (attempts answered 429/503/504, timed out, or cut off)."""
        self.cuts: int = 0
        """How many times the limit was cut."""

    @property
    def limit(self) -> int:
        """The number of requests allowed in flight right now."""
        return self._allowed

    @property
    def in_flight(self) -> int:
        """The number of requests in flight now."""
        return self._in_flight

    def try_acquire(self) -> bool:
        """Take a slot if one is free and the batch is not paused."""
        if self._in_flight < self._allowed and not self._waiters and not self._paused_until:
            self._in_flight += 1
            return True
        return False

    async def acquire(self, first: bool = False) -> None:
        """Wait for a slot and for any ``Retry-After`` pause to pass; ``first``: queue ahead."""
        woken = False
        while True:
            if self._paused_until:
                delay = self._paused_until - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                self._paused_until = 0.0
            if self._in_flight < self._allowed and (woken or not self._waiters):
                self._in_flight += 1
                return
            waiter = asyncio.get_running_loop().create_future()
            if first:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken as we were cancelled: pass the turn on
                else:
                    self._waiters.remove(waiter)
                raise
            woken = True  # loop round to take the slot, or to wait out a pause set meanwhile

    def release(self, overloaded: bool = False) -> None:
        """A request of the batch finished; it grows the limit unless it ended overloaded."""
        self._in_flight -= 1
        if self._hold:
            self._hold -= 1
        if not overloaded:
            limit = self._limit
            if limit < self._ceiling:
                limit += 1.0 if limit < self._threshold else 1.0 / limit
                self._limit = limit = min(limit, self._ceiling)
                self._allowed = int(limit)
        if self._waiters:
            self._wake()

    def attempt_failed(self, exc: Exception) -> None:
        """The observer: one attempt of a request failed with ``exc``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            until = time.monotonic() + min(float(retry_after), self._retry_after_max)
            self._paused_until = max(self._paused_until, until)
        if not is_overload(exc):
            return
        self.overloads += 1
        if self._hold:
            return  # already cut for this round trip
        self.cuts += 1
        self._limit = max(1.0, self._limit * DECREASE)
        self._threshold = self._limit
        self._allowed = int(self._limit)
        self._hold = self._in_flight

    async def before_retry(self) -> None:
        """A request of the batch is about to retry: it gives its place back and queues again,
        ahead of new ids, so that a cut limit holds back retries as well as new requests."""
        self._in_flight -= 1
        if self._waiters:
            self._wake()
        if not self.try_acquire():
            await self.acquire(first=True)

    def _wake(self) -> None:
        # Wake as many waiters as there are free slots; each re-checks when it runs.
        free = self._allowed - self._in_flight
        while self._waiters and free > 0:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
