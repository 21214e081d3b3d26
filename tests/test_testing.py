"""The fake server in ``postpress_async.testing``, exercised with plain aiohttp and urllib."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from support import until

import _postpress_async_pytestplugin as _plugin
import postpress_async as pp
from postpress_async import testing
from postpress_async.testing import FakePostpress

EXAMPLE = Path(__file__).parent / "data" / "example_chat.json"
ENVELOPE_KEYS = {"title", "detail", "instance", "type", "status"}

# The plugin's fixtures, used here without relying on the installed entry point.
fake_postpress = _plugin.fake_postpress
fake_postpress_thread = _plugin.fake_postpress_thread


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture(autouse=True)
def _no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The fake's tricks (drops, truncation, cancelled handlers) must not log errors."""
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]


def url_of(server: FakePostpress, chat_id: str, query: str = "") -> yarl.URL:
    encoded = urllib.parse.quote(chat_id, safe="")
    return yarl.URL(f"{server.base_url}/chats/{encoded}{query}", encoded=True)


async def fetch(
    session: aiohttp.ClientSession,
    url: yarl.URL | str,
    key: str | None = "pp_test_key",
    **kwargs: Any,
) -> tuple[int, Mapping[str, str], bytes]:
    headers = {} if key is None else {"X-API-KEY": key}
    async with session.get(url, headers=headers, **kwargs) as response:
        return response.status, response.headers, await response.read()


def assert_envelope(status: int, headers: Mapping[str, str], body: bytes, error: str) -> None:
    envelope = json.loads(body)
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["type"] == error
    assert envelope["status"] == status
    assert envelope["title"]
    assert envelope["detail"]
    assert envelope["instance"].startswith("req_")
    assert envelope["instance"] == headers["X-Request-Id"]
    assert headers["Content-Type"].startswith("application/json")


def example_chat() -> pp.Chat:
    return pp.decode_chat(EXAMPLE.read_bytes())


# -- serving chats ---------------------------------------------------------------------------


async def test_held_chat_is_served_and_decodes_to_the_same_chat(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat = example_chat()
    assert server.add_chat(chat) == chat.id
    status, headers, body = await fetch(session, url_of(server, chat.id))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Request-Id"].startswith("req_")
    assert pp.decode_chat(body) == chat == server.chat(chat.id)


async def test_a_wire_dict_is_served_as_given(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    wire = json.loads(EXAMPLE.read_bytes())
    wire["surprise"] = {"new": "field"}
    server.add_chat(wire)
    status, _, body = await fetch(session, url_of(server, wire["id"]))
    assert status == 200
    assert json.loads(body) == wire
    assert pp.decode_chat(body) == example_chat()


def test_add_chat_needs_an_id() -> None:
    with pytest.raises(ValueError, match="id"):
        FakePostpress().add_chat({"object": "Chat"})


async def test_add_raw_serves_exact_bytes(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    server.add_raw("chat_bad", b'{"object": "Chat", "id": 7}')
    status, _, body = await fetch(session, url_of(server, "chat_bad"))
    assert (status, body) == (200, b'{"object": "Chat", "id": 7}')
    with pytest.raises(pp.ResponseDecodeError):
        pp.decode_chat(body)


async def test_unknown_id_is_a_404_envelope_with_request_id(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await fetch(session, url_of(server, "chat_nope"))
    assert status == 404
    assert_envelope(status, headers, body, pp.ErrorType.RESOURCE_NOT_FOUND)
    assert server.requests[-1].request_id == headers["X-Request-Id"]


async def test_request_ids_are_unique(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    ids = {(await fetch(session, url_of(server, "x")))[1]["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    ("key", "error"),
    [(None, "errors/missing_credentials"), ("", "errors/missing_credentials"),
     ("pp_wrong", "errors/invalid_credentials")],
)  # fmt: skip
async def test_auth(
    server: FakePostpress, session: aiohttp.ClientSession, key: str | None, error: str
) -> None:
    chat_id = server.add_chat(example_chat())
    status, headers, body = await fetch(session, url_of(server, chat_id), key=key)
    assert status == 401
    assert_envelope(status, headers, body, error)


async def test_custom_api_key(session: aiohttp.ClientSession) -> None:
    async with FakePostpress(api_key="pp_other") as server:
        chat_id = server.add_chat(example_chat())
        assert server.api_key == "pp_other"
        assert (await fetch(session, url_of(server, chat_id), key="pp_other"))[0] == 200
        assert (await fetch(session, url_of(server, chat_id)))[0] == 401


HOSTILE_IDS = [
    "a/b?c#d%e f",
    "..",
    ".",
    "%2F",
    "%",
    "chat_1?account_id=acc_2",
    "../../admin",
    "é 🚀 中文",
    " leading and trailing ",
    "semi;colon,comma+plus=eq&amp",
    "back\\slash",
    "tab\tnew\nline",
    "🚀" * 2000,
]


@pytest.mark.parametrize("chat_id", HOSTILE_IDS, ids=lambda chat_id: ascii(chat_id)[:40])
async def test_hostile_ids_round_trip_exactly(
    server: FakePostpress, session: aiohttp.ClientSession, chat_id: str
) -> None:
    wire = {**json.loads(EXAMPLE.read_bytes()), "id": chat_id}
    server.add_chat(wire)
    for url in (url_of(server, chat_id), yarl.URL(server.chat_url(chat_id), encoded=True)):
        status, _, body = await fetch(session, url)
        assert status == 200
        assert json.loads(body)["id"] == chat_id
        assert server.requests[-1].chat_id == chat_id


@pytest.mark.parametrize("tail", ["", "a/b", "a/", "/a"])
async def test_paths_that_are_not_one_segment_are_404(
    server: FakePostpress, session: aiohttp.ClientSession, tail: str
) -> None:
    server.add_chat({**json.loads(EXAMPLE.read_bytes()), "id": "a"})
    url = yarl.URL(f"{server.base_url}/chats/{tail}", encoded=True)
    status, headers, body = await fetch(session, url)
    assert status == 404
    assert_envelope(status, headers, body, "errors/resource_not_found")
    assert server.requests[-1].chat_id is None


async def test_other_paths_and_methods(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    base = server.base_url.removesuffix("/api/v1")
    assert (await fetch(session, f"{base}/v1/chats/{chat_id}"))[0] == 404
    async with session.post(url_of(server, chat_id), headers={"X-API-KEY": "pp_test_key"}) as r:
        assert r.status == 405
        assert (await r.json())["type"] == "errors/method_not_allowed"


async def test_provider_id_needs_the_matching_account_id(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat = example_chat()
    server.add_chat(chat)
    provider_url = url_of(server, chat.provider_id)
    status, headers, body = await fetch(session, provider_url)
    assert status == 400
    assert_envelope(status, headers, body, testing.MISSING_ACCOUNT_ID)
    assert "account_id" in json.loads(body)["detail"]
    status, _, body = await fetch(session, provider_url, params={"account_id": chat.account_id})
    assert status == 200
    assert pp.decode_chat(body) == chat
    status, headers, body = await fetch(session, provider_url, params={"account_id": "acc_other"})
    assert status == 404
    assert_envelope(status, headers, body, "errors/resource_not_found")
    assert server.requests[-1].query == {"account_id": "acc_other"}


async def test_account_id_is_ignored_for_postpress_ids(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    status, _, _ = await fetch(session, url_of(server, chat_id), params={"account_id": "acc_x"})
    assert status == 200


async def test_one_provider_id_in_two_accounts(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    wire = json.loads(EXAMPLE.read_bytes())
    server.add_chat(wire)
    server.add_chat({**wire, "id": "chat_second", "account_id": "acc_second"})
    url = url_of(server, wire["provider_id"])
    for account_id, chat_id in ((wire["account_id"], wire["id"]), ("acc_second", "chat_second")):
        _, _, body = await fetch(session, url, params={"account_id": account_id})
        assert json.loads(body)["id"] == chat_id


# -- faults ----------------------------------------------------------------------------------


async def test_error_fault_sends_envelope_status_and_retry_after_once(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    fault = server.fail(error=pp.ErrorType.PROVIDER_ERROR, retry_after=3)
    status, headers, body = await fetch(session, url_of(server, chat_id))
    assert status == 500
    assert_envelope(status, headers, body, "errors/provider_error")
    assert json.loads(body)["detail"].startswith("The provider is experiencing")
    assert headers["Retry-After"] == "3"
    assert (fault.hits, fault.remaining, server.faults) == (1, 0, [])
    assert (await fetch(session, url_of(server, chat_id)))[0] == 200


@pytest.mark.parametrize("error", list(pp.ErrorType))
async def test_every_documented_error_has_its_status(
    server: FakePostpress, session: aiohttp.ClientSession, error: pp.ErrorType
) -> None:
    server.fail(error=error)
    status, headers, body = await fetch(session, url_of(server, "any"))
    assert status == error.status
    assert_envelope(status, headers, body, error.value)


async def test_error_by_string_status_override_and_undocumented_id(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    server.fail(error="errors/service_unavailable")
    server.fail(error="errors/request_timeout", status=502, detail="custom detail")
    server.fail(error="errors/too_many_requests", status=429, retry_after=1.5)
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert_envelope(status, headers, body, "errors/service_unavailable")
    assert status == 503
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert_envelope(status, headers, body, "errors/request_timeout")
    assert (status, json.loads(body)["detail"]) == (502, "custom detail")
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert_envelope(status, headers, body, "errors/too_many_requests")
    assert (status, headers["Retry-After"]) == (429, "1.5")


@pytest.mark.parametrize(
    "kwargs",
    [{"error": "errors/undocumented"}, {"times": 0}, {"body": "x"}, {},
     {"drop": True, "truncate": True}],
)  # fmt: skip
def test_fail_rejects_incomplete_faults(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        FakePostpress().fail(**kwargs)


async def test_per_id_faults_and_next_n_faults(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    a, b = server.add_chats(2)
    server.fail(a, error=pp.ErrorType.NO_CHANNEL, times=2)
    assert (await fetch(session, url_of(server, b)))[0] == 200
    assert (await fetch(session, url_of(server, a)))[0] == 503
    assert (await fetch(session, url_of(server, b)))[0] == 200
    assert (await fetch(session, url_of(server, a)))[0] == 503
    assert (await fetch(session, url_of(server, a)))[0] == 200
    server.fail(error=pp.ErrorType.UNEXPECTED_ERROR, times=3)
    statuses = [(await fetch(session, url_of(server, i)))[0] for i in (a, b, "nope", a)]
    assert statuses == [500, 500, 500, 200]


async def test_faults_apply_in_order_and_forever(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    server.fail(error=pp.ErrorType.NETWORK_DOWN)
    server.fail(error=pp.ErrorType.REQUEST_TIMEOUT)
    forever = server.fail(chat_id, error=pp.ErrorType.ACCOUNT_RESTRICTED, times=None)
    statuses = [(await fetch(session, url_of(server, chat_id)))[0] for _ in range(5)]
    assert statuses == [503, 504, 403, 403, 403]
    assert forever.hits == 3
    assert forever.remaining is None
    assert server.faults == [forever]
    server.reset()
    assert server.faults == []
    assert server.requests == []
    assert (await fetch(session, url_of(server, chat_id)))[0] == 200


async def test_the_earliest_registered_fault_for_the_id_or_any_id_answers(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    a, b = server.add_chats(2)
    first = server.fail(a, error=pp.ErrorType.NO_CHANNEL)  # 503, for a
    anyone = server.fail(error=pp.ErrorType.UNEXPECTED_ERROR, times=2)  # 500, any id
    last = server.fail(a, error=pp.ErrorType.ACCOUNT_RESTRICTED)  # 403, for a
    assert server.faults == [first, anyone, last]
    statuses = [(await fetch(session, url_of(server, i)))[0] for i in (b, a, a, a, a)]
    assert statuses == [500, 503, 500, 403, 200]
    assert (first.hits, anyone.hits, last.hits) == (1, 2, 1)
    assert server.faults == []


async def test_a_forever_fault_for_any_id_shadows_later_faults(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    (a,) = server.add_chats(1)
    forever = server.fail(error=pp.ErrorType.NETWORK_DOWN, times=None)
    later = server.fail(a, error=pp.ErrorType.ACCOUNT_RESTRICTED)
    statuses = [(await fetch(session, url_of(server, a)))[0] for _ in range(3)]
    assert statuses == [503, 503, 503]
    assert (forever.hits, later.hits) == (3, 0)
    assert server.faults == [forever, later]


async def test_faults_for_other_ids_and_paths_outside_the_routes(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    a, b = server.add_chats(2)
    others = [server.fail(f"other_{n}", error=pp.ErrorType.NO_CHANNEL) for n in range(2_700)]
    assert (await fetch(session, url_of(server, a)))[0] == 200
    # A path outside the route table has no chat id: only faults for any id reach it.
    server.fail(b, error=pp.ErrorType.ACCOUNT_RESTRICTED)
    server.fail(error=pp.ErrorType.UNEXPECTED_ERROR)
    assert (await fetch(session, f"{server.base_url}/other"))[0] == 500
    assert (await fetch(session, url_of(server, b)))[0] == 403
    assert (await fetch(session, url_of(server, "other_7")))[0] == 503
    assert server.faults == others[:7] + others[8:]
    assert [r.chat_id for r in server.requests] == [a, None, b, "other_7"]


async def test_status_only_fault_has_no_envelope(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    server.fail(status=503, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert (status, body) == (503, b"503 Service Unavailable\n")
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert headers["X-Request-Id"].startswith("req_")


async def test_retry_after_datetime_and_extra_headers(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    when = dt.datetime(2026, 10, 21, 9, 28, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    server.fail(status=429, retry_after=when, headers={"X-RateLimit-Remaining": "0"})
    _, headers, _ = await fetch(session, url_of(server, "x"))
    assert headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert headers["X-RateLimit-Remaining"] == "0"


async def test_custom_html_body(server: FakePostpress, session: aiohttp.ClientSession) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
    server.fail(status=502, body=page)
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert (status, body.decode()) == (502, page)
    assert headers["Content-Type"].startswith("text/html")
    server.fail(error=pp.ErrorType.UNEXPECTED_ERROR, body=b"not json", content_type="text/plain")
    status, headers, body = await fetch(session, url_of(server, "x"))
    assert (status, body, headers["Content-Type"]) == (500, b"not json", "text/plain")


async def test_latency_fault_then_normal_service(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    server.fail(chat_id, latency=0.3)
    started = time.monotonic()
    status, _, body = await fetch(session, url_of(server, chat_id))
    assert time.monotonic() - started >= 0.3
    assert status == 200
    assert pp.decode_chat(body).id == chat_id
    started = time.monotonic()
    await fetch(session, url_of(server, chat_id))
    assert time.monotonic() - started < 0.3


async def test_global_latency_fixed_and_range(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    server.latency = 0.2
    started = time.monotonic()
    await fetch(session, url_of(server, "x"))
    assert time.monotonic() - started >= 0.2
    server.latency = (0.05, 0.1)
    started = time.monotonic()
    await fetch(session, url_of(server, "x"))
    assert 0.05 <= time.monotonic() - started < 1


async def test_drop_closes_without_response(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    # aiohttp retries a GET once by itself when the server disconnects: drop both attempts.
    server.fail(chat_id, drop=True, times=2)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        await fetch(session, url_of(server, chat_id))
    assert len(server.requests) == 2
    assert (await fetch(session, url_of(server, chat_id)))[0] == 200


async def test_drop_once_is_seen_by_a_raw_connection(server: FakePostpress) -> None:
    server.fail(drop=True)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /api/v1/chats/x HTTP/1.1\r\nHost: t\r\nX-API-KEY: pp_test_key\r\n\r\n")
    await writer.drain()
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("with_error", [False, True])
async def test_truncate_sends_less_than_content_length(
    server: FakePostpress, session: aiohttp.ClientSession, with_error: bool
) -> None:
    chat_id = server.add_chat(example_chat())
    if with_error:
        server.fail(chat_id, error=pp.ErrorType.PROVIDER_ERROR, truncate=True)
    else:
        server.fail(chat_id, truncate=True)
    async with session.get(url_of(server, chat_id), headers={"X-API-KEY": "pp_test_key"}) as r:
        assert r.status == (500 if with_error else 200)
        assert r.content_length is not None
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert (await fetch(session, url_of(server, chat_id)))[0] == 200


async def test_redirect_to_another_origin(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    chat_id = server.add_chat(example_chat())
    async with FakePostpress(api_key="pp_elsewhere") as other:
        other.add_chat(example_chat())
        server.fail(chat_id, redirect_to=other.chat_url(chat_id))
        status, headers, _ = await fetch(session, url_of(server, chat_id), allow_redirects=False)
        assert (status, headers["Location"]) == (307, other.chat_url(chat_id))
        server.fail(chat_id, redirect_to=other.chat_url(chat_id), status=302)
        status, _, _ = await fetch(session, url_of(server, chat_id))
        assert status == 401  # followed, and the other server wants its own key
        assert other.requests[-1].chat_id == chat_id
        assert other.requests[-1].headers.get("x-api-key") in (None, "pp_test_key")


# -- records and concurrency -----------------------------------------------------------------


async def test_requests_are_recorded(server: FakePostpress, session: aiohttp.ClientSession) -> None:
    chat_id = server.add_chat(example_chat())
    before = time.monotonic()
    await fetch(session, url_of(server, "a b", "?account_id=acc%201&x=y"))
    await fetch(session, url_of(server, chat_id), key=None)
    first, second = server.requests
    assert first.method == "GET"
    assert first.raw_path == "/api/v1/chats/a%20b?account_id=acc%201&x=y"
    assert first.chat_id == "a b"
    assert first.query == {"account_id": "acc 1", "x": "y"}
    assert first.headers["x-api-key"] == first.headers["X-API-KEY"] == "pp_test_key"
    assert "X-API-KEY" not in second.headers
    assert before <= first.time <= second.time <= time.monotonic()
    assert server.request_count == 2


async def test_recording_can_be_turned_off(session: aiohttp.ClientSession) -> None:
    async with FakePostpress(record=False) as server:
        await fetch(session, url_of(server, "x"))
        assert (server.requests, server.request_count) == ([], 1)


async def test_max_in_flight_counts_requests_during_latency(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    ids = server.add_chats(30)
    server.latency = 0.2
    limit = asyncio.Semaphore(4)

    async def limited(chat_id: str) -> int:
        async with limit:
            return (await fetch(session, url_of(server, chat_id)))[0]

    assert await asyncio.gather(*map(limited, ids[:12])) == [200] * 12
    assert (server.max_in_flight, server.in_flight) == (4, 0)
    server.reset()
    assert server.max_in_flight == 0
    await asyncio.gather(*(fetch(session, url_of(server, i)) for i in ids[12:]))
    assert server.max_in_flight == 18


async def test_a_client_that_gives_up_is_no_longer_in_flight(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    server.latency = 30
    with pytest.raises(asyncio.TimeoutError):
        await fetch(session, url_of(server, "x"), timeout=aiohttp.ClientTimeout(total=0.2))
    # The server notices the disconnect a moment later.
    assert await until(lambda: not server.in_flight), "the server never saw the disconnect"
    assert (server.in_flight, server.max_in_flight) == (0, 1)


async def test_stop_does_not_wait_for_slow_requests(session: aiohttp.ClientSession) -> None:
    server = await FakePostpress(latency=30).astart()
    request = asyncio.ensure_future(fetch(session, url_of(server, "x")))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await server.astop()
    await server.astop()  # idempotent
    assert time.monotonic() - started < 3
    with pytest.raises(aiohttp.ClientError):
        await request


# -- lifecycle -------------------------------------------------------------------------------


async def test_base_url_and_lifecycle() -> None:
    server = FakePostpress()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    async with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/v1"
        assert server.port > 0
        assert "127.0.0.1" in repr(server)
        with pytest.raises(RuntimeError, match="already running"):
            await server.astart()
    assert "stopped" in repr(server)


def test_sync_use_from_a_background_thread() -> None:
    with FakePostpress() as server:
        chat_id = server.add_chat(example_chat())
        headers = {"X-API-KEY": "pp_test_key"}
        request = urllib.request.Request(server.chat_url(chat_id), headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert pp.decode_chat(response.read()) == example_chat()
        server.fail(error=pp.ErrorType.RESOURCE_ACCESS_RESTRICTED)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        with caught.value as error:
            assert error.code == 403
            envelope = json.loads(error.read())
            assert envelope["instance"] == error.headers["X-Request-Id"]
        assert len(server.requests) == 2
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = server.base_url


def test_start_stop_without_context_manager() -> None:
    server = FakePostpress(latency=0.01).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(server.chat_url("x"), timeout=5)
        caught.value.close()
        assert caught.value.code == 401
    finally:
        server.stop()


async def test_thread_server_from_async_code(session: aiohttp.ClientSession) -> None:
    with FakePostpress() as server:
        chat_id = server.add_chat(example_chat())
        assert (await fetch(session, url_of(server, chat_id)))[0] == 200


async def test_async_fixture(fake_postpress: FakePostpress, session: aiohttp.ClientSession) -> None:
    chat_id = fake_postpress.add_chat(example_chat())
    assert (await fetch(session, url_of(fake_postpress, chat_id)))[0] == 200


def test_thread_fixture(fake_postpress_thread: FakePostpress) -> None:
    request = urllib.request.Request(
        fake_postpress_thread.chat_url("x"), headers={"X-API-KEY": "pp_test_key"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    caught.value.close()
    assert caught.value.code == 404


def test_the_installed_pytest_entry_point_is_the_plugin_module() -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    (entry,) = [e for e in plugins if e.name == "postpress_async"]
    assert entry.load() is _plugin


def test_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None; sys.modules['pytest_asyncio'] = None\n"
        "import postpress_async.testing as t\n"
        "assert 'postpress_async.testing._plugin' not in sys.modules\n"
        "assert t.__all__ == ['MISSING_ACCOUNT_ID', 'FakePostpress', 'Fault', 'RecordedRequest']\n"
        "with t.FakePostpress() as server:\n"
        "    assert server.base_url.startswith('http://127.0.0.1:')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- generated chats -------------------------------------------------------------------------


async def test_add_chats_generates_varied_valid_chats(
    server: FakePostpress, session: aiohttp.ClientSession
) -> None:
    ids = server.add_chats(1000)
    assert len(set(ids)) == 1000
    assert all(i.startswith("chat_") and len(i) == 31 for i in ids)
    chats = [server.chat(i) for i in ids]
    assert [c.id for c in chats] == ids
    messages = [c.last_message for c in chats if c.last_message is not None]
    attachments = [a for m in messages for a in m.attachments]
    assert {type(a) for a in attachments} == {
        pp.ImageAttachment, pp.VideoAttachment, pp.AudioAttachment, pp.FileAttachment,
        pp.LinkedInPostAttachment, pp.VideoMeetingAttachment, pp.UnknownAttachment,
    }  # fmt: skip
    assert len(messages) < len(chats)  # some chats are empty
    assert {c.account_type for c in chats} == set(pp.AccountType)
    assert {c.type for c in chats} == {0, 1, 2}
    assert any(m.reactions for m in messages)
    seen = [v for m in messages for v in m.seen_by.values()]
    assert any(isinstance(v, bool) for v in seen)
    assert any(isinstance(v, dt.datetime) for v in seen)
    assert any(m.text is None for m in messages)
    assert any(m.quoted for m in messages)
    assert any(m.reply_to for m in messages)
    assert any(c.name is None for c in chats)
    assert any(c.muted_indefinitely for c in chats)
    assert any(isinstance(c.muted_until, dt.datetime) for c in chats)
    assert len({c.account_id for c in chats}) > 1
    for chat_id in ids[:50]:
        status, _, body = await fetch(session, url_of(server, chat_id))
        assert status == 200
        assert pp.decode_chat(body) == server.chat(chat_id)
    chat = chats[0]
    status, _, body = await fetch(
        session, url_of(server, chat.provider_id), params={"account_id": chat.account_id}
    )
    assert (status, pp.decode_chat(body).id) == (200, chat.id)


def test_generated_chats_are_deterministic_and_streams_continue() -> None:
    one, two = FakePostpress(), FakePostpress()
    assert one.add_chats(5) == two.add_chats(3) + two.add_chats(2)
    assert one.chat(one.add_chats(1)[0]) == two.chat(two.add_chats(1)[0])
    assert set(FakePostpress().add_chats(5, seed=1)).isdisjoint(FakePostpress().add_chats(5))
