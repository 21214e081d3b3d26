"""What the ``postpress`` commands share: exit codes, one-line error descriptions, the client."""

from __future__ import annotations

import argparse
from collections import Counter

import msgspec

from . import _errors as errors
from ._client import AsyncPostpress
from ._config import NOT_GIVEN, Timeout
from ._redact import one_line

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "describe",
    "exit_code_for",
    "make_client",
    "pretty",
    "summary",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143

EXIT_CODES: dict[type[BaseException], int] = {
    errors.ConfigurationError: 3,
    errors.APIConnectionError: 4,
    errors.APITimeoutError: 5,
    errors.ResponseDecodeError: 6,
    errors.AuthenticationError: 7,
    errors.PermissionDeniedError: 8,
    errors.NotFoundError: 9,
    errors.BadRequestError: 10,
    errors.RateLimitError: 11,
    errors.ServerError: 12,
    errors.APIStatusError: 13,
}
"""Exit code per error family; the most specific class wins. 1: some ids of get-many failed."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception, by its most specific family in ``EXIT_CODES``."""
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(cls)
        if code is not None:
            return code
    return EXIT_SOME_FAILED


CLI_LINE_LIMIT = 1000
"""An error line's length at most: the server's text in it is bounded, and so is the line."""


def describe(exc: BaseException) -> str:
    """One readable line: class, status, type, detail and request id where the error has them.

    The request id is what postpress support asks for, so every error line carries it. The
    server's text in it (type, detail, request id) is escaped to one line: no terminal control.
    """
    parts = [type(exc).__name__]
    text = str(exc)  # a status error's own message starts with its status and type
    if isinstance(exc, errors.APIStatusError) and (exc.detail or exc.title):
        parts.append(str(exc.status))
        if exc.type:
            parts.append(exc.type)
        text = exc.detail or exc.title or ""
    line = " ".join(parts) + (f": {text}" if text else "")
    request_id = getattr(exc, "request_id", None)
    if request_id and f"request_id={request_id}" not in line:
        line += f" [request_id={request_id}]"
    return one_line(" ".join(line.split()), CLI_LINE_LIMIT)


def pretty(data: bytes) -> bytes:
    """Indented JSON, as ``postpress chats get`` prints a chat."""
    return msgspec.json.format(data, indent=2)


def make_client(args: argparse.Namespace) -> AsyncPostpress:
    """The client the command line's common options describe."""
    return AsyncPostpress(
        args.api_key,
        base_url=args.base_url,
        timeout=Timeout.coerce(args.timeout) if args.timeout is not None else Timeout(),
        max_retries=args.max_retries if args.max_retries is not None else NOT_GIVEN,
        rate_limit=getattr(args, "rate_limit", None),
    )


def summary(fetched: int, failures: Counter[str], elapsed: float) -> str:
    """The closing line(s) of a batch: counts, failures by type, and the rate."""
    failed = sum(failures.values())
    rate = (fetched + failed) / elapsed if elapsed > 0 else 0.0
    lines = [f"fetched {fetched}, failed {failed} in {elapsed:.2f}s ({rate:,.0f} chats/s)"]
    for kind, count in failures.most_common():
        lines.append(f"  {count:>6}  {kind}")
    return "\n".join(lines)
