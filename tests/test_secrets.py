"""The API key never shows: not in a repr, a log record, an exception or its chain.

Also ``POSTPRESS_LOG``: how ``configure_from_env`` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from support import EXAMPLE, no_sleep, refusing_port
from support import SECRET_KEY as KEY

import postpress_async as pp
from postpress_async import _logging
from postpress_async.testing import FakePostpress

CHAT_ID: str = EXAMPLE["id"]


@pytest.fixture
def server(secret_server: FakePostpress) -> FakePostpress:
    """Every test here talks to the server that takes only the secret key."""
    return secret_server


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger at DEBUG, as with ``POSTPRESS_LOG=debug`` and more."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="postpress_async")
    return caplog


def client_for(base_url: str, **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=no_sleep))
    return pp.AsyncPostpress(KEY, base_url=base_url, **kwargs)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        stack += [current.__cause__, current.__context__]
    return found


def assert_no_key_in_exception(exc: BaseException) -> None:
    for link in chain(exc):
        assert KEY not in str(link), f"key in str() of {type(link).__name__}"
        assert KEY not in repr(link), f"key in repr() of {type(link).__name__}"
        for note in getattr(link, "__notes__", ()):
            assert KEY not in note
        if isinstance(link, pp.PostpressError):
            assert KEY not in repr(vars(link)), f"key in attributes of {type(link).__name__}"
    assert KEY not in "".join(traceback.format_exception(exc))
    assert KEY not in "".join(traceback.format_exception(exc, chain=True))


def assert_no_key_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.name
        assert KEY not in formatter.format(record), record.name
        assert KEY not in repr(record.args), record.name
    assert KEY not in caplog.text


async def raised(coro: Any) -> BaseException:
    try:
        await coro
    except BaseException as exc:
        return exc
    raise AssertionError("no exception was raised")


# -- reprs --------------------------------------------------------------------------------------


def test_async_client_repr() -> None:
    client = pp.AsyncPostpress(KEY, base_url="https://api.postpress.ai/api/v1")
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert KEY not in repr(vars(client))
    assert "redacted" in repr(client) or "api_key" not in repr(client)


def test_blocking_client_repr() -> None:
    with pp.Postpress(KEY, base_url="https://api.postpress.ai/api/v1") as client:
        assert KEY not in repr(client)
        assert KEY not in str(client)
    assert KEY not in repr(client)


def test_key_from_the_environment_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPRESS_API_KEY", KEY)
    assert KEY not in repr(pp.AsyncPostpress())


async def test_raw_response_repr(server: FakePostpress) -> None:
    async with client_for(server.base_url) as client:
        raw = await client.chats.with_raw_response.retrieve(CHAT_ID)
    assert KEY not in repr(raw)
    assert KEY not in repr(dict(raw.headers))


# -- logs and exceptions, one scenario at a time --------------------------------------------


async def test_success_and_retries_log_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture
) -> None:
    server.fail(CHAT_ID, error=pp.ErrorType.PROVIDER_ERROR, times=1)
    server.fail(CHAT_ID, status=429, times=1, retry_after=0)
    async with client_for(server.base_url) as client:
        await client.chats.retrieve(CHAT_ID)
        await client.chats.retrieve(CHAT_ID, account_id="acc_1")
        await client.chats.with_raw_response.retrieve(CHAT_ID)
    assert any(r.levelno == logging.DEBUG and "/chats/" in r.getMessage() for r in logs.records)
    assert any("retrying" in r.getMessage() for r in logs.records)
    assert_no_key_in_logs(logs)


async def test_same_origin_redirect_logs_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture
) -> None:
    server.add_chat({**EXAMPLE, "id": "chat_new"})
    server.fail(CHAT_ID, status=302, redirect_to="/api/v1/chats/chat_new")
    async with client_for(server.base_url) as client:
        await client.chats.retrieve(CHAT_ID)
    assert any("redirect" in r.getMessage() for r in logs.records)
    assert_no_key_in_logs(logs)


@pytest.mark.parametrize(
    "fault",
    [
        {"error": pp.ErrorType.EXPIRED_CREDENTIALS},
        {"error": pp.ErrorType.SERVICE_UNAVAILABLE, "times": None},
        {"status": 502, "body": "<html>bad gateway</html>", "times": None},
        {"status": 429, "times": None, "retry_after": 0},
        {"drop": True, "times": None},
        {"truncate": True, "times": None},
    ],
    ids=["401", "503_retried", "502_html", "429", "drop", "truncate"],
)
async def test_failures_carry_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture, fault: dict[str, Any]
) -> None:
    server.fail(**fault)
    async with client_for(server.base_url) as client:
        exc = await raised(client.chats.retrieve(CHAT_ID))
    assert isinstance(exc, pp.PostpressError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


async def test_connection_refused_carries_no_key(logs: pytest.LogCaptureFixture) -> None:
    async with client_for(f"http://127.0.0.1:{refusing_port()}/api/v1") as client:
        exc = await raised(client.chats.retrieve(CHAT_ID))
    assert isinstance(exc, pp.APIConnectionError)
    assert exc.__cause__ is not None
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


async def test_timeout_carries_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture
) -> None:
    server.fail(latency=5, times=None)
    async with client_for(server.base_url, timeout=pp.Timeout(attempt=0.1)) as client:
        exc = await raised(client.chats.retrieve(CHAT_ID))
    assert isinstance(exc, pp.APITimeoutError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


@pytest.mark.parametrize("body", [b"{not json", b'{"object": "Chat"}'], ids=["json", "schema"])
async def test_decode_error_carries_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture, body: bytes
) -> None:
    server.add_raw("chat_bad", body)
    async with client_for(server.base_url) as client:
        exc = await raised(client.chats.retrieve("chat_bad"))
    assert isinstance(exc, pp.ResponseDecodeError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


async def test_too_large_carries_no_key(server: FakePostpress) -> None:
    server.add_raw("chat_big", b'{"x": "' + b"y" * 5000 + b'"}')
    async with client_for(server.base_url, max_response_size=1000) as client:
        exc = await raised(client.chats.retrieve("chat_big"))
    assert isinstance(exc, pp.ResponseTooLargeError)
    assert_no_key_in_exception(exc)


async def test_cross_origin_redirect_refusal_carries_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture
) -> None:
    async with FakePostpress(api_key=KEY) as other:
        server.fail(status=307, redirect_to=other.chat_url(CHAT_ID), times=None)
        async with client_for(server.base_url) as client:
            exc = await raised(client.chats.retrieve(CHAT_ID))
        assert other.requests == []
    assert isinstance(exc, pp.APIStatusError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


async def test_redirect_loop_carries_no_key(
    server: FakePostpress, logs: pytest.LogCaptureFixture
) -> None:
    server.fail(status=302, redirect_to=server.chat_url(CHAT_ID), times=None)
    async with client_for(server.base_url) as client:
        exc = await raised(client.chats.retrieve(CHAT_ID))
    assert isinstance(exc, pp.APIStatusError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


@contextlib.asynccontextmanager
async def garbage_http_server(reply: bytes) -> AsyncIterator[str]:
    """A TCP server that answers any request with ``reply`` bytes, valid HTTP or not."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    tcp = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}/api/v1"
    finally:
        tcp.close()
        await tcp.wait_closed()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header Line\r\n\r\n{}",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}",
    ],
    ids=["bad_header", "bad_status_line", "bad_length"],
)
async def test_malformed_response_carries_no_key(
    reply: bytes, logs: pytest.LogCaptureFixture
) -> None:
    # aiohttp reports these as ClientResponseError, whose repr includes the request headers.
    async with (
        garbage_http_server(reply) as base_url,
        client_for(base_url, max_retries=0) as client,
    ):
        exc = await raised(client.chats.retrieve(CHAT_ID))
    assert isinstance(exc, pp.APIConnectionError)
    assert_no_key_in_exception(exc)
    assert_no_key_in_logs(logs)


def test_blocking_client_failures_carry_no_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakePostpress(api_key=KEY) as server:
        server.add_chat(EXAMPLE)
        with pp.Postpress(KEY, base_url=server.base_url, max_retries=0) as client:
            assert client.chats.retrieve(CHAT_ID).id == CHAT_ID
            server.fail(error=pp.ErrorType.NO_HANDLER)
            with pytest.raises(pp.ServiceUnavailableError) as info:
                client.chats.retrieve(CHAT_ID)
            assert KEY not in repr(client)
    assert_no_key_in_exception(info.value)
    assert_no_key_in_logs(caplog)


# -- POSTPRESS_LOG --------------------------------------------------------------------------


@pytest.fixture
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """``configure_from_env`` as if no client had been built in this process yet."""
    logger = logging.getLogger("postpress_async")
    handlers, level = list(logger.handlers), logger.level
    monkeypatch.setattr(_logging, "_configured", False)
    monkeypatch.delenv("POSTPRESS_LOG", raising=False)
    yield logger
    for handler in logger.handlers[:]:
        if handler not in handlers:
            logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("DEBUG", logging.DEBUG),
        (" Info ", logging.INFO),
    ],
)
def test_postpress_log_sets_the_level(
    fresh_logging: logging.Logger, monkeypatch: pytest.MonkeyPatch, value: str, level: int
) -> None:
    monkeypatch.setenv("POSTPRESS_LOG", value)
    before = len(fresh_logging.handlers)
    _logging.configure_from_env()
    assert fresh_logging.level == level
    assert len(fresh_logging.handlers) == before + 1
    _logging.configure_from_env()  # once per process: no second handler
    assert len(fresh_logging.handlers) == before + 1


def test_postpress_log_unset_changes_nothing(fresh_logging: logging.Logger) -> None:
    before = (list(fresh_logging.handlers), fresh_logging.level)
    _logging.configure_from_env()
    assert (list(fresh_logging.handlers), fresh_logging.level) == before


async def test_postpress_log_debug_output_has_no_key(
    fresh_logging: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("POSTPRESS_LOG", "debug")
    async with FakePostpress(api_key=KEY) as server:
        server.add_chat(EXAMPLE)
        server.fail(CHAT_ID, error=pp.ErrorType.NETWORK_DOWN, times=1)
        async with client_for(server.base_url) as client:  # applies POSTPRESS_LOG
            await client.chats.retrieve(CHAT_ID)
            with pytest.raises(pp.NotFoundError):
                await client.chats.retrieve("chat_missing")
    # pytest's handler takes the records, so the SDK's own stderr handler stays silent (the
    # stderr output without another handler is checked in test_logging's subprocesses).
    assert "/api/v1/chats/" in caplog.text
    assert "retrying" in caplog.text
    assert KEY not in caplog.text
    assert capsys.readouterr().err == ""
