"""Batches under cancellation storms, fail-fast stops and endpoints no id can reach (issues 17, 18).

``AdaptiveLimit`` is driven directly (a primitive: no network); everything else runs against a
real server on 127.0.0.1 (FakePostpress, our forward proxy, a trustme certificate, a port
nothing listens on) and counts there. Waits are hang guards, never timing assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from certs import Certs
from insides import adaptive_batch
from proxies import ForwardProxy, black_hole
from support import HANG, WAIT, CountingIds, drain, no_sleep, refusing_port, until

import postpress_async as pp
from postpress_async._adaptive import AdaptiveLimit
from postpress_async.testing import FakePostpress

NO_RETRIES = pp.RetryPolicy(max_retries=0)
QUICK_RETRIES = pp.RetryPolicy(max_retries=2, sleep=no_sleep)


def batch_workers() -> list[asyncio.Task[object]]:
    """The worker tasks of every batch alive in this loop."""
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.endswith("worker")]


async def outcome(task: asyncio.Task[object]) -> str:
    """How a task ended: ``CancelledError``, an exception's class name, or ``done``."""
    try:
        await task
    except asyncio.CancelledError:
        return "CancelledError"
    except Exception as exc:
        return type(exc).__name__
    return "done"


# -- AdaptiveLimit: cancellation -------------------------------------------------------------------


async def hold(limit: AdaptiveLimit, forever: asyncio.Event) -> None:
    """Take a place, keep it until cancelled, and give it back."""
    if not limit.try_acquire():
        await limit.acquire()
    try:
        await forever.wait()
    finally:
        limit.give_back()


async def test_four_tasks_holding_and_waiting_all_end_cancelled_together() -> None:
    """Issue 17's minimal case on AdaptiveLimit: one holds, three wait, all are cancelled."""
    limit = AdaptiveLimit(1)
    forever = asyncio.Event()
    tasks = [asyncio.create_task(hold(limit, forever)) for _ in range(4)]
    assert await until(lambda: limit.in_flight == 1)
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    assert [await outcome(t) for t in tasks] == ["CancelledError"] * 4
    assert limit.in_flight == 0
    assert limit.try_acquire()  # nothing was lost: the place is free again


@pytest.mark.parametrize("holders", [1, 4])
async def test_a_storm_of_20000_cancelled_waiters_all_end_cancelled(holders: int) -> None:
    limit = AdaptiveLimit(holders)
    forever = asyncio.Event()
    tasks = [asyncio.create_task(hold(limit, forever)) for _ in range(20_000)]
    assert await until(lambda: limit.in_flight == holders)
    await asyncio.sleep(0)  # every other task is queued now
    for task in tasks:  # the holders too: their places go to waiters already cancelled
        task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=WAIT)
    assert not pending
    ends = {await outcome(t) for t in done}
    assert ends == {"CancelledError"}
    assert limit.in_flight == 0
    assert [limit.try_acquire() for _ in range(holders + 1)] == [True] * holders + [False]


async def test_a_turn_handed_to_a_waiter_cancelled_meanwhile_is_passed_on() -> None:
    limit = AdaptiveLimit(1)
    assert limit.try_acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    limit.give_back()  # the turn goes to ``first`` ...
    first.cancel()  # ... which is cancelled before it could run
    assert await outcome(first) == "CancelledError"
    await asyncio.wait_for(second, WAIT)  # ``second`` got the place
    assert limit.in_flight == 1


async def test_after_half_a_storm_is_cancelled_every_other_waiter_gets_its_turn() -> None:
    """Cancelled waiters stay queued until a wake-up reaches them: none may swallow a turn."""
    limit = AdaptiveLimit(2)
    served = 0

    async def use_once() -> None:
        nonlocal served
        if not limit.try_acquire():
            await limit.acquire()
        try:
            await asyncio.sleep(0)
            served += 1
        finally:
            limit.give_back()

    tasks = [asyncio.create_task(use_once()) for _ in range(10_000)]
    await asyncio.sleep(0)
    for task in tasks[1::2]:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=WAIT)
    assert not pending
    ends = [await outcome(t) for t in tasks]
    assert ends[0::2] == ["done"] * 5_000
    assert set(ends[1::2]) == {"CancelledError"}  # no ValueError in the storm
    assert served == 5_000 + ends[1::2].count("done")  # (none: all were cancelled in time)
    assert limit.in_flight == 0


# -- retrieve_many: break, close, stop under a storm -----------------------------------------------


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "fixed"])
@pytest.mark.parametrize("concurrency", [64, 10_000])
async def test_breaking_out_ends_every_worker_and_sends_nothing_more(
    fake_postpress: FakePostpress, adaptive: bool, concurrency: int
) -> None:
    """Above a pool of 16 connections most workers wait for one; a break must end them all."""
    known = fake_postpress.add_chats(50)
    fake_postpress.latency = 0.002
    source = CountingIds(known[i % 50] for i in range(10**9))
    async with pp.AsyncPostpress(
        fake_postpress.api_key,
        base_url=fake_postpress.base_url,
        retry=NO_RETRIES,
        limits=pp.Limits(max_connections=16),
    ) as client:
        results = client.chats.retrieve_many(source, concurrency=concurrency, adaptive=adaptive)

        async def break_out() -> int:
            got = 0
            async for result in results:
                assert result.ok
                got += 1
                if got == 200:
                    break
            taken = source.taken
            await results.aclose()  # right after the break, as ``async with aclosing`` does
            return taken

        taken = await asyncio.wait_for(break_out(), WAIT)  # a hang guard
        assert batch_workers() == []
        assert source.taken == taken  # no id was taken after the break
        assert await until(lambda: fake_postpress.in_flight == 0)
        arrived = fake_postpress.request_count
        assert arrived <= taken
        await asyncio.sleep(0.05)
        assert fake_postpress.request_count == arrived  # nothing more reached the server
        assert (await client.chats.retrieve(known[0])).id == known[0]  # the client still works


def test_the_blocking_client_closes_a_batch_above_its_pool_without_hanging(
    fake_postpress_thread: FakePostpress,
) -> None:
    server = fake_postpress_thread
    known = server.add_chats(20)
    server.latency = 0.002
    outcome: list[object] = []

    def consume() -> None:
        with pp.Postpress(
            server.api_key,
            base_url=server.base_url,
            retry=NO_RETRIES,
            limits=pp.Limits(max_connections=16),
        ) as client:
            results = client.chats.retrieve_many(itertools.cycle(known), concurrency=64)
            outcome.extend(itertools.islice(results, 300))
            results.close()
            outcome.append(client.chats.retrieve(known[0]))

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(HANG)  # a hang guard
    assert not thread.is_alive(), "the blocking client hung closing its batch"
    assert len(outcome) == 301
    assert all(r.ok for r in outcome[:300])  # type: ignore[attr-defined]


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "fixed"])
async def test_a_fail_fast_stop_hands_over_no_cancellation_as_a_result(
    fake_postpress: FakePostpress, adaptive: bool
) -> None:
    """Issue 17: a stop yielded results whose ``.error`` was a ValueError from cancelling."""
    ids = fake_postpress.add_chats(5_000)
    fake_postpress.latency = 0.002
    fake_postpress.fail(ids[400], error=pp.ErrorType.INVALID_CREDENTIALS, times=None)
    got: list[pp.ChatResult] = []
    async with pp.AsyncPostpress(
        fake_postpress.api_key,
        base_url=fake_postpress.base_url,
        retry=NO_RETRIES,
        limits=pp.Limits(max_connections=16),
    ) as client:
        results = client.chats.retrieve_many(ids, concurrency=64, adaptive=adaptive)
        with pytest.raises(pp.AuthenticationError):
            await drain(results, got)
    assert len(got) >= 300
    errors = [r.error for r in got if r.error is not None]
    assert errors == []  # only ids 0.. that finished before the stop, every one fetched
    assert batch_workers() == []


class Gated(FakePostpress):
    """Holds each request for a chosen id until the test opens its gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, asyncio.Event] = {}
        self.arrived: list[str] = []

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        chat_id = request.raw_path.rpartition("/")[2]
        self.arrived.append(chat_id)
        gate = self.gates.get(chat_id)
        if gate is not None:
            await gate.wait()
        return await super()._respond(request)


@pytest.fixture
async def gated() -> AsyncIterator[Gated]:
    async with Gated() as server:
        yield server


async def test_results_handed_over_at_a_fail_fast_stop_come_in_input_order(
    gated: Gated,
) -> None:
    """With ``ordered=True``, the results held for an earlier id are handed over at a stop in
    input order, even though they finished out of order (2 before 1)."""
    ids = gated.add_chats(10)
    for chat_id in ids:
        gated.gates[chat_id] = asyncio.Event()
    gated.fail(ids[3], error=pp.ErrorType.INVALID_CREDENTIALS, times=None)
    got: list[pp.ChatResult] = []
    async with pp.AsyncPostpress(gated.api_key, base_url=gated.base_url, retry=NO_RETRIES) as c:
        results = c.chats.retrieve_many(ids, concurrency=4, ordered=True, adaptive=False)

        async def consume() -> None:
            async for result in results:
                got.append(result)

        consumer = asyncio.create_task(consume())
        assert await until(lambda: set(gated.arrived) == set(ids[:4]))
        gated.gates[ids[2]].set()  # id 2 finishes first; its worker takes id 4
        assert await until(lambda: ids[4] in gated.arrived)
        gated.gates[ids[1]].set()  # then id 1; its worker takes id 5
        assert await until(lambda: ids[5] in gated.arrived)
        gated.gates[ids[3]].set()  # id 3 meets a wrong key: the batch stops, id 0 unfinished
        with pytest.raises(pp.AuthenticationError):
            await asyncio.wait_for(consumer, WAIT)
    assert [r.index for r in got] == [1, 2]
    assert all(r.ok for r in got)


@pytest.mark.parametrize(
    ("error", "grows"),
    [(pp.ErrorType.SERVICE_UNAVAILABLE, False), (pp.ErrorType.RESOURCE_NOT_FOUND, True)],
    ids=["503-overloaded", "404-healthy"],
)
async def test_the_worker_tells_the_limit_whether_a_request_ended_overloaded(
    fake_postpress: FakePostpress, error: str, grows: bool
) -> None:
    """A request that ended overloaded must not grow the limit; one answered 404 may.

    The fetch here reports nothing itself (a plain ``retrieve``), so what the limit learns is
    only what the batch's worker tells it when the request ends (``release(overloaded)``).
    """
    ids = fake_postpress.add_chats(300)
    fake_postpress.latency = 0.005
    fake_postpress.fail(error=error, times=None)
    async with pp.AsyncPostpress(
        fake_postpress.api_key, base_url=fake_postpress.base_url, retry=NO_RETRIES
    ) as client:
        results = adaptive_batch(client.chats.retrieve, ids, concurrency=32)
        limits = [results.limit async for r in results if not r.ok]
    assert len(limits) == 300
    if grows:
        assert limits[-1] == 32
        assert fake_postpress.max_in_flight > 4
    else:
        assert set(limits) == {4}
        assert fake_postpress.max_in_flight <= 4


# -- errors that prove no id can succeed -----------------------------------------------------------


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "fixed"])
async def test_a_wrong_proxy_password_stops_the_batch_after_a_handful_of_requests(
    fake_postpress: FakePostpress, adaptive: bool
) -> None:
    ids = fake_postpress.add_chats(5_000)
    concurrency = 32
    async with ForwardProxy(username="user", password="right") as proxy:
        async with pp.AsyncPostpress(
            fake_postpress.api_key,
            base_url=fake_postpress.base_url,
            proxy=proxy.url("user", "wrong"),
            trust_env=False,
        ) as client:
            results = client.chats.retrieve_many(ids, concurrency=concurrency, adaptive=adaptive)
            with pytest.raises(pp.ProxyError) as info:
                await drain(results)
        asked = len(proxy.requests)
    assert info.value.status == 407
    assert 1 <= asked <= 2 * concurrency  # not one 407 per id
    assert fake_postpress.request_count == 0
    assert "wrong" not in str(info.value)


async def test_an_untrusted_certificate_stops_the_batch_after_a_handful_of_handshakes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    certs = Certs(tmp_path_factory.mktemp("ours"))
    strangers = Certs(tmp_path_factory.mktemp("theirs"))  # a CA the client does not trust
    concurrency = 32
    async with FakePostpress(ssl=certs.server()) as server, CountingRelay(server.port) as relay:
        ids = server.add_chats(5_000)
        base_url = server.base_url.replace(f":{server.port}", f":{relay.port}")
        async with pp.AsyncPostpress(
            server.api_key, base_url=base_url, ssl=strangers.client()
        ) as client:
            with pytest.raises(pp.CertificateError):
                await drain(client.chats.retrieve_many(ids, concurrency=concurrency))
        assert 1 <= relay.connections <= 2 * concurrency  # not one handshake per id
        assert server.request_count == 0


class CountingRelay:
    """A TCP relay on 127.0.0.1 to ``port`` that counts the connections made through it."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._tasks.discard(task)

    async def __aenter__(self) -> CountingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


# -- a dead endpoint -------------------------------------------------------------------------------


class Attempts:
    """A ``RetryPolicy.sleep`` that counts the retries (one sleep before each) and returns."""

    def __init__(self) -> None:
        self.retries = 0

    async def __call__(self, seconds: float) -> None:
        self.retries += 1


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "fixed"])
@pytest.mark.parametrize("via", ["api", "proxy"])
async def test_a_dead_endpoint_stops_the_batch_after_about_one_ids_retries(
    adaptive: bool, via: str
) -> None:
    """Nothing listens (on the API's port, or on the proxy's): the batch stops with the
    connection error once the last few ids all failed to connect, not after every id."""
    dead = refusing_port()
    base_url = f"http://127.0.0.1:{dead}/api/v1" if via == "api" else "http://127.0.0.1:9/api/v1"
    proxy = f"http://127.0.0.1:{dead}" if via == "proxy" else None
    retries = Attempts()
    got: list[pp.ChatResult] = []
    async with pp.AsyncPostpress(
        "pp_key",
        base_url=base_url,
        proxy=proxy,
        trust_env=False,
        retry=pp.RetryPolicy(max_retries=2, sleep=retries),
    ) as client:
        ids = (f"chat_{n}" for n in range(20_000))
        results = client.chats.retrieve_many(ids, concurrency=64, adaptive=adaptive)
        with pytest.raises(pp.APIConnectionError) as info:
            await drain(results, got)
    assert type(info.value) is pp.APIConnectionError
    assert info.value.attempts == 3
    assert len(got) < 8  # the ids of the streak before the one that decided
    assert all(isinstance(r.error, pp.APIConnectionError) for r in got)
    assert retries.retries <= 2 * (64 + 8)  # at most the ids in flight retried, not 20,000


async def test_a_black_holed_endpoint_stops_the_batch_too() -> None:
    """Every connection attempt times out (``Timeout.connect``): the endpoint is as dead as one
    that refuses, and the batch stops after about one id's retries, not 3 x 0.1 s per id
    (the adaptive limit, cut by the timeouts, would have made that about 30 s here)."""
    retries = Attempts()
    got: list[pp.ChatResult] = []
    with black_hole() as port:
        async with pp.AsyncPostpress(
            "pp_key",
            base_url=f"http://127.0.0.1:{port}/api/v1",
            trust_env=False,
            timeout=pp.Timeout(attempt=30, connect=0.1),
            retry=pp.RetryPolicy(max_retries=2, sleep=retries),
        ) as client:
            ids = (f"chat_{n}" for n in range(100))
            results = client.chats.retrieve_many(ids, concurrency=16)
            with pytest.raises(pp.APITimeoutError) as info:
                await drain(results, got)
    assert info.value.limit == "connect"
    assert info.value.attempts == 3
    assert len(got) < 8
    assert retries.retries <= 2 * (16 + 8)  # the ids in flight, not 100
    # The batch never reached the service: its timeouts said nothing of its load, so the
    # adaptive limit kept its first 4 rather than halving to one request at a time.
    assert results.limit == 4


async def test_a_live_servers_slow_answers_never_stop_a_batch(
    fake_postpress: FakePostpress,
) -> None:
    """Attempts that time out after the connection was made are the ids' trouble: the last
    12 ids never answer in time, and they end in a row, yet the batch runs on."""
    ids = fake_postpress.add_chats(40)
    slow = set(ids[-12:])
    for chat_id in slow:
        fake_postpress.fail(chat_id, latency=5, times=None)
    async with pp.AsyncPostpress(
        fake_postpress.api_key,
        base_url=fake_postpress.base_url,
        timeout=pp.Timeout(attempt=0.1),
        max_retries=0,
    ) as client:
        many = client.chats.retrieve_many(ids, concurrency=8, adaptive=False)
        results = [r async for r in many]
    assert len(results) == 40
    assert {r.chat_id for r in results if r.ok} == set(ids) - slow
    assert all(isinstance(r.error, pp.APITimeoutError) for r in results if not r.ok)


def test_the_blocking_client_stops_a_batch_against_a_dead_endpoint() -> None:
    retries = Attempts()
    with pp.Postpress(
        "pp_key",
        base_url=f"http://127.0.0.1:{refusing_port()}/api/v1",
        trust_env=False,
        retry=pp.RetryPolicy(max_retries=2, sleep=retries),
    ) as client:
        ids = (f"chat_{n}" for n in range(2_000))
        with pytest.raises(pp.APIConnectionError):
            list(client.chats.retrieve_many(ids, concurrency=16))
    assert retries.retries <= 2 * (16 + 8)


async def test_a_dead_endpoint_does_not_stop_a_batch_without_fail_fast() -> None:
    async with pp.AsyncPostpress(
        "pp_key", base_url=f"http://127.0.0.1:{refusing_port()}/api/v1", retry=QUICK_RETRIES
    ) as client:
        results = [
            r
            async for r in client.chats.retrieve_many(
                [f"chat_{n}" for n in range(100)], concurrency=8, fail_fast=False
            )
        ]
    assert len(results) == 100
    assert all(type(r.error) is pp.APIConnectionError for r in results)


async def test_connections_cut_by_a_live_server_never_stop_a_batch(
    fake_postpress: FakePostpress,
) -> None:
    """A server that drops connections is reachable: one id's trouble, not a dead endpoint."""
    ids = fake_postpress.add_chats(200)
    for chat_id in ids[::2]:
        fake_postpress.fail(chat_id, drop=True, times=None)
    async with pp.AsyncPostpress(
        fake_postpress.api_key, base_url=fake_postpress.base_url, retry=QUICK_RETRIES
    ) as client:
        results = [r async for r in client.chats.retrieve_many(ids, concurrency=16)]
    assert len(results) == 200
    assert {r.chat_id for r in results if not r.ok} == set(ids[::2])
    assert all(type(r.error) is pp.APIConnectionError for r in results if not r.ok)
