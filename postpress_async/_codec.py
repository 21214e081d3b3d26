"""Wire JSON in: ``decode_chat``, its decoders built once (models write themselves out).

The fast path is one typed msgspec decode. Only when it fails does the fallback run: it decodes
to builtins, looks for what the strict types refuse but this SDK accepts (attachments of a
``type`` this release does not know, timestamps without a zone), mends those, converts the rest
with the same types, and puts an ``UnknownAttachment`` in each unknown attachment's place.
Every failure becomes ``ResponseDecodeError``.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Protocol

import msgspec

from ._errors import ResponseDecodeError
from ._models import (
    KNOWN_ATTACHMENT_TYPES,
    Chat,
    FileAttachment,
    UnknownAttachment,
)

__all__ = ["HasBody", "decode_chat", "decode_chat_body"]


class HasBody(Protocol):
    """A response as the transport read it: its body is ``content``."""

    @property
    def content(self) -> bytes: ...


_decode_typed = msgspec.json.Decoder(Chat).decode
_decode_untyped = msgspec.json.Decoder().decode

_AT_PATH = re.compile(r"^(?P<what>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")

# Stands in for an unknown attachment while the rest of the chat is validated; swapped out
# by identity afterwards, so its contents never reach the user.
_PLACEHOLDER = FileAttachment(id="placeholder", unavailable=True, file_name="")


def _decode_error(exc: Exception) -> ResponseDecodeError:
    if isinstance(exc, msgspec.ValidationError):
        match = _AT_PATH.match(str(exc))
        assert match is not None  # the pattern matches any string
        what, path = match["what"], match["path"] or "$"
        missing = _MISSING.match(what)
        if missing:
            path = f"{path}.{missing['field']}"
        return ResponseDecodeError(f"invalid Chat at {path}: {what}", path=path)
    if isinstance(exc, msgspec.DecodeError):
        return ResponseDecodeError(f"response body is not valid JSON: {exc}", path=None)
    return ResponseDecodeError(
        f"response body could not be decoded ({type(exc).__name__}: {exc})", path=None
    )


def decode_chat(data: bytes | str) -> Chat:
    """Decode a ``GET /chats/{chat_id}`` body; any bad input raises ``ResponseDecodeError``."""
    try:
        return _decode_typed(data)
    except Exception as exc:
        return _decode_after(exc, data)


def decode_chat_body(response: HasBody) -> Chat:
    """``decode_chat(response.content)`` in one call: the parse of every chat request."""
    try:
        return _decode_typed(response.content)
    except Exception as exc:
        return _decode_after(exc, response.content)


def _decode_after(exc: Exception, data: bytes | str) -> Chat:
    """The slow path, once the typed decode failed with ``exc``."""
    if not isinstance(exc, msgspec.ValidationError):  # any bytes at all: only our own error
        raise _decode_error(exc) from exc
    try:
        chat = _decode_leniently(data)
    except Exception as lenient_exc:
        raise _decode_error(lenient_exc) from lenient_exc
    if chat is None:
        raise _decode_error(exc) from exc
    return chat


def _unknown_slots(message: dict[str, Any]) -> list[tuple[list[Any], int, dict[str, Any]]]:
    """Where a message holds attachments of an unknown ``type``: (list, index, raw)."""
    slots: list[tuple[list[Any], int, dict[str, Any]]] = []
    lists = [message.get("attachments")]
    quoted = message.get("quoted")
    if isinstance(quoted, dict):
        lists.append(quoted.get("attachments"))
    for items in lists:
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if (
                isinstance(item, dict)
                and isinstance(item.get("type"), str)
                and item["type"] not in KNOWN_ATTACHMENT_TYPES
            ):
                slots.append((items, index, item))
    return slots


def _zoned(owner: dict[str, Any], key: str) -> bool:
    """Read a zone-less ISO timestamp at ``owner[key]`` as UTC; True if one was mended."""
    value = owner.get(key)
    if not isinstance(value, str):
        return False
    try:
        parsed = msgspec.convert(value, _dt.datetime)
    except msgspec.ValidationError:
        return False  # left for the typed conversion to report, with its path
    if parsed.tzinfo is not None:
        return False
    owner[key] = parsed.replace(tzinfo=_dt.timezone.utc)
    return True


def _mend_timestamps(tree: dict[str, Any], message: dict[str, Any] | None) -> bool:
    mended = _zoned(tree, "timestamp") | _zoned(tree, "muted_until")
    if message is not None:
        mended |= _zoned(message, "timestamp")
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict):
            mended |= _zoned(reply_to, "timestamp")
        seen_by = message.get("seen_by")
        if isinstance(seen_by, dict):
            for attendee in list(seen_by):
                mended |= _zoned(seen_by, attendee)
    return mended


def _decode_leniently(data: bytes | str) -> Chat | None:
    """The fallback: None when there is nothing to mend (the strict error stands)."""
    tree = _decode_untyped(data)
    if not isinstance(tree, dict):
        return None
    message = tree.get("lastMessage")
    if not isinstance(message, dict):
        message = None
    slots = _unknown_slots(message) if message is not None else []
    mended = _mend_timestamps(tree, message)
    if not slots and not mended:
        return None
    for items, index, _raw in slots:
        items[index] = _PLACEHOLDER
    chat = msgspec.convert(tree, Chat)
    if slots:
        _put_unknown_attachments(chat, [raw for _items, _index, raw in slots])
    return chat


def _put_unknown_attachments(chat: Chat, raws: list[dict[str, Any]]) -> None:
    message = chat.last_message
    assert message is not None  # the unknown attachments were found inside it
    decoded = [message.attachments]
    if message.quoted is not None:
        decoded.append(message.quoted.attachments)
    remaining = iter(raws)
    for attachments in decoded:
        for index, item in enumerate(attachments):
            if item is _PLACEHOLDER:
                raw = next(remaining)
                raw_id = raw.get("id")
                attachments[index] = UnknownAttachment(
                    type=raw["type"], id=raw_id if isinstance(raw_id, str) else None, raw=raw
                )
