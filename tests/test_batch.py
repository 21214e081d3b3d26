"""``retrieve_many``: a bounded, lazy worker pool, against a real local server.

Most tests use ``pp.AsyncPostpress`` with the fake server in the test's loop; those at the end
use the blocking twin, ``pp.Postpress``, with the server in a thread. No test asserts a
duration: waits are polls bounded only to turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from support import WAIT, CountingIds, Sleeps, until, until_sync

import postpress_async as pp
from postpress_async.testing import FakePostpress


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(server: FakePostpress, sleeps: Sleeps) -> AsyncIterator[pp.AsyncPostpress]:
    async with pp.AsyncPostpress(
        server.api_key,
        base_url=server.base_url,
        timeout=30.0,
        retry=pp.RetryPolicy(sleep=sleeps),
    ) as c:
        yield c


async def collect(results: AsyncIterator[pp.ChatResult]) -> list[pp.ChatResult]:
    return await asyncio.wait_for(_drain(results), WAIT)


async def _drain(results: AsyncIterator[pp.ChatResult]) -> list[pp.ChatResult]:
    return [r async for r in results]


def check_accounting(ids: list[str], results: list[pp.ChatResult], server: FakePostpress) -> None:
    """Every input position has exactly one result, and each result is self-consistent."""
    assert len(results) == len(ids)
    assert sorted(r.index for r in results) == list(range(len(ids)))
    for r in results:
        assert r.chat_id == ids[r.index]
        assert (r.chat is None) != (r.error is None), r
        if r.chat is not None:
            assert r.ok
            assert r.chat.id == r.chat_id
            assert r.chat == server.chat(r.chat_id)
            assert r.unwrap() is r.chat
        else:
            assert not r.ok
            assert isinstance(r.error, pp.PostpressError)
            with pytest.raises(type(r.error)):
                r.unwrap()


# -- accounting -------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
async def test_every_id_is_accounted_once_with_failures(
    server: FakePostpress, client: pp.AsyncPostpress, ordered: bool
) -> None:
    good = server.add_chats(40)
    forbidden, bad_request = good[5], good[6]
    server.fail(forbidden, error=pp.ErrorType.INSUFFICIENT_PERMISSIONS, times=None)
    server.fail(bad_request, error=pp.ErrorType.INVALID_RESOURCE_IDENTIFIER, status=400, times=None)
    ids = [*good, "chat_missing_1", "chat_missing_2", good[0], "chat_missing_1"]
    random.Random(7).shuffle(ids)

    results = await collect(client.chats.retrieve_many(ids, concurrency=6, ordered=ordered))

    check_accounting(ids, results, server)
    errors = {r.index: r.error for r in results if r.error is not None}
    expected_failures = {
        i
        for i, chat_id in enumerate(ids)
        if chat_id.startswith("chat_missing")
        or chat_id
        in {
            forbidden,
            bad_request,
        }
    }
    assert set(errors) == expected_failures
    for index, error in errors.items():
        chat_id = ids[index]
        if chat_id.startswith("chat_missing"):
            assert isinstance(error, pp.NotFoundError)
        elif chat_id == forbidden:
            assert isinstance(error, pp.PermissionDeniedError)
        else:
            assert isinstance(error, pp.BadRequestError)
    # non-retryable failures were asked once per position, never retried
    assert server.request_count == len(ids)
    if ordered:
        assert [r.index for r in results] == list(range(len(ids)))


async def test_empty_input_yields_nothing(server: FakePostpress, client: pp.AsyncPostpress) -> None:
    assert await collect(client.chats.retrieve_many([])) == []
    assert await collect(client.chats.retrieve_many(iter(()), ordered=True)) == []
    assert server.request_count == 0


async def test_a_bad_id_in_the_input_is_a_result_not_a_raise(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    good = server.add_chats(3)
    ids: list[Any] = [good[0], "", good[1], 42, good[2]]
    results = await collect(client.chats.retrieve_many(ids, concurrency=2))
    assert len(results) == len(ids)
    by_index = {r.index: r for r in results}
    assert isinstance(by_index[1].error, ValueError)
    assert isinstance(by_index[3].error, TypeError)
    assert all(by_index[i].ok for i in (0, 2, 4))
    assert server.request_count == 3


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.parametrize(("concurrency", "ordered"), [(1, False), (7, False), (7, True)])
async def test_never_more_than_concurrency_requests_in_flight(
    server: FakePostpress, client: pp.AsyncPostpress, concurrency: int, ordered: bool
) -> None:
    ids = server.add_chats(40)
    server.latency = 0.02
    results = await collect(
        client.chats.retrieve_many(ids, concurrency=concurrency, ordered=ordered)
    )
    check_accounting(ids, results, server)
    assert server.max_in_flight == concurrency


async def test_small_input_uses_no_more_workers_than_ids(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(3)
    server.latency = 0.01
    results = await collect(client.chats.retrieve_many(ids, concurrency=50))
    check_accounting(ids, results, server)
    assert server.max_in_flight <= 3


async def test_concurrency_above_the_connection_pool_causes_no_timeouts(
    server: FakePostpress,
) -> None:
    # Each response takes 0.02 s against a 0.5 s attempt timeout; the pool has 4 connections
    # for 40 workers, so most requests first wait for a connection. That wait is not the
    # server being slow and must not count against the attempt's timeout.
    ids = server.add_chats(200)
    server.latency = 0.02
    async with pp.AsyncPostpress(
        server.api_key,
        base_url=server.base_url,
        timeout=0.5,
        max_retries=0,
        limits=pp.Limits(max_connections=4),
    ) as small_pool:
        results = await collect(small_pool.chats.retrieve_many(ids, concurrency=40))
    failures = [type(r.error).__name__ for r in results if r.error is not None]
    assert failures == [], f"{len(failures)} of {len(ids)} failed: {set(failures)}"
    assert server.max_in_flight <= 4


# -- laziness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
async def test_ids_are_read_lazily(
    server: FakePostpress, client: pp.AsyncPostpress, ordered: bool
) -> None:
    concurrency = 4
    source = CountingIds(itertools.cycle(server.add_chats(10)))
    results = client.chats.retrieve_many(source, concurrency=concurrency, ordered=ordered)
    taken: list[pp.ChatResult] = []
    async with contextlib.aclosing(results):
        async for r in results:
            taken.append(r)
            if len(taken) in (1, 10, 25):
                # Give the workers every chance to run ahead; they must not.
                await asyncio.sleep(0.1)
                bound = len(taken) + 2 * concurrency + concurrency
                assert source.taken <= bound, (len(taken), source.taken)
            if len(taken) == 25:
                break
    assert all(r.ok for r in taken)


async def test_a_slow_first_id_does_not_let_ordered_results_pile_up(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    concurrency = 3
    known = server.add_chats(6)
    server.fail(known[0], latency=60.0)
    source = CountingIds(iter([known[0], *(known[1 + i % 5] for i in range(10**6))]))
    results = client.chats.retrieve_many(source, concurrency=concurrency, ordered=True)
    consumer = asyncio.create_task(anext(results))
    assert await until(lambda: source.taken > concurrency), "the workers went past the slow id"
    await asyncio.sleep(0.2)  # every chance to run ahead while index 0 holds the line
    assert source.taken <= 3 * concurrency
    assert not consumer.done()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await results.aclose()
    assert await until(lambda: server.in_flight == 0), "server saw the slow request cancelled"


async def test_a_billion_ids_and_break_after_a_hundred(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    concurrency = 8
    known = server.add_chats(5)
    source = CountingIds(known[i % 5] for i in range(10**9))

    async def first_hundred() -> list[pp.ChatResult]:
        got: list[pp.ChatResult] = []
        results = client.chats.retrieve_many(source, concurrency=concurrency)
        async with contextlib.aclosing(results):
            async for r in results:
                got.append(r)
                if len(got) == 100:
                    break
        return got

    got = await asyncio.wait_for(first_hundred(), WAIT)
    assert len(got) == 100
    assert all(r.ok for r in got)
    assert source.taken <= 100 + 3 * concurrency
    assert await until(lambda: server.in_flight == 0), "in-flight requests ended after the break"


# -- inputs and argument checks ---------------------------------------------------------------


async def test_async_iterable_input(server: FakePostpress, client: pp.AsyncPostpress) -> None:
    ids = server.add_chats(20)
    pulled = 0

    async def agen() -> AsyncIterator[str]:
        nonlocal pulled
        for chat_id in ids:
            await asyncio.sleep(0)
            pulled += 1
            yield chat_id

    results = await collect(client.chats.retrieve_many(agen(), concurrency=5))
    check_accounting(ids, results, server)
    assert pulled == len(ids)


async def test_async_iterable_input_ordered(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(15)
    server.latency = (0.0, 0.02)

    class AsyncIds:
        def __aiter__(self) -> AsyncIterator[str]:
            return self._gen()

        async def _gen(self) -> AsyncIterator[str]:
            for chat_id in ids:
                yield chat_id

    results = await collect(client.chats.retrieve_many(AsyncIds(), concurrency=4, ordered=True))
    assert [r.chat_id for r in results] == ids


@pytest.mark.parametrize("make", [list, tuple, iter, lambda ids: (i for i in ids), dict.fromkeys])
async def test_sync_iterable_inputs(
    server: FakePostpress, client: pp.AsyncPostpress, make: Callable[[list[str]], Any]
) -> None:
    ids = server.add_chats(12)
    results = await collect(client.chats.retrieve_many(make(ids), concurrency=3))
    check_accounting(ids, results, server)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ids": "chat_one"}, TypeError),
        ({"ids": b"chat_one"}, TypeError),
        ({"ids": 42}, TypeError),
        ({"ids": None}, TypeError),
        ({"concurrency": 0}, ValueError),
        ({"concurrency": -3}, ValueError),
        ({"concurrency": 1.5}, (TypeError, ValueError)),
        ({"concurrency": True}, (TypeError, ValueError)),
        ({"ordered": "yes"}, TypeError),
        ({"ordered": 1}, TypeError),
        ({"ordered": None}, TypeError),
        ({"account_id": ""}, ValueError),
        ({"account_id": 7}, TypeError),
    ],
)
async def test_misuse_is_refused_before_any_request(
    server: FakePostpress,
    client: pp.AsyncPostpress,
    kwargs: dict[str, Any],
    error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    args: dict[str, Any] = {"ids": server.add_chats(2), **kwargs}
    ids = args.pop("ids")

    async def misuse() -> None:
        # Raising at the call or at the first step are both fine; yielding results is not.
        async for _ in client.chats.retrieve_many(ids, **args):
            pytest.fail("misuse yielded a result")

    with pytest.raises(error):
        await misuse()
    assert server.request_count == 0


# -- order ------------------------------------------------------------------------------------


async def test_ordered_yields_in_input_order_despite_random_latency(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(40)
    server.latency = (0.0, 0.03)
    server.fail(ids[0], latency=0.2)  # the first id is the slowest
    results = await collect(client.chats.retrieve_many(ids, concurrency=8, ordered=True))
    assert [r.index for r in results] == list(range(len(ids)))
    assert [r.chat_id for r in results] == ids
    check_accounting(ids, results, server)


async def test_unordered_yields_in_completion_order(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(12)
    slow = ids[0]
    server.fail(slow, latency=0.5)
    results = await collect(client.chats.retrieve_many(ids, concurrency=4))
    check_accounting(ids, results, server)
    assert results[-1].chat_id == slow
    assert results[0].index != 0


# -- cancellation -----------------------------------------------------------------------------


def slow_server(server: FakePostpress, n: int) -> list[str]:
    """``n`` chats that each take a minute to serve, except the first, which is immediate."""
    ids = server.add_chats(n)
    server.latency = 60.0
    server.fail(ids[0], latency=0.0)
    return ids


async def test_break_cancels_requests_in_flight(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = slow_server(server, 20)

    async def first() -> pp.ChatResult:
        async for r in client.chats.retrieve_many(ids, concurrency=4):
            return r  # leaves the loop with three requests still in flight
        raise AssertionError("no result")

    r = await asyncio.wait_for(first(), WAIT)
    assert r.chat_id == ids[0]
    assert r.ok
    assert await until(lambda: server.in_flight == 0), "server saw the requests cancelled"
    # Nothing new was started after the break, and the client still works.
    started = server.request_count
    server.latency = 0.0
    assert (await client.chats.retrieve(ids[5])).id == ids[5]
    assert server.request_count == started + 1


async def test_aclose_cancels_requests_in_flight(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = slow_server(server, 20)
    results = client.chats.retrieve_many(ids, concurrency=5)
    first = await asyncio.wait_for(anext(results), WAIT)
    assert first.chat_id == ids[0]
    assert await until(lambda: server.in_flight == 5), "the pool filled up"
    await asyncio.wait_for(results.aclose(), WAIT)
    assert await until(lambda: server.in_flight == 0), "server saw the requests cancelled"
    server.latency = 0.0
    assert (await client.chats.retrieve(ids[3])).id == ids[3]


async def test_cancelling_the_consumer_cancels_requests_in_flight(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(20)
    server.latency = 60.0
    got: list[pp.ChatResult] = []

    async def consume() -> None:
        async for r in client.chats.retrieve_many(ids, concurrency=6, adaptive=False):
            got.append(r)

    task = asyncio.create_task(consume())
    assert await until(lambda: server.in_flight == 6), "the pool filled up"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)
    assert got == []
    assert await until(lambda: server.in_flight == 0), "server saw the requests cancelled"
    assert server.request_count == 6
    server.latency = 0.0
    assert (await client.chats.retrieve(ids[0])).id == ids[0]


async def test_timeout_around_the_consumer_cancels_requests(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(8)
    server.latency = 60.0
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(_drain(client.chats.retrieve_many(ids, concurrency=3)), 0.3)
    assert await until(lambda: server.in_flight == 0), "server saw the requests cancelled"


# -- progress ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
async def test_on_progress_counts_up_to_the_totals(
    server: FakePostpress, client: pp.AsyncPostpress, ordered: bool
) -> None:
    good = server.add_chats(25)
    ids = [*good[:10], "chat_gone_1", *good[10:], "chat_gone_2", "chat_gone_3"]
    server.latency = (0.0, 0.01)
    calls: list[tuple[int, int]] = []
    seen_at_yield: list[tuple[int, int]] = []

    results = client.chats.retrieve_many(
        ids, concurrency=5, ordered=ordered, on_progress=lambda d, f: calls.append((d, f))
    )
    failures = 0
    async for r in results:
        failures += r.error is not None
        seen_at_yield.append(calls[-1])

    assert failures == 3
    assert len(calls) == len(ids)
    assert calls[-1] == (len(ids), 3)
    assert [d for d, _ in calls] == list(range(1, len(ids) + 1))
    assert all(0 <= f <= d for d, f in calls)
    assert all(b[1] - a[1] in (0, 1) for a, b in itertools.pairwise(calls))
    # Progress is reported for a result no later than the result is handed over.
    assert [d for d, _ in seen_at_yield] == list(range(1, len(ids) + 1))


async def test_on_progress_that_raises_stops_the_batch(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(10)
    server.latency = (0.0, 0.01)

    def on_progress(done: int, failed: int) -> None:
        if done == 3:
            raise OverflowError("progress bar broke")

    got: list[pp.ChatResult] = []

    async def consume() -> None:
        async for r in client.chats.retrieve_many(ids, concurrency=2, on_progress=on_progress):
            got.append(r)

    with pytest.raises(OverflowError, match="progress bar broke"):
        await asyncio.wait_for(consume(), WAIT)
    assert len(got) == 2
    assert await until(lambda: server.in_flight == 0), "the batch stopped"


# -- retries ----------------------------------------------------------------------------------


async def test_retries_apply_per_id(
    server: FakePostpress, client: pp.AsyncPostpress, sleeps: Sleeps
) -> None:
    ids = server.add_chats(10)
    flaky, broken = ids[2], ids[7]
    server.fail(flaky, error=pp.ErrorType.PROVIDER_ERROR, times=1)
    server.fail(broken, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)

    results = await collect(client.chats.retrieve_many(ids, concurrency=4))

    check_accounting(ids, results, server)
    by_id = {r.chat_id: r for r in results}
    assert by_id[flaky].ok
    error = by_id[broken].error
    assert isinstance(error, pp.ServiceUnavailableError)
    assert error.attempts == 3  # the default max_retries=2, then the result
    assert all(r.ok for r in results if r.chat_id != broken)
    asked = [req.chat_id for req in server.requests]
    assert asked.count(flaky) == 2
    assert asked.count(broken) == 3
    assert all(asked.count(i) == 1 for i in ids if i not in (flaky, broken))
    assert len(sleeps.waits) == 1 + 2  # nothing really waited


# -- the source failing -----------------------------------------------------------------------


async def test_an_iterator_that_raises_propagates_after_the_ids_taken(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(5)

    def source() -> Iterator[str]:
        yield from ids
        raise LookupError("the id source broke")

    got: list[pp.ChatResult] = []

    async def consume() -> None:
        async for r in client.chats.retrieve_many(source(), concurrency=3):
            got.append(r)

    with pytest.raises(LookupError, match="the id source broke"):
        await asyncio.wait_for(consume(), WAIT)
    check_accounting(ids, got, server)
    assert server.in_flight == 0


async def test_an_async_iterator_that_raises_propagates_after_the_ids_taken(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    ids = server.add_chats(7)
    server.latency = (0.0, 0.02)

    async def source() -> AsyncIterator[str]:
        for chat_id in ids:
            yield chat_id
        raise LookupError("the async id source broke")

    got: list[pp.ChatResult] = []

    async def consume() -> None:
        async for r in client.chats.retrieve_many(source(), concurrency=3, ordered=True):
            got.append(r)

    with pytest.raises(LookupError, match="the async id source broke"):
        await asyncio.wait_for(consume(), WAIT)
    assert [r.chat_id for r in got] == ids


# -- the blocking twin ------------------------------------------------------------------------


@pytest.fixture
def sync_client(thread_server: FakePostpress) -> Iterator[pp.Postpress]:
    with pp.Postpress(
        thread_server.api_key,
        base_url=thread_server.base_url,
        timeout=30.0,
        retry=pp.RetryPolicy(sleep=Sleeps()),
    ) as c:
        yield c


def test_sync_retrieve_many(thread_server: FakePostpress, sync_client: pp.Postpress) -> None:
    good = thread_server.add_chats(50)
    thread_server.latency = (0.0, 0.005)
    ids = [*good, "chat_missing"]
    results = list(sync_client.chats.retrieve_many(ids, concurrency=8))
    check_accounting(ids, results, thread_server)
    assert thread_server.max_in_flight <= 8
    (missing,) = [r for r in results if not r.ok]
    assert isinstance(missing.error, pp.NotFoundError)


def test_sync_retrieve_many_ordered_with_progress(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    ids = thread_server.add_chats(30)
    thread_server.latency = (0.0, 0.01)
    calls: list[tuple[int, int]] = []
    source = CountingIds(iter(ids))
    results = list(
        sync_client.chats.retrieve_many(
            source, concurrency=4, ordered=True, on_progress=lambda d, f: calls.append((d, f))
        )
    )
    assert [r.chat_id for r in results] == ids
    assert calls[-1] == (30, 0)
    assert source.taken == 30


def test_sync_retrieve_many_break_then_client_still_usable(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    ids = slow_server(thread_server, 30)
    for r in sync_client.chats.retrieve_many(ids, concurrency=8):
        assert r.chat_id == ids[0]
        break
    assert until_sync(lambda: thread_server.in_flight == 0), "server saw the requests cancelled"
    thread_server.latency = 0.0
    assert sync_client.chats.retrieve(ids[4]).id == ids[4]
    results = list(sync_client.chats.retrieve_many(ids[:10], concurrency=8))
    check_accounting(ids[:10], results, thread_server)


def test_sync_retrieve_many_close_iterator_early(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    ids = slow_server(thread_server, 10)
    results = sync_client.chats.retrieve_many(ids, concurrency=3)
    assert next(results).chat_id == ids[0]
    assert until_sync(lambda: thread_server.in_flight == 3), "the pool filled up"
    results.close()  # type: ignore[attr-defined]
    assert until_sync(lambda: thread_server.in_flight == 0), "server saw the requests cancelled"


def test_sync_retrieve_many_lazy(thread_server: FakePostpress, sync_client: pp.Postpress) -> None:
    known = thread_server.add_chats(4)
    source = CountingIds(known[i % 4] for i in range(10**9))
    for got, r in enumerate(sync_client.chats.retrieve_many(source, concurrency=4), 1):
        assert r.ok
        if got == 50:
            break
    assert source.taken <= 50 + 3 * 4


def test_sync_retrieve_many_argument_errors(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    with pytest.raises(TypeError):
        list(sync_client.chats.retrieve_many("chat_one"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        list(sync_client.chats.retrieve_many(["a"], concurrency=0))
    with pytest.raises(TypeError, match="ordered"):
        list(sync_client.chats.retrieve_many(["a"], ordered="yes"))  # type: ignore[arg-type]
    assert thread_server.request_count == 0


def test_sync_retrieve_many_source_error_propagates(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    ids = thread_server.add_chats(4)

    def source() -> Iterator[str]:
        yield from ids
        raise LookupError("broken source")

    got: list[pp.ChatResult] = []

    def consume() -> None:
        got.extend(sync_client.chats.retrieve_many(source(), concurrency=2))

    with pytest.raises(LookupError, match="broken source"):
        consume()
    check_accounting(ids, got, thread_server)
    assert sync_client.chats.retrieve(ids[0]).id == ids[0]


def test_sync_ids_from_a_sqlite_cursor(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    # A common source of ids is a database cursor, and many drivers (sqlite3 by default)
    # refuse to be used from any thread but the one that opened them: the blocking client
    # must advance the caller's iterator in the caller's thread, not in its loop thread.
    ids = thread_server.add_chats(12)
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE chats (id TEXT)")
        db.executemany("INSERT INTO chats VALUES (?)", [(i,) for i in ids])
        cursor = db.execute("SELECT id FROM chats ORDER BY rowid")
        results = list(sync_client.chats.retrieve_many((row[0] for row in cursor), concurrency=4))
    finally:
        db.close()
    check_accounting(ids, results, thread_server)


def test_sync_slow_id_source_does_not_stall_other_threads(
    thread_server: FakePostpress, sync_client: pp.Postpress
) -> None:
    # One thread's batch reads ids from a slow source (a growing file, a network stream);
    # another thread sharing the client must still get its answers meanwhile.
    ids = thread_server.add_chats(3)
    source_waiting = threading.Event()
    other_done = threading.Event()
    stalled: list[bool] = []

    def slow_source() -> Iterator[str]:
        yield ids[0]
        source_waiting.set()
        stalled.append(not other_done.wait(3.0))
        yield ids[1]

    batch: list[pp.ChatResult] = []
    consumer = threading.Thread(
        target=lambda: batch.extend(sync_client.chats.retrieve_many(slow_source(), concurrency=1)),
        daemon=True,
    )
    consumer.start()
    assert source_waiting.wait(WAIT)
    assert sync_client.chats.retrieve(ids[2]).id == ids[2]
    other_done.set()
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert sorted(r.chat_id for r in batch) == sorted(ids[:2])
    assert stalled == [False], "the other thread's call waited for the batch's id source"
