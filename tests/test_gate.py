"""The request path's semaphore: bounded holders, FIFO waiters, no slot lost to cancellation."""

from __future__ import annotations

import asyncio

import pytest

from postpress_async._gate import Gate


async def test_at_most_size_holders_and_first_come_first_served() -> None:
    gate = Gate(2)
    assert gate.try_enter()
    assert gate.try_enter()
    assert not gate.try_enter()
    order: list[int] = []

    async def wait(n: int) -> None:
        await gate.enter()
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == []
    gate.leave()
    gate.leave()
    await asyncio.sleep(0)
    assert order == [0, 1]
    gate.leave()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]
    assert not gate.try_enter()  # the three waiters hold all the slots again


async def test_a_cancelled_waiter_neither_holds_nor_loses_a_slot() -> None:
    gate = Gate(1)
    assert gate.try_enter()
    cancelled = asyncio.create_task(gate.enter())
    later = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.leave()
    await asyncio.wait_for(later, 1)  # the slot went to the next waiter
    gate.leave()
    assert gate.try_enter()


async def test_a_slot_handed_over_as_the_waiter_is_cancelled_is_passed_on() -> None:
    gate = Gate(1)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # so it goes on to `second`
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()
