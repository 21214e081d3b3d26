"""What an exception message may show: bounded, one line, no credentials in URLs."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MESSAGE_LIMIT", "bounded", "redact_url", "redact_urls"]

MESSAGE_LIMIT: Final = 500
"""No exception message of this SDK is longer (characters)."""

_USERINFO: Final = re.compile(r"(?<=//)[^\s/@'\"<>]*@")


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
    """``text`` without URL credentials, cut to ``limit`` characters."""
    text = redact_urls(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
