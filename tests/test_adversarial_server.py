"""A hostile server's headers and bodies end in a chat or a ``pp.PostpressError``, nothing else.

Each case is a real response from a server on 127.0.0.1 (``RawServer`` for bytes no framework
sends, ``FakePostpress`` for envelopes), through the async client, the blocking client and
``retrieve_many``:

- ``Retry-After`` dates whose year, day, hour or zone offset overflow a C integer: ignored
  (``retry_after`` None, the backoff of the policy instead), never ``OverflowError``;
- a ``Content-Length`` of thousands of digits (leading zeros pass aiohttp's C parser, then
  ``int()`` refused them with ``ValueError``): read as the number it is, or refused by aiohttp;
- CR/LF and other control characters in an envelope's ``type``, ``instance``, ``title`` and
  ``detail``: every exception message and every log record stays one line, bounded, so no
  forged record can start a line;
- a ``br`` or ``zstd`` body without its decoder installed: a final ``ResponseDecodeError``
  that names what to install, not three attempts;
- an envelope with a member nested deeper than msgspec decodes: its ``type`` still counts
  (``errors/no_handler`` is never retried), the rest is ignored.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp.http_parser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rawserver import Exchange, RawServer, response_head
from support import EXAMPLE_BODY, EXAMPLE_ID, Sleeps
from support import SECRET_KEY as KEY

import postpress_async as pp
from postpress_async._errors import parse_retry_after
from postpress_async._redact import MESSAGE_LIMIT
from postpress_async.testing import FakePostpress

RETRIES = 2
"""Every client here may retry twice: a final error must still reach the server once."""


def retry_policy(waits: Sleeps | None = None) -> pp.RetryPolicy:
    return pp.RetryPolicy(max_retries=RETRIES, sleep=waits or Sleeps())


@pytest.fixture
async def fake() -> AsyncIterator[FakePostpress]:
    async with FakePostpress(api_key=KEY) as server:
        server.add_chat(json.loads(EXAMPLE_BODY))
        yield server


async def three_ways(base_url: str, waits: Sleeps | None = None) -> list[object]:
    """The outcome of one retrieve of the example chat from each client, and from a batch:
    the Chat or the exception. Anything not ours fails the test right here."""
    outcomes: list[object] = []
    policy = retry_policy(waits)
    async with pp.AsyncPostpress(KEY, base_url=base_url, retry=policy) as client:
        try:
            outcomes.append(await client.chats.retrieve(EXAMPLE_ID))
        except pp.PostpressError as exc:
            outcomes.append(exc)
        async for result in client.chats.retrieve_many([EXAMPLE_ID], fail_fast=False):
            outcomes.append(result.chat if result.error is None else result.error)

    def blocking() -> object:
        with pp.Postpress(KEY, base_url=base_url, retry=retry_policy(waits)) as client:
            try:
                return client.chats.retrieve(EXAMPLE_ID)
            except pp.PostpressError as exc:
                return exc

    outcomes.append(await asyncio.to_thread(blocking))
    for outcome in outcomes:
        assert isinstance(outcome, (pp.Chat, pp.PostpressError)), repr(outcome)
    return outcomes


def answer(data: Callable[[Exchange], bytes]) -> Callable[[Exchange], Any]:
    """A raw behaviour: send ``data(exchange)`` and keep the connection."""

    async def behave(exchange: Exchange) -> bool:
        await exchange.send(data(exchange))
        return True

    return behave


# -- Retry-After ---------------------------------------------------------------------------------

OVERFLOWING_DATES = [
    "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",  # year: OverflowError (C long)
    "Mon, 99999999999999999999 Jan 2030 00:00:00 GMT",  # day
    "Mon, 01 Jan 2030 99999999999999999999:00:00 GMT",  # hour
    "Mon, 01 Jan 2030 00:00:00 +99999999999999999999",  # zone offset: OverflowError (C int)
    "Mon, 01 Jan 2030 00:00:00 +9999",  # an offset of 99 hours: ValueError
    "Mon, 01 Jan " + "9" * 5000 + " 00:00:00 GMT",  # longer than int() reads
    "9" * 400,  # seconds beyond a float: inf
]


@pytest.mark.parametrize("value", OVERFLOWING_DATES)
async def test_an_overflowing_retry_after_is_ignored(fake: FakePostpress, value: str) -> None:
    fake.fail(EXAMPLE_ID, error="errors/service_unavailable", retry_after=value, times=None)
    waits = Sleeps()
    outcomes = await three_ways(fake.base_url, waits)
    for outcome in outcomes:
        assert isinstance(outcome, pp.ServiceUnavailableError)
        assert outcome.retry_after is None  # as if the server had not said
        assert outcome.attempts == RETRIES + 1
    assert fake.request_count == 3 * (RETRIES + 1)
    # the policy's own backoff instead, at most backoff_max
    assert len(waits.waits) == 3 * RETRIES
    assert all(0 <= wait <= pp.RetryPolicy().backoff_max for wait in waits.waits)


@pytest.mark.parametrize(
    ("value", "waits"),
    [
        ("Fri, 31 Dec 9999 23:59:59 -2359", "far"),  # the last instant there is
        ("Mon, 01 Jan 0001 00:00:00 +2359", "none"),  # the first: long past
    ],
)
async def test_the_first_and_last_dates_there_are(
    fake: FakePostpress, value: str, waits: str
) -> None:
    fake.fail(EXAMPLE_ID, error="errors/service_unavailable", retry_after=value)
    async with pp.AsyncPostpress(KEY, base_url=fake.base_url, max_retries=0) as client:
        with pytest.raises(pp.ServiceUnavailableError) as info:
            await client.chats.retrieve(EXAMPLE_ID)
    seconds = info.value.retry_after
    assert seconds is not None
    assert seconds > 1e10 if waits == "far" else seconds == 0.0


@given(st.text(alphabet="0123456789 +-:,ADFJMNOSTWabceghilnoprtuvy", max_size=80))
def test_retry_after_never_raises(value: str) -> None:
    # The parse is pure (like status_error), so the property is checked on it directly.
    seconds = parse_retry_after(value)
    assert seconds is None or 0 <= seconds < float("inf")


@given(
    st.from_regex(
        r"\A(Mon, )?[0-9]{1,25} (Jan|Feb|Dec) [0-9]{1,25} [0-9]{1,25}:[0-9]{1,25}:[0-9]{1,25}"
        r"( GMT| [+-][0-9]{1,25})?\Z"
    )
)
def test_date_shaped_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0 <= seconds < float("inf")


# -- Content-Length --------------------------------------------------------------------------------


def padded_length(body: bytes, zeros: int = 4400) -> str:
    """``len(body)`` with thousands of leading zeros: valid (``1*DIGIT``), past int()'s limit."""
    return "0" * zeros + str(len(body))


async def test_a_content_length_of_thousands_of_digits_is_read_as_its_number() -> None:
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", padded_length(EXAMPLE_BODY))]
    )
    async with RawServer(answer(lambda _: head + EXAMPLE_BODY)) as server:
        outcomes = await three_ways(server.base_url)
    assert [getattr(o, "id", o) for o in outcomes] == [EXAMPLE_ID] * 3
    assert server.hits == 3


async def test_a_compressed_body_with_thousands_of_digits_of_length() -> None:
    body = gzip.compress(EXAMPLE_BODY)
    head = response_head(
        200,
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", padded_length(body)),
        ],
    )
    async with RawServer(answer(lambda _: head + body)) as server:
        outcomes = await three_ways(server.base_url)
    assert [getattr(o, "id", o) for o in outcomes] == [EXAMPLE_ID] * 3


@pytest.mark.parametrize("status", [302, 404, 500])
async def test_an_error_with_thousands_of_digits_of_length(status: int) -> None:
    body = b'{"type": "errors/unexpected_error", "status": 500}'
    head = response_head(
        status, [("Content-Type", "application/json"), ("Content-Length", padded_length(body))]
    )
    async with RawServer(answer(lambda _: head + body)) as server:
        outcomes = await three_ways(server.base_url)
    for outcome in outcomes:
        assert isinstance(outcome, pp.APIStatusError)
        assert outcome.status == status


@pytest.mark.parametrize(
    "length",
    ["9" * 5000, "1" + "0" * 25, "0" * 4400 + "1" + "0" * 25],
    ids=["5000 nines", "26 digits", "26 digits after 4400 zeros"],
)
async def test_a_content_length_too_large_to_be_true(length: str) -> None:
    head = response_head(200, [("Content-Type", "application/json"), ("Content-Length", length)])
    async with RawServer(answer(lambda _: head + EXAMPLE_BODY)) as server:
        outcomes = await three_ways(server.base_url)
    for outcome in outcomes:
        # aiohttp's parser refuses a length over 64 bits: no response, so a connection error
        assert isinstance(outcome, (pp.APIConnectionError, pp.ResponseTooLargeError))


# -- CR/LF and control characters from the server ------------------------------------------------

FORGED = "CRITICAL postpress_async: forged record"
HOSTILE_TEXTS = [
    f"x\r\n{FORGED}",
    f"x\n{FORGED}",
    f"x\r{FORGED}",
    f"x\u2028{FORGED}",
    f"x\x85{FORGED}",
    f"x\x1b[2K\r{FORGED}",
    f"x\x00\x07\x7f{FORGED}",
]


def one_line_everywhere(text: str) -> None:
    """No line of ``text`` starts with the forged record, and it holds no line break."""
    assert not any(line.startswith(FORGED) for line in re.split(r"[\r\n\x85\u2028]", text))
    for char in "\r\n\x00\x1b\x85\u2028":
        assert char not in text


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=repr)
@pytest.mark.parametrize("member", ["type", "instance", "title", "detail"])
async def test_server_text_in_an_envelope_cannot_forge_a_log_line(
    fake: FakePostpress, caplog: pytest.LogCaptureFixture, member: str, text: str
) -> None:
    # 429 is retried whatever its type, so the retry log line quotes every member's text.
    envelope = {"type": "errors/too_many_requests", "status": 429, "title": "Slow down"}
    envelope[member] = text if member != "type" else f"errors/{text}"
    fake.fail(
        EXAMPLE_ID,
        status=429,
        body=json.dumps(envelope),
        content_type="application/json",
        times=None,
    )
    with caplog.at_level(logging.DEBUG, logger="postpress_async"):
        outcomes = await three_ways(fake.base_url)
    records = [r for r in caplog.records if r.name.startswith("postpress_async")]
    retry_lines = [r for r in records if r.getMessage().startswith("retrying in ")]
    assert len(retry_lines) >= 2 * RETRIES  # the async calls; the blocking one logs too
    for record in records:
        one_line_everywhere(record.getMessage())
    for outcome in outcomes:
        assert isinstance(outcome, pp.RateLimitError)
        message = str(outcome)
        assert len(message) <= MESSAGE_LIMIT
        one_line_everywhere(message)
        assert getattr(outcome, member) == envelope[member]  # the attribute keeps it as sent
    if member in ("type", "instance"):  # named in the message, escaped
        assert "\\" in str(outcomes[0])


async def test_a_long_server_text_is_cut_short_in_the_message(fake: FakePostpress) -> None:
    envelope = {
        "type": "errors/" + "t" * 10_000,
        "instance": "req_" + "i" * 10_000,
        "detail": "d" * 10_000,
    }
    fake.fail(EXAMPLE_ID, status=400, body=json.dumps(envelope), content_type="application/json")
    async with pp.AsyncPostpress(KEY, base_url=fake.base_url) as client:
        with pytest.raises(pp.BadRequestError) as info:
            await client.chats.retrieve(EXAMPLE_ID)
    message = str(info.value)
    assert len(message) <= MESSAGE_LIMIT
    # each of the three is shown, none crowds out the others
    assert "errors/ttt" in message
    assert "ddd" in message
    assert "request_id=req_iii" in message
    assert info.value.type == envelope["type"]


async def test_request_id_header_with_control_characters_stays_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # CR and LF cannot be in a header value (they end it); the other controls can, from a
    # raw server (aiohttp's own server refuses to send them).
    head = response_head(
        503, [("X-Request-ID", "req\x1b[2K\x7f" + "r" * 500), ("Content-Length", "0")]
    )
    with caplog.at_level(logging.INFO, logger="postpress_async"):
        async with RawServer(answer(lambda _: head)) as server:
            outcomes = await three_ways(server.base_url)
    for outcome in outcomes:
        assert isinstance(outcome, pp.ServiceUnavailableError)
        message = str(outcome)
        one_line_everywhere(message)
        assert len(message) <= MESSAGE_LIMIT
        assert "request_id=req\\x1b[2K\\x7frrr" in message
    retry_lines = [r for r in caplog.records if r.getMessage().startswith("retrying in ")]
    assert len(retry_lines) >= 2 * RETRIES
    for record in caplog.records:
        one_line_everywhere(record.getMessage())


# -- br and zstd without their decoders ----------------------------------------------------------

DECODERS = {"br": ("HAS_BROTLI", "Brotli"), "zstd": ("HAS_ZSTD", "backports.zstd")}


@pytest.mark.parametrize("encoding", sorted(DECODERS))
async def test_a_body_without_its_decoder_is_a_final_decode_error(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    flag, package = DECODERS[encoding]
    if not hasattr(aiohttp.http_parser, flag):
        pytest.skip(f"aiohttp {aiohttp.__version__} does not decode {encoding} at all")
    if getattr(aiohttp.http_parser, flag):
        # The decoder is installed here: take it away the way aiohttp looks for it (the body
        # below is not compressed anyway, so a decoder would fail it differently).
        monkeypatch.setattr(aiohttp.http_parser, flag, False)
    head = response_head(
        200,
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", encoding),
            ("Content-Length", str(len(EXAMPLE_BODY))),
        ],
    )
    async with RawServer(answer(lambda _: head + EXAMPLE_BODY)) as server:
        outcomes = await three_ways(server.base_url)
    for outcome in outcomes:
        assert type(outcome) is pp.ResponseDecodeError
        assert outcome.retryable is False
        assert package in str(outcome)
        assert "aiohttp[speedups]" in str(outcome)
    assert server.hits == 3  # one attempt each, though each client may retry twice


# -- the envelope, read leniently ----------------------------------------------------------------


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 5_000, 20_000])
async def test_a_deep_unknown_member_leaves_the_envelope_readable(
    fake: FakePostpress, depth: int
) -> None:
    body = (
        '{"type": "errors/no_handler", "status": 503, "extra": {"deeper": '
        + deep(depth)
        + '}, "title": "No handler", "detail": "No handler for \\"this\\" request",'
        ' "instance": "req_deep"}'
    )
    fake.fail(EXAMPLE_ID, status=503, body=body, content_type="application/json", times=None)
    outcomes = await three_ways(fake.base_url)
    for outcome in outcomes:
        assert isinstance(outcome, pp.ServiceUnavailableError)
        assert outcome.type == "errors/no_handler"
        assert outcome.title == "No handler"
        assert outcome.detail == 'No handler for "this" request'
        assert outcome.request_id == "req_deep"
        assert outcome.retryable is False
    assert fake.request_count == 3  # errors/no_handler is never retried


async def test_a_deep_member_before_a_retryable_type_still_retries(fake: FakePostpress) -> None:
    body = '{"status": 503, "x": ' + deep(5_000) + ', "type": "errors/no_channel"}'
    fake.fail(EXAMPLE_ID, status=503, body=body, content_type="application/json", times=None)
    outcomes = await three_ways(fake.base_url)
    for outcome in outcomes:
        assert isinstance(outcome, pp.ServiceUnavailableError)
        assert outcome.type == "errors/no_channel"
    assert fake.request_count == 3 * (RETRIES + 1)


@pytest.mark.parametrize(
    "body",
    [
        '{"x": ' + deep(5_000) + ', "type": 7}',  # a type that is not a string: no envelope
        '{"x": ' + deep(5_000)[:6_000] + ', "type": "errors/no_handler"}',  # unbalanced
        '{"x": ' + "[" * 2_000 + '"' + '\\"' * 20_000,  # a string never closed
        "[" * 5_000 + '{"type": "errors/no_handler"}' + "]" * 5_000,  # not an object
    ],
    ids=["type not a string", "unbalanced", "unterminated string", "array"],
)
async def test_a_deep_body_that_is_not_an_envelope_is_treated_as_none(
    fake: FakePostpress, body: str
) -> None:
    fake.fail(EXAMPLE_ID, status=503, body=body, content_type="application/json", times=None)
    async with pp.AsyncPostpress(KEY, base_url=fake.base_url, retry=retry_policy()) as client:
        with pytest.raises(pp.ServiceUnavailableError) as info:
            await client.chats.retrieve(EXAMPLE_ID)
    assert info.value.type is None
    assert info.value.retryable is True  # a 503 without an envelope
    assert fake.request_count == RETRIES + 1
