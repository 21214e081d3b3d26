"""Adaptive concurrency reacts to the service being overloaded, not to one id's fault (issue 18).

Against a real FakePostpress on 127.0.0.1 with the fake server's own seeded fault mix (the one
``postpress fake-server --fault-rate 0.02`` plants). Speed is measured in benchmarks/
(``bench_faults.py``); here the floor of issue 18 (adaptive >= 0.9x ``adaptive=False``) is
asserted through what decides it, deterministically: the limit the batch ran at.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest
from support import WAIT, until

import postpress_async as pp
from postpress_async._cli_fake import FaultPlan, inject_faults
from postpress_async.testing import FakePostpress

CONCURRENCY = 64
SEED = 28
IDS = 3_000
QUICK_BACKOFF = pp.RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.05)


def overload_attempts(plan: FaultPlan, ids: list[str]) -> list[int]:
    """Per id, how many of its attempts the plan answers 503 or 504 (overload signals)."""
    per_id: dict[str, int] = {}
    for fault in plan.retryable:
        if fault.status in (503, 504):
            assert fault.chat_id is not None
            assert fault.remaining is not None
            per_id[fault.chat_id] = fault.remaining
    for fault in plan.for_good:
        if fault.status in (503, 504):  # not retried: one attempt
            assert fault.chat_id is not None
            per_id[fault.chat_id] = 1
    return [per_id.get(chat_id, 0) for chat_id in ids]


async def test_two_percent_sparse_faults_keep_the_limit_at_the_ceiling(
    fake_postpress: FakePostpress,
) -> None:
    """20k ids at 2% faults ran at an average limit of 16 of 64 (1,080 vs 5,479 ids/s)."""
    ids = fake_postpress.add_chats(IDS, seed=SEED)
    plan = inject_faults(fake_postpress, ids, 0.02, SEED)
    signals = overload_attempts(plan, ids)
    # The seed's faults are sparse everywhere, and that makes the run deterministic. A cut
    # needs more than 15% of a round trip's attempts overloaded: 3 while the limit is below 20
    # (slow start, the first ~100 ids), 10 at the ceiling, where a window's 64 attempts come
    # from at most the 64 ids in flight, the 64 after them and retries of the 128 before. The
    # seed's layout stays below both whatever the interleaving.
    assert 20 <= sum(signals) <= 0.02 * IDS * 1.5
    assert sum(signals[:160]) <= 2
    assert max(sum(signals[i : i + 256]) for i in range(IDS)) <= 9
    planted = {fault.chat_id for fault in plan.for_good}

    async with pp.AsyncPostpress(
        fake_postpress.api_key, base_url=fake_postpress.base_url, retry=QUICK_BACKOFF
    ) as client:
        results = client.chats.retrieve_many(ids, concurrency=CONCURRENCY)
        limits: list[int] = []
        failed: set[str] = set()
        async for result in results:
            limits.append(results.limit)
            if not result.ok:
                failed.add(result.chat_id)
    assert len(limits) == IDS
    assert failed == planted  # every fault that passes was seen through by a retry
    assert statistics.mean(limits) >= 0.9 * CONCURRENCY
    assert min(limits[200:]) == CONCURRENCY  # slow start reached the ceiling; no cut after
    assert fake_postpress.max_in_flight <= CONCURRENCY


async def test_an_id_sleeping_in_its_backoff_holds_no_place(fake_postpress: FakePostpress) -> None:
    """The first id fails (a retryable 500) and sleeps through its backoff: its place goes to
    the next id, so the batch keeps its limit (4 at the start) of requests at the server."""
    ids = fake_postpress.add_chats(30)
    fake_postpress.fail(ids[0], error=pp.ErrorType.PROVIDER_ERROR, times=1)
    for chat_id in ids[1:]:
        fake_postpress.fail(chat_id, latency=60.0)  # held at the server until the test ends
    sleeping = asyncio.Event()
    wake = asyncio.Event()

    async def backoff(seconds: float) -> None:
        sleeping.set()
        await wake.wait()

    async with pp.AsyncPostpress(
        fake_postpress.api_key,
        base_url=fake_postpress.base_url,
        retry=pp.RetryPolicy(max_retries=2, sleep=backoff),
    ) as client:
        results = client.chats.retrieve_many(ids, concurrency=8)
        consumer = asyncio.create_task(anext(results))
        await asyncio.wait_for(sleeping.wait(), WAIT)
        assert await until(lambda: fake_postpress.request_count == 5), "its place was kept"
        assert results.limit == 4
        assert fake_postpress.in_flight == 4  # the limit, not more: the sleeper is not counted
        assert [r.chat_id for r in fake_postpress.requests] == ids[:5]
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await results.aclose()


async def test_a_retry_after_episode_is_one_pause_and_no_cut(fake_postpress: FakePostpress) -> None:
    """Every request of the first wave is answered 503 with ``Retry-After: 1``: the batch
    pauses once for all of them and keeps its limit, instead of cutting it for each."""
    ids = fake_postpress.add_chats(40)
    fake_postpress.latency = 0.02
    fake_postpress.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, retry_after=1, latency=0.0, times=4)
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        results = c.chats.retrieve_many(ids, concurrency=4)
        limits = [results.limit async for r in results if r.ok]
    assert len(limits) == 40
    assert set(limits) == {4}
    assert fake_postpress.request_count == 44  # each of the four retried once, after the pause
