"""The Chat models' values: timestamps (zones kept, none means UTC), muting and 0/1 flags, and
the round trip back to the wire (``to_dict``, ``to_json``, wire names).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from payloads import (
    POLL,
    UTC,
    Path_,
    decode,
    json_path,
    load,
    set_at,
)

import postpress_async as pp

# --- Timestamps ------------------------------------------------------------------------------


TIMESTAMPS: list[tuple[Path_, Any]] = [
    (("timestamp",), lambda c: c.timestamp),
    (("muted_until",), lambda c: c.muted_until),
    (("lastMessage", "timestamp"), lambda c: c.last_message.timestamp),
    (("lastMessage", "reply_to", "timestamp"), lambda c: c.last_message.reply_to.timestamp),
]


@pytest.mark.parametrize(("path", "get"), TIMESTAMPS, ids=[json_path(p) for p, _ in TIMESTAMPS])
def test_timestamp_without_zone_becomes_utc(rich: dict[str, Any], path: Path_, get: Any) -> None:
    set_at(rich, path, "2026-05-17T09:42:11.5")
    value = get(decode(rich))
    assert value == dt.datetime(2026, 5, 17, 9, 42, 11, 500000, tzinfo=UTC)
    assert value.tzinfo is not None
    assert value.utcoffset() == dt.timedelta(0)


def test_seen_by_timestamp_without_zone_becomes_utc(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["seen_by"] = {"att_1": "2026-05-17T09:45:00", "att_2": True}
    message = decode(rich).last_message
    assert message is not None
    seen_at = message.seen_by["att_1"]
    assert isinstance(seen_at, dt.datetime)
    assert seen_at.tzinfo is not None
    assert seen_at == dt.datetime(2026, 5, 17, 9, 45, tzinfo=UTC)


def test_timestamp_offsets_are_kept(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["seen_by"] = {"att_1": "2026-05-17T11:45:00+02:00"}
    message = decode(rich).last_message
    assert message is not None
    seen_at = message.seen_by["att_1"]
    assert isinstance(seen_at, dt.datetime)
    assert seen_at.utcoffset() == dt.timedelta(hours=2)
    assert seen_at == dt.datetime(2026, 5, 17, 9, 45, tzinfo=UTC)


# --- Muting and flags ------------------------------------------------------------------------


def test_muted_indefinitely(example: dict[str, Any]) -> None:
    example["muted_until"] = -1
    chat = decode(example)
    assert chat.muted_until == -1
    assert chat.muted_indefinitely
    assert chat.is_muted()
    assert chat.is_muted(at=dt.datetime(2999, 1, 1, tzinfo=UTC))


def test_muted_until_a_future_time(example: dict[str, Any]) -> None:
    future = dt.datetime.now(UTC) + dt.timedelta(days=3)
    example["muted_until"] = future.isoformat()
    chat = decode(example)
    assert chat.muted_until == future
    assert not chat.muted_indefinitely
    assert chat.is_muted()


def test_muted_until_a_past_time(example: dict[str, Any]) -> None:
    example["muted_until"] = "2001-01-01T00:00:00Z"
    chat = decode(example)
    assert not chat.is_muted()
    assert not chat.muted_indefinitely


def test_is_muted_at_a_given_time(example: dict[str, Any]) -> None:
    example["muted_until"] = "2026-06-01T08:00:00+02:00"
    chat = decode(example)
    assert chat.is_muted(at=dt.datetime(2026, 6, 1, 5, 59, tzinfo=UTC))
    assert not chat.is_muted(at=dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC))
    assert not chat.is_muted(at=dt.datetime(2026, 6, 1, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize("value", [None, 0])
def test_not_muted(example: dict[str, Any], value: int | None) -> None:
    example["muted_until"] = value
    chat = decode(example)
    assert not chat.is_muted()
    assert not chat.is_muted(at=dt.datetime(1999, 1, 1, tzinfo=UTC))
    assert not chat.muted_indefinitely


def test_muted_until_absent_is_not_muted(example: dict[str, Any]) -> None:
    del example["muted_until"]
    chat = decode(example)
    assert chat.muted_until is None
    assert not chat.is_muted()


def test_zero_one_flags_work_as_booleans(example: dict[str, Any], rich: dict[str, Any]) -> None:
    plain, flagged = decode(example), decode(rich)
    assert plain.last_message is not None
    assert flagged.last_message is not None
    for name in ("archived", "read_only", "pinned"):
        assert not getattr(plain, name)
        assert getattr(flagged, name)
    assert [bool(getattr(plain.last_message, n)) for n in ("is_sender", "seen", "is_event")] == [
        False,
        True,
        False,
    ]
    assert all(getattr(flagged.last_message, n) for n in ("is_sender", "seen", "edited"))
    assert plain.last_message.delivered == 1
    assert plain.last_message.delivered is not True  # stays an int: 2 stays distinguishable


# --- Round trip and wire names ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["example_chat.json", "rich_chat.json"])
def test_round_trip(name: str) -> None:
    chat = decode(load(name))
    assert pp.decode_chat(chat.to_json()) == chat
    assert pp.decode_chat(json.dumps(chat.to_dict())) == chat


def test_round_trip_with_unknown_attachments(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["attachments"].insert(2, copy.deepcopy(POLL))
    rich["lastMessage"]["quoted"]["attachments"].append({"type": "poll", "votes": 3.5})
    chat = decode(rich)
    wire = chat.to_dict()
    assert wire["lastMessage"]["attachments"][2] == POLL
    assert wire["lastMessage"]["quoted"]["attachments"][-1] == {"type": "poll", "votes": 3.5}
    assert json.loads(chat.to_json()) == wire
    again = pp.decode_chat(chat.to_json())
    assert again == chat
    assert again.last_message is not None
    assert type(again.last_message.attachments[2]) is pp.UnknownAttachment


def test_to_dict_does_not_share_unknown_attachment_raw(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["attachments"] = [copy.deepcopy(POLL)]
    chat = decode(rich)
    before = copy.deepcopy(chat)
    wire = chat.to_dict()
    wire["lastMessage"]["attachments"][0]["options"].append("maybe")
    wire["lastMessage"]["attachments"][0]["question"] = "Dinner?"
    wire["folder"].append("MY_CUSTOM")  # the known fields are fresh copies already
    assert chat == before


def test_to_dict_uses_wire_names(rich: dict[str, Any]) -> None:
    wire = decode(rich).to_dict()
    assert "lastMessage" in wire
    assert "disabledFeatures" in wire
    assert "last_message" not in wire
    assert "disabled_features" not in wire
    assert wire["disabledFeatures"] == ["reactions", "reply"]
    assert wire["lastMessage"]["attachments"][0]["type"] == "img"
    assert [a["type"] for a in wire["lastMessage"]["attachments"]] == [
        a["type"] for a in rich["lastMessage"]["attachments"]
    ]
    assert json.loads(json.dumps(wire)) == wire  # JSON-ready builtins only
    # Every key the payload sent comes back under the same name.
    assert set(rich) <= set(wire)
    assert set(rich["lastMessage"]) <= set(wire["lastMessage"])


def test_to_json_is_wire_json(rich: dict[str, Any]) -> None:
    chat = decode(rich)
    wire = json.loads(chat.to_json())
    assert wire["muted_until"] == "2026-06-01T08:00:00Z"
    assert wire["lastMessage"]["seen_by"]["att_01HY2RICHATT3WJ8FN3M6QH7T"] is True
    assert wire == chat.to_dict()
