"""``AsyncPostpress`` against real HTTP servers on 127.0.0.1: requests, lifecycle, failures."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from support import EXAMPLE, no_sleep, refusing_port

import postpress_async as pp
from postpress_async.testing import FakePostpress

PREFIX = "/api/v1/chats/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_for(base_url: str, api_key: str = "pp_test_key", **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=no_sleep))
    return pp.AsyncPostpress(api_key, base_url=base_url, **kwargs)


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A bare aiohttp server answering every GET with ``handler``; yields its base_url."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
    finally:
        await runner.cleanup()


def example(chat_id: str, **changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, "id": chat_id, **changes}


# -- retrieve ---------------------------------------------------------------------------------


async def test_retrieve_returns_the_chat_the_server_serves(server: FakePostpress) -> None:
    ids = server.add_chats(5)
    example_id = server.add_chat(EXAMPLE)
    async with client_for(server.base_url) as client:
        for chat_id in [*ids, example_id]:
            chat = await client.chats.retrieve(chat_id)
            assert isinstance(chat, pp.Chat)
            assert chat == server.chat(chat_id)
            assert chat.id == chat_id
    assert [r.chat_id for r in server.requests] == [*ids, example_id]
    assert all(r.method == "GET" for r in server.requests)


async def test_example_chat_fields(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    async with client_for(server.base_url) as client:
        chat = await client.chats.retrieve(chat_id)
    assert chat.account_type == pp.AccountType.LINKEDIN
    assert chat.name == "Jordan Walke"
    assert chat.last_message is not None
    assert chat.last_message.text == "Sounds good - let's chat tomorrow."


HOSTILE_IDS = [
    "a/b",
    "?x",
    "#f",
    "%2F",
    "sp ace",
    "..",
    ".",
    "ü",
    "\r\n",
    "😀",
    "a+b",
    "../../admin",
    "chat_01HX;v=1",
    "x&account_id=acc_other",
    "\x00",
    "\\..\\",
]


@pytest.mark.parametrize("chat_id", HOSTILE_IDS, ids=repr)
async def test_hostile_id_is_one_encoded_path_segment(server: FakePostpress, chat_id: str) -> None:
    server.add_chat(example(chat_id))
    async with client_for(server.base_url) as client:
        chat = await client.chats.retrieve(chat_id)
    assert chat.id == chat_id
    (request,) = server.requests
    path, _, query = request.raw_path.partition("?")
    assert query == ""
    assert path.startswith(PREFIX)
    segment = path[len(PREFIX) :]
    assert segment
    assert not set(segment) & set("/?#\\ \r\n\x00")
    assert segment not in (".", "..")
    assert unquote(segment) == chat_id
    assert request.chat_id == chat_id
    assert request.query == {}


async def test_unreserved_characters_are_left_alone(server: FakePostpress) -> None:
    server.add_chat(example("chat_A-z.0~9"))
    async with client_for(server.base_url) as client:
        await client.chats.retrieve("chat_A-z.0~9")
    assert server.requests[0].raw_path == PREFIX + "chat_A-z.0~9"


async def test_account_id_is_sent_as_a_query_parameter(server: FakePostpress) -> None:
    chat_id = server.add_chat(example("chat_1", account_id="acc_1"))
    async with client_for(server.base_url) as client:
        await client.chats.retrieve(chat_id, account_id="acc_1")
        await client.chats.retrieve(chat_id)
    with_account, without = server.requests
    assert with_account.raw_path == PREFIX + "chat_1?account_id=acc_1"
    assert with_account.query == {"account_id": "acc_1"}
    assert without.raw_path == PREFIX + "chat_1"
    assert without.query == {}


async def test_provider_id_with_account_id_resolves(server: FakePostpress) -> None:
    server.add_chat(example("chat_1", account_id="acc_1", provider_id="prov/1 x"))
    async with client_for(server.base_url) as client:
        chat = await client.chats.retrieve("prov/1 x", account_id="acc_1")
    assert chat.id == "chat_1"


@pytest.mark.parametrize(
    "account_id",
    ["acc\r\nX-Injected: 1", "acc\nX-Injected: 1", "a&b=c", "a#b", "a b", "ü/😀", "a=b;c"],
    ids=repr,
)
async def test_account_id_is_encoded_and_cannot_inject(
    server: FakePostpress, account_id: str
) -> None:
    chat_id = server.add_chat(example("chat_1"))
    async with client_for(server.base_url) as client:
        await client.chats.retrieve(chat_id, account_id=account_id)
    (request,) = server.requests
    assert request.query == {"account_id": account_id}
    assert "x-injected" not in request.headers
    assert not set(request.raw_path) & set(" \r\n#")
    assert request.chat_id == "chat_1"


@pytest.mark.parametrize(
    ("chat_id", "error"),
    [
        ("", ValueError),
        (None, TypeError),
        (123, TypeError),
        (b"chat_1", TypeError),
        (["chat_1"], TypeError),
        ("\ud800", ValueError),
        ("chat_\udfff_x", ValueError),
    ],
    ids=repr,
)
async def test_bad_id_raises_before_any_request(
    server: FakePostpress, chat_id: Any, error: type[Exception]
) -> None:
    async with client_for(server.base_url) as client:
        with pytest.raises(error):
            await client.chats.retrieve(chat_id)
        with pytest.raises(error):
            await client.chats.with_raw_response.retrieve(chat_id)
    assert server.requests == []
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("account_id", "error"),
    [("", ValueError), (7, TypeError), ("acc_\ud800", ValueError)],
    ids=repr,
)
async def test_bad_account_id_raises_before_any_request(
    server: FakePostpress, account_id: Any, error: type[Exception]
) -> None:
    async with client_for(server.base_url) as client:
        with pytest.raises(error):
            await client.chats.retrieve("chat_1", account_id=account_id)
    assert server.request_count == 0


async def test_request_headers(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    async with client_for(
        server.base_url, default_headers={"X-Team": "growth", "X-Trace": "t-1"}
    ) as client:
        await client.chats.retrieve(chat_id)
    headers = server.requests[0].headers
    assert headers["X-API-KEY"] == server.api_key
    assert headers.getall("X-API-KEY") == [server.api_key]  # type: ignore[attr-defined]
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("postpress-async/")
    assert pp.__version__ in headers["User-Agent"]
    assert headers["X-Team"] == "growth"
    assert headers["X-Trace"] == "t-1"
    assert "Cookie" not in headers
    assert "Authorization" not in headers


async def test_wrong_key_is_an_authentication_error(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    async with client_for(server.base_url, api_key="pp_wrong") as client:
        with pytest.raises(pp.AuthenticationError) as info:
            await client.chats.retrieve(chat_id)
    assert info.value.type == pp.ErrorType.INVALID_CREDENTIALS
    assert info.value.request_id == server.requests[0].request_id
    assert server.request_count == 1


async def test_unknown_chat_is_not_found(server: FakePostpress) -> None:
    async with client_for(server.base_url) as client:
        with pytest.raises(pp.NotFoundError) as info:
            await client.chats.retrieve("chat_nope")
    err = info.value
    assert err.status == 404
    assert err.type == pp.ErrorType.RESOURCE_NOT_FOUND
    assert err.retryable is False
    assert err.request_id == server.requests[0].request_id
    assert err.headers["X-Request-Id"] == err.request_id


# -- raw responses ----------------------------------------------------------------------------


async def test_with_raw_response(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    async with client_for(server.base_url) as client:
        raw = await client.chats.with_raw_response.retrieve(chat_id, account_id="acc_1")
        parsed = await client.chats.retrieve(chat_id)
    assert isinstance(raw, pp.RawResponse)
    assert raw.status == 200
    assert raw.headers["Content-Type"].startswith("application/json")
    assert json.loads(raw.content) == EXAMPLE
    assert raw.request_id == server.requests[0].request_id
    assert raw.request_id is not None
    assert raw.parse() == parsed == server.chat(chat_id)
    assert raw.url.endswith("/api/v1/chats/" + chat_id + "?account_id=acc_1")
    assert "200" in repr(raw)


async def test_with_raw_response_raises_status_errors(server: FakePostpress) -> None:
    server.fail(error=pp.ErrorType.EXPIRED_CREDENTIALS)
    async with client_for(server.base_url) as client:
        with pytest.raises(pp.AuthenticationError):
            await client.chats.with_raw_response.retrieve("chat_1")


async def test_raw_response_parse_of_a_bad_body(server: FakePostpress) -> None:
    server.add_raw("chat_bad", b'{"object": "Chat"}')
    async with client_for(server.base_url) as client:
        raw = await client.chats.with_raw_response.retrieve("chat_bad")
    assert raw.content == b'{"object": "Chat"}'
    with pytest.raises(pp.ResponseDecodeError):
        raw.parse()


# -- lifecycle --------------------------------------------------------------------------------


async def test_async_with_closes_and_closed_client_is_refused(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    async with client_for(server.base_url) as client:
        assert client.closed is False
        await client.chats.retrieve(chat_id)
    assert client.closed is True
    with pytest.raises(RuntimeError, match="closed"):
        await client.chats.retrieve(chat_id)
    with pytest.raises(RuntimeError, match="closed"):
        await client.chats.with_raw_response.retrieve(chat_id)
    assert server.request_count == 1
    assert "closed" in repr(client)


async def test_aclose_is_idempotent(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    client = client_for(server.base_url)
    await client.chats.retrieve(chat_id)
    await client.aclose()
    await client.aclose()
    async with client:
        pass
    assert client.closed


async def test_closing_an_unused_client() -> None:
    client = client_for("http://127.0.0.1:9/api/v1")
    await client.aclose()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.chats.retrieve("chat_1")


async def test_async_with_closes_after_an_error(server: FakePostpress) -> None:
    with pytest.raises(pp.NotFoundError):
        async with client_for(server.base_url) as client:
            await client.chats.retrieve("chat_nope")
    assert client.closed


async def test_user_session_is_used_and_not_closed(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    seen: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        seen.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with client_for(server.base_url, http_session=session) as client:
            chat = await client.chats.retrieve(chat_id)
        assert chat.id == chat_id
        assert seen == [server.base_url + "/chats/" + chat_id]
        assert client.closed
        assert not session.closed
        # still usable by its owner
        async with session.get(
            server.chat_url(chat_id), headers={"X-API-KEY": server.api_key}
        ) as r:
            assert r.status == 200
    assert session.closed


async def test_user_session_that_raises_for_status(server: FakePostpress) -> None:
    # A shared session may be configured with raise_for_status=True; the client must still
    # map statuses itself, not let aiohttp turn a 404 into a "connection" error and retry it.
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        client_for(server.base_url, http_session=session) as client,
    ):
        with pytest.raises(pp.NotFoundError) as info:
            await client.chats.retrieve("chat_nope")
    assert info.value.attempts == 1
    assert server.request_count == 1


def test_client_is_built_outside_a_loop_and_opens_lazily() -> None:
    with FakePostpress() as server:
        chat_id = server.add_chat(EXAMPLE)
        client = client_for(server.base_url)  # no running loop here: nothing may be opened

        async def use() -> pp.Chat:
            async with client:
                return await client.chats.retrieve(chat_id)

        assert asyncio.run(use()).id == chat_id
    assert client.closed


def test_client_used_from_a_second_event_loop_is_refused() -> None:
    with FakePostpress() as server:
        chat_id = server.add_chat(EXAMPLE)
        client = client_for(server.base_url)
        first = asyncio.new_event_loop()
        second = asyncio.new_event_loop()
        try:
            first.run_until_complete(client.chats.retrieve(chat_id))
            with pytest.raises(RuntimeError, match="event loop"):
                second.run_until_complete(client.chats.retrieve(chat_id))
            assert server.request_count == 1
            first.run_until_complete(client.aclose())
        finally:
            first.close()
            second.close()


def test_client_used_from_another_thread_while_its_loop_runs_is_refused() -> None:
    with FakePostpress() as server:
        chat_id = server.add_chat(EXAMPLE)
        client = client_for(server.base_url)
        home = asyncio.new_event_loop()
        thread = threading.Thread(target=home.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(client.chats.retrieve(chat_id), home).result(10)
            busy, release = threading.Event(), threading.Event()

            async def hold_the_loop() -> None:  # a task of the client's loop is running now
                busy.set()
                release.wait(10)

            holding = asyncio.run_coroutine_threadsafe(hold_the_loop(), home)
            assert busy.wait(10)
            try:
                with pytest.raises(RuntimeError, match="event loop"):
                    asyncio.run(client.chats.retrieve(chat_id))
            finally:
                release.set()
                holding.result(10)
            with pytest.raises(RuntimeError, match="event loop"):
                asyncio.run(client.chats.retrieve(chat_id))  # and with that loop idle
            assert server.request_count == 1
            asyncio.run_coroutine_threadsafe(client.aclose(), home).result(10)
        finally:
            home.call_soon_threadsafe(home.stop)
            thread.join(10)
            home.close()


def test_repr_names_the_url_but_not_the_key() -> None:
    client = client_for("https://api.postpress.ai/api/v1", api_key="pp_live_repr_secret")
    text = repr(client)
    assert "pp_live_repr_secret" not in text
    assert "https://api.postpress.ai/api/v1" in text
    assert "AsyncPostpress" in text


# -- timeouts and connection failures ---------------------------------------------------------


async def test_slow_server_times_out(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=5, times=None)
    async with client_for(server.base_url, timeout=pp.Timeout(attempt=0.2), max_retries=0) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id)
    assert isinstance(info.value, pp.APIConnectionError)
    assert info.value.__cause__ is not None
    assert info.value.attempts == 1
    assert server.request_count == 1


async def test_slow_server_times_out_on_every_attempt(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=5, times=None)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = pp.RetryPolicy(max_retries=2, sleep=fake_sleep)
    async with client_for(server.base_url, timeout=pp.Timeout(attempt=0.1), retry=policy) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id)
    assert info.value.attempts == 3
    assert len(waits) == 2
    assert server.request_count == 3


async def test_timeout_then_success(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, latency=5, times=1)
    async with client_for(server.base_url, timeout=pp.Timeout(attempt=0.2)) as client:
        chat = await client.chats.retrieve(chat_id)
    assert chat.id == chat_id
    assert server.request_count == 2


async def test_body_that_stalls_times_out() -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(b'{"object": "Chat", ')
        await asyncio.sleep(5)
        return response

    async with (
        raw_server(stall) as base_url,
        client_for(base_url, timeout=pp.Timeout(attempt=0.2), max_retries=0) as c,
    ):
        with pytest.raises(pp.APITimeoutError):
            await c.chats.retrieve("chat_1")


async def test_connection_refused() -> None:
    base_url = f"http://127.0.0.1:{refusing_port()}/api/v1"
    async with client_for(base_url, max_retries=0) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve("chat_1")
    err = info.value
    assert not isinstance(err, pp.APITimeoutError)
    assert isinstance(err.__cause__, aiohttp.ClientError)
    assert isinstance(err.__cause__, aiohttp.ClientConnectorError)
    assert "/api/v1/chats/chat_1" in str(err)
    assert err.retryable is True


async def test_connection_refused_is_retried() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    base_url = f"http://127.0.0.1:{refusing_port()}/api/v1"
    async with client_for(base_url, retry=pp.RetryPolicy(sleep=fake_sleep)) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve("chat_1")
    assert info.value.attempts == 3
    assert len(waits) == 2


async def test_dropped_connection_is_a_connection_error(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, drop=True, times=None)
    async with client_for(server.base_url, max_retries=0) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve(chat_id)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_truncated_body_is_a_connection_error_and_retried(server: FakePostpress) -> None:
    chat_id = server.add_chat(EXAMPLE)
    server.fail(chat_id, truncate=True, times=1)
    async with client_for(server.base_url) as client:
        chat = await client.chats.retrieve(chat_id)
    assert chat.id == chat_id
    assert server.request_count == 2


# -- response size and decoding -------------------------------------------------------------


def padded_chat(size: int) -> bytes:
    """The example chat as exactly ``size`` bytes of valid JSON."""
    body = json.dumps(EXAMPLE).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def test_body_over_max_response_size_with_content_length(server: FakePostpress) -> None:
    server.add_raw("chat_big", padded_chat(5000))
    async with client_for(server.base_url, max_response_size=3000) as client:
        with pytest.raises(pp.ResponseTooLargeError) as info:
            await client.chats.retrieve("chat_big")
    assert isinstance(info.value, pp.ResponseDecodeError)
    assert "3000" in str(info.value)
    assert server.request_count == 1  # not retried


async def test_body_at_max_response_size_is_fine(server: FakePostpress) -> None:
    server.add_raw(EXAMPLE["id"], padded_chat(3000))
    async with client_for(server.base_url, max_response_size=3000) as client:
        chat = await client.chats.retrieve(EXAMPLE["id"])
    assert chat.id == EXAMPLE["id"]


def chunked(body: bytes) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 700):
            await response.write(body[start : start + 700])
        await response.write_eof()
        return response

    return handler


async def test_chunked_body_over_max_response_size() -> None:
    async with (
        raw_server(chunked(padded_chat(5000))) as base_url,
        client_for(base_url, max_response_size=3000) as client,
    ):
        with pytest.raises(pp.ResponseTooLargeError):
            await client.chats.retrieve("chat_1")


async def test_chunked_body_at_max_response_size_is_fine() -> None:
    async with (
        raw_server(chunked(padded_chat(3000))) as base_url,
        client_for(base_url, max_response_size=3000) as client,
    ):
        assert (await client.chats.retrieve(EXAMPLE["id"])).id == EXAMPLE["id"]


def gzipped(body: bytes, status: int = 200) -> Handler:
    compressed = gzip.compress(body)

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=compressed, status=status, headers=headers)

    return handler


async def test_compressed_body_is_measured_after_decompression() -> None:
    # 200 KB of JSON gzips to under 1 KB: the Content-Length is below the cap, the body is not.
    body = padded_chat(200_000)
    async with (
        raw_server(gzipped(body)) as base_url,
        client_for(base_url, max_response_size=3000) as client,
    ):
        with pytest.raises(pp.ResponseTooLargeError):
            await client.chats.retrieve("chat_1")


@pytest.mark.parametrize("kind", ["html", "envelope"])
async def test_compressed_error_body_is_bounded(kind: str) -> None:
    # An error body is read only so far (64 KiB), however it is encoded.
    if kind == "html":
        body = b"<html>" + b" " * 2_000_000 + b"</html>"
    else:
        envelope = {"title": "Bad Gateway", "type": "errors/x", "status": 502, "detail": ""}
        body = json.dumps({**envelope, "detail": "x" * 2_000_000}).encode()
    async with (
        raw_server(gzipped(body, status=502)) as base_url,
        client_for(base_url, max_retries=0) as client,
    ):
        with pytest.raises(pp.ServerError) as info:
            await client.chats.retrieve("chat_1")
    assert len(info.value.body) <= 64 * 1024
    assert body.startswith(info.value.body)


async def test_compressed_body_under_the_cap_is_fine() -> None:
    async with (
        raw_server(gzipped(padded_chat(2000))) as base_url,
        client_for(base_url, max_response_size=3000) as client,
    ):
        assert (await client.chats.retrieve(EXAMPLE["id"])).id == EXAMPLE["id"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"<html>502</html>", b"[]", b'{"object": "Chat"}'],
    ids=["invalid", "empty", "html", "list", "missing_fields"],
)
async def test_200_that_is_not_a_chat_is_a_decode_error_not_retried(
    server: FakePostpress, body: bytes
) -> None:
    server.add_raw("chat_bad", body)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with client_for(server.base_url, retry=pp.RetryPolicy(sleep=fake_sleep)) as client:
        with pytest.raises(pp.ResponseDecodeError) as info:
            await client.chats.retrieve("chat_bad")
    assert not isinstance(info.value, pp.ResponseTooLargeError)
    assert server.request_count == 1
    assert waits == []


async def test_decode_error_names_the_field(server: FakePostpress) -> None:
    server.add_raw("chat_bad", json.dumps({**EXAMPLE, "unread_count": "two"}))
    async with client_for(server.base_url) as client:
        with pytest.raises(pp.ResponseDecodeError) as info:
            await client.chats.retrieve("chat_bad")
    assert info.value.path is not None
    assert "unread_count" in info.value.path
