"""The exceptions this SDK raises, and the one function that turns a response into one.

    PostpressError
    ├── ConfigurationError          bad or missing client settings
    ├── APIConnectionError          no response: refused, reset, DNS, TLS handshake cut
    │   ├── APITimeoutError
    │   ├── CertificateError        the server's certificate or host name failed verification
    │   └── ProxyError              the proxy refused: 407, a failed CONNECT, its own 401/403
    ├── ResponseDecodeError         a 2xx body that is not a valid Chat; .path names the field
    │   └── ResponseTooLargeError   a 2xx body over the client's max_response_size
    └── APIStatusError              any non-2xx response
        ├── BadRequestError         400, 422 and other 4xx not below
        ├── AuthenticationError     401
        ├── PermissionDeniedError   403
        ├── NotFoundError           404
        ├── RateLimitError          429
        └── ServerError             5xx
            ├── InternalServerError      500
            ├── ServiceUnavailableError  503
            └── GatewayTimeoutError      504

``status_error`` does no I/O: it takes a status, headers and body and returns the exception;
the transport calls it for every response that is not a 2xx, so it is tested on recorded bodies.
Every message is bounded and free of URL credentials, and every exception survives ``pickle``.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from multidict import CIMultiDict

from ._constants import ErrorType
from ._redact import SERVER_TEXT_LIMIT, bounded, one_line

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "ConfigurationError",
    "GatewayTimeoutError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PostpressError",
    "ProxyError",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "ServiceUnavailableError",
    "closed_in_flight",
    "is_retryable",
    "request_id_from",
    "parse_retry_after",
    "status_error",
]

BODY_PREVIEW_BYTES = 2048
"""How much of a body an error keeps: enough to read a proxy's page, bounded in memory."""

MESSAGE_TEXT_LIMIT = 300
"""An exception message quotes at most this much of the server's text."""

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


def _rebuild(cls: type[PostpressError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class PostpressError(Exception):
    """Base of every exception this SDK raises."""

    attempts: int = 1
    """How many attempts were made before this error was raised (retries + 1)."""
    retryable: bool = False
    """Whether another attempt could succeed; the default retry rule asks exactly this."""

    def __init__(self, message: str = "") -> None:
        super().__init__(bounded(message))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling; rebuild from state.
        return (_rebuild, (type(self), self.args, self.__dict__))


class ConfigurationError(PostpressError):
    """A client setting is missing or invalid."""


class APIConnectionError(PostpressError):
    """No response arrived: the connection was refused, reset, or failed DNS or TLS."""

    retryable: bool = True


class APITimeoutError(APIConnectionError):
    """No complete response arrived in time; ``.limit`` names the time limit that fired.

    ``.limit`` is ``"attempt"``, ``"connect"``, ``"read"`` or ``"deadline"`` (the ``Timeout``
    field) and ``.seconds`` its value; the message adds how many attempts were made.
    """

    def __init__(
        self, message: str, *, limit: str | None = None, seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.seconds = seconds

    def __str__(self) -> str:
        attempts = self.attempts
        return f"{super().__str__()}; {attempts} attempt{'s' if attempts != 1 else ''} made"


class CertificateError(APIConnectionError):
    """The server's TLS certificate or host name failed verification; never retried."""

    retryable: bool = False


class ProxyError(APIConnectionError):
    """The proxy refused the request (a 407, a refused CONNECT, its own 401/403); never retried.

    ``.status`` is the proxy's status, ``.proxy`` its URL without credentials.
    """

    retryable: bool = False

    def __init__(
        self, message: str, *, status: int | None = None, proxy: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.proxy = proxy


class ResponseDecodeError(PostpressError):
    """A successful response whose body is not a valid Chat; ``.path`` names the field."""

    retryable: bool = False

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ResponseTooLargeError(ResponseDecodeError):
    """A successful response larger than the client's ``max_response_size``."""


class APIStatusError(PostpressError):
    """The API answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        type: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        instance: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        # A copy: aiohttp's CIMultiDictProxy cannot be pickled, and a worker's error must be.
        self.headers: Mapping[str, str] = CIMultiDict(headers)
        self.body = body
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.request_id = request_id
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After``), if it said."""
        self.retryable = retryable


class BadRequestError(APIStatusError):
    """400, 422, or another 4xx without a class of its own."""


class AuthenticationError(APIStatusError):
    """401: credentials are missing, expired or otherwise invalid."""


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but the account is restricted or the action not allowed."""


class NotFoundError(APIStatusError):
    """404: no chat with that id is visible to this API key."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class ServerError(APIStatusError):
    """5xx: a failure on the server's side."""


class InternalServerError(ServerError):
    """500: something went wrong on postpress's side or the provider's."""


class ServiceUnavailableError(ServerError):
    """503: postpress is temporarily unable to handle the request."""


class GatewayTimeoutError(ServerError):
    """504: the upstream provider did not respond in time."""


_CLASS_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}

RETRYABLE_TYPES: frozenset[str] = frozenset(
    {
        ErrorType.UNEXPECTED_ERROR,
        ErrorType.PROVIDER_ERROR,
        ErrorType.NO_CLIENT_SESSION,
        ErrorType.NO_CHANNEL,
        ErrorType.NETWORK_DOWN,
        ErrorType.SERVICE_UNAVAILABLE,
        ErrorType.REQUEST_TIMEOUT,
    }
)
"""Error ids worth another attempt; every other documented id is final."""

_RETRYABLE_WITHOUT_ENVELOPE = frozenset({500, 502, 503, 504})


def _class_for(status: int) -> type[APIStatusError]:
    cls = _CLASS_BY_STATUS.get(status)
    if cls is not None:
        return cls
    if 400 <= status < 500:
        return BadRequestError
    if 500 <= status < 600:
        return ServerError
    return APIStatusError


def _retryable(status: int, error_type: str | None) -> bool:
    if status == 429:
        return True
    if error_type is None:
        return status in _RETRYABLE_WITHOUT_ENVELOPE
    return status >= 500 and error_type in RETRYABLE_TYPES


_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_RETRY_AFTER_LIMIT = 64
"""An HTTP date is 29 characters; a longer ``Retry-After`` is not one worth parsing."""


def parse_retry_after(value: str | None, *, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP date), or None.

    Any value that is neither (a date out of range, a zone offset of a thousand hours) is
    None, as if the server had not said: never an exception.
    """
    if not value or len(value) > _RETRY_AFTER_LIMIT:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=_dt.timezone.utc)
            now = now or _dt.datetime.now(_dt.timezone.utc)
            seconds = (when - now).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _shorten(text: str, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    return one_line(" ".join(text.split()), limit)


class _Envelope(msgspec.Struct):
    """The members of an error envelope this SDK reads; any other member is skipped."""

    type: object = None
    title: object = None
    detail: object = None
    instance: object = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_ENVELOPE_MEMBERS = frozenset(_Envelope.__struct_fields__)

_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# Every character belongs to exactly one token (a string never closed runs to the end), so a
# scan is linear even on broken JSON.
_TOKENS = re.compile(rf'{_JSON_STRING}|".*|[\[\]{{}}]|[^"\[\]{{}}]+', re.DOTALL)
_STRING_MEMBER = re.compile(rf"\s*:\s*({_JSON_STRING})", re.DOTALL)


def _shallow_envelope(body: bytes) -> _Envelope | None:
    """The envelope's top-level string members, for a body that nests too deep to decode."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.lstrip().startswith("{"):
        return None
    found: dict[str, str] = {}
    depth = 0
    for token in _TOKENS.finditer(text):
        first = token.group()[0]
        if first in "[{":
            depth += 1
        elif first in "]}":
            depth -= 1
        elif first == '"' and depth == 1:
            name = token.group()[1:-1]
            member = _STRING_MEMBER.match(text, token.end())
            if member is not None and name in _ENVELOPE_MEMBERS and name not in found:
                try:
                    found[name] = msgspec.json.decode(member.group(1), type=str)
                except msgspec.DecodeError:
                    continue
    return _Envelope(**found)


def _envelope(body: bytes) -> _Envelope | None:
    """The error envelope in ``body``: an object whose ``type`` is a string, or None.

    Only its four strings are read; anything else in it, however deep, is ignored.
    """
    try:
        envelope: _Envelope | None = _decode_envelope(body)
    except RecursionError:  # a member nested deeper than the decoder goes
        envelope = _shallow_envelope(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if envelope is None or not isinstance(envelope.type, str):
        return None
    return envelope


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The server's request id, from the first request-id header present."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


_NOT_THE_API_STATUSES = frozenset({404, 405})
"""Without a postpress envelope, these say the URL is wrong rather than the chat missing."""


def status_error(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str | None = None
) -> APIStatusError:
    """The exception for a non-2xx response; pure, so it is tested on recorded bodies.

    ``url`` (scheme, host, port and path: no query, no credentials) is named in the message of
    a 404 or 405 without an error envelope, which usually means a wrong base URL.
    """
    envelope = _envelope(body)
    if envelope is None:
        error_type = title = detail = instance = None
    else:
        error_type = _text(envelope.type)
        title = _text(envelope.title)
        detail = _text(envelope.detail)
        instance = _text(envelope.instance)
    request_id = instance or request_id_from(headers)
    retry_after = parse_retry_after(headers.get("Retry-After"))
    # Every string of the server's below is made one line and cut short (``one_line``): none
    # can end a log line that quotes this message, or crowd the rest of it out.
    parts = [f"{status}"]
    if error_type:
        parts.append(one_line(error_type, SERVER_TEXT_LIMIT))
    else:
        parts.append(_reason(status))
    summary = _shorten(detail or title or "")
    message = " ".join(parts) + (f": {summary}" if summary else "")
    hinted = envelope is None and url is not None and status in _NOT_THE_API_STATUSES
    if hinted:
        message += (
            f": {url} answered without a postpress error envelope, so it may not point at the"
            " postpress API (check base_url or POSTPRESS_BASE_URL; it usually ends in /api/v1)"
        )
    if envelope is None and body:
        preview = body[:120].decode("utf-8", "replace").strip()
        said = "" if hinted else "no error envelope; "
        message += f" ({said}body starts {preview!r})"
    if request_id:
        message += f" [request_id={one_line(request_id, SERVER_TEXT_LIMIT)}]"
    cls = _class_for(status)
    return cls(
        message,
        status=status,
        headers=headers,
        body=body[:BODY_PREVIEW_BYTES] if envelope is None else body,
        type=error_type,
        title=title,
        detail=detail,
        instance=instance,
        request_id=request_id,
        retry_after=retry_after,
        retryable=_retryable(status, error_type),
    )


def is_retryable(exc: BaseException) -> bool:
    """The default retry rule: the table in the README, and nothing else."""
    return isinstance(exc, PostpressError) and getattr(exc, "retryable", False) is True


CLOSED_IN_FLIGHT = "the postpress client was closed while this request was in flight"


def closed_in_flight() -> APIConnectionError:
    """The error of a call that was in flight when its client was closed; never retried."""
    error = APIConnectionError(CLOSED_IN_FLIGHT)
    error.retryable = False  # the client is gone: another attempt cannot succeed
    return error
