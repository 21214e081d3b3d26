"""The request path with aiohttp mocked by aioresponses: mapping, retries, recorded calls.

The real-server tests (test_client, test_retries, test_redirects) are the reference; these
check the same paths at the aiohttp boundary, where each call's arguments can be inspected.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from support import Sleeps
from yarl import URL

import postpress_async as pp

DATA = Path(__file__).parent / "data"
EXAMPLE_BODY = (DATA / "example_chat.json").read_text("utf-8")
ENVELOPES = {
    p.stem: json.loads(p.read_text("utf-8")) for p in sorted((DATA / "errors").glob("*.json"))
}
BASE = "https://api.postpress.ai/api/v1"
CHAT_ID = "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR"
CHAT_URL = f"{BASE}/chats/{CHAT_ID}"
KEY = "pp_test_mocked_key"


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 does not pass aiohttp 3.14's new required ``stream_writer``.

    Known upstream (pnuckowski/aioresponses#289); the response it builds has already been
    "sent", so a writer that reports zero bytes is all it needs.
    """

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as mock:
        yield mock


def add(mock: aioresponses, url: str = CHAT_URL, **kwargs: Any) -> None:
    kwargs.setdefault("response_class", _Response)
    mock.get(url, **kwargs)


def calls(mock: aioresponses, url: str = CHAT_URL) -> list[Any]:
    """The recorded GETs of ``url`` (aioresponses re-encodes queries, so compare decoded)."""
    target = URL(url, encoded=True)
    return [
        call
        for (method, seen), recorded in mock.requests.items()
        if method == "GET"
        and seen.origin() == target.origin()
        and seen.raw_path == target.raw_path
        and seen.query == target.query
        for call in recorded
    ]


def client(sleeps: Sleeps | None = None, **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=sleeps or Sleeps()))
    return pp.AsyncPostpress(KEY, base_url=BASE, **kwargs)


async def test_success_and_the_request_it_makes(mocked: aioresponses) -> None:
    add(mocked, body=EXAMPLE_BODY)
    async with client() as c:
        chat = await c.chats.retrieve(CHAT_ID)
    assert chat == pp.decode_chat(EXAMPLE_BODY)
    (call,) = calls(mocked)
    headers = call.kwargs["headers"]
    assert headers["X-API-KEY"] == KEY
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(f"postpress-async/{pp.__version__}")
    assert call.kwargs["allow_redirects"] is False


async def test_encoded_id_and_account_id(mocked: aioresponses) -> None:
    url = f"{BASE}/chats/a%2Fb%3Fc?account_id=acc%201"
    add(mocked, url, body=EXAMPLE_BODY)
    async with client() as c:
        await c.chats.retrieve("a/b?c", account_id="acc 1")
    assert len(calls(mocked, url)) == 1


@pytest.mark.parametrize(
    ("name", "cls", "attempts"),
    [
        ("expired_credentials", pp.AuthenticationError, 1),
        ("account_restricted", pp.PermissionDeniedError, 1),
        ("resource_not_found", pp.NotFoundError, 1),
        ("provider_error", pp.InternalServerError, 3),
        ("authentication_intent_error", pp.InternalServerError, 1),
        ("no_client_session", pp.ServiceUnavailableError, 3),
        ("no_handler", pp.ServiceUnavailableError, 1),
        ("request_timeout", pp.GatewayTimeoutError, 3),
    ],
)
async def test_status_mapping_and_retry_count(
    mocked: aioresponses, name: str, cls: type[pp.APIStatusError], attempts: int
) -> None:
    envelope = ENVELOPES[name]
    add(mocked, status=envelope["status"], payload=envelope, repeat=True)
    sleeps = Sleeps()
    async with client(sleeps) as c:
        with pytest.raises(cls) as info:
            await c.chats.retrieve(CHAT_ID)
    assert info.value.type == envelope["type"]
    assert info.value.attempts == attempts
    assert len(calls(mocked)) == attempts
    assert len(sleeps.waits) == attempts - 1


@pytest.mark.parametrize(
    ("status", "body", "cls", "attempts"),
    [
        (429, "", pp.RateLimitError, 3),
        (502, "<html><body>Bad Gateway</body></html>", pp.ServerError, 3),
        (400, "bad", pp.BadRequestError, 1),
        (422, '{"title": "x", "type": "errors/invalid", "status": 422}', pp.BadRequestError, 1),
    ],
)
async def test_statuses_without_documented_ids(
    mocked: aioresponses, status: int, body: str, cls: type[pp.APIStatusError], attempts: int
) -> None:
    add(mocked, status=status, body=body, content_type="text/html", repeat=True)
    async with client() as c:
        with pytest.raises(cls) as info:
            await c.chats.retrieve(CHAT_ID)
    assert type(info.value) is cls
    assert len(calls(mocked)) == attempts


async def test_retry_then_success(mocked: aioresponses) -> None:
    add(mocked, status=503, payload=ENVELOPES["network_down"])
    add(mocked, status=429, body="", headers={"Retry-After": "4"})
    add(mocked, body=EXAMPLE_BODY)
    sleeps = Sleeps()
    async with client(sleeps) as c:
        chat = await c.chats.retrieve(CHAT_ID)
    assert chat.id == CHAT_ID
    assert len(calls(mocked)) == 3
    assert len(sleeps.waits) == 2
    assert sleeps.waits[1] == 4.0


async def test_max_retries_zero(mocked: aioresponses) -> None:
    add(mocked, status=503, payload=ENVELOPES["service_unavailable"], repeat=True)
    async with client(max_retries=0) as c:
        with pytest.raises(pp.ServiceUnavailableError):
            await c.chats.retrieve(CHAT_ID)
    assert len(calls(mocked)) == 1


async def test_connection_error_is_translated_chained_and_retried(mocked: aioresponses) -> None:
    add(mocked, exception=aiohttp.ClientConnectionError("connection reset"), repeat=True)
    async with client() as c:
        with pytest.raises(pp.APIConnectionError) as info:
            await c.chats.retrieve(CHAT_ID)
    assert not isinstance(info.value, pp.APITimeoutError)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    assert "connection reset" in str(info.value)
    assert info.value.attempts == 3
    assert len(calls(mocked)) == 3


@pytest.mark.parametrize(
    "exc", [asyncio.TimeoutError(), aiohttp.ServerTimeoutError("read timed out")], ids=repr
)
async def test_timeouts_are_translated(mocked: aioresponses, exc: Exception) -> None:
    add(mocked, exception=exc, repeat=True)
    async with client() as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(CHAT_ID)
    assert info.value.__cause__ is exc
    assert len(calls(mocked)) == 3


async def test_invalid_json_is_not_retried(mocked: aioresponses) -> None:
    add(mocked, body="{oops", repeat=True)
    async with client() as c:
        with pytest.raises(pp.ResponseDecodeError):
            await c.chats.retrieve(CHAT_ID)
    assert len(calls(mocked)) == 1


async def test_cross_origin_redirect_is_not_followed(mocked: aioresponses) -> None:
    evil = "https://evil.example/api/v1/chats/x"
    add(mocked, status=302, headers={"Location": evil})
    add(mocked, evil, body=EXAMPLE_BODY)
    async with client() as c:
        with pytest.raises(pp.APIStatusError) as info:
            await c.chats.retrieve(CHAT_ID)
    assert info.value.status == 302
    assert calls(mocked, evil) == []
    assert len(calls(mocked)) == 1


async def test_same_origin_redirect_is_followed_with_the_key(mocked: aioresponses) -> None:
    new = f"{BASE}/chats/chat_new"
    add(mocked, status=307, headers={"Location": "/api/v1/chats/chat_new"})
    add(mocked, new, body=EXAMPLE_BODY)
    async with client() as c:
        await c.chats.retrieve(CHAT_ID)
    (call,) = calls(mocked, new)
    assert call.kwargs["headers"]["X-API-KEY"] == KEY


async def test_raw_response(mocked: aioresponses) -> None:
    add(mocked, body=EXAMPLE_BODY, headers={"X-Request-Id": "req_mocked"})
    async with client() as c:
        raw = await c.chats.with_raw_response.retrieve(CHAT_ID)
    assert raw.status == 200
    assert raw.request_id == "req_mocked"
    assert raw.content == EXAMPLE_BODY.encode()
    assert raw.parse().id == CHAT_ID
