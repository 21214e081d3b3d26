"""What an exception message or a log line may show: one line, bounded, no URL credentials.

A server's strings (an error envelope's ``type`` or ``instance``, a request-id header) reach
messages and log lines; ``one_line`` escapes every character that could end a line or steer a
terminal there, so no server can forge a log record or hide text.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MESSAGE_LIMIT", "SERVER_TEXT_LIMIT", "bounded", "one_line", "redact_url", "redact_urls"]

MESSAGE_LIMIT: Final = 500
"""No exception message of this SDK is longer (characters)."""

SERVER_TEXT_LIMIT: Final = 120
"""One short string of the server's (an error id, a request id) is shown this far at most."""

_USERINFO: Final = re.compile(r"(?<=//)[^\s/@'\"<>]*@")

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# controls that reorder what a terminal shows.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SHORT_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one line: control characters escaped as ``repr`` does, cut to ``limit``."""
    if _UNSAFE.search(text) is not None:
        text = _UNSAFE.sub(_escape, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact_url(text: str) -> str:
    """``text`` (a URL, valid or not) with any ``user:password@`` replaced by ``***@``."""
    head, sep, rest = text.partition("//")
    if not sep:
        head, rest = "", text
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return head + sep + authority + rest[end:]


def redact_urls(text: str) -> str:
    """Every ``//user:password@`` inside free ``text`` (an exception's message) as ``//***@``."""
    return _USERINFO.sub("***@", text) if "@" in text else text


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` without URL credentials, as one line (``one_line``), cut to ``limit``."""
    return one_line(redact_urls(text), limit)
