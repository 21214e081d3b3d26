"""``Timeout.deadline`` bounds a whole call: queueing, the rate limit, redirects, retries, backoff.

The first tests are the cases of issue 17 against a real server: each call must end within its
deadline plus a small slack (``SLACK``: the issue asks for exactly this bound), with an
``APITimeoutError`` that says where the deadline ran out, and the server must not have seen
more requests than fit. The rest are exact: retries counted at the server with an injected
``RetryPolicy(sleep=...)``, so that no test waits for a backoff or depends on timing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any

import pytest
from support import EXAMPLE, RETRYABLE_IDS, Sleeps
from yarl import URL

import postpress_async as pp
from postpress_async._adaptive import AdaptiveLimit
from postpress_async._retry import with_retries
from postpress_async.testing import FakePostpress

CHAT_ID: str = EXAMPLE["id"]
SLACK = 0.75
"""How far past its deadline a call may end: the loop's and the machine's delays."""
FAST = pp.RetryPolicy(backoff_initial=0.001, backoff_max=0.001)


@pytest.fixture
def server(server: FakePostpress) -> FakePostpress:
    server.add_chat(EXAMPLE)
    return server


def client_for(server: FakePostpress, **options: Any) -> pp.AsyncPostpress:
    return pp.AsyncPostpress(server.api_key, base_url=server.base_url, **options)


async def timed(call: Any) -> tuple[Any, float]:
    """The call's result or exception, and how long it took."""
    started = time.monotonic()
    try:
        result = await call
    except pp.PostpressError as exc:
        result = exc
    return result, time.monotonic() - started


# -- the cases: a deadline of 2 s, each ending by then ------------------------------------


async def test_a_redirect_chain_shares_the_deadline(server: FakePostpress) -> None:
    for _ in range(5):  # five redirects of 0.9 s each took 5.4 s with deadline=2
        server.fail(CHAT_ID, redirect_to=server.chat_url(CHAT_ID), latency=0.9)
    async with client_for(server, timeout=pp.Timeout(attempt=30, deadline=2)) as client:
        error, elapsed = await timed(client.chats.retrieve(CHAT_ID))
    assert isinstance(error, pp.APITimeoutError)
    assert (error.limit, error.seconds) == ("deadline", 2)
    assert "reached its overall Timeout.deadline=2s during redirect" in str(error)
    assert elapsed < 2 + SLACK
    assert server.request_count == 3  # 0.9 + 0.9 + (cut at 2.0): no fourth hop, no retry


async def test_redirect_hops_share_one_attempt_without_a_deadline(server: FakePostpress) -> None:
    for _ in range(5):
        server.fail(CHAT_ID, redirect_to=server.chat_url(CHAT_ID), latency=0.4)
    timeout = pp.Timeout(attempt=1, deadline=None)
    async with client_for(server, timeout=timeout, max_retries=0) as client:
        error, elapsed = await timed(client.chats.retrieve(CHAT_ID))
    assert isinstance(error, pp.APITimeoutError)
    assert (error.limit, error.seconds) == ("attempt", 1)
    assert elapsed < 1 + SLACK
    assert server.request_count == 3


async def test_waiting_for_a_connection_slot_counts(server: FakePostpress) -> None:
    server.fail(latency=0.9, times=None)
    limits = pp.Limits(max_connections=1)
    async with client_for(server, limits=limits, timeout=pp.Timeout(deadline=2)) as client:
        outcomes = await asyncio.gather(*(timed(client.chats.retrieve(CHAT_ID)) for _ in range(5)))
    assert all(elapsed < 2 + SLACK for _, elapsed in outcomes)  # the last took 7.5 s
    errors = [result for result, _ in outcomes if isinstance(result, Exception)]
    assert len(errors) >= 3  # at most two fit: 0.9 s each through the one connection
    assert all(isinstance(e, pp.APITimeoutError) and e.limit == "deadline" for e in errors)
    assert any("while waiting for a connection slot" in str(e) for e in errors)
    # Two fit, a third is cut at the deadline, a fourth may take the slot in that instant;
    # before, all five were sent.
    assert server.request_count <= 4


async def test_waiting_for_the_rate_limit_counts(server: FakePostpress) -> None:
    async with client_for(server, rate_limit=1, timeout=pp.Timeout(deadline=2)) as client:
        outcomes = await asyncio.gather(*(timed(client.chats.retrieve(CHAT_ID)) for _ in range(5)))
    assert all(elapsed < 2 + SLACK for _, elapsed in outcomes)  # the last took 7.0 s
    errors = [result for result, _ in outcomes if isinstance(result, Exception)]
    assert len(errors) >= 2  # one a second: at t=0, t=1, and perhaps t=2
    assert all(isinstance(e, pp.APITimeoutError) and e.limit == "deadline" for e in errors)
    assert all("while waiting for the rate limit" in str(e) for e in errors)
    assert server.request_count == 5 - len(errors)


async def test_retries_and_their_backoff_end_at_the_deadline(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None, latency=0.2)
    policy = pp.RetryPolicy(max_retries=50, backoff_initial=0.2, backoff_max=0.4)
    async with client_for(server, retry=policy, timeout=pp.Timeout(deadline=2)) as client:
        error, elapsed = await timed(client.chats.retrieve(CHAT_ID))
    assert isinstance(error, (pp.ServiceUnavailableError, pp.APITimeoutError))
    assert elapsed < 2 + SLACK
    assert 2 <= error.attempts == server.request_count < 51


async def test_a_call_that_fits_its_deadline_is_untouched(server: FakePostpress) -> None:
    server.fail(CHAT_ID, redirect_to=server.chat_url(CHAT_ID))
    server.fail(CHAT_ID, error=pp.ErrorType.NETWORK_DOWN)
    limits = pp.Limits(max_connections=1)
    async with client_for(
        server, limits=limits, rate_limit=100, timeout=pp.Timeout(deadline=5), retry=FAST
    ) as client:
        chats = await asyncio.gather(*(client.chats.retrieve(CHAT_ID) for _ in range(4)))
    assert {chat.id for chat in chats} == {CHAT_ID}
    assert server.request_count == 6  # 4 calls, one redirect, one retry


# -- exact: retries under a deadline, counted at the server (no timing) ------------------------


def policy(sleeps: Sleeps, **options: Any) -> pp.RetryPolicy:
    return pp.RetryPolicy(sleep=sleeps, backoff_initial=0.001, backoff_max=0.001, **options)


async def test_retries_without_a_deadline_succeed(server: FakePostpress) -> None:
    """Mutant: ``Timeout(deadline=None)`` with retries made every retry raise TypeError."""
    server.fail(CHAT_ID, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=2)
    sleeps = Sleeps()
    timeout = pp.Timeout(deadline=None)
    async with client_for(server, timeout=timeout, retry=policy(sleeps)) as client:
        chat = await client.chats.retrieve(CHAT_ID)
    assert chat.id == CHAT_ID
    assert server.request_count == 3
    assert len(sleeps.waits) == 2


async def test_retries_without_a_deadline_each_get_a_whole_attempt(server: FakePostpress) -> None:
    server.fail(CHAT_ID, latency=5, times=None)
    sleeps = Sleeps()
    timeout = pp.Timeout(attempt=0.2, deadline=None)
    async with client_for(server, timeout=timeout, retry=policy(sleeps)) as client:
        with pytest.raises(pp.APITimeoutError) as info:
            await client.chats.retrieve(CHAT_ID)
    assert (info.value.limit, info.value.attempts) == ("attempt", 3)
    assert server.request_count == 3


async def test_redirects_and_retries_without_a_deadline(server: FakePostpress) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.NETWORK_DOWN)
    server.fail(CHAT_ID, redirect_to=server.chat_url(CHAT_ID))
    sleeps = Sleeps()
    timeout = pp.Timeout(deadline=None)
    async with client_for(server, timeout=timeout, retry=policy(sleeps), rate_limit=1000) as c:
        chat = await c.chats.retrieve(CHAT_ID)
    assert chat.id == CHAT_ID
    assert server.request_count == 3  # the 503, the redirect, the chat


async def test_a_retry_is_cut_to_what_the_deadline_leaves(server: FakePostpress) -> None:
    """Mutant: a retry given a whole ``Timeout.attempt`` instead of what the deadline leaves."""
    server.fail(CHAT_ID, error=pp.ErrorType.SERVICE_UNAVAILABLE)
    server.fail(CHAT_ID, latency=30)
    sleeps = Sleeps()
    timeout = pp.Timeout(attempt=10, deadline=0.5)
    async with client_for(server, timeout=timeout, retry=policy(sleeps)) as client:
        with pytest.raises(pp.APITimeoutError) as info:
            await client.chats.retrieve(CHAT_ID)
    error = info.value
    # Uncut, the retry would have run into Timeout.attempt (10 s) and said so.
    assert (error.limit, error.seconds, error.attempts) == ("deadline", 0.5, 2)
    assert "while waiting for the response (retry 1)" in str(error)
    assert server.request_count == 2
    assert len(sleeps.waits) == 1


class RecordingObserver:
    """An ``AttemptObserver`` that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def attempt_failed(self, exc: Exception) -> None:
        self.events.append(f"failed {type(exc).__name__}")

    async def before_retry(self, deadline_at: float | None) -> bool:
        self.events.append("retry")
        return True


async def retrieve_observed(
    client: pp.AsyncPostpress, observer: RecordingObserver, sleeps: Sleeps
) -> Any:
    """One call through the client's own transport, the retry layer and ``observer``."""
    url = URL(f"{client.base_url}/chats/{CHAT_ID}")
    attempt = functools.partial(client._transport.send, url)
    return await with_retries(attempt, lambda r: r.status, policy(sleeps), client.timeout, observer)


async def test_the_observer_hears_of_every_failed_attempt_retries_included(
    server: FakePostpress,
) -> None:
    """Mutant: the batch's observer not told of failed retries."""
    server.fail(CHAT_ID, error=pp.ErrorType.SERVICE_UNAVAILABLE)
    server.fail(CHAT_ID, status=429)
    observer, sleeps = RecordingObserver(), Sleeps()
    async with client_for(server) as client:
        assert await retrieve_observed(client, observer, sleeps) == 200
    assert observer.events == [
        "failed ServiceUnavailableError",
        "retry",
        "failed RateLimitError",
        "retry",
    ]
    assert server.request_count == 3


async def test_the_observer_hears_of_the_last_failure_too(server: FakePostpress) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.NETWORK_DOWN, times=None)
    observer, sleeps = RecordingObserver(), Sleeps()
    async with client_for(server) as client:
        with pytest.raises(pp.ServiceUnavailableError):
            await retrieve_observed(client, observer, sleeps)
    failed = "failed ServiceUnavailableError"
    assert observer.events == [failed, "retry", failed, "retry", failed]
    assert server.request_count == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422])
@pytest.mark.parametrize("error_id", sorted(RETRYABLE_IDS))
async def test_a_retryable_id_on_a_4xx_is_not_retried(
    server: FakePostpress, status: int, error_id: str
) -> None:
    """Mutant: the retryable error ids retried whatever the status."""
    envelope = {"type": error_id, "title": "t", "detail": "d", "status": status}
    server.fail(CHAT_ID, status=status, body=json.dumps(envelope), content_type="application/json")
    sleeps = Sleeps()
    async with client_for(server, retry=policy(sleeps)) as client:
        with pytest.raises(pp.APIStatusError) as info:
            await client.chats.retrieve(CHAT_ID)
    error = info.value
    assert (error.status, error.type, error.retryable, error.attempts) == (
        status,
        error_id,
        False,
        1,
    )
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_a_batch_retry_waits_for_a_place_no_longer_than_the_deadline(
    server: FakePostpress,
) -> None:
    """A retry inside ``retrieve_many`` queues again for a place (``before_retry``): that wait
    counts against the deadline too, and the place it never got is not given back."""
    server.fail(CHAT_ID, error=pp.ErrorType.SERVICE_UNAVAILABLE)
    limit = AdaptiveLimit(2)
    assert limit.try_acquire()  # another id of the batch, in flight throughout
    assert limit.try_acquire()  # this call's own place

    async def backoff(seconds: float) -> None:
        assert limit.try_acquire()  # a new id takes the place this call gave back

    retry = pp.RetryPolicy(sleep=backoff, backoff_initial=0.001, backoff_max=0.001)
    url = URL(f"{server.base_url}/chats/{CHAT_ID}")
    async with client_for(server, timeout=pp.Timeout(deadline=0.5)) as client:
        attempt = functools.partial(client._transport.send, url)
        call = with_retries(attempt, lambda r: r.status, retry, client.timeout, limit)
        error, elapsed = await timed(call)  # in this task: the one the limit parked
        limit.release(failed=True)  # what the batch's worker does with a failed id
    assert isinstance(error, pp.APITimeoutError)
    assert (error.limit, error.seconds, error.attempts) == ("deadline", 0.5, 2)
    assert "while waiting for a place in the batch (retry 1)" in str(error)
    assert elapsed < 0.5 + SLACK
    assert server.request_count == 1  # the retry was never sent
    assert limit.in_flight == 2  # the other id and the new one: nothing given back twice
