"""Payload helpers of the model tests: the recorded chats, decoding, and editing at a path.

``example_chat.json`` is the reference's example response, verbatim. ``rich_chat.json`` is
hand-written: every attachment variant, a quoted message, a reply, reactions, read receipts of
both kinds and every optional field set.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from support import DATA

import postpress_async as pp

# The API reference: a copy beside the payloads if there is one, else the shared original.
SPEC = next(
    (
        path
        for path in (DATA / "retrieve-a-chat.txt", Path("/work/shared/spec/retrieve-a-chat.txt"))
        if path.exists()
    ),
    DATA / "retrieve-a-chat.txt",
)
needs_spec = pytest.mark.skipif(not SPEC.exists(), reason=f"the API reference is not at {SPEC}")
UTC = dt.timezone.utc
PLUS_2 = dt.timezone(dt.timedelta(hours=2))

Path_ = tuple[str | int, ...]


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / name).read_text("utf-8"))
    return payload


def decode(payload: Any) -> pp.Chat:
    return pp.decode_chat(json.dumps(payload).encode())


def decode_error(payload: Any) -> pp.ResponseDecodeError:
    with pytest.raises(pp.ResponseDecodeError) as info:
        decode(payload)
    return info.value


def parent_of(payload: Any, path: Path_) -> Any:
    node = payload
    for part in path[:-1]:
        node = node[part]
    return node


def set_at(payload: Any, path: Path_, value: Any) -> None:
    parent_of(payload, path)[path[-1]] = value


def delete_at(payload: Any, path: Path_) -> None:
    del parent_of(payload, path)[path[-1]]


def json_path(path: Path_) -> str:
    """The path as ``ResponseDecodeError.path`` spells it: ``$.lastMessage.attachments[0].id``."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def fields(model: Any) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model.__struct_fields__}


POLL = {"id": "poll_01", "type": "poll", "question": "Lunch?", "options": ["yes", "no"]}
"""An attachment of a type added after this release."""
