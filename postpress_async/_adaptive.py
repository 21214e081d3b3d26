"""``AdaptiveLimit``: the in-flight limit of an adaptive ``retrieve_many`` (AIMD, as TCP does).

``concurrency`` is a ceiling. The limit starts small and doubles each round trip (slow start)
until the first cut; after that it grows by one per window of attempts (a round trip's worth:
the limit, at least ``MIN_WINDOW``). It is cut in half (never below 1) only when the *service*
is overloaded: as soon as more than ``OVERLOAD_SHARE`` of a round trip's worth of attempts
(the limit, at least ``MIN_ROUND``) in the current window met an overload signal. One id's 503
or 429 among many successes is that id's trouble, retried on its own; it does not shrink the
batch. After a cut, the answers of the requests that were already in flight are not judged
(they were sent at the old limit).

Overload signals are 429, 503, 504, timeouts and connection errors (but not a connection that
was never made before any request of the batch succeeded), seen per attempt through
``attempt_failed``, which the client calls for every failed attempt of a batch's request
(retries included) and never on success. A failed attempt gives its place back at once, so an
id sleeping through its retry backoff holds no place; it queues again (``before_retry``) ahead
of new ids. A ``Retry-After`` on any response pauses new requests (and retries) of the whole
batch until it has passed; the answers that arrive while a pause is on are that same episode,
counted once: they extend the pause but neither start another nor count towards a cut.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Final

from ._errors import APIConnectionError, APIStatusError
from ._failures import unreachable_cause

__all__ = ["AdaptiveLimit", "is_overload"]

OVERLOAD_STATUSES: Final = frozenset({429, 503, 504})
INITIAL_LIMIT: Final = 4
"""Where slow start begins: a batch feels its way up instead of opening with a burst."""
DECREASE: Final = 0.5
OVERLOAD_SHARE: Final = 0.15
"""The limit is cut once more than this share of a round trip's attempts were overloaded."""
MIN_ROUND: Final = 16
"""The fewest attempts a round trip counts as: at a small limit, two unlucky ids are not 15%."""
MIN_WINDOW: Final = 32
"""The fewest attempts in a window, after which the counts start again and, past slow start,
the limit grows by one: at a small limit, a window spans several round trips."""


def is_overload(exc: BaseException) -> bool:
    """True for the errors that say the service is overloaded, not that the request is wrong."""
    if isinstance(exc, APIStatusError):
        return exc.status in OVERLOAD_STATUSES
    # Timeouts and connection errors; a certificate or proxy refusal is not load.
    return isinstance(exc, APIConnectionError) and getattr(exc, "retryable", True)


class AdaptiveLimit:
    """An AIMD limit on the requests a batch has in flight; ``limit`` is the current value.

    ``if not limit.try_acquire(): await limit.acquire()`` before a request, then
    ``limit.succeeded()`` after a success or ``limit.release(is_overload(exc), failed=True)``
    after a failure (``give_back()`` returns a place that was not used); ``attempt_failed``
    and ``before_retry`` make it an ``AttemptObserver``.
    """

    __slots__ = (
        "_allowed",
        "_ceiling",
        "_hold",
        "_in_flight",
        "_limit",
        "_overloaded",
        "_parked",
        "_paused_until",
        "_reached",
        "_retry_after_max",
        "_seen",
        "_threshold",
        "_waiters",
        "_waiting",
        "_window",
        "cuts",
        "overloads",
        "pauses",
    )

    def __init__(self, ceiling: int, *, retry_after_max: float = 60.0) -> None:
        self._ceiling = float(ceiling)  # compared with the float limit on every release
        self._limit = float(min(ceiling, INITIAL_LIMIT))
        self._allowed = int(self._limit)
        self._threshold = float(ceiling)  # slow start until the first cut
        self._in_flight = 0
        self._hold = 0  # answers still to come from requests sent before the last cut
        self._seen = 0  # attempts judged in this window
        self._overloaded = 0  # of which overloaded
        self._window = max(self._allowed, MIN_WINDOW)
        self._paused_until = 0.0
        self._reached = False  # some request of the batch has succeeded
        self._retry_after_max = retry_after_max
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # Waiters neither woken nor done with their cancellation; a cancelled one stays queued
        # until a wake-up drops it (finding it in the deque would cost the deque's length).
        self._waiting = 0
        self._parked: set[asyncio.Task[object]] = set()  # failed an attempt: no place held
        self.overloads: int = 0
        """Overload signals seen (attempts answered 429/503/504, timed out, or cut off)."""
        self.cuts: int = 0
        """How many times the limit was cut."""
        self.pauses: int = 0
        """How many ``Retry-After`` pauses the batch took."""

    @property
    def limit(self) -> int:
        """The number of requests allowed in flight right now."""
        return self._allowed

    @property
    def in_flight(self) -> int:
        """The number of requests in flight now (an id sleeping in its backoff is not)."""
        return self._in_flight

    def try_acquire(self) -> bool:
        """Take a place if one is free, no one waits, and the batch is not paused."""
        if self._in_flight < self._allowed and not self._waiting and not self._paused_until:
            self._in_flight += 1
            return True
        return False

    async def acquire(self, first: bool = False) -> None:
        """Wait for a place and for any ``Retry-After`` pause to pass; ``first``: queue ahead.

        A task cancelled while it waits ends with ``CancelledError``, and a place handed to it
        as it was cancelled is passed on. A cancelled waiter stays in the queue until a wake-up
        reaches it (removing it would cost the length of the queue).
        """
        woken = False
        while True:
            if self._paused_until:
                delay = self._paused_until - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                self._paused_until = 0.0
            if self._in_flight < self._allowed and (woken or not self._waiting):
                self._in_flight += 1
                return
            waiter = asyncio.get_running_loop().create_future()
            if first or woken:  # a woken waiter that lost its place keeps its turn
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            self._waiting += 1
            try:
                await waiter
            except asyncio.CancelledError:
                if not waiter.cancelled():  # woken as we were cancelled: pass the turn on
                    if self._waiting:
                        self._wake()
                    raise
                self._waiting -= 1  # it may still be queued: a wake-up drops it
                if not self._waiting:
                    self._waiters.clear()  # only cancelled ones are left
                elif self._in_flight < self._allowed:
                    self._wake()  # a place freed meanwhile may have met only cancelled ones
                raise
            woken = True  # loop round to take the place, or to wait out a pause set meanwhile

    def give_back(self) -> None:
        """Return a place that was taken but not used (no id was left to send)."""
        self._in_flight -= 1
        if self._waiting:
            self._wake()

    def succeeded(self) -> None:
        """A request of the batch succeeded: its place back, and the limit grows.

        The call a batch makes once per id, so it is kept to the common case.
        """
        self._reached = True
        self._in_flight -= 1
        if self._hold:
            self._hold -= 1
        else:
            seen = self._seen + 1
            if seen < self._window:
                self._seen = seen
            else:
                self._new_window()
        if self._limit < self._ceiling:
            self._grow()
        if self._waiting:
            self._wake()

    def release(self, overloaded: bool = False, *, failed: bool = False) -> None:
        """A request of the batch ended: its place back and, unless it ended overloaded,
        the limit grows. ``failed``: it ended with an error (its last attempt was judged by
        ``attempt_failed``, which gave its place back already)."""
        if not failed:
            self.succeeded()  # overloaded is only ever said of a failure
            return
        task = asyncio.current_task()
        if task is not None and task in self._parked:
            self._parked.discard(task)
        else:  # an error after a response (a body that does not decode) or before I/O
            self._in_flight -= 1
        if not overloaded and self._limit < self._ceiling:
            self._grow()
        if self._waiting:
            self._wake()

    def _grow(self) -> None:
        """One more place after slow start's doubling, a window's worth of growth after it."""
        limit = self._limit
        limit += 1.0 if limit < self._threshold else 1.0 / self._window
        self._limit = limit = min(limit, self._ceiling)
        self._allowed = int(limit)

    def attempt_failed(self, exc: Exception) -> None:
        """The observer: one attempt of a request failed with ``exc``; its place goes back."""
        task = asyncio.current_task()
        if task is not None and task not in self._parked:
            self._parked.add(task)
            self._in_flight -= 1
        # A connection never made, before the batch ever reached the service, says nothing of
        # its load: the endpoint may be dead or black-holed, and cutting the limit would only
        # make the batch wait out one id's connect timeouts after another (the batch's dead
        # endpoint check stops it instead).
        overloaded = is_overload(exc) and (self._reached or unreachable_cause(exc) is None)
        if overloaded:
            self.overloads += 1
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            now = time.monotonic()
            until = now + min(float(retry_after), self._retry_after_max)
            if self._paused_until > now:  # the pause already on: the same episode
                self._paused_until = max(self._paused_until, until)
            else:
                self.pauses += 1
                self._paused_until = until
                # The pause is the answer to it; what is in flight now was sent before it.
                self._hold = self._in_flight
                self._new_window()
        elif self._hold:
            self._hold -= 1
        else:
            self._seen += 1
            if overloaded:
                self._overloaded += 1
                if self._overloaded > max(self._allowed, MIN_ROUND) * OVERLOAD_SHARE:
                    self._cut()
            if self._seen >= self._window:
                self._new_window()
        if self._waiting:
            self._wake()

    async def before_retry(self, deadline_at: float | None = None) -> bool:
        """A request of the batch is about to retry: it queues again for a place, ahead of
        new ids, so that a cut limit and a pause hold back retries as well as new requests.

        False if no place came by ``deadline_at`` (the call's deadline): it then holds none.
        """
        task = asyncio.current_task()
        if task is not None:
            self._parked.discard(task)
        if self.try_acquire():
            return True
        if deadline_at is None:
            await self.acquire(first=True)
            return True
        try:
            await asyncio.wait_for(self.acquire(first=True), deadline_at - time.monotonic())
        except asyncio.TimeoutError:
            if task is not None:
                self._parked.add(task)  # it holds no place: its release must not give one back
            return False
        return True

    def _cut(self) -> None:
        """The service is overloaded: halve the limit and ignore what is in flight."""
        self.cuts += 1
        self._limit = max(1.0, self._limit * DECREASE)
        self._threshold = self._limit
        self._allowed = int(self._limit)
        self._hold = self._in_flight  # their answers were sent at the old limit
        self._new_window()

    def _new_window(self) -> None:
        self._seen = self._overloaded = 0
        self._window = max(self._allowed, MIN_WINDOW)

    def _wake(self) -> None:
        # Wake as many waiters as there are free places; each re-checks when it runs.
        free = self._allowed - self._in_flight
        waiters = self._waiters
        while free > 0 and waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled one is dropped here, once
                waiter.set_result(None)
                self._waiting -= 1
                free -= 1
