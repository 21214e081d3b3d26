"""``status_error`` and ``parse_retry_after`` on recorded bodies: pure, no I/O."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from support import CLASS_BY_STATUS, RETRYABLE_IDS

import postpress_async as pp
from postpress_async._errors import (
    BODY_PREVIEW_BYTES,
    is_retryable,
    parse_retry_after,
    status_error,
)

ERRORS_DIR = Path(__file__).parent / "data" / "errors"


HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def load_envelopes() -> list[dict[str, Any]]:
    """The 33 recorded error bodies, one file per documented id."""
    return [json.loads(path.read_text("utf-8")) for path in sorted(ERRORS_DIR.glob("*.json"))]


ENVELOPES = load_envelopes()


def headers(**values: str) -> CIMultiDictProxy[str]:
    """Response headers as aiohttp hands them over (case-insensitive)."""
    items = CIMultiDict({"Content-Type": "application/json"})
    for name, value in values.items():
        items[name.replace("_", "-")] = value
    return CIMultiDictProxy(items)


def raw(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def test_recorded_bodies_are_the_33_documented_ids() -> None:
    assert len(ENVELOPES) == 33
    assert {e["type"] for e in ENVELOPES} == {member.value for member in pp.ErrorType}
    for envelope in ENVELOPES:
        assert set(envelope) == {"title", "detail", "instance", "type", "status"}
        assert pp.ErrorType(envelope["type"]).status == envelope["status"]


@pytest.mark.parametrize("envelope", ENVELOPES, ids=lambda e: e["type"].split("/")[1])
def test_status_error_maps_each_documented_id(envelope: dict[str, Any]) -> None:
    status = envelope["status"]
    body = raw(envelope)
    hdrs = headers()
    err = status_error(status, hdrs, body)

    assert type(err) is CLASS_BY_STATUS[status]
    assert isinstance(err, pp.APIStatusError)
    assert isinstance(err, pp.PostpressError)
    assert err.status == status
    assert err.type == envelope["type"]
    assert err.type == pp.ErrorType(envelope["type"])
    assert err.title == envelope["title"]
    assert err.detail == envelope["detail"]
    assert err.instance == envelope["instance"]
    assert err.request_id == envelope["instance"]
    assert err.headers == hdrs  # a picklable copy
    assert err.body == body
    assert err.retryable is (envelope["type"] in RETRYABLE_IDS)
    assert err.attempts == 1
    # Readable: status, id, the human explanation and the id for support, in one line.
    message = str(err)
    assert str(status) in message
    assert envelope["type"] in message
    assert envelope["detail"] in message
    assert envelope["instance"] in message
    assert "\n" not in message


def test_retryable_ids_are_exactly_the_table() -> None:
    retryable = {
        e["type"] for e in ENVELOPES if status_error(e["status"], headers(), raw(e)).retryable
    }
    assert retryable == RETRYABLE_IDS


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, pp.BadRequestError),
        (409, pp.BadRequestError),
        (418, pp.BadRequestError),
        (422, pp.BadRequestError),
        (429, pp.RateLimitError),
        (501, pp.ServerError),
        (502, pp.ServerError),
        (505, pp.ServerError),
    ],
)
def test_status_without_an_own_class(status: int, cls: type[pp.APIStatusError]) -> None:
    envelope = {"title": "T", "detail": "D", "type": "errors/some_new_error", "status": status}
    err = status_error(status, headers(), raw(envelope))
    assert type(err) is cls
    assert err.type == "errors/some_new_error"
    assert err.retryable is (status == 429)


def test_502_is_a_server_error_but_none_of_its_named_subclasses() -> None:
    err = status_error(502, headers(), HTML_502)
    assert isinstance(err, pp.ServerError)
    assert not isinstance(
        err, (pp.InternalServerError, pp.ServiceUnavailableError, pp.GatewayTimeoutError)
    )


def test_429_is_retryable_with_or_without_envelope() -> None:
    envelope = {"title": "Too Many Requests", "type": "errors/too_many_requests", "status": 429}
    assert status_error(429, headers(), raw(envelope)).retryable is True
    assert status_error(429, headers(), b"").retryable is True
    assert status_error(429, headers(), b"slow down").retryable is True


NOT_ENVELOPES = {
    "html_502_page": HTML_502,
    "empty": b"",
    "json_list": b"[1, 2, 3]",
    "json_string": b'"Bad Gateway"',
    "json_without_type": b'{"error": "upstream connect error", "status": 502}',
    "json_type_not_a_string": b'{"type": 7, "title": "x"}',
    "truncated_json": b'{"title": "Service Unavailable", "type": "errors/no_chan',
    "not_utf8": b"\xff\xfe\x00<\x00h\x00t\x00m\x00l",
    "plain_text": b"upstream request timeout",
}


@pytest.mark.parametrize("body", NOT_ENVELOPES.values(), ids=NOT_ENVELOPES.keys())
@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, pp.BadRequestError, False),
        (401, pp.AuthenticationError, False),
        (403, pp.PermissionDeniedError, False),
        (404, pp.NotFoundError, False),
        (429, pp.RateLimitError, True),
        (500, pp.InternalServerError, True),
        (501, pp.ServerError, False),
        (502, pp.ServerError, True),
        (503, pp.ServiceUnavailableError, True),
        (504, pp.GatewayTimeoutError, True),
    ],
)
def test_body_that_is_not_an_envelope_still_maps_by_status(
    status: int, cls: type[pp.APIStatusError], retryable: bool, body: bytes
) -> None:
    err = status_error(status, headers(Content_Type="text/html"), body)
    assert type(err) is cls
    assert err.status == status
    assert err.type is None
    assert err.title is None
    assert err.detail is None
    assert err.instance is None
    assert err.request_id is None
    assert err.retryable is retryable
    assert err.body == body[: len(err.body)]
    assert len(err.body) == len(body)  # these bodies are all under the preview size
    assert str(status) in str(err)


def test_html_page_message_shows_its_first_bytes() -> None:
    err = status_error(502, headers(Content_Type="text/html"), HTML_502)
    assert "502 Bad Gateway" in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize("status", [404, 429, 502])
def test_empty_body_message_is_more_than_a_number(status: int) -> None:
    # "502" alone in a log says nothing: the message should name the status in words
    # (or at least say that the body was empty).
    err = status_error(status, headers(), b"")
    assert re.search("[A-Za-z]", str(err)), f"unreadable message {str(err)!r}"


def test_large_non_envelope_body_keeps_only_its_first_bytes() -> None:
    body = b"<html>" + b"x" * (10 * BODY_PREVIEW_BYTES) + b"</html>"
    err = status_error(502, headers(), body)
    assert 0 < len(err.body) <= BODY_PREVIEW_BYTES
    assert body.startswith(err.body)
    assert len(str(err)) < 1000


@pytest.mark.parametrize("name", ["X-Request-Id", "x-request-id", "Request-Id", "X-Correlation-Id"])
def test_request_id_from_header_when_no_instance(name: str) -> None:
    envelope = {"title": "Not Found", "type": "errors/resource_not_found", "status": 404}
    hdrs = CIMultiDictProxy(CIMultiDict({name: "req_from_header"}))
    err = status_error(404, hdrs, raw(envelope))
    assert err.instance is None
    assert err.request_id == "req_from_header"
    assert "req_from_header" in str(err)
    # and for a proxy page with no envelope at all
    assert status_error(502, hdrs, HTML_502).request_id == "req_from_header"


def test_instance_wins_over_request_id_header() -> None:
    envelope = ENVELOPES[0]
    err = status_error(envelope["status"], headers(X_Request_Id="req_header"), raw(envelope))
    assert err.request_id == envelope["instance"]
    assert err.instance == envelope["instance"]


def test_envelope_fields_of_the_wrong_type_are_dropped() -> None:
    body = b'{"type": "errors/unexpected_error", "title": 5, "detail": ["x"], "instance": {}}'
    err = status_error(500, headers(), body)
    assert err.type == "errors/unexpected_error"
    assert err.title is None
    assert err.detail is None
    assert err.instance is None
    assert err.retryable is True


def test_undocumented_id_on_a_5xx_is_not_retried() -> None:
    envelope = {"title": "Oops", "type": "errors/brand_new_thing", "status": 503}
    err = status_error(503, headers(), raw(envelope))
    assert type(err) is pp.ServiceUnavailableError
    assert err.retryable is False


def test_retry_after_is_parsed_onto_the_error() -> None:
    envelope = {"title": "Too Many Requests", "type": "errors/too_many_requests", "status": 429}
    assert status_error(429, headers(Retry_After="7"), raw(envelope)).retry_after == 7.0
    assert status_error(429, headers(), raw(envelope)).retry_after is None
    assert status_error(503, headers(Retry_After="soon"), b"").retry_after is None


# -- parse_retry_after -----------------------------------------------------------------------

NOW = dt.datetime(2026, 5, 17, 9, 42, 11, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("5", 5.0), ("120", 120.0), (" 7 ", 7.0), ("1.5", 1.5)],
)
def test_parse_retry_after_delay_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_future_http_date() -> None:
    value = email.utils.format_datetime(NOW + dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(value, now=NOW) == pytest.approx(30.0)
    assert parse_retry_after("Sun, 17 May 2026 09:43:11 GMT", now=NOW) == pytest.approx(60.0)


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Sun, 17 May 2026 09:40:11 GMT", now=NOW) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_parse_retry_after_http_date_against_the_real_clock() -> None:
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    value = email.utils.format_datetime(future, usegmt=True)
    seconds = parse_retry_after(value)
    assert seconds is not None
    assert 3500 < seconds <= 3600


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "5 seconds",
        "120s",
        "nan",
        "inf",
        "-inf",
        "1e999",
        "0x10",
        "Mon, 32 Jan 2024 00:00:00 GMT",
        "Wed, 21 Foo 2015 07:28:00 GMT",
        "\x00",
    ],
)
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize("value", ["-5", "-0.5", "-1e9"])
def test_parse_retry_after_negative_never_gives_a_negative_wait(value: str) -> None:
    assert parse_retry_after(value) in (None, 0.0)


# -- the rest of the tree ---------------------------------------------------------------------


def test_is_retryable_default_rule() -> None:
    assert is_retryable(pp.APIConnectionError("refused")) is True
    assert is_retryable(pp.APITimeoutError("slow")) is True
    assert is_retryable(pp.ResponseDecodeError("bad json")) is False
    assert is_retryable(pp.ConfigurationError("no key")) is False
    assert is_retryable(ValueError("x")) is False
    assert is_retryable(status_error(429, headers(), b"")) is True
    assert is_retryable(status_error(400, headers(), b"")) is False


def test_error_tree() -> None:
    assert issubclass(pp.APITimeoutError, pp.APIConnectionError)
    assert issubclass(pp.ResponseTooLargeError, pp.ResponseDecodeError)
    for cls in (pp.InternalServerError, pp.ServiceUnavailableError, pp.GatewayTimeoutError):
        assert issubclass(cls, pp.ServerError)
    for cls in (
        pp.BadRequestError,
        pp.AuthenticationError,
        pp.PermissionDeniedError,
        pp.NotFoundError,
        pp.RateLimitError,
        pp.ServerError,
    ):
        assert issubclass(cls, pp.APIStatusError)
    for cls in (
        pp.ConfigurationError,
        pp.APIConnectionError,
        pp.ResponseDecodeError,
        pp.APIStatusError,
    ):
        assert issubclass(cls, pp.PostpressError)
        assert cls.__doc__


def test_response_decode_error_path() -> None:
    err = pp.ResponseDecodeError("invalid Chat at $.id", path="$.id")
    assert err.path == "$.id"
    assert err.retryable is False


# -- pp.ErrorType -----------------------------------------------------------------------------


def test_error_type_has_the_33_ids_named_by_their_last_part() -> None:
    assert len(pp.ErrorType) == 33
    for member in pp.ErrorType:
        assert member.name == member.value.removeprefix("errors/").upper()
    assert pp.ErrorType.EXPIRED_CREDENTIALS == "errors/expired_credentials"
    assert pp.ErrorType.INVALID_CREDENTIALS_BUT_VALID_ACCOUNT_IMAP.status == 401
    assert pp.ErrorType.REQUEST_TIMEOUT.status == 504


def test_error_type_reads_as_its_wire_value_in_messages() -> None:
    member = pp.ErrorType.NO_CLIENT_SESSION
    assert str(member) == "errors/no_client_session"
    assert f"{member}" == "errors/no_client_session"
    assert f"{member:>30}" == f"{'errors/no_client_session':>30}"
    assert "got %s" % member == "got errors/no_client_session"  # noqa: UP031 - logging style
    assert "{}".format(member) == "errors/no_client_session"  # noqa: UP032
    assert {member: 1}["errors/no_client_session"] == 1


def test_error_type_in_a_caller_branch() -> None:
    envelope = next(e for e in ENVELOPES if e["type"] == "errors/expired_credentials")
    err = status_error(401, headers(), raw(envelope))
    assert err.type == pp.ErrorType.EXPIRED_CREDENTIALS
    assert pp.ErrorType(err.type) is pp.ErrorType.EXPIRED_CREDENTIALS
    assert f"{pp.ErrorType.EXPIRED_CREDENTIALS}" in str(err)
