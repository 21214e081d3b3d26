"""``RateLimit``: the client's ``rate_limit``, a token bucket with a one-second window on top.

The bucket holds ``rate / 10`` tokens (at least one) and refills at ``rate`` per second, so a
client that was idle may send a tenth of a second's requests at once and then ``rate`` a
second. Waiters are woken at most every ``TICK`` with all the tokens that came meanwhile: no
timer per request (``aiolimiter``'s ``AsyncLimiter(1, 1 / rate)`` set one per request and
topped out near 800 requests per second).

A bucket alone lets its capacity through on top of a second's refill (``1.1 * rate``) in the
second after an idle spell. The window forbids that: no ``WINDOW`` seconds hold more than
``⌊rate⌋`` requests (at least one). ``WINDOW`` is 20 ms over a second, so that jitter between
the client and the server does not add one to a second the server counts; it costs 2% of the
rate only while the limit stays saturated. With ``counts_sends`` (the client's own session) a
request enters the window when its head is written (``Ticket.sent``), not when it was
granted: a pause of the client in between (a new connection's handshake, a collection, the
scheduler) would otherwise bunch requests up at the server; until then it counts as present.
The window keeps runs of at most ``RUN`` seconds, each counted at its latest request (so none
leaves the window early): at most ``WINDOW / RUN`` runs, whatever the rate.

Taking a token never waits while one is free and no one queues (``try_acquire``, no await);
otherwise ``acquire`` queues first come, first served and returns False if ``deadline_at``
comes first. A waiter cancelled as its token arrived gives it back to the next one.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RUN", "WINDOW", "RateLimit", "Ticket"]

WINDOW: Final = 1.02
"""No window of this many seconds holds more than ``⌊rate⌋`` grants (20 ms against jitter)."""
RUN: Final = 0.001
"""Grants this close together are kept as one run, counted at the latest of them."""
BURST: Final = 0.1
"""The bucket holds this many seconds of tokens: a tenth of a second's requests at once."""
TICK: Final = 0.01
"""Waiters are woken at most this often, each time with every token that came meanwhile."""


class RateLimit:
    """At most ``rate`` grants per second, ``rate / 10`` at once after an idle spell.

    ``if not limit.try_acquire() and not await limit.acquire(deadline_at): <time is up>``.
    ``clock`` (seconds, monotonic) is injectable for tests; waits use the running loop.
    """

    __slots__ = (
        "_cap",
        "_capacity",
        "_clock",
        "_counts",
        "_counts_sends",
        "_filled_at",
        "_in_window",
        "_last",
        "_rate",
        "_reserved",
        "_run_start",
        "_timer",
        "_tokens",
        "_unsent",
        "_waiters",
    )

    def __init__(
        self,
        rate: float,
        *,
        counts_sends: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._counts_sends = counts_sends
        self._capacity = max(1.0, rate * BURST)
        self._cap = max(1, math.floor(rate))
        self._clock = clock
        self._tokens = self._capacity
        self._filled_at = clock()
        # The window: runs of grants, oldest first, each at the time of its latest grant.
        self._last: collections.deque[float] = collections.deque()
        self._counts: collections.deque[int] = collections.deque()
        self._run_start = -math.inf
        self._in_window = 0
        self._reserved = 0  # granted to a waiter that has not resumed yet: counted, not yet run
        self._unsent = 0  # granted, its request not sent yet (``counts_sends``): counted
        self._waiters: collections.deque[asyncio.Future[bool]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def counts_sends(self) -> bool:
        """True: a grant enters the window when its ``Ticket`` says its request was sent."""
        return self._counts_sends

    @property
    def rate(self) -> float:
        """Grants per second."""
        return self._rate

    @property
    def capacity(self) -> float:
        """Tokens the bucket holds when full: the largest burst."""
        return self._capacity

    def try_acquire(self) -> bool:
        """Take a token now if one is free and no one waits for one; never waits."""
        if self._waiters:
            return False
        now = self._clock()
        if self._delay(now):
            return False
        self._tokens -= 1.0
        self._granted(now)
        return True

    async def acquire(self, deadline_at: float | None = None) -> bool:
        """Wait for a token, first come first served; False (nothing taken) at ``deadline_at``.

        ``deadline_at`` is on ``clock``'s scale (``time.monotonic()`` by default).
        """
        if deadline_at is not None and deadline_at <= self._clock():
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        if self._timer is None:
            self._dispatch()
        give_up = None
        if deadline_at is not None and not waiter.done():
            give_up = loop.call_later(deadline_at - self._clock(), _time_up, waiter)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            # A cancelled waiter stays in the queue, done, until the dispatcher drops it: no
            # search, and nothing another waiter could be handed by mistake.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._reserved -= 1  # the token came as we were cancelled: pass it on
                self._tokens += 1.0
                self._wake()
            raise
        finally:
            if give_up is not None:
                give_up.cancel()
        if granted:
            self._reserved -= 1
            self._granted(self._clock())
        return granted

    def _granted(self, now: float) -> None:
        if self._counts_sends:
            self._unsent += 1  # in the window from now on; from when it is sent once it is
        else:
            self._record(now)

    def _delay(self, now: float) -> float:
        """Seconds from ``now`` until one more grant is allowed (0.0: now); refills the bucket."""
        tokens = self._tokens + (now - self._filled_at) * self._rate
        self._tokens = tokens if tokens < self._capacity else self._capacity
        self._filled_at = now
        missing = 1.0 - self._tokens  # a token short by a rounding error is a token
        delay = 0.0 if missing <= 1e-9 else missing / self._rate
        last, counts = self._last, self._counts
        horizon = now - WINDOW
        while last and last[0] <= horizon:
            last.popleft()
            self._in_window -= counts.popleft()
        excess = self._in_window + self._reserved + self._unsent + 1 - self._cap
        if excess > 0:  # the oldest grants must leave the window first
            for at, count in zip(last, counts, strict=True):
                excess -= count
                if excess <= 0:
                    return max(delay, at - horizon)
            return math.inf  # grants not sent yet fill the window: until one is (``_moved``)
        return delay

    def _record(self, now: float) -> None:
        self._in_window += 1
        if now - self._run_start < RUN and self._last:
            self._last[-1] = now  # the run's latest grant: it leaves the window last
            self._counts[-1] += 1
        else:
            self._run_start = now
            self._last.append(now)
            self._counts.append(1)

    def _dispatch(self) -> None:
        """Grant tokens to the waiters in order while they last; else wake up when one is due."""
        self._timer = None
        waiters = self._waiters
        now = self._clock()
        while waiters:
            waiter = waiters[0]
            if waiter.done():  # cancelled, or its deadline passed
                waiters.popleft()
                continue
            delay = self._delay(now)
            if delay == math.inf:
                return  # woken by ``_moved`` when a request is sent or given up
            if delay:
                # Not one timer per token: at a high rate, the tokens of a tick at once.
                delay = delay if delay > TICK else TICK
                self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
                return
            waiters.popleft()
            self._tokens -= 1.0
            self._reserved += 1
            waiter.set_result(True)

    def _wake(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._dispatch()

    def _moved(self, now: float, sent: bool) -> None:
        """A granted request was sent (it enters the window now) or never will be."""
        self._unsent -= 1
        if sent:
            self._record(now)
        if self._waiters and self._timer is None:
            self._dispatch()


class Ticket:
    """One grant of a limit that ``counts_sends``: ``sent()`` each time its request's head is
    written (aiohttp may write it again on a fresh connection), ``close()`` when done."""

    __slots__ = ("_limit", "_open")

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._open = limit._counts_sends  # otherwise it was counted when granted

    def sent(self) -> None:
        """The request left: from now on it is in the window."""
        limit = self._limit
        now = limit._clock()
        if self._open:
            self._open = False
            limit._moved(now, sent=True)
        else:
            limit._record(now)  # written again: the server may see it twice

    def close(self) -> None:
        """Done with the grant; if its request never left, the window forgets it."""
        if self._open:
            self._open = False
            self._limit._moved(self._limit._clock(), sent=False)


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
