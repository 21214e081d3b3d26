"""Hostile input, both ways: any id or account id out, any bytes or headers back.

Out: a chat id of any unicode stays one path segment under ``/chats/`` and reaches the server
exactly (or is refused with ``ValueError`` before any request: empty, or not encodable); an
account id stays one query parameter; neither can add a header or a request line, or break a
log line. Back: any body with any status, any header value, any bytes at all in place of an
HTTP response, and any redirect ``Location`` end in a chat or a ``pp.PostpressError``,
nothing else; the key never reaches another origin. Also the transport security defaults that
SECURITY.md states: TLS verification on, and a warning for plain http off the loopback.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fault_rows import ROWS
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rawserver import Exchange, RawServer, raw_bytes, reply
from support import EXAMPLE, EXAMPLE_BODY, EXAMPLE_ID, PREFIX, Sleeps
from support import SECRET_KEY as KEY
from tls_material import tls_client_context, tls_server_context

import postpress_async as pp
from postpress_async.testing import FakePostpress

HOSTILE = settings(
    # 150 in CI; HOSTILE_EXAMPLES=5000 for a longer hunt.
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY_CHARACTERS = "/?#%.&=+;:@\\ \t\r\n\x00\x7f\u2028\u00e9\U0001f642"
NASTY_IDS = [
    ".",
    "..",
    "...",
    "%",
    "%2F",
    "%2e%2e",
    "a/b",
    "../../admin",
    "?account_id=other",
    "#fragment",
    " ",
    "chat id",
    "\r\nX-Injected: 1",
    "chat\r\n\r\nGET /admin HTTP/1.1",
    "\x00",
    "\u2028",
    "\U0001f642",
    "x" * 5000,
]
ids = st.one_of(st.text(), st.text(alphabet=NASTY_CHARACTERS), st.sampled_from(NASTY_IDS))

SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+")
"""A path segment of unreserved characters and percent-escapes only."""


def has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def must_be_refused(value: str) -> bool:
    """The ids and account ids the SDK refuses up front, with ValueError."""
    return value == "" or has_surrogate(value)


@pytest.fixture
def server(secret_server: FakePostpress) -> FakePostpress:
    """Every test here talks to the server that takes only the secret key."""
    return secret_server


@pytest.fixture
def waits() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(server: FakePostpress, waits: Sleeps) -> AsyncIterator[pp.AsyncPostpress]:
    policy = pp.RetryPolicy(max_retries=1, retry_after_max=5.0, sleep=waits)
    timeout = pp.Timeout(attempt=2.0, connect=2.0, deadline=5.0)
    async with pp.AsyncPostpress(
        KEY, base_url=server.base_url, retry=policy, timeout=timeout
    ) as client:
        yield client


async def outcome(client: pp.AsyncPostpress, chat_id: str, **kwargs: Any) -> BaseException | None:
    """Retrieve; return the exception (None on success). Anything not ours fails the test."""
    error: pp.PostpressError | None = None
    try:
        await client.chats.retrieve(chat_id, **kwargs)
    except pp.PostpressError as exc:
        error = exc
    assert error is None or KEY not in str(error)
    return error


# -- ids and account ids going out -------------------------------------------------------------


@HOSTILE
@given(chat_id=ids)
@example(chat_id="")
@example(chat_id="\ud800")
@example(chat_id="ok\udfffok")
@example(chat_id=".")
@example(chat_id="..")
@example(chat_id="a/../b")
@example(chat_id="%2F")
@example(chat_id="\r\nX-Injected: 1")
async def test_any_chat_id_is_one_path_segment_and_arrives_exactly(
    server: FakePostpress, client: pp.AsyncPostpress, chat_id: str
) -> None:
    before = server.request_count
    if must_be_refused(chat_id):
        with pytest.raises(ValueError, match="chat_id"):
            await client.chats.retrieve(chat_id)
        assert server.request_count == before  # refused before any request
        return
    error = await outcome(client, chat_id)
    assert server.request_count == before + 1
    request = server.requests[-1]
    assert request.chat_id == chat_id
    path, _, query = request.raw_path.partition("?")
    assert query == ""
    prefix = f"{PREFIX}/chats/"
    assert path.startswith(prefix)
    segment = path[len(prefix) :]
    assert SEGMENT.fullmatch(segment), segment
    assert segment not in (".", "..")
    if chat_id != EXAMPLE_ID:
        assert isinstance(error, pp.NotFoundError)
        assert error.type == pp.ErrorType.RESOURCE_NOT_FOUND


@HOSTILE
@given(chat_id=ids)
async def test_a_chat_served_under_any_id_comes_back(
    server: FakePostpress, client: pp.AsyncPostpress, chat_id: str
) -> None:
    if must_be_refused(chat_id):
        return
    server.add_raw(chat_id, json.dumps({**EXAMPLE, "id": chat_id}))
    chat = await client.chats.retrieve(chat_id)
    assert chat.id == chat_id


@HOSTILE
@given(account_id=ids)
@example(account_id="")
@example(account_id="\udc80")
@example(account_id="a&account_id=b")
@example(account_id="x#y")
@example(account_id="+ +")
@example(account_id="\r\nX-Injected: 1")
async def test_any_account_id_is_one_query_parameter_and_arrives_exactly(
    server: FakePostpress, client: pp.AsyncPostpress, account_id: str
) -> None:
    before = server.request_count
    if must_be_refused(account_id):
        with pytest.raises(ValueError, match="account_id"):
            await client.chats.retrieve("chat_x", account_id=account_id)
        assert server.request_count == before
        return
    error = await outcome(client, "chat_x", account_id=account_id)
    assert isinstance(error, pp.NotFoundError)
    assert server.request_count == before + 1
    request = server.requests[-1]
    assert request.chat_id == "chat_x"
    assert dict(request.query) == {"account_id": account_id}
    path, _, query = request.raw_path.partition("?")
    assert path == f"{PREFIX}/chats/chat_x"
    name, _, value = query.partition("=")
    assert name == "account_id"
    assert SEGMENT.fullmatch(value), value


class HeadRecorder:
    """A raw server that keeps every request head and answers 404 (keep-alive)."""

    def __init__(self) -> None:
        envelope = {"title": "Not Found", "type": "errors/resource_not_found", "status": 404}
        self.answer = reply(404, json.dumps(envelope).encode())

    async def __call__(self, exchange: Exchange) -> bool:
        return await self.answer(exchange)


def header_lines(head: bytes) -> tuple[bytes, list[bytes]]:
    lines = head.split(b"\r\n")
    assert lines[-2:] == [b"", b""], head  # the head ends with exactly one blank line
    return lines[0], lines[1:-2]


def header_names(head: bytes) -> list[bytes]:
    return sorted(line.split(b":", 1)[0].lower() for line in header_lines(head)[1])


@pytest.fixture
async def recorder() -> AsyncIterator[RawServer]:
    async with RawServer(HeadRecorder()) as raw:
        yield raw


@pytest.fixture
async def plain_header_names(recorder: RawServer) -> list[bytes]:
    """The header names of a request for a plain id: what every request must carry."""
    async with pp.AsyncPostpress(KEY, base_url=recorder.base_url, max_retries=0) as client:
        with pytest.raises(pp.NotFoundError):
            await client.chats.retrieve("chat_plain")
    names = header_names(recorder.heads[-1])
    assert b"x-api-key" in names
    return names


@HOSTILE
@given(chat_id=ids, account_id=st.one_of(st.none(), ids))
@example(chat_id="a\r\nX-Injected: 1", account_id="b\r\nX-Injected: 2")
@example(chat_id="x HTTP/1.1\r\nHost: evil\r\n\r\nGET /y", account_id=None)
@example(chat_id="\n", account_id="\r")
async def test_ids_cannot_add_a_header_or_a_request_line(
    recorder: RawServer, plain_header_names: list[bytes], chat_id: str, account_id: str | None
) -> None:
    async with pp.AsyncPostpress(KEY, base_url=recorder.base_url, max_retries=0) as client:
        if must_be_refused(chat_id) or (account_id is not None and must_be_refused(account_id)):
            with pytest.raises(ValueError, match=r"chat_id|account_id"):
                await client.chats.retrieve(chat_id, account_id=account_id)
            return
        before = recorder.hits
        with pytest.raises(pp.NotFoundError):
            await client.chats.retrieve(chat_id, account_id=account_id)
    assert recorder.hits == before + 1  # one request, not two
    request_line, headers = header_lines(recorder.heads[-1])
    pattern = rb"GET /api/v1/chats/[A-Za-z0-9\-._~%]+(\?account_id=[A-Za-z0-9\-._~%]+)? HTTP/1\.1"
    assert re.fullmatch(pattern, request_line), request_line
    assert (b"?account_id=" in request_line) == (account_id is not None)
    assert header_names(recorder.heads[-1]) == plain_header_names
    keys = [line.split(b":", 1)[1].strip() for line in headers if line.lower().startswith(b"x-api")]
    assert keys == [KEY.encode()]
    for line in headers:
        assert b"\r" not in line
        assert b"\n" not in line
        assert b"\x00" not in line


@HOSTILE
@given(chat_id=ids)
async def test_ids_cannot_forge_a_log_line(
    server: FakePostpress,
    client: pp.AsyncPostpress,
    caplog: pytest.LogCaptureFixture,
    chat_id: str,
) -> None:
    if must_be_refused(chat_id):
        return
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="postpress_async"):
        await outcome(client, chat_id)
    records = [r for r in caplog.records if r.name.startswith("postpress_async")]
    assert records  # the DEBUG line of the response
    for record in records:
        message = record.getMessage()
        assert "\n" not in message, message
        assert "\r" not in message, message
        assert KEY not in message


@HOSTILE
@given(batch=st.lists(ids, max_size=20))
async def test_retrieve_many_accounts_for_every_hostile_id(
    server: FakePostpress, client: pp.AsyncPostpress, batch: list[str]
) -> None:
    results = [r async for r in client.chats.retrieve_many(batch, concurrency=4, ordered=True)]
    assert [r.chat_id for r in results] == batch
    assert [r.index for r in results] == list(range(len(batch)))
    for result in results:
        if must_be_refused(result.chat_id):
            assert isinstance(result.error, ValueError)
        elif result.chat_id == EXAMPLE_ID:
            assert result.chat is not None
        else:
            assert isinstance(result.error, pp.NotFoundError)


async def test_what_is_logged_at_each_level(
    server: FakePostpress, client: pp.AsyncPostpress, caplog: pytest.LogCaptureFixture
) -> None:
    # SECURITY.md lists these lines; nothing else is logged, and no header ever is.
    server.add_chat({**EXAMPLE, "id": "chat_moved"})
    server.fail(EXAMPLE_ID, error=pp.ErrorType.NO_CHANNEL, times=1)
    server.fail(EXAMPLE_ID, status=302, redirect_to=f"{PREFIX}/chats/chat_moved", times=1)
    with caplog.at_level(logging.DEBUG, logger="postpress_async"):
        await client.chats.retrieve(EXAMPLE_ID, account_id="acc 1")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    path = f"{PREFIX}/chats/{EXAMPLE_ID}"
    assert [level for level, _ in lines] == ["DEBUG", "INFO", "DEBUG", "DEBUG"]
    assert re.fullmatch(rf"GET {path}\?account_id=acc%201 -> 503 in [0-9.]+ ms", lines[0][1])
    assert re.fullmatch(
        r"retrying in [0-9.]+s after attempt 1: ServiceUnavailableError: 503 errors/no_channel.*",
        lines[1][1],
    )
    assert lines[2][1] == f"GET {path} -> 302, following same-origin redirect"
    assert re.fullmatch(rf"GET {PREFIX}/chats/chat_moved -> 200 in [0-9.]+ ms", lines[3][1])
    for _, message in lines:
        assert KEY not in message
        assert "x-api-key" not in message.lower()


# -- responses coming back ---------------------------------------------------------------------


@HOSTILE
@given(body=st.binary())
@example(body=b"")
@example(body=b"null")
@example(body=b"[]")
@example(body=b'{"object": "Chat"}')
@example(body=b"\xff\xfe")
@example(body=b"[" * 100_000)
async def test_any_body_with_status_200_is_a_decode_error(
    server: FakePostpress, client: pp.AsyncPostpress, body: bytes
) -> None:
    server.add_raw("chat_body", body)
    before = server.request_count
    error = await outcome(client, "chat_body")
    assert isinstance(error, pp.ResponseDecodeError)
    assert server.request_count == before + 1  # a bad 2xx body is not retried


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
attachment_types = st.sampled_from(
    ["img", "video", "audio", "file", "linkedin_post", "video_meeting", "sticker", ""]
)


@st.composite
def mutated_chats(draw: st.DrawFn) -> bytes:
    """The example chat with one field replaced, removed, or given odd attachments."""
    chat = copy.deepcopy(EXAMPLE)
    message = chat["lastMessage"]
    where = draw(st.sampled_from(["chat", "message", "attachments"]))
    if where == "attachments":
        attachment = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
        if draw(st.booleans()):
            attachment["type"] = draw(attachment_types | json_values)
        message["attachments"] = [attachment, *draw(st.lists(json_values, max_size=2))]
    else:
        target = chat if where == "chat" else message
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    return json.dumps(chat).encode()


@HOSTILE
@given(body=mutated_chats())
async def test_any_json_near_a_chat_is_a_chat_or_a_decode_error(
    server: FakePostpress, client: pp.AsyncPostpress, body: bytes
) -> None:
    server.add_raw(EXAMPLE_ID, body)  # the id asked for: a chat with another id is refused
    error = await outcome(client, EXAMPLE_ID)
    assert error is None or isinstance(error, pp.ResponseDecodeError)


@HOSTILE
@given(status=st.integers(200, 599), body=st.binary(max_size=300))
@example(status=204, body=b"")
@example(status=304, body=b"")
@example(status=302, body=b"")
@example(status=429, body=b'{"type": 5}')
@example(status=503, body=b'{"type": "errors/no_channel", "title": null, "status": "x"}')
async def test_any_status_and_body_is_a_postpress_error(
    server: FakePostpress, client: pp.AsyncPostpress, waits: Sleeps, status: int, body: bytes
) -> None:
    server.add_raw("chat_status", body, status=status)
    error = await outcome(client, "chat_status")
    if 200 <= status < 300:
        assert error is None or isinstance(error, pp.ResponseDecodeError)
    elif status == 407:  # only a proxy asks for proxy credentials: never a status error
        assert isinstance(error, pp.ProxyError)
        assert error.status == status
    else:
        assert isinstance(error, pp.APIStatusError)
        assert error.status == status
        assert len(error.body) <= 64 * 1024
    assert all(0 <= wait <= 5.0 for wait in waits.waits)


async def test_a_huge_proxy_page_is_kept_only_in_part(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    page = b"<html>" + b"x" * 1_000_000 + b"</html>"
    server.add_raw("chat_proxy", page, status=502, content_type="text/html")
    error = await outcome(client, "chat_proxy")
    assert isinstance(error, pp.ServerError)
    assert error.type is None
    assert 0 < len(error.body) <= 2048
    assert page.startswith(error.body)


async def test_an_oversized_response_head_is_a_connection_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n{}"
    async with (
        RawServer(raw_bytes(head)) as raw,
        pp.AsyncPostpress(KEY, base_url=raw.base_url, max_retries=0) as client,
    ):
        with pytest.raises(pp.APIConnectionError):
            await client.chats.retrieve(EXAMPLE_ID)


async def test_an_informational_status_alone_times_out(
    server: FakePostpress, client: pp.AsyncPostpress
) -> None:
    # A 1xx is not a final response: the client waits for one, up to its timeout.
    server.add_raw("chat_1xx", b"", status=199)
    async with pp.AsyncPostpress(
        KEY, base_url=server.base_url, max_retries=0, timeout=pp.Timeout(attempt=0.3)
    ) as quick:
        with pytest.raises(pp.APITimeoutError):
            await quick.chats.retrieve("chat_1xx")


header_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
"""Header values FakePostpress can send (aiohttp refuses control characters in them)."""
encodings = st.one_of(
    st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "gzip, gzip", "chunked", ""]),
    header_text,
)


@HOSTILE
@given(
    status=st.sampled_from([200, 400, 429, 500, 502, 503, 504]),
    retry_after=st.one_of(
        header_text,
        st.sampled_from(["-1", "nan", "inf", "1e308", "0x10", "Wed, 21 Oct 2015", "99999999999"]),
    ),
    content_type=header_text,
    encoding=encodings,
    request_id=header_text,
    body=st.one_of(st.just(EXAMPLE_BODY), st.binary(max_size=200)),
)
async def test_any_header_values_end_in_a_chat_or_a_postpress_error(
    server: FakePostpress,
    client: pp.AsyncPostpress,
    waits: Sleeps,
    status: int,
    retry_after: str,
    content_type: str,
    encoding: str,
    request_id: str,
    body: bytes,
) -> None:
    waits.waits.clear()
    server.reset()
    headers = {"Retry-After": retry_after, "Content-Encoding": encoding, "X-Request-Id": request_id}
    server.fail(
        EXAMPLE_ID, status=status, body=body, content_type=content_type, headers=headers, times=1
    )
    error = await outcome(client, EXAMPLE_ID)
    assert error is None or isinstance(error, pp.PostpressError)
    for wait in waits.waits:
        assert math.isfinite(wait), wait
        assert 0 <= wait <= 5.0, wait


class ServeBytes:
    """A raw-server behaviour answering with whatever ``data`` currently holds, then closing."""

    def __init__(self) -> None:
        self.data = b""

    async def __call__(self, exchange: Exchange) -> bool:
        await exchange.send(self.data)
        return False


@st.composite
def http_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like an HTTP response, with garbage where it hurts."""
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1x", b""]))
    status = draw(
        st.one_of(st.integers(0, 1000).map(lambda n: str(n).encode()), st.binary(max_size=5))
    )
    headers = draw(
        st.lists(
            st.one_of(
                st.tuples(
                    st.sampled_from(
                        [
                            b"Content-Length",
                            b"Transfer-Encoding",
                            b"Content-Encoding",
                            b"Content-Type",
                            b"Retry-After",
                            b"Location",
                            b"Connection",
                        ]
                    ),
                    st.one_of(
                        st.sampled_from([b"0", b"5", b"-1", b"chunked", b"gzip", b"close", b"/x"]),
                        st.binary(max_size=12),
                    ),
                ).map(lambda pair: pair[0] + b": " + pair[1]),
                st.binary(max_size=20),
            ),
            max_size=5,
        )
    )
    body = draw(st.binary(max_size=100))
    return version + b" " + status + b" Reason\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


@pytest.fixture
async def bytes_server() -> AsyncIterator[tuple[RawServer, ServeBytes]]:
    behaviour = ServeBytes()
    async with RawServer(behaviour) as raw:
        yield raw, behaviour


@HOSTILE
@given(data=st.one_of(st.binary(), http_like()))
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header Line\r\n\r\n{}")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}")
@example(data=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
@example(data=b"HTTP/1.1 100 Continue\r\n\r\n")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip")
async def test_any_bytes_instead_of_a_response_is_a_postpress_error(
    bytes_server: tuple[RawServer, ServeBytes], data: bytes
) -> None:
    raw, behaviour = bytes_server
    behaviour.data = data
    timeout = pp.Timeout(attempt=2.0, connect=2.0, deadline=5.0)
    async with pp.AsyncPostpress(
        KEY, base_url=raw.base_url, max_retries=0, timeout=timeout
    ) as client:
        error = await outcome(client, EXAMPLE_ID)
    assert error is None or isinstance(error, pp.PostpressError)


# -- redirects to anywhere ---------------------------------------------------------------------


@pytest.fixture
async def other() -> AsyncIterator[FakePostpress]:
    """A second origin (another port), which must never hear from the client."""
    async with FakePostpress(api_key=KEY) as fake:
        fake.add_chat(EXAMPLE)
        yield fake


TRICKY_LOCATIONS = [
    "http://127.0.0.1:{other}/api/v1/chats/{id}",
    "//127.0.0.1:{other}/api/v1/chats/{id}",
    "http://localhost:{port}/api/v1/chats/{id}",
    "http://LOCALHOST:{port}/api/v1/chats/{id}",
    "https://127.0.0.1:{port}/api/v1/chats/{id}",
    "http://127.0.0.1:{port}@127.0.0.1:{other}/api/v1/chats/{id}",
    "http://127.0.0.1:{other}#@127.0.0.1:{port}/api/v1/chats/{id}",
    "http://127.0.0.1:{other}\\@127.0.0.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/api/v1/chats/{id}",
    "http://2130706433:{port}/api/v1/chats/{id}",
    "http://127.1:{port}/api/v1/chats/{id}",
    "http:127.0.0.1:{other}/api/v1/chats/{id}",
    "/\\127.0.0.1:{other}/api/v1/chats/{id}",
    "HTTP://127.0.0.1:{port}/api/v1/chats/{id}",
    "http://127.0.0.1:{port}/api/v1/chats/{id}",
    "/api/v1/chats/{id}",
    "{id}",
    "../chats/{id}",
    "/api/v1/chats/%2e%2e/%2e%2e/admin",
    "",
    " ",
]


@HOSTILE
@given(
    template=st.one_of(st.sampled_from(TRICKY_LOCATIONS), header_text),
    status=st.sampled_from([301, 302, 303, 307, 308]),
)
@example(template="mailto:someone@example.com", status=302)
@example(template="file:///etc/passwd", status=301)
@example(template="https:///api/v1/chats/x", status=307)
async def test_a_redirect_anywhere_never_takes_the_key_to_another_origin(
    server: FakePostpress, other: FakePostpress, template: str, status: int
) -> None:
    try:
        location = template.format(other=other.port, port=server.port, id=EXAMPLE_ID)
    except (KeyError, IndexError, ValueError):
        location = template
    server.reset()
    server.fail(EXAMPLE_ID, status=status, redirect_to=location, times=1)
    async with pp.AsyncPostpress(KEY, base_url=server.base_url, max_retries=0) as client:
        error = await outcome(client, EXAMPLE_ID)
    assert error is None or isinstance(error, pp.PostpressError)
    assert other.request_count == 0
    for request in server.requests:
        assert request.headers.get("Host") == f"127.0.0.1:{server.port}"


# -- transport security defaults (SECURITY.md) -------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://api.postpress.ai/api/v1", "http://10.0.0.5:8080/api/v1", "http://[2001:db8::1]/v1"],
)
def test_plain_http_to_a_remote_host_warns(base_url: str) -> None:
    assert issubclass(pp.InsecureTransportWarning, UserWarning)
    with pytest.warns(pp.InsecureTransportWarning, match="plain http"):
        pp.AsyncPostpress(KEY, base_url=base_url)
    with pytest.warns(pp.InsecureTransportWarning), pp.Postpress(KEY, base_url=base_url):
        pass


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/api/v1",
        "http://127.9.8.7/api/v1",
        "http://[::1]:8080/api/v1",
        "http://localhost:8080/api/v1",
        "http://LOCALHOST/api/v1",
        "https://api.postpress.ai/api/v1",
        "https://10.0.0.5/api/v1",
    ],
)
def test_https_and_loopback_do_not_warn(base_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pp.AsyncPostpress(KEY, base_url=base_url)


def test_the_warning_names_the_host_but_not_the_key() -> None:
    with pytest.warns(pp.InsecureTransportWarning) as caught:
        pp.AsyncPostpress(KEY, base_url="http://api.postpress.ai/api/v1")
    text = str(caught[0].message)
    assert "api.postpress.ai" in text
    assert KEY not in text


@pytest.mark.parametrize("make", [pp.AsyncPostpress, pp.Postpress], ids=["async", "blocking"])
def test_the_warning_points_at_the_callers_line(make: Any) -> None:
    # So that warning filters and the "once per location" default work on the user's code.
    with pytest.warns(pp.InsecureTransportWarning) as caught:
        client = make(KEY, base_url="http://api.postpress.ai/api/v1")
    if isinstance(client, pp.Postpress):
        client.close()
    assert caught[0].filename == __file__


async def test_cookies_are_never_stored_or_sent(server: FakePostpress) -> None:
    server.fail(EXAMPLE_ID, headers={"Set-Cookie": "session=abc123; Path=/"}, times=1)
    async with pp.AsyncPostpress(KEY, base_url=server.base_url) as client:
        await client.chats.retrieve(EXAMPLE_ID)
        await client.chats.retrieve(EXAMPLE_ID)
    assert server.request_count == 2
    assert all("cookie" not in request.headers for request in server.requests)


async def test_proxy_environment_variables_are_not_used_with_trust_env_false(
    server: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    # trust_env=False: no proxy from the environment sees a request (tests/test_proxies.py
    # covers the proxies that are used).
    async with RawServer(reply(200, EXAMPLE_BODY)) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with pp.AsyncPostpress(KEY, base_url=server.base_url, trust_env=False) as client:
            await client.chats.retrieve(EXAMPLE_ID)
    assert proxy.hits == 0
    assert server.request_count == 1


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[RawServer]:
    async with RawServer(reply(200, EXAMPLE_BODY), tls=tls_server_context(tmp_path)) as raw:
        yield raw


async def test_tls_certificates_are_verified_by_default(tls_server: RawServer) -> None:
    async with pp.AsyncPostpress(KEY, base_url=tls_server.base_url, max_retries=0) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve(EXAMPLE_ID)
    assert "certificate" in str(info.value).lower()
    assert tls_server.hits == 0  # the handshake failed: not one byte of the request was sent


async def test_tls_with_a_context_that_trusts_the_server(tls_server: RawServer) -> None:
    async with pp.AsyncPostpress(
        KEY, base_url=tls_server.base_url, ssl=tls_client_context()
    ) as client:
        chat = await client.chats.retrieve(EXAMPLE_ID)
    assert chat.id == EXAMPLE_ID
    assert tls_server.hits == 1


async def test_tls_host_names_are_checked(tmp_path: Path) -> None:
    # The certificate names 127.0.0.1 and localhost; the same server as 127.0.0.2 is refused.
    context = tls_server_context(tmp_path)
    async with (
        RawServer(reply(200, EXAMPLE_BODY), tls=context, host="127.0.0.2") as raw,
        pp.AsyncPostpress(
            KEY, base_url=raw.base_url, ssl=tls_client_context(), max_retries=0
        ) as client,
    ):
        with pytest.raises(pp.APIConnectionError):
            await client.chats.retrieve(EXAMPLE_ID)
    assert raw.hits == 0


async def test_tls_verification_can_be_turned_off_deliberately(tls_server: RawServer) -> None:
    async with pp.AsyncPostpress(KEY, base_url=tls_server.base_url, ssl=False) as client:
        chat = await client.chats.retrieve(EXAMPLE_ID)
    assert chat.id == EXAMPLE_ID


def test_ssl_argument_is_checked() -> None:
    with pytest.raises(TypeError, match="ssl"):
        pp.AsyncPostpress(KEY, ssl="no")  # type: ignore[arg-type]
    assert isinstance(tls_client_context(), ssl.SSLContext)


def test_security_md_names_only_tests_that_exist() -> None:
    # Every claim in SECURITY.md names its test; a renamed or deleted test must fail here.
    root = Path(__file__).resolve().parent.parent
    text = (root / "SECURITY.md").read_text("utf-8")
    named = re.findall(r"`(test_\w+\.py)::(\w+)(?:\[([\w-]+)\])?`", text)
    assert len(named) > 40
    for filename, function, param in named:
        source = (root / "tests" / filename).read_text("utf-8")
        assert re.search(rf"^(async )?def {function}\(", source, re.M), f"{filename}::{function}"
        if param and filename == "test_fault_matrix.py":
            assert param in {row.slug for row in ROWS}, param
