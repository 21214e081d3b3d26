"""``_loop_thread.LoopThread`` on its own: the helper under ``Postpress`` and the fake's ``with``.

Interrupts, interpreter exit and ``fork`` are covered through ``Postpress`` in
test_sync_process.py; these tests pin the generic contract without any client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from postpress_async._loop_thread import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread("test-loop", owner="this test helper")
    yield runner
    runner.close()


def test_call_runs_in_the_loop_thread_and_returns(loop_thread: LoopThread) -> None:
    async def where() -> tuple[str, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, asyncio.get_running_loop()

    assert loop_thread.call(where) == ("test-loop", loop_thread.loop)
    assert loop_thread.thread.daemon


def test_call_raises_what_the_coroutine_raises(loop_thread: LoopThread) -> None:
    async def boom() -> None:
        raise LookupError("from the loop")

    with pytest.raises(LookupError, match="from the loop"):
        loop_thread.call(boom)
    assert loop_thread.call(_running_loop) is loop_thread.loop  # the loop outlives it


def test_calls_from_many_threads_share_the_one_loop(loop_thread: LoopThread) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    def work() -> None:
        for _ in range(20):
            loops.append(loop_thread.call(_running_loop))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert loops == [loop_thread.loop] * 80


def test_a_call_from_the_loop_thread_itself_raises_instead_of_hanging() -> None:
    runner = LoopThread("test-loop", owner="this test helper", hint=" (in a callback?)")
    try:

        async def reenter() -> object:
            return runner.call(_running_loop)

        with pytest.raises(RuntimeError, match=r"this test helper .* \(in a callback\?\)"):
            runner.call(reenter)
    finally:
        runner.close()


def test_close_runs_on_close_in_the_loop_then_stops_it() -> None:
    seen: list[str] = []

    async def on_close() -> None:
        seen.append(threading.current_thread().name)

    runner = LoopThread("test-closing", owner="this test helper", on_close=on_close)
    assert not runner.stopped
    runner.close()
    runner.close()  # idempotent
    assert seen == ["test-closing"]
    assert runner.stopped
    assert not runner.thread.is_alive()
    assert runner.loop.is_closed()
    with pytest.raises(RuntimeError, match="this test helper is closed"):
        runner.call(_running_loop)


def test_close_during_a_call_ends_the_call_with_a_clear_error() -> None:
    runner = LoopThread("test-loop", owner="this test helper")
    started = threading.Event()
    outcome: list[BaseException] = []

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    def caller() -> None:
        try:
            runner.call(forever)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(10)
    runner.close()
    thread.join(10)
    assert not thread.is_alive()
    assert [type(e) for e in outcome] == [RuntimeError]
    assert "closed during the call" in str(outcome[0])


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
