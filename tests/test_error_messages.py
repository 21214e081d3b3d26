"""Exception messages are bounded, quote no byte of a 2xx body, and show no credentials.

Every failure is produced by a real server (FakePostpress, or a raw one that breaks HTTP); the
message must stay within ``MESSAGE_LIMIT`` characters, and hold neither a chat's content nor the
API key, an ``Authorization`` header or a proxy's password, in ``str``, ``repr`` or traceback.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import pytest
from rawserver import Exchange, RawServer, response_head
from support import refusing_port

import postpress_async as pp
from postpress_async._redact import MESSAGE_LIMIT
from postpress_async.testing import FakePostpress

KEY = "pp_test_key"
BEARER = "Bearer tok-Auth0rization-S3cret"
CHAT = json.loads((Path(__file__).parent / "data" / "example_chat.json").read_text("utf-8"))
CHAT_BODY = json.dumps(CHAT).encode()
CONTENT = CHAT["name"]  # the chat's own text, which must never reach a message
MARK = "PRIVATE-MESSAGE-TEXT"


def clean(error: BaseException, *secrets: str) -> str:
    """Check ``error``'s message bounds and secrets; return its full formatted text."""
    message = str(error)
    assert len(message) <= MESSAGE_LIMIT, len(message)
    assert "\n" not in message
    shown = "".join(traceback.format_exception(error)) + repr(error)
    for secret in (KEY, BEARER, *secrets):
        assert secret not in shown
    return message


async def failure(base_url: str, chat_id: str = "chat_1", **options: Any) -> pp.PostpressError:
    async with pp.AsyncPostpress(
        KEY,
        base_url=base_url,
        max_retries=0,
        default_headers={"Authorization": BEARER},
        trust_env=False,
        **options,
    ) as client:
        with pytest.raises(pp.PostpressError) as info:
            await client.chats.retrieve(chat_id)
    return info.value


@pytest.mark.parametrize("extra", [3, 200])
async def test_a_body_longer_than_its_content_length_is_not_quoted(extra: int) -> None:
    # The bytes beyond Content-Length are read as the next response's status line, and
    # aiohttp's parser error quotes them: the chat's JSON must not reach our message.
    async def behave(exchange: Exchange) -> bool:
        head = response_head(
            200,
            [("Content-Type", "application/json"), ("Content-Length", f"{len(CHAT_BODY) - extra}")],
        )
        await exchange.send(head + CHAT_BODY)
        return True

    async with (
        RawServer(behave) as raw,
        pp.AsyncPostpress(KEY, base_url=raw.base_url, max_retries=0, trust_env=False) as client,
    ):
        errors = []
        for _ in range(3):
            try:
                await client.chats.retrieve("chat_1")
            except pp.PostpressError as exc:
                errors.append(exc)
    assert errors  # the truncated body or the garbage after it failed somewhere
    for error in errors:
        message = clean(error)
        assert CONTENT not in message
        assert '"object"' not in message


async def test_a_too_large_chat_is_not_quoted(fake_postpress: FakePostpress) -> None:
    chat_id = fake_postpress.add_chat(CHAT)
    error = await failure(fake_postpress.base_url, chat_id, max_response_size=300)
    assert isinstance(error, pp.ResponseTooLargeError)
    assert CONTENT not in clean(error)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", {"text": MARK}),
        ("account_type", [MARK]),
        ("type", {"text": MARK}),
        ("unread_count", MARK * 40),
        ("timestamp", [MARK]),
        ("attendee_provider_id", {"text": MARK}),
    ],
)
async def test_an_invalid_chat_is_not_quoted(
    fake_postpress: FakePostpress, field: str, value: object
) -> None:
    chat_id = fake_postpress.add_chat({**CHAT, "id": f"chat_bad_{field}", field: value})
    error = await failure(fake_postpress.base_url, chat_id)
    assert isinstance(error, pp.ResponseDecodeError)
    assert error.path == f"$.{field}"
    assert MARK not in clean(error)


async def test_long_server_texts_are_bounded(fake_postpress: FakePostpress) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    fake_postpress.fail(chat_id, error=pp.ErrorType.PROVIDER_ERROR, detail="d" * 10_000, headers={})
    clean(await failure(fake_postpress.base_url, chat_id))
    fake_postpress.fail(
        chat_id, status=418, body=b"x" * 100_000, headers={"X-Request-Id": "r" * 6000}
    )
    error = await failure(fake_postpress.base_url, chat_id)
    assert isinstance(error, pp.APIStatusError)
    clean(error)
    assert error.request_id == "r" * 6000  # the attribute keeps it whole; the message does not


async def test_a_long_chat_id_does_not_stretch_the_message() -> None:
    error = await failure(f"http://127.0.0.1:{refusing_port()}/api/v1", "c" * 5000)
    assert isinstance(error, pp.APIConnectionError)
    clean(error)


async def test_proxy_credentials_in_a_connection_failure_are_not_shown() -> None:
    password = "Pr0xy-PASS-w0rd"
    proxy = f"http://bob:{password}@127.0.0.1:{refusing_port()}"
    error = await failure(f"https://127.0.0.1:{refusing_port()}/api/v1", proxy=proxy)
    assert "could not connect to the proxy http://***@127.0.0.1:" in clean(error, password)


def test_every_message_is_bounded_at_construction() -> None:
    for cls in (pp.PostpressError, pp.APIConnectionError, pp.ResponseDecodeError):
        error = cls("x" * 10_000 + f" http://u:{MARK}@h/")
        assert len(str(error)) <= MESSAGE_LIMIT
    error = pp.ProxyError(f"refused by http://u:{MARK}@h:1", status=407)
    assert MARK not in str(error)
