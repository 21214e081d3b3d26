"""Properties of ``decode_chat`` on generated payloads.

``chats()`` draws payloads that are valid per the reference: optional fields present or absent,
nullable ones also null, attachments of all six variants plus types this release does not know,
read receipts of both kinds, values outside the documented sets, and (with ``extras=True``)
unknown fields at every level of the schema.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postpress_async as pp

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JSON = dict[str, Any]
Path_ = tuple[str | int, ...]
Draw = Callable[[st.SearchStrategy[Any]], Any]

KNOWN_TYPES = ("img", "video", "audio", "file", "linkedin_post", "video_meeting")

# --- Leaves ----------------------------------------------------------------------------------

texts = st.text(max_size=12)
non_empty = st.text(min_size=1, max_size=12)
ids = (
    st.builds(
        "{}_{}".format,
        st.sampled_from(["chat", "msg", "att", "acc"]),
        st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=4, max_size=26),
    )
    | non_empty
)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
small_ints = st.integers(min_value=-5, max_value=2**40)
flags = st.sampled_from([0, 1]) | small_ints  # 0/1 documented; other ints decode unchanged
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**9)

OFFSETS = [
    dt.timezone.utc,
    dt.timezone(dt.timedelta(hours=2)),
    dt.timezone(dt.timedelta(hours=-8)),
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(dt.timedelta(hours=14)),
]
_instants = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2100, 1, 1))
aware_datetimes = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from(OFFSETS),
)
aware_timestamps = st.one_of(
    aware_datetimes.map(lambda d: d.isoformat()),
    _instants.map(lambda d: d.isoformat(timespec="milliseconds") + "Z"),
)
timestamps = aware_timestamps | _instants.map(lambda d: d.isoformat())  # naive counts as UTC


def documented_or_new(documented: list[Any], new: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A documented value, mostly; sometimes one the reference does not list."""
    return st.sampled_from(documented) | new


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=4,
)
"""Any JSON value (what an unknown field may hold)."""


def obj(
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
    nullable: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[JSON]:
    """An object: required keys always, optional ones maybe, nullable ones maybe and maybe null."""
    maybe = dict(optional or {})
    for key, values in (nullable or {}).items():
        maybe[key] = st.none() | values
    return st.fixed_dictionaries(required, optional=maybe)


# --- The schema ------------------------------------------------------------------------------

sizes = obj({"width": small_ints, "height": small_ints})


def attachment(
    type_: str,
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
    nullable: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[JSON]:
    """One attachment variant: the fields every variant has, plus its own."""
    common = {"id": texts, "type": st.just(type_), "unavailable": st.booleans()}
    shared = {"file_size": small_ints, "mimetype": texts, "url": texts, "url_expires_at": ints}
    return obj({**common, **required}, {**shared, **(optional or {})}, nullable)


known_attachments = st.one_of(
    attachment("img", {"size": sizes, "sticker": st.booleans()}),
    attachment("video", {"size": sizes, "gif": st.booleans()}),
    attachment("audio", {"voice_note": st.booleans()}, optional={"duration": numbers}),
    attachment("file", {"file_name": texts}),
    attachment("linkedin_post", {}),
    attachment(
        "video_meeting",
        {},
        nullable={"starts_at": ints, "expires_at": ints, "time_range": numbers},
    ),
)
unknown_types = st.sampled_from(["poll", "IMG", "image", "linkedin-post", "", "sticker"]) | texts
unknown_attachments = st.builds(
    lambda type_, id_, rest: {**rest, "type": type_, **id_},
    unknown_types.filter(lambda t: t not in KNOWN_TYPES),
    st.fixed_dictionaries({}, optional={"id": texts | json_values}),
    st.dictionaries(st.text(max_size=6).filter(lambda k: k not in ("type", "id")), json_values),
)
attachments = st.lists(known_attachments | unknown_attachments, max_size=3)

quoted_messages = obj(
    {"provider_id": texts, "sender_id": texts, "attachments": attachments},
    optional={"message_id": ids},
    nullable={"text": texts},
)
reactions = obj(
    {
        "value": st.sampled_from(["👍", "❤️", "😂", "🎉"]) | texts,
        "sender_id": texts,
        "is_sender": st.booleans(),
    }
)
replies_to = obj(
    {
        "id": ids,
        "provider_id": texts,
        "timestamp": timestamps,
        "sender_attendee_id": ids,
        "sender_id": texts,
    },
    nullable={"text": texts},
)
seen_by = st.dictionaries(ids, st.booleans() | aware_timestamps, max_size=4)

messages = obj(
    {
        "id": ids,
        "provider_id": texts,
        "account_id": ids,
        "chat_id": ids,
        "chat_provider_id": texts,
        "sender_id": texts,
        "sender_attendee_id": ids,
        "timestamp": timestamps,
        "is_sender": flags,
        "attachments": attachments,
        "reactions": st.lists(reactions, max_size=3),
        "seen": flags,
        "seen_by": seen_by,
        "hidden": flags,
        "deleted": flags,
        "edited": flags,
        "is_event": flags,
        "delivered": flags,
        "original": texts,
    },
    optional={
        "object": st.just("Message"),
        "quoted": quoted_messages,
        "event_type": documented_or_new(list(range(14)), small_ints),
        "is_forwarded": st.booleans(),
        "replies": small_ints,
        "reply_by": st.lists(ids, max_size=3),
        "parent": ids,
        "message_type": documented_or_new([m.value for m in pp.MessageType], texts),
        "attendee_type": documented_or_new([m.value for m in pp.AttendeeType], texts),
        "attendee_distance": documented_or_new([1, 2, 3, 4, -1], small_ints),
        "sender_urn": texts,
        "reply_to": replies_to,
    },
    nullable={"text": texts, "behavior": small_ints, "subject": texts},
)

chats_without_message = obj(
    {
        "object": st.just("Chat"),
        "id": ids,
        "account_id": ids,
        "account_type": documented_or_new([m.value for m in pp.AccountType], texts),
        "provider_id": texts,
        "type": documented_or_new([0, 1, 2], small_ints),
        "unread_count": small_ints,
        "archived": flags,
        "read_only": documented_or_new([0, 1, 2], small_ints),
        "pinned": flags,
    },
    optional={
        "attendee_provider_id": texts,
        "disabledFeatures": st.lists(documented_or_new(["reactions", "reply"], texts), max_size=3),
        "subject": texts,
        "organization_id": texts,
        "mailbox_id": texts,
        "content_type": documented_or_new([m.value for m in pp.ContentType], texts),
        "folder": st.lists(documented_or_new([m.value for m in pp.Folder], texts), max_size=3),
    },
    nullable={
        "name": texts,
        "timestamp": timestamps,
        "muted_until": st.just(-1) | timestamps | small_ints,
    },
)


@st.composite
def chat_payloads(draw: Draw) -> JSON:
    """A chat; ``lastMessage`` is mostly there, since most of the schema lives in it."""
    payload: JSON = draw(chats_without_message)
    how = draw(st.sampled_from(["message", "message", "message", "null", "absent"]))
    if how != "absent":
        payload["lastMessage"] = draw(messages) if how == "message" else None
    return payload


# Every key the schema knows, at any level: an "unknown" field never uses one of these.
KNOWN_KEYS = frozenset(
    """object id account_id account_type provider_id attendee_provider_id name type timestamp
    unread_count archived muted_until read_only disabledFeatures subject organization_id
    mailbox_id content_type folder pinned lastMessage chat_id chat_provider_id sender_id
    sender_attendee_id text is_sender attachments quoted message_id reactions seen seen_by
    hidden deleted edited is_event delivered behavior event_type original is_forwarded replies
    reply_by parent message_type attendee_type attendee_distance sender_urn reply_to file_size
    unavailable mimetype url url_expires_at size width height sticker gif duration voice_note
    file_name starts_at expires_at time_range value disabled_features last_message""".split()  # noqa: SIM905
)
extra_fields = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in KNOWN_KEYS), json_values, max_size=2
)

# --- Walking a payload -----------------------------------------------------------------------


def is_known_attachment(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") in KNOWN_TYPES


def schema_objects(chat: JSON) -> Iterator[tuple[Path_, JSON, str]]:
    """Every object of the schema in a payload: (path, object, kind); unknown attachments not."""
    yield (), chat, "chat"
    message = chat.get("lastMessage")
    if not isinstance(message, dict):
        return
    yield ("lastMessage",), message, "message"
    lists: list[tuple[Path_, list[Any]]] = [
        (("lastMessage", "attachments"), message["attachments"])
    ]
    quoted = message.get("quoted")
    if isinstance(quoted, dict):
        yield ("lastMessage", "quoted"), quoted, "quoted"
        lists.append((("lastMessage", "quoted", "attachments"), quoted["attachments"]))
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict):
        yield ("lastMessage", "reply_to"), reply_to, "reply_to"
    for index, reaction in enumerate(message["reactions"]):
        yield ("lastMessage", "reactions", index), reaction, "reaction"
    for prefix, items in lists:
        for index, item in enumerate(items):
            if is_known_attachment(item):
                yield (*prefix, index), item, item["type"]
                if "size" in item:
                    yield (*prefix, index, "size"), item["size"], "size"


def with_extras(draw: Draw, payload: JSON) -> JSON:
    """A copy of ``payload`` with unknown fields inserted at random places in its objects."""
    payload = copy.deepcopy(payload)
    for _path, target, _kind in list(schema_objects(payload)):
        items = list(target.items())
        for key, value in draw(extra_fields).items():
            items.insert(draw(st.integers(0, len(items))), (key, value))
        target.clear()
        target.update(items)
    return payload


@st.composite
def chats(draw: Draw, extras: bool = True) -> JSON:
    payload: JSON = draw(chat_payloads())
    return with_extras(draw, payload) if extras else payload


@st.composite
def chats_and_extras(draw: Draw) -> tuple[JSON, JSON]:
    payload: JSON = draw(chat_payloads())
    return payload, with_extras(draw, payload)


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def json_path(path: Path_) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


# --- (a) valid payloads decode, and round-trip -----------------------------------------------


def unknown_raws(payload: JSON) -> list[Any]:
    message = payload.get("lastMessage")
    if not isinstance(message, dict):
        return []
    items = list(message["attachments"])
    if isinstance(message.get("quoted"), dict):
        items += message["quoted"]["attachments"]
    return [item for item in items if not is_known_attachment(item)]


@SETTINGS
@given(chats())
def test_valid_payload_decodes_and_round_trips(payload: JSON) -> None:
    chat = pp.decode_chat(encode(payload))
    assert type(chat) is pp.Chat
    assert pp.decode_chat(chat.to_json()) == chat
    assert pp.decode_chat(json.dumps(payload)) == chat  # str in, same chat

    # Values outside the documented sets come through unchanged.
    assert chat.account_type == payload["account_type"]
    assert chat.type == payload["type"]
    assert chat.read_only == payload["read_only"]
    assert chat.folder == payload.get("folder")
    assert chat.content_type == payload.get("content_type")
    message = chat.last_message
    if payload.get("lastMessage") is None:
        assert message is None
        return
    assert message is not None
    raw_message = payload["lastMessage"]
    for name in ("message_type", "attendee_type", "event_type", "attendee_distance"):
        assert getattr(message, name) == raw_message.get(name)

    # Unknown attachments become UnknownAttachment, in order, keeping their raw object.
    decoded = list(message.attachments)
    if message.quoted is not None:
        decoded += message.quoted.attachments
    unknown = [a for a in decoded if isinstance(a, pp.UnknownAttachment)]
    assert [a.raw for a in unknown] == unknown_raws(payload)
    for stand_in in unknown:
        assert stand_in.type == stand_in.raw["type"]
        raw_id = stand_in.raw.get("id")
        assert stand_in.id == (raw_id if isinstance(raw_id, str) else None)
    for item in decoded:
        assert item.type in KNOWN_TYPES or isinstance(item, pp.UnknownAttachment)

    # Every timestamp is aware.
    stamps = [chat.timestamp, message.timestamp, chat.muted_until]
    if message.reply_to is not None:
        stamps.append(message.reply_to.timestamp)
    stamps += message.seen_by.values()
    for stamp in stamps:
        if isinstance(stamp, dt.datetime):
            assert stamp.tzinfo is not None


# --- (b) unknown fields never change the result ----------------------------------------------


@SETTINGS
@given(chats_and_extras())
def test_unknown_fields_never_change_the_result(pair: tuple[JSON, JSON]) -> None:
    plain, extended = pair
    assert pp.decode_chat(encode(extended)) == pp.decode_chat(encode(plain))


# --- (c) any input at all: a Chat or ResponseDecodeError, nothing else -----------------------


def decodes_or_raises_decode_error(body: bytes | str) -> None:
    try:
        chat = pp.decode_chat(body)
    except pp.ResponseDecodeError as exc:
        path = exc.path
    else:
        assert type(chat) is pp.Chat
        return
    assert path is None or path.startswith("$")


@SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_decode_error(body: bytes) -> None:
    decodes_or_raises_decode_error(body)


@SETTINGS
@given(st.text(max_size=256))
def test_arbitrary_text_only_raises_decode_error(body: str) -> None:
    decodes_or_raises_decode_error(body)


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(sorted(KNOWN_KEYS)), children, max_size=4
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(any_json)
def test_arbitrary_json_only_raises_decode_error(value: Any) -> None:
    decodes_or_raises_decode_error(json.dumps(value))  # NaN/Infinity included: not JSON


def all_paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from all_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from all_paths(value, (*prefix, index))


def replace_at(payload: Any, path: Path_, value: Any) -> None:
    node = payload
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@settings(SETTINGS, max_examples=100)  # a fuzz pass on top of (d); the payloads are costly to draw
@given(st.data())
def test_chat_with_any_subtree_replaced_only_raises_decode_error(data: st.DataObject) -> None:
    payload = data.draw(chats())
    path = data.draw(st.sampled_from(list(all_paths(payload))))
    replace_at(payload, path, data.draw(any_json))
    decodes_or_raises_decode_error(json.dumps(payload))


# --- (d) a broken required field is named by .path -------------------------------------------

REQUIRED: dict[str, dict[str, str]] = {
    "chat": {
        "object": "str",
        "id": "non_empty",
        "account_id": "non_empty",
        "account_type": "str",
        "provider_id": "str",
        "type": "int",
        "unread_count": "int",
        "archived": "int",
        "read_only": "int",
        "pinned": "int",
    },
    "message": {
        "id": "non_empty",
        "provider_id": "str",
        "account_id": "non_empty",
        "chat_id": "non_empty",
        "chat_provider_id": "str",
        "sender_id": "str",
        "sender_attendee_id": "non_empty",
        "timestamp": "datetime",
        "is_sender": "int",
        "attachments": "list",
        "reactions": "list",
        "seen": "int",
        "seen_by": "object",
        "hidden": "int",
        "deleted": "int",
        "edited": "int",
        "is_event": "int",
        "delivered": "int",
        "original": "str",
    },
    "quoted": {"provider_id": "str", "sender_id": "str", "attachments": "list"},
    "reply_to": {
        "id": "non_empty",
        "provider_id": "str",
        "timestamp": "datetime",
        "sender_attendee_id": "non_empty",
        "sender_id": "str",
    },
    "reaction": {"value": "str", "sender_id": "str", "is_sender": "bool"},
    "size": {"width": "int", "height": "int"},
    "img": {"size": "object", "sticker": "bool"},
    "video": {"size": "object", "gif": "bool"},
    "audio": {"voice_note": "bool"},
    "file": {"file_name": "str"},
    "linkedin_post": {},
    "video_meeting": {},
}
ATTACHMENT_REQUIRED = {"id": "str", "type": "tag", "unavailable": "bool"}

WRONG_VALUES: dict[str, list[Any]] = {
    "str": [None, 1, 1.5, True, [], {}],
    "non_empty": ["", None, 7, ["id"]],
    "int": [None, "1", 1.5, True, [], {}],
    "bool": [None, 0, 1, "true", []],
    "datetime": [None, 1779004931, 1.5, "not a date", "2026-13-01T00:00:00Z", True, []],
    "list": [None, "x", 1, {}],
    "object": [None, "x", 1, []],
    "tag": [None, 1, True, [], {}],  # a string tag is never wrong: it is a new type
}


def required_fields(payload: JSON) -> list[tuple[Path_, str]]:
    found = []
    for path, target, kind in schema_objects(payload):
        fields = REQUIRED[kind]
        if kind in KNOWN_TYPES:
            fields = {**ATTACHMENT_REQUIRED, **fields}
        found += [((*path, key), wire_type) for key, wire_type in fields.items() if key in target]
    return found


@SETTINGS
@given(st.data())
def test_broken_required_field_is_named_by_path(data: st.DataObject) -> None:
    payload = data.draw(chats())
    path, wire_type = data.draw(st.sampled_from(required_fields(payload)))
    parent: Any = payload
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans(), label="delete"):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(st.sampled_from(WRONG_VALUES[wire_type]), label="value")
    with pytest.raises(pp.ResponseDecodeError) as info:
        pp.decode_chat(encode(payload))
    assert info.value.path == json_path(path)
