"""Batches safe to point at the real API: fail fast, back off together, rate-limit (issue 11).

Every scenario runs against a real FakePostpress on 127.0.0.1 and counts at the server. The
only time bounds asserted are the floors the issue names (a ``Retry-After: 1`` pause, and 300
requests at ``rate_limit=100``); other waits are hang guards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from support import drain

import postpress_async as pp
from postpress_async import _fake_data
from postpress_async.testing import FakePostpress

FAST_RETRIES = pp.RetryPolicy(max_retries=2, backoff_initial=0.05, backoff_max=0.5)


# -- fail fast -------------------------------------------------------------------------------------


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "fixed"])
async def test_a_wrong_key_stops_the_batch_after_a_few_requests(
    fake_postpress: FakePostpress, adaptive: bool
) -> None:
    ids = fake_postpress.add_chats(10_000)
    concurrency = 32
    got: list[pp.ChatResult] = []
    async with pp.AsyncPostpress("pp_wrong", base_url=fake_postpress.base_url) as client:
        results = client.chats.retrieve_many(ids, concurrency=concurrency, adaptive=adaptive)
        with pytest.raises(pp.AuthenticationError) as exc_info:
            await drain(results, got)
    assert exc_info.value.type == pp.ErrorType.INVALID_CREDENTIALS
    assert exc_info.value.request_id is not None
    assert got == []  # nothing finished: every response was the same 401
    assert 1 <= fake_postpress.request_count <= 2 * concurrency
    await asyncio.sleep(0.05)  # nothing more arrives once the batch has stopped
    assert fake_postpress.request_count <= 2 * concurrency


async def test_a_missing_key_type_none_also_stops(fake_postpress: FakePostpress) -> None:
    """A 401 without an envelope (a gateway's page) has ``.type`` None: it stops the batch."""
    ids = fake_postpress.add_chats(2_000)
    fake_postpress.fail(status=401, times=None)
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        with pytest.raises(pp.AuthenticationError) as exc_info:
            await drain(c.chats.retrieve_many(ids, concurrency=16))
    assert exc_info.value.type is None
    assert fake_postpress.request_count <= 2 * 16


async def test_results_finished_before_the_stop_are_yielded_first(
    fake_postpress: FakePostpress,
) -> None:
    ids = fake_postpress.add_chats(500)
    fake_postpress.fail(ids[40], error=pp.ErrorType.INVALID_CREDENTIALS, times=None)
    got: list[pp.ChatResult] = []
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        with pytest.raises(pp.AuthenticationError):
            await drain(c.chats.retrieve_many(ids, concurrency=4, ordered=True), got)
    assert [r.chat_id for r in got[:40]] == ids[:40]
    assert all(r.ok for r in got)
    assert ids[40] not in {r.chat_id for r in got}
    assert len(got) < 60  # at most the few in flight beside it had finished
    served = {r.chat_id for r in fake_postpress.requests}
    assert {r.chat_id for r in got} <= served
    assert len(served) < 60


@pytest.mark.parametrize(
    "error",
    [
        pp.ErrorType.EXPIRED_CREDENTIALS,  # a 401 of one account
        pp.ErrorType.DISCONNECTED_ACCOUNT,
        pp.ErrorType.ACCOUNT_RESTRICTED,  # 403
        pp.ErrorType.RESOURCE_NOT_FOUND,
    ],
)
async def test_errors_of_one_account_or_chat_never_stop_a_batch(
    fake_postpress: FakePostpress, error: str
) -> None:
    ids = fake_postpress.add_chats(60)
    for chat_id in ids[::3]:
        fake_postpress.fail(chat_id, error=error, times=None)
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        results = await drain(c.chats.retrieve_many(ids, concurrency=8))
    failed = {r.chat_id for r in results if not r.ok}
    assert failed == set(ids[::3])
    assert len(results) == len(ids)
    assert all(getattr(r.error, "type", None) == error for r in results if not r.ok)


async def test_fail_fast_off_reports_every_id(fake_postpress: FakePostpress) -> None:
    ids = fake_postpress.add_chats(150)
    async with pp.AsyncPostpress("pp_wrong", base_url=fake_postpress.base_url) as client:
        results = await drain(client.chats.retrieve_many(ids, concurrency=16, fail_fast=False))
    assert len(results) == len(ids)
    assert all(isinstance(r.error, pp.AuthenticationError) for r in results)
    assert fake_postpress.request_count == len(ids)


def test_blocking_client_fails_fast_too(fake_postpress_thread: FakePostpress) -> None:
    ids = fake_postpress_thread.add_chats(3_000)
    with (
        pp.Postpress("pp_wrong", base_url=fake_postpress_thread.base_url) as client,
        pytest.raises(pp.AuthenticationError),
    ):
        list(client.chats.retrieve_many(ids, concurrency=16))
    assert fake_postpress_thread.request_count <= 2 * 16


@pytest.mark.parametrize("flag", ["fail_fast", "adaptive"])
async def test_the_flags_must_be_bools(fake_postpress: FakePostpress, flag: str) -> None:
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        with pytest.raises(TypeError, match=flag):
            c.chats.retrieve_many(["chat_1"], **{flag: 1})  # type: ignore[arg-type]


# -- adaptive --------------------------------------------------------------------------------------


class Overloaded(FakePostpress):
    """A server that sheds load: 503 ``service_unavailable`` whenever 8 or more are in flight."""

    def __init__(self, capacity: int) -> None:
        super().__init__(latency=0.004)
        self.capacity = capacity
        self.shed = 0

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.in_flight < self.capacity:
            return await super()._respond(request)
        self.shed += 1  # counted and recorded like any request, then refused
        rid = self._recorder.arrive(request.method, request.raw_path, None, {}, request.headers)
        status, headers, body = _fake_data.envelope(
            503, pp.ErrorType.SERVICE_UNAVAILABLE, None, rid
        )
        return web.Response(status=status, headers=headers, body=body)


@pytest_asyncio.fixture
async def overloaded() -> AsyncIterator[Overloaded]:
    async with Overloaded(capacity=8) as server:
        yield server


async def run_overloaded(server: Overloaded, adaptive: bool) -> tuple[int, int, int]:
    server.reset()
    server.shed = 0
    ids = server.add_chats(1_500)
    async with pp.AsyncPostpress(
        server.api_key, base_url=server.base_url, retry=FAST_RETRIES
    ) as client:
        results = await drain(client.chats.retrieve_many(ids, concurrency=64, adaptive=adaptive))
    assert sorted(r.chat_id for r in results) == sorted(ids)
    failed = sum(not r.ok for r in results)
    return len(results) - failed, failed, server.request_count


async def test_adaptive_fetches_everything_from_a_server_that_sheds_load(
    overloaded: Overloaded, capsys: pytest.CaptureFixture[str]
) -> None:
    fetched, failed, requests = await run_overloaded(overloaded, adaptive=True)
    fixed = await run_overloaded(overloaded, adaptive=False)
    with capsys.disabled():
        print(
            f"\n503 at >= 8 in flight, 1,500 ids, concurrency 64, max_retries=2: adaptive "
            f"fetched {fetched}, failed {failed} in {requests} requests; fixed fetched "
            f"{fixed[0]}, failed {fixed[1]} in {fixed[2]} requests"
        )
    assert (fetched, failed) == (1_500, 0)
    assert fixed[1] > 0  # the same job at a fixed 64 in flight loses ids


async def test_the_limit_is_cut_by_overload_and_shown_on_the_iterator(
    overloaded: Overloaded,
) -> None:
    ids = overloaded.add_chats(400)
    limits: list[int] = []
    async with pp.AsyncPostpress(
        overloaded.api_key, base_url=overloaded.base_url, retry=FAST_RETRIES
    ) as client:
        results = client.chats.retrieve_many(ids, concurrency=64)
        assert results.concurrency == 64
        async for _ in results:
            limits.append(results.limit)
    assert overloaded.shed > 0
    assert max(limits) <= 64
    assert min(limits) >= 1
    assert max(limits[-50:]) < 16  # it settled near what the server can take, not at 64


async def test_the_fixed_pool_reports_its_concurrency_as_the_limit(
    fake_postpress: FakePostpress,
) -> None:
    ids = fake_postpress.add_chats(20)
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        results = c.chats.retrieve_many(ids, concurrency=5, adaptive=False)
        assert {results.limit async for _ in results} == {5}


async def test_a_retry_after_pauses_the_whole_batch(fake_postpress: FakePostpress) -> None:
    ids = fake_postpress.add_chats(40)
    fake_postpress.latency = 0.05  # the first wave is still in flight when the 503 lands
    fake_postpress.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, retry_after=1, latency=0.0, times=1)
    concurrency = 4
    async with pp.AsyncPostpress(fake_postpress.api_key, base_url=fake_postpress.base_url) as c:
        results = await drain(c.chats.retrieve_many(ids, concurrency=concurrency))
    assert all(r.ok for r in results)
    arrivals = sorted(r.time for r in fake_postpress.requests)
    faulted = fake_postpress.requests[0].time  # the one that met the fault came first
    # Only the requests already in flight beside it reached the server within that second.
    assert sum(faulted < t < faulted + 1.0 for t in arrivals) <= concurrency - 1
    assert arrivals[concurrency] >= faulted + 1.0


# -- rate limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "10", True])
def test_rate_limit_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(pp.ConfigurationError, match="rate_limit"):
        pp.AsyncPostpress("pp_key", rate_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(pp.ConfigurationError, match="rate_limit"):
        pp.Postpress("pp_key", rate_limit=bad)  # type: ignore[arg-type]


# -- the loops the SDK owns ------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["", "0"], ids=["default", "POSTPRESS_UVLOOP=0"])
def test_the_blocking_clients_loop_is_uvloop_when_installed(
    fake_postpress_thread: FakePostpress, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv("POSTPRESS_UVLOOP", setting)
    ids = fake_postpress_thread.add_chats(5)
    loops: set[str] = set()

    def on_progress(done: int, failed: int) -> None:  # runs in the client's loop thread
        loops.add(type(asyncio.get_running_loop()).__module__.split(".")[0])

    with pp.Postpress(fake_postpress_thread.api_key, base_url=fake_postpress_thread.base_url) as c:
        assert all(r.ok for r in c.chats.retrieve_many(ids, on_progress=on_progress))
    assert loops == ({"asyncio"} if setting == "0" else {"uvloop"})
