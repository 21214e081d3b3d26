"""The attempt timeout (``Timeout.attempt``), kept by the client's own shared timers.

Against the fake server made slow: attempts time out at their time, never before it and not
much after; many attempts share a timer; a cancellation or timeout of the caller's stays the
caller's; closing the client stops its timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

import pytest
from insides import attempt_timers
from support import EXAMPLE, LOOPS, on_loop

import postpress_async as pp
from postpress_async.testing import FakePostpress

SLOW = 5.0
"""The fake server's latency: far beyond every attempt timeout here."""


def client_for(server: FakePostpress, **options: Any) -> pp.AsyncPostpress:
    options.setdefault("max_retries", 0)
    return pp.AsyncPostpress(server.api_key, base_url=server.base_url, **options)


async def timed(call: Any) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        await call
    except BaseException as exc:  # what the call ended with is the result
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def slow_chats(server: FakePostpress, count: int, *, latency: float) -> list[str]:
    """``count`` new chats, each answered only after ``latency`` seconds, every time."""
    ids = server.add_chats(count)
    for chat_id in ids:
        server.fail(chat_id, latency=latency, times=None)
    return ids


@pytest.mark.parametrize("loop", LOOPS)
def test_many_attempts_time_out_at_their_time(
    loop: str, fake_postpress_thread: FakePostpress
) -> None:
    server = fake_postpress_thread
    ids = slow_chats(server, 100, latency=SLOW)
    timeout = pp.Timeout(attempt=0.3)

    async def main() -> list[tuple[BaseException | None, float]]:
        limits = pp.Limits(max_connections=200)
        async with client_for(server, timeout=timeout, limits=limits) as c:
            return await asyncio.gather(*(timed(c.chats.retrieve(chat_id)) for chat_id in ids))

    for error, took in on_loop(loop, main):
        assert isinstance(error, pp.APITimeoutError)
        assert error.limit == "attempt"
        assert "Timeout.attempt=0.3s" in str(error)
        assert took >= 0.3  # never before its time
        assert took < SLOW / 2  # the timeout ended it, not the server
    assert server.request_count == 100


@pytest.mark.parametrize("loop", LOOPS)
def test_attempts_that_end_in_the_same_second_share_one_timer(
    loop: str, fake_postpress_thread: FakePostpress
) -> None:
    server = fake_postpress_thread
    ids = slow_chats(server, 100, latency=0.5)

    async def main() -> tuple[int, list[pp.Chat]]:
        limits = pp.Limits(max_connections=200)
        async with client_for(server, timeout=pp.Timeout(attempt=10), limits=limits) as c:
            calls = asyncio.gather(*(c.chats.retrieve(chat_id) for chat_id in ids))
            await asyncio.sleep(0.2)
            return attempt_timers(c), await calls

    timers, chats = on_loop(loop, main)
    # 100 attempts of 10 s, begun together, end in one whole second (two, across a boundary)
    assert 1 <= timers <= 2
    assert [chat.id for chat in chats] == ids


async def test_an_attempt_timeout_is_retried_and_the_retry_succeeds(
    server: FakePostpress,
) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=SLOW, times=1)
    retry = pp.RetryPolicy(sleep=_no_sleep)
    async with client_for(server, timeout=pp.Timeout(attempt=0.3), retry=retry, max_retries=1) as c:
        chat = await c.chats.retrieve(chat_id)
    assert chat.id == chat_id
    assert server.request_count == 2


async def _no_sleep(seconds: float) -> None:
    return None


async def test_the_callers_cancellation_stays_a_cancellation(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=SLOW, times=None)
    async with client_for(server, timeout=pp.Timeout(attempt=0.3)) as c:
        call = asyncio.create_task(c.chats.retrieve(chat_id))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # its timer fires later with nothing to cancel; the next call is unaffected
        await asyncio.sleep(0.4)
        (other,) = server.add_chats(1, seed=1)
        assert (await c.chats.retrieve(other)).id == other


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is Python 3.11+")
async def test_the_callers_own_timeout_is_the_callers(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=SLOW, times=None)
    async with client_for(server, timeout=pp.Timeout(attempt=10)) as c:
        with pytest.raises(TimeoutError) as info:
            async with asyncio.timeout(0.2):
                await c.chats.retrieve(chat_id)
        assert not isinstance(info.value, pp.PostpressError)  # asyncio's, from the caller
    async with client_for(server, timeout=pp.Timeout(attempt=0.2)) as c:
        async with asyncio.timeout(10):
            with pytest.raises(pp.APITimeoutError):
                await c.chats.retrieve(chat_id)
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # the attempt took its cancellation back


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling is Python 3.11+")
async def test_a_task_that_kept_a_cancellation_still_times_out(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=SLOW, times=None)
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(1)  # kept, not uncancelled: the task counts one cancellation
    assert task.cancelling() == 1
    try:
        async with client_for(server, timeout=pp.Timeout(attempt=0.2)) as c:
            error, took = await timed(c.chats.retrieve(chat_id))
        assert isinstance(error, pp.APITimeoutError)
        assert took < SLOW / 2
        assert task.cancelling() == 1
    finally:
        task.uncancel()


async def test_closing_the_client_stops_its_timers(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    c = client_for(server)  # attempt=30: its tick's timer would wait half a minute
    await c.chats.retrieve(chat_id)
    assert attempt_timers(c) == 1
    await c.aclose()
    assert attempt_timers(c) == 0
