"""Retries against a real server: which failures are retried, how often, how long to wait.

Every wait goes through an injected ``RetryPolicy(sleep=...)`` that records it and returns at
once, so no test here waits for a backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
import tenacity
from support import CLASS_BY_STATUS, DATA, EXAMPLE, RETRYABLE_IDS, Sleeps, until

import postpress_async as pp
from postpress_async.testing import FakePostpress

ENVELOPES = [json.loads(p.read_text("utf-8")) for p in sorted((DATA / "errors").glob("*.json"))]
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.fixture
def server(server: FakePostpress) -> FakePostpress:
    """The shared fake server with the example chat."""
    server.add_chat(EXAMPLE)
    return server


CHAT_ID: str = EXAMPLE["id"]


def client_for(
    server: FakePostpress, sleeps: Sleeps, *, timeout: float | pp.Timeout = 5.0, **policy: Any
) -> pp.AsyncPostpress:
    return pp.AsyncPostpress(
        server.api_key,
        base_url=server.base_url,
        timeout=timeout,
        retry=pp.RetryPolicy(sleep=sleeps, **policy),
    )


async def fetch_error(client: pp.AsyncPostpress, chat_id: str = CHAT_ID) -> pp.PostpressError:
    async with client:
        with pytest.raises(pp.PostpressError) as info:
            await client.chats.retrieve(chat_id)
    err = info.value
    assert not isinstance(err, tenacity.RetryError)
    assert not isinstance(err.__cause__, tenacity.RetryError)
    return err


def serve_envelope(server: FakePostpress, envelope: dict[str, Any], **kwargs: Any) -> None:
    """Answer every request with a recorded envelope at its status."""
    server.fail(
        status=envelope["status"],
        body=json.dumps(envelope),
        content_type="application/json",
        times=kwargs.pop("times", None),
        **kwargs,
    )


@pytest.mark.parametrize("envelope", ENVELOPES, ids=lambda e: e["type"].split("/")[1])
async def test_each_documented_id(server: FakePostpress, envelope: dict[str, Any]) -> None:
    serve_envelope(server, envelope)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, max_retries=2))
    assert type(err) is CLASS_BY_STATUS[envelope["status"]]
    assert isinstance(err, pp.APIStatusError)
    assert err.type == envelope["type"]
    assert err.request_id == envelope["instance"]
    if envelope["type"] in RETRYABLE_IDS:
        assert err.retryable is True
        assert err.attempts == 3
        assert server.request_count == 3
        assert len(sleeps.waits) == 2
    else:
        assert err.retryable is False
        assert err.attempts == 1
        assert server.request_count == 1
        assert sleeps.waits == []


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, b"", pp.RateLimitError),
        (
            429,
            b'{"title": "Too Many Requests", "type": "errors/rate_limit", "status": 429}',
            pp.RateLimitError,
        ),
        (502, HTML_502, pp.ServerError),
        (500, b"Internal Server Error", pp.InternalServerError),
        (503, b"", pp.ServiceUnavailableError),
        (504, b"<html>upstream timed out</html>", pp.GatewayTimeoutError),
    ],
    ids=["429_empty", "429_envelope", "502_html", "500_text", "503_empty", "504_html"],
)
async def test_retried_statuses(
    server: FakePostpress, status: int, body: bytes, cls: type[pp.APIStatusError]
) -> None:
    server.fail(status=status, body=body, times=None)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps))
    assert type(err) is cls
    assert err.attempts == 3
    assert server.request_count == 3
    assert len(sleeps.waits) == 2
    if status == 502:
        assert err.type is None
        assert err.body.startswith(b"<html>")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"title": "Bad Request", "type": "errors/invalid_parameters", "status": 400}'),
        (422, b""),
        (418, b"I'm a teapot"),
        (501, b"Not Implemented"),
        (503, b'{"title": "x", "type": "errors/some_new_503", "status": 503}'),
    ],
    ids=["400", "422", "418", "501", "503_unknown_id"],
)
async def test_not_retried_statuses(server: FakePostpress, status: int, body: bytes) -> None:
    server.fail(status=status, body=body, times=None)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps))
    assert isinstance(err, pp.APIStatusError)
    assert err.attempts == 1
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_retry_then_success(server: FakePostpress) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.PROVIDER_ERROR, times=1)
    server.fail(CHAT_ID, status=502, body=HTML_502, times=1)
    sleeps = Sleeps()
    async with client_for(server, sleeps) as client:
        chat = await client.chats.retrieve(CHAT_ID)
    assert chat == server.chat(CHAT_ID)
    assert server.request_count == 3
    assert len(sleeps.waits) == 2


async def test_retryable_then_final_error(server: FakePostpress) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.NO_CLIENT_SESSION, times=1)
    server.fail(CHAT_ID, error=pp.ErrorType.SESSION_MISMATCH, times=1)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, max_retries=5))
    assert isinstance(err, pp.PermissionDeniedError)
    assert err.attempts == 2
    assert server.request_count == 2
    assert len(sleeps.waits) == 1


async def test_raw_response_is_retried_too(server: FakePostpress) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.NETWORK_DOWN, times=2)
    sleeps = Sleeps()
    async with client_for(server, sleeps) as client:
        raw = await client.chats.with_raw_response.retrieve(CHAT_ID)
    assert raw.status == 200
    assert raw.request_id == server.requests[-1].request_id
    assert server.request_count == 3


async def test_more_retries(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, max_retries=5))
    assert err.attempts == 6
    assert server.request_count == 6
    assert len(sleeps.waits) == 5


async def test_max_retries_zero_makes_one_attempt(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    sleeps = Sleeps()
    client = pp.AsyncPostpress(
        server.api_key, base_url=server.base_url, max_retries=0, retry=pp.RetryPolicy(sleep=sleeps)
    )
    err = await fetch_error(client)
    assert isinstance(err, pp.ServiceUnavailableError)
    assert err.retryable is True
    assert err.attempts == 1
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_max_retries_argument_with_default_policy(server: FakePostpress) -> None:
    # The public way: no policy, just max_retries; a real wait would be short but is avoided
    # by Retry-After: 0.
    server.fail(error=pp.ErrorType.NO_CHANNEL, times=None, retry_after=0)
    async with pp.AsyncPostpress(server.api_key, base_url=server.base_url, max_retries=1) as c:
        with pytest.raises(pp.ServiceUnavailableError) as info:
            await c.chats.retrieve(CHAT_ID)
    assert info.value.attempts == 2
    assert server.request_count == 2


# -- waits ------------------------------------------------------------------------------------


async def test_retry_after_seconds_is_honoured(server: FakePostpress) -> None:
    server.fail(CHAT_ID, status=429, times=1, retry_after=7)
    server.fail(CHAT_ID, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=1, retry_after=3)
    sleeps = Sleeps()
    async with client_for(server, sleeps) as client:
        await client.chats.retrieve(CHAT_ID)
    assert sleeps.waits == [7.0, 3.0]


async def test_retry_after_http_date_is_honoured(server: FakePostpress) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    server.fail(CHAT_ID, error=pp.ErrorType.UNEXPECTED_ERROR, times=1, retry_after=when)
    sleeps = Sleeps()
    async with client_for(server, sleeps) as client:
        await client.chats.retrieve(CHAT_ID)
    (wait,) = sleeps.waits
    assert 25 <= wait <= 31  # the header has whole seconds


async def test_retry_after_in_the_past_means_no_wait(server: FakePostpress) -> None:
    server.fail(CHAT_ID, status=503, times=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    sleeps = Sleeps()
    async with client_for(server, sleeps) as client:
        await client.chats.retrieve(CHAT_ID)
    assert sleeps.waits == [0.0]


async def test_retry_after_is_capped(server: FakePostpress) -> None:
    server.fail(CHAT_ID, status=429, times=2, retry_after=50)
    sleeps = Sleeps()
    async with client_for(server, sleeps, retry_after_max=2.5) as client:
        await client.chats.retrieve(CHAT_ID)
    assert sleeps.waits == [2.5, 2.5]


async def test_garbage_retry_after_falls_back_to_backoff(server: FakePostpress) -> None:
    server.fail(CHAT_ID, status=429, times=1, retry_after="soon")
    sleeps = Sleeps()
    async with client_for(server, sleeps, backoff_initial=0.5) as client:
        await client.chats.retrieve(CHAT_ID)
    (wait,) = sleeps.waits
    assert 0 <= wait <= 0.5


async def test_retry_after_on_a_non_retryable_error_does_not_retry(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.NO_HANDLER, times=None, retry_after=1)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps))
    assert err.attempts == 1
    assert sleeps.waits == []


async def test_backoff_is_capped_exponential_with_full_jitter(server: FakePostpress) -> None:
    initial, cap, retries = 0.5, 3.0, 6
    server.fail(error=pp.ErrorType.PROVIDER_ERROR, times=None)
    samples: list[list[float]] = []
    for _round in range(8):
        sleeps = Sleeps()
        err = await fetch_error(
            client_for(
                server, sleeps, max_retries=retries, backoff_initial=initial, backoff_max=cap
            )
        )
        assert err.attempts == retries + 1
        assert len(sleeps.waits) == retries
        samples.append(sleeps.waits)
    bounds = [min(cap, initial * 2**n) for n in range(retries)]
    for waits in samples:
        for wait, bound in zip(waits, bounds, strict=True):
            assert 0 <= wait <= bound
    # full jitter: the waits are spread out, not pinned to the bound
    flat = [w / b for waits in samples for w, b in zip(waits, bounds, strict=True)]
    assert min(flat) < 0.5
    assert len(set(flat)) > len(flat) // 2


# -- the deadline -----------------------------------------------------------------------------


async def test_retry_after_beyond_the_deadline_stops_at_once(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None, retry_after=30)
    sleeps = Sleeps()
    client = client_for(server, sleeps, timeout=pp.Timeout(attempt=5, deadline=10))
    err = await fetch_error(client)
    assert isinstance(err, pp.ServiceUnavailableError)
    assert err.attempts == 1
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_slow_attempts_stop_at_the_deadline(server: FakePostpress) -> None:
    server.fail(latency=5, times=None)
    sleeps = Sleeps()
    client = client_for(
        server,
        sleeps,
        timeout=pp.Timeout(attempt=0.1, deadline=0.35),
        max_retries=50,
        backoff_initial=0.001,
    )
    err = await fetch_error(client)
    assert isinstance(err, pp.APITimeoutError)
    assert 1 < err.attempts < 51
    assert server.request_count == err.attempts


# -- replaced policies ------------------------------------------------------------------------


async def test_retry_if_false_turns_retries_off(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, retry_if=lambda exc: False))
    assert err.attempts == 1
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_custom_predicate_is_respected(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.RESOURCE_NOT_FOUND, times=None)
    seen: list[BaseException] = []

    def retry_not_found(exc: BaseException) -> bool:
        seen.append(exc)
        return isinstance(exc, pp.NotFoundError)

    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, retry_if=retry_not_found))
    assert isinstance(err, pp.NotFoundError)
    assert err.attempts == 3
    assert server.request_count == 3
    assert all(isinstance(exc, pp.NotFoundError) for exc in seen)


@pytest.mark.parametrize("failures", [1, 2, 3])
async def test_predicate_is_asked_once_per_failed_attempt(
    server: FakePostpress, failures: int
) -> None:
    server.fail(error=pp.ErrorType.UNEXPECTED_ERROR, times=failures)
    asked: list[str] = []

    def counting(exc: BaseException) -> bool:
        asked.append(type(exc).__name__)
        return pp.RetryPolicy().retry_if(exc)

    sleeps = Sleeps()
    client = client_for(server, sleeps, retry_if=counting)
    async with client:
        if failures <= 2:  # max_retries=2: the third attempt succeeds
            await client.chats.retrieve(CHAT_ID)
        else:
            with pytest.raises(pp.InternalServerError):
                await client.chats.retrieve(CHAT_ID)
    assert asked == ["InternalServerError"] * failures
    assert server.request_count == min(failures + 1, 3)


async def test_custom_predicate_can_refuse_a_default_retry(server: FakePostpress) -> None:
    server.fail(status=429, times=None)

    def no_rate_limit_retries(exc: BaseException) -> bool:
        return not isinstance(exc, pp.RateLimitError) and pp.RetryPolicy().retry_if(exc)

    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps, retry_if=no_rate_limit_retries))
    assert isinstance(err, pp.RateLimitError)
    assert err.attempts == 1


async def test_predicate_that_raises_propagates(server: FakePostpress) -> None:
    server.fail(status=503, times=None)

    def broken(exc: BaseException) -> bool:
        raise LookupError("predicate bug")

    sleeps = Sleeps()
    async with client_for(server, sleeps, retry_if=broken) as client:
        with pytest.raises(LookupError, match="predicate bug"):
            await client.chats.retrieve(CHAT_ID)


# -- connection failures and cancellation -----------------------------------------------------


async def test_dropped_connections_are_retried(server: FakePostpress) -> None:
    server.fail(drop=True, times=None)
    sleeps = Sleeps()
    err = await fetch_error(client_for(server, sleeps))
    assert type(err) is pp.APIConnectionError
    assert err.attempts == 3
    assert len(sleeps.waits) == 2


async def test_cancellation_during_a_request_is_not_retried(server: FakePostpress) -> None:
    server.fail(latency=30, times=None)
    sleeps = Sleeps()
    async with client_for(server, sleeps, max_retries=5) as client:
        task = asyncio.create_task(client.chats.retrieve(CHAT_ID))
        assert await until(lambda: server.request_count > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(20):
            await asyncio.sleep(0)
    assert server.request_count == 1
    assert sleeps.waits == []


async def test_cancellation_during_a_backoff_wait_propagates(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    waiting = asyncio.Event()

    async def endless_sleep(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    policy = pp.RetryPolicy(max_retries=5, sleep=endless_sleep)
    async with pp.AsyncPostpress(server.api_key, base_url=server.base_url, retry=policy) as c:
        task = asyncio.create_task(c.chats.retrieve(CHAT_ID))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert server.request_count == 1


async def test_timeout_of_the_caller_is_not_retried(server: FakePostpress) -> None:
    server.fail(latency=30, times=None)
    sleeps = Sleeps()
    async with client_for(server, sleeps, max_retries=5) as client:
        with pytest.raises(asyncio.TimeoutError):  # TimeoutError itself from Python 3.11
            await asyncio.wait_for(client.chats.retrieve(CHAT_ID), 0.2)
    assert server.request_count == 1
    assert sleeps.waits == []
