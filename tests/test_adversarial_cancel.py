"""Cancellation storms and shutdown with calls in flight (issue 17, items 1 and 7).

Every cancelled task ends in ``CancelledError`` (never a ``ValueError`` from the queue it
waited in); a slot handed to a cancelled waiter is passed on, never lost or duplicated; a
call in flight when its client closes ends in an ``APIConnectionError`` that says so and is
not retried; and once a batch is stopped or a client closed, no further request reaches the
server. Storms are 10,000 tasks; time limits below are hang guards, never speed assertions.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import pytest
from support import WAIT, until, until_sync

import postpress_async as pp
from postpress_async._gate import Gate
from postpress_async.testing import FakePostpress

STORM = 10_000
HANG_GUARD = 5.0
"""Seconds after which a close or a cancelled batch counts as hung (the issue saw > 60 s)."""
CLOSED = "the postpress client was closed while this request was in flight"
SLOW = 60.0
"""A server latency that outlasts every test: only a cancellation or a close ends such a call."""

T = TypeVar("T")


def kinds(outcomes: Iterable[object]) -> collections.Counter[str]:
    return collections.Counter(type(outcome).__name__ for outcome in outcomes)


# -- Gate -------------------------------------------------------------------------------------


async def test_holder_and_waiters_of_a_gate_cancelled_together_all_end_cancelled() -> None:
    gate = Gate(1)

    async def hold() -> None:
        await gate.enter()
        try:
            await asyncio.Event().wait()
        finally:
            gate.leave()

    tasks = [asyncio.create_task(hold()) for _ in range(4)]
    await asyncio.sleep(0)  # one holds, three wait
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == ["CancelledError"] * 4
    assert gate.free == 1
    assert not [w for w in gate.waiters if not w.done()]


class CountingDeque(collections.deque[T]):
    """A deque that counts the elements its searches and scans visit."""

    visits = 0

    def __iter__(self) -> Iterator[T]:
        for item in super().__iter__():
            self.visits += 1
            yield item

    def __contains__(self, item: object) -> bool:
        self.visits += len(self)
        return super().__contains__(item)

    def remove(self, value: T) -> None:
        self.visits += len(self)
        super().remove(value)

    def index(self, value: T, start: int = 0, stop: int = 2**63 - 1) -> int:
        self.visits += len(self)
        return super().index(value, start, stop)


class Holders:
    """Tasks that take a slot of ``gate`` (as the transport writes it) and hold it until
    cancelled; counts those holding now and the most that ever held at once."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.now = self.most = 0

    async def hold(self) -> None:
        gate = self.gate
        if gate.free:  # the uncontended path, inline
            gate.free -= 1
        else:
            await gate.enter()
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.Event().wait()
        finally:
            self.now -= 1
            if gate.waiters:
                gate.leave()
            else:
                gate.free += 1


@pytest.mark.parametrize("order", ["oldest first", "newest first"])
async def test_a_storm_of_cancelled_holders_and_waiters_all_end_cancelled(order: str) -> None:
    size = 16
    gate = Gate(size)
    holders = Holders(gate)
    tasks = [asyncio.create_task(holders.hold()) for _ in range(STORM)]
    await asyncio.sleep(0)
    assert holders.now == size
    # Oldest first, the holders leave first and hand their slots to cancelled waiters;
    # newest first, the waiters clean up after themselves while the queue is still full.
    for task in tasks if order == "oldest first" else reversed(tasks):
        task.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
    assert kinds(outcomes) == {"CancelledError": STORM}
    assert (gate.free, holders.now, holders.most) == (size, 0, size)
    assert not [w for w in gate.waiters if not w.done()]


async def test_waiters_cancelled_one_by_one_cost_linear_work() -> None:
    """Each waiter cancelled on its own turn of the loop while the rest still wait (timeouts
    in a long queue): looking each one up in the queue would visit ~STORM**2 / 2 waiters."""
    size = 16
    gate = Gate(size)
    queue: CountingDeque[asyncio.Future[None]] = CountingDeque()
    gate.waiters = queue
    holders = Holders(gate)
    tasks = [asyncio.create_task(holders.hold()) for _ in range(STORM)]
    await asyncio.sleep(0)
    waiters = tasks[size:]
    random.Random(7).shuffle(waiters)
    for task in waiters:
        task.cancel()
        await asyncio.sleep(0)
    assert all(task.cancelled() for task in waiters)
    assert queue.visits <= 4 * STORM, queue.visits
    assert not [w for w in gate.waiters if not w.done()]
    for task in tasks[:size]:
        task.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
    assert kinds(outcomes) == {"CancelledError": STORM}
    assert (gate.free, holders.now, holders.most) == (size, 0, size)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_slots_survive_cancellations_interleaved_with_leaves(seed: int) -> None:
    """Holders leave and waiters are cancelled at random, many of them just as a slot was
    handed to them: every task not cancelled gets its turn, never more than ``size`` hold at
    once, every slot comes back, and the cancelled do not pile up in the queue."""
    size = 8
    gate = Gate(size)
    rng = random.Random(seed)
    holding: set[int] = set()
    most = 0
    releases = [asyncio.Event() for _ in range(STORM)]

    async def hold(n: int) -> None:
        nonlocal most
        await gate.enter()
        holding.add(n)
        most = max(most, len(holding))
        try:
            await releases[n].wait()
        finally:
            holding.discard(n)
            gate.leave()

    tasks = [asyncio.create_task(hold(n)) for n in range(STORM)]
    await asyncio.sleep(0)
    cancelled: set[int] = set()

    async def churn() -> None:
        pending = list(range(STORM))
        while pending:
            # A holder leaves; its slot goes to the longest waiter, woken on the next turn of
            # the loop. Cancelling the head of the queue now often hits just that waiter.
            for n in rng.sample(sorted(holding), k=min(len(holding), rng.randint(1, 3))):
                releases[n].set()
            head = pending[: size * 4]
            for n in rng.sample(head, k=min(len(head), rng.randint(0, 6))):
                tasks[n].cancel()
                cancelled.add(n)
            for n in rng.sample(pending, k=min(len(pending), rng.randint(0, 20))):
                tasks[n].cancel()
                cancelled.add(n)
            await asyncio.sleep(0)
            pending = [n for n in pending if not tasks[n].done()]

    await asyncio.wait_for(churn(), WAIT)
    served = {n for n, task in enumerate(tasks) if not task.cancelled()}
    assert all(tasks[n].exception() is None for n in served)
    assert served | cancelled == set(range(STORM))
    assert served  # the storm left some to serve
    assert most == size
    assert (gate.free, len(holding)) == (size, 0)
    assert not [w for w in gate.waiters if not w.done()]


async def test_waiters_cancelled_while_the_holder_stays_do_not_pile_up() -> None:
    """Waiters that give up (a deadline, a cancelled batch) while the slot stays taken."""
    gate = Gate(1)
    await gate.enter()
    deepest = 0
    for _ in range(STORM):
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        deepest = max(deepest, len(gate.waiters))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert deepest <= 2
    gate.leave()
    assert gate.free == 1


# -- the async client -------------------------------------------------------------------------


NO_TIME_LIMIT = pp.Timeout(attempt=SLOW * 2, connect=10.0, read=None, deadline=None)
"""Only a cancellation or a close ends a slow call here, never a time limit."""


def async_client(server: FakePostpress, **settings: Any) -> pp.AsyncPostpress:
    settings.setdefault("timeout", NO_TIME_LIMIT)
    return pp.AsyncPostpress(server.api_key, base_url=server.base_url, **settings)


async def test_a_storm_of_cancelled_retrieves_ends_cancelled_and_sends_nothing_more(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(latency=SLOW, times=None)
    client = async_client(thread_server, limits=pp.Limits(max_connections=4))
    tasks = [asyncio.create_task(client.chats.retrieve(chat_id)) for _ in range(STORM)]
    assert await until(lambda: thread_server.in_flight == 4), "the pool filled up"
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
    assert kinds(outcomes) == {"CancelledError": STORM}
    await asyncio.wait_for(client.aclose(), HANG_GUARD)
    assert await until(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    assert thread_server.request_count == 4  # the queued calls never sent a request


async def test_breaking_out_of_a_batch_above_max_connections_stops_it(
    thread_server: FakePostpress,
) -> None:
    ids = thread_server.add_chats(400)
    thread_server.fail(latency=0.01, times=None)
    client = async_client(thread_server, limits=pp.Limits(max_connections=16))
    before = asyncio.all_tasks()
    results = client.chats.retrieve_many(ids, concurrency=64, adaptive=False)
    taken = []
    async for result in results:
        taken.append(result)
        if len(taken) == 20:
            break
    await asyncio.wait_for(results.aclose(), HANG_GUARD)
    assert [r for r in taken if not r.ok] == []
    # No task of the batch is left to send anything, and the server sees nothing more while
    # the client stays open.
    assert [t for t in asyncio.all_tasks() - before if not t.done()] == []
    assert await until(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    # Requests written before the break may still be on their way to the server thread: the
    # count must settle (a batch still sending would never let it), then stay where it is.
    for _ in range(25):
        sent = thread_server.request_count
        await asyncio.sleep(0.2)
        if thread_server.request_count == sent:
            break
    else:
        raise AssertionError("the server kept receiving requests after the break")
    await asyncio.sleep(0.2)
    assert thread_server.request_count == sent
    await asyncio.wait_for(client.aclose(), HANG_GUARD)


async def test_a_fail_fast_stop_above_max_connections_yields_no_foreign_error(
    thread_server: FakePostpress,
) -> None:
    bad, *ids = thread_server.add_chats(200)
    thread_server.fail(bad, error=pp.ErrorType.INVALID_CREDENTIALS)
    thread_server.fail(latency=0.05, times=None)
    client = async_client(thread_server, limits=pp.Limits(max_connections=16))
    try:
        results = client.chats.retrieve_many(
            [*ids[:100], bad, *ids[100:]], concurrency=64, adaptive=False
        )
        taken: list[pp.ChatResult] = []

        async def consume() -> None:
            async for result in results:
                taken.append(result)

        with pytest.raises(pp.AuthenticationError):
            await consume()
        assert [r.error for r in taken if not r.ok] == []
    finally:
        await asyncio.wait_for(client.aclose(), HANG_GUARD)


async def test_calls_in_flight_when_the_client_closes_end_with_a_connection_error(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(latency=SLOW, times=None)
    client = async_client(thread_server, limits=pp.Limits(max_connections=2))
    tasks = [asyncio.create_task(client.chats.retrieve(chat_id)) for _ in range(6)]
    assert await until(lambda: thread_server.in_flight == 2), "the pool filled up"
    await asyncio.wait_for(client.aclose(), HANG_GUARD)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
    for outcome in outcomes:  # the two sending and the four queued for a connection
        assert type(outcome) is pp.APIConnectionError, repr(outcome)
        assert str(outcome) == CLOSED
        assert outcome.retryable is False
        assert outcome.attempts == 1
    assert thread_server.request_count == 2  # not retried
    # A call made after close is a mistake in the caller's code, not a connection failure.
    with pytest.raises(RuntimeError, match="this postpress client is closed"):
        await client.chats.retrieve(chat_id)
    assert thread_server.request_count == 2


async def test_a_call_waiting_to_retry_when_the_client_closes_sends_nothing_more(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    backing_off, resume = asyncio.Event(), asyncio.Event()

    async def backoff(seconds: float) -> None:
        backing_off.set()
        await resume.wait()

    client = async_client(thread_server, retry=pp.RetryPolicy(sleep=backoff))
    call = asyncio.create_task(client.chats.retrieve(chat_id))
    await asyncio.wait_for(backing_off.wait(), WAIT)
    await asyncio.wait_for(client.aclose(), HANG_GUARD)
    resume.set()
    with pytest.raises(pp.APIConnectionError, match=CLOSED) as caught:
        await asyncio.wait_for(call, WAIT)
    assert caught.value.retryable is False
    assert caught.value.attempts == 2  # the 503, then the retry the close cut short
    assert thread_server.request_count == 1


# -- the blocking client ----------------------------------------------------------------------


def in_threads(count: int, call: Callable[[], T]) -> tuple[list[threading.Thread], list[object]]:
    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(call())
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def blocking_client(server: FakePostpress, **settings: Any) -> pp.Postpress:
    settings.setdefault("timeout", NO_TIME_LIMIT)
    return pp.Postpress(server.api_key, base_url=server.base_url, **settings)


# Known gap (issue 17 note): on Python 3.13 a connection aiohttp was still opening when the
# client closed is sometimes left to the garbage collector (seen once in three CI runs); the
# calls themselves all end as this test asserts.
@pytest.mark.filterwarnings("ignore:unclosed transport:ResourceWarning")
def test_closing_a_blocking_client_with_many_calls_in_flight(
    thread_server: FakePostpress,
) -> None:
    slow, failing = thread_server.add_chats(2)
    thread_server.fail(slow, latency=SLOW, times=None)
    thread_server.fail(failing, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    backing_off = threading.Semaphore(0)

    async def backoff(seconds: float) -> None:
        backing_off.release()
        await asyncio.Event().wait()  # only the close ends this wait

    client = blocking_client(
        thread_server, limits=pp.Limits(max_connections=8), retry=pp.RetryPolicy(sleep=backoff)
    )
    waiting, waited = in_threads(20, lambda: client.chats.retrieve(failing))
    for _ in waiting:  # all 20 in backoff, their connections free again
        assert backing_off.acquire(timeout=WAIT)
    queued, outcomes = in_threads(300, lambda: client.chats.retrieve(slow))
    assert until_sync(lambda: thread_server.in_flight == 8), "the pool filled up"
    sent = thread_server.request_count
    client.close()
    for thread in waiting + queued:
        thread.join(WAIT)
        assert not thread.is_alive(), "a call hung after close()"
    outcomes += waited
    assert kinds(outcomes) == {"APIConnectionError": 320}, kinds(outcomes)
    assert {str(o) for o in outcomes} == {CLOSED}
    assert all(o.retryable is False for o in outcomes if isinstance(o, pp.APIConnectionError))
    assert until_sync(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    assert thread_server.request_count == sent


def test_breaking_out_of_a_blocking_batch_above_max_connections(
    thread_server: FakePostpress,
) -> None:
    ids = thread_server.add_chats(400)
    thread_server.fail(latency=0.01, times=None)
    taken: list[pp.ChatResult] = []

    def body() -> None:
        with blocking_client(thread_server, limits=pp.Limits(max_connections=16)) as client:
            for result in client.chats.retrieve_many(ids, concurrency=64, adaptive=False):
                taken.append(result)
                if len(taken) == 20:
                    break

    threads, outcomes = in_threads(1, body)
    threads[0].join(WAIT)
    assert not threads[0].is_alive(), "the blocking client hung after the break"
    assert outcomes == [None]
    assert [r for r in taken if not r.ok] == []
    assert until_sync(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    sent = thread_server.request_count
    time.sleep(0.2)  # room for a request that something left running would send
    assert thread_server.request_count == sent


def test_closing_a_blocking_client_while_a_big_batch_is_read(
    thread_server: FakePostpress,
) -> None:
    ids = thread_server.add_chats(2000)
    thread_server.fail(latency=SLOW, times=None)
    client = blocking_client(thread_server, limits=pp.Limits(max_connections=16))
    results = client.chats.retrieve_many(ids, concurrency=1000, adaptive=False)
    reader, outcomes = in_threads(1, lambda: next(results))
    assert until_sync(lambda: thread_server.in_flight == 16), "the pool filled up"
    client.close()
    reader[0].join(WAIT)
    assert not reader[0].is_alive(), "the reader hung after close()"
    (outcome,) = outcomes
    # The read in flight ends in the error, or in the first result, which carries it.
    error = outcome.error if isinstance(outcome, pp.ChatResult) else outcome
    assert type(error) is pp.APIConnectionError, repr(outcome)
    assert str(error) == CLOSED
    assert until_sync(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    assert thread_server.request_count == 16
