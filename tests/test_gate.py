"""The request path's primitives: ``Gate`` (bounded holders, FIFO waiters, no slot lost to
cancellation) and ``Inbox`` (many producers, one consumer, nothing lost or reordered)."""

from __future__ import annotations

import asyncio

import pytest

from postpress_async._gate import Gate, Inbox


def try_enter(gate: Gate) -> bool:
    """The uncontended path, as the request path writes it inline."""
    if gate.free:
        gate.free -= 1
        return True
    return False


async def test_at_most_size_holders_and_first_come_first_served() -> None:
    gate = Gate(2)
    assert try_enter(gate)
    assert try_enter(gate)
    assert not try_enter(gate)
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
    assert not try_enter(gate)  # the three waiters hold all the slots again


async def test_a_cancelled_waiter_neither_holds_nor_loses_a_slot() -> None:
    gate = Gate(1)
    assert try_enter(gate)
    cancelled = asyncio.create_task(gate.enter())
    later = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.leave()
    await asyncio.wait_for(later, 1)  # the slot went to the next waiter
    gate.leave()
    assert try_enter(gate)


async def test_a_slot_handed_over_as_the_waiter_is_cancelled_is_passed_on() -> None:
    gate = Gate(1)
    assert try_enter(gate)
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # so it goes on to `second`
    assert not try_enter(gate)
    gate.leave()
    assert try_enter(gate)


async def test_entering_while_a_slot_is_free_takes_it_at_once() -> None:
    gate = Gate(1)
    await asyncio.wait_for(gate.enter(), 1)
    assert gate.free == 0
    gate.leave()
    assert gate.free == 1


async def test_a_free_slot_never_jumps_the_queue() -> None:
    gate = Gate(1)
    assert try_enter(gate)
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # handed to the waiter, not made free
    assert gate.free == 0
    assert not try_enter(gate)
    await asyncio.wait_for(waiter, 1)


async def test_inbox_hands_over_every_item_in_order_and_wakes_its_consumer() -> None:
    inbox: Inbox[int] = Inbox()
    received: list[int] = []

    async def consume(count: int) -> None:
        while len(received) < count:
            while not inbox.items:
                await inbox.wait()
            received.append(inbox.items.popleft())

    consumer = asyncio.create_task(consume(6))
    await asyncio.sleep(0)  # the consumer waits on an empty inbox

    async def produce(start: int) -> None:
        for n in range(start, start + 3):
            inbox.put(n)
            await asyncio.sleep(0)

    await asyncio.gather(produce(0), produce(10))
    await asyncio.wait_for(consumer, 1)
    assert sorted(received) == [0, 1, 2, 10, 11, 12]
    assert [n for n in received if n < 10] == [0, 1, 2]  # each producer's order kept
    assert not inbox.items


async def test_inbox_put_after_its_consumer_was_cancelled_is_kept() -> None:
    inbox: Inbox[str] = Inbox()
    waiting = asyncio.ensure_future(inbox.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    inbox.put("kept")  # no error for the cancelled waiter, and the item stays
    assert list(inbox.items) == ["kept"]
