"""``decode_chat`` on payloads that differ from the reference: unknown fields, new values and
new attachment types decode (forward compatibility); missing, null and wrong-typed fields
raise ``ResponseDecodeError`` naming their path.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from payloads import (
    POLL,
    Path_,
    decode,
    decode_error,
    delete_at,
    json_path,
    load,
    set_at,
)

import postpress_async as pp

# --- Forward compatibility: unknown fields, new values, new attachment types ----------------


def test_unknown_fields_are_ignored_at_every_level(rich: dict[str, Any]) -> None:
    expected = decode(rich)
    extra = {"x_new": {"nested": [1, "two", None]}, "x_flag": True}
    message = rich["lastMessage"]
    objects = [
        rich,
        message,
        message["quoted"],
        message["reply_to"],
        *message["reactions"],
        *message["attachments"],
        *message["quoted"]["attachments"],
        *(a["size"] for a in message["attachments"] if "size" in a),
        *(a["size"] for a in message["quoted"]["attachments"] if "size" in a),
    ]
    for obj in objects:
        obj.update(extra)
    assert decode(rich) == expected


OUT_OF_SET = [
    (("account_type",), "DISCORD", lambda c: c.account_type),
    (("folder",), ["MY_CUSTOM", "INBOX"], lambda c: c.folder),
    (("content_type",), "newsletter", lambda c: c.content_type),
    (("type",), 7, lambda c: c.type),
    (("read_only",), 2, lambda c: c.read_only),
    (("read_only",), 5, lambda c: c.read_only),
    (("disabledFeatures",), ["polls"], lambda c: c.disabled_features),
    (("lastMessage", "message_type"), "NEW_KIND", lambda c: c.last_message.message_type),
    (("lastMessage", "attendee_type"), "BOT", lambda c: c.last_message.attendee_type),
    (("lastMessage", "event_type"), 99, lambda c: c.last_message.event_type),
    (("lastMessage", "attendee_distance"), 9, lambda c: c.last_message.attendee_distance),
    (("lastMessage", "behavior"), 12345, lambda c: c.last_message.behavior),
]


@pytest.mark.parametrize(
    ("path", "value", "get"), OUT_OF_SET, ids=[f"{p[-1]}={v}" for p, v, _ in OUT_OF_SET]
)
def test_out_of_set_values_decode_unchanged(
    rich: dict[str, Any], path: Path_, value: Any, get: Any
) -> None:
    set_at(rich, path, value)
    decoded = get(decode(rich))
    assert decoded == value
    assert type(decoded) is type(value)


def test_unknown_attachment_keeps_type_id_raw_and_order(rich: dict[str, Any]) -> None:
    attachments = rich["lastMessage"]["attachments"]
    attachments.insert(1, copy.deepcopy(POLL))
    attachments.append({"type": "carousel", "id": "car_01", "cards": [{"title": "a"}]})
    chat = decode(rich)
    assert chat.last_message is not None
    decoded = chat.last_message.attachments
    assert [a.type for a in decoded] == [
        "img",
        "poll",
        "video",
        "audio",
        "file",
        "linkedin_post",
        "video_meeting",
        "carousel",
    ]
    poll, carousel = decoded[1], decoded[-1]
    assert type(poll) is pp.UnknownAttachment
    assert (poll.type, poll.id, poll.raw) == ("poll", "poll_01", POLL)
    assert type(carousel) is pp.UnknownAttachment
    assert carousel.raw == {"type": "carousel", "id": "car_01", "cards": [{"title": "a"}]}
    assert type(decoded[0]) is pp.ImageAttachment
    assert type(decoded[2]) is pp.VideoAttachment
    # The known attachments are exactly what they decode to without the unknown ones.
    known = [a for a in decoded if not isinstance(a, pp.UnknownAttachment)]
    assert known == decode(load("rich_chat.json")).last_message.attachments  # type: ignore[union-attr]


def test_unknown_attachment_in_quoted(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["quoted"]["attachments"].insert(1, copy.deepcopy(POLL))
    message = decode(rich).last_message
    assert message is not None
    assert message.quoted is not None
    quoted = message.quoted.attachments
    assert [type(a) for a in quoted] == [
        pp.ImageAttachment,
        pp.UnknownAttachment,
        pp.FileAttachment,
    ]
    assert quoted[1] == pp.UnknownAttachment(type="poll", id="poll_01", raw=POLL)
    # The top-level attachments are untouched by the fallback.
    assert [a.type for a in message.attachments][:2] == ["img", "video"]


def test_unknown_attachments_in_message_and_quoted_together(rich: dict[str, Any]) -> None:
    first = {"type": "poll", "id": "p1"}
    second = {"type": "sticker_pack", "id": "s1", "pack": "cats"}
    third = {"type": "poll", "id": "p2"}
    rich["lastMessage"]["attachments"] = [first, rich["lastMessage"]["attachments"][0], second]
    rich["lastMessage"]["quoted"]["attachments"].append(third)
    message = decode(rich).last_message
    assert message is not None
    assert message.quoted is not None
    assert [getattr(a, "raw", a.type) for a in message.attachments] == [first, "img", second]
    assert message.quoted.attachments[-1] == pp.UnknownAttachment(type="poll", id="p2", raw=third)


def test_unknown_attachment_without_a_string_id(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["attachments"] = [{"type": "poll"}, {"type": "poll", "id": 7}]
    message = decode(rich).last_message
    assert message is not None
    assert message.attachments == [
        pp.UnknownAttachment(type="poll", id=None, raw={"type": "poll"}),
        pp.UnknownAttachment(type="poll", id=None, raw={"type": "poll", "id": 7}),
    ]


NULLABLE: list[tuple[Path_, Any]] = [
    (("name",), lambda c: c.name),
    (("timestamp",), lambda c: c.timestamp),
    (("muted_until",), lambda c: c.muted_until),
    (("lastMessage",), lambda c: c.last_message),
    (("subject",), lambda c: c.subject),
    (("lastMessage", "text"), lambda c: c.last_message.text),
    (("lastMessage", "behavior"), lambda c: c.last_message.behavior),
    (("lastMessage", "subject"), lambda c: c.last_message.subject),
    (("lastMessage", "reply_to", "text"), lambda c: c.last_message.reply_to.text),
    (("lastMessage", "quoted", "text"), lambda c: c.last_message.quoted.text),
    (
        ("lastMessage", "attachments", 5, "starts_at"),
        lambda c: c.last_message.attachments[5].starts_at,
    ),
    (
        ("lastMessage", "attachments", 5, "expires_at"),
        lambda c: c.last_message.attachments[5].expires_at,
    ),
    (
        ("lastMessage", "attachments", 5, "time_range"),
        lambda c: c.last_message.attachments[5].time_range,
    ),
]


@pytest.mark.parametrize("how", ["null", "absent"])
@pytest.mark.parametrize(("path", "get"), NULLABLE, ids=[json_path(p) for p, _ in NULLABLE])
def test_nullable_field_decodes_to_none(
    rich: dict[str, Any], path: Path_, get: Any, how: str
) -> None:
    assert get(decode(rich)) is not None
    if how == "null":
        set_at(rich, path, None)
    else:
        delete_at(rich, path)
    assert get(decode(rich)) is None


REQUIRED: list[Path_] = [
    ("object",),
    ("id",),
    ("account_id",),
    ("account_type",),
    ("provider_id",),
    ("type",),
    ("unread_count",),
    ("archived",),
    ("read_only",),
    ("pinned",),
    ("lastMessage", "id"),
    ("lastMessage", "provider_id"),
    ("lastMessage", "account_id"),
    ("lastMessage", "chat_id"),
    ("lastMessage", "chat_provider_id"),
    ("lastMessage", "sender_id"),
    ("lastMessage", "sender_attendee_id"),
    ("lastMessage", "timestamp"),
    ("lastMessage", "is_sender"),
    ("lastMessage", "attachments"),
    ("lastMessage", "reactions"),
    ("lastMessage", "seen"),
    ("lastMessage", "seen_by"),
    ("lastMessage", "hidden"),
    ("lastMessage", "deleted"),
    ("lastMessage", "edited"),
    ("lastMessage", "is_event"),
    ("lastMessage", "delivered"),
    ("lastMessage", "original"),
    ("lastMessage", "attachments", 0, "id"),
    ("lastMessage", "attachments", 0, "type"),
    ("lastMessage", "attachments", 0, "unavailable"),
    ("lastMessage", "attachments", 0, "size"),
    ("lastMessage", "attachments", 0, "size", "width"),
    ("lastMessage", "attachments", 0, "size", "height"),
    ("lastMessage", "attachments", 0, "sticker"),
    ("lastMessage", "attachments", 1, "size"),
    ("lastMessage", "attachments", 1, "gif"),
    ("lastMessage", "attachments", 2, "voice_note"),
    ("lastMessage", "attachments", 3, "file_name"),
    ("lastMessage", "attachments", 4, "unavailable"),
    ("lastMessage", "attachments", 5, "id"),
    ("lastMessage", "quoted", "provider_id"),
    ("lastMessage", "quoted", "sender_id"),
    ("lastMessage", "quoted", "attachments"),
    ("lastMessage", "quoted", "attachments", 1, "file_name"),
    ("lastMessage", "reactions", 1, "value"),
    ("lastMessage", "reactions", 1, "sender_id"),
    ("lastMessage", "reactions", 1, "is_sender"),
    ("lastMessage", "reply_to", "id"),
    ("lastMessage", "reply_to", "provider_id"),
    ("lastMessage", "reply_to", "timestamp"),
    ("lastMessage", "reply_to", "sender_attendee_id"),
    ("lastMessage", "reply_to", "sender_id"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=json_path)
def test_missing_required_field_names_its_path(rich: dict[str, Any], path: Path_) -> None:
    delete_at(rich, path)
    error = decode_error(rich)
    assert error.path == json_path(path)
    assert json_path(path) in str(error)


WRONG_TYPED: list[tuple[Path_, Any]] = [
    (("id",), 42),
    (("id",), ""),
    (("account_id",), ""),
    (("object",), None),
    (("account_type",), ["LINKEDIN"]),
    (("type",), "group"),
    (("type",), True),
    (("unread_count",), "5"),
    (("archived",), False),
    (("muted_until",), "next week"),
    (("muted_until",), True),
    (("timestamp",), "yesterday"),
    (("folder",), "INBOX"),
    (("folder", 0), 1),
    (("disabledFeatures",), "reactions"),
    (("lastMessage",), "msg_01"),
    (("lastMessage", "id"), ""),
    (("lastMessage", "sender_attendee_id"), ""),
    (("lastMessage", "is_sender"), "yes"),
    (("lastMessage", "is_sender"), None),
    (("lastMessage", "timestamp"), None),
    (("lastMessage", "timestamp"), 1779004931),
    (("lastMessage", "attachments"), {}),
    (("lastMessage", "attachments", 0), "img_01"),
    (("lastMessage", "attachments", 0, "id"), 1),
    (("lastMessage", "attachments", 0, "type"), 1),
    (("lastMessage", "attachments", 0, "unavailable"), 0),
    (("lastMessage", "attachments", 0, "size"), [1280, 720]),
    (("lastMessage", "attachments", 0, "size", "width"), "1280px"),
    (("lastMessage", "attachments", 2, "duration"), "12s"),
    (("lastMessage", "attachments", 5, "starts_at"), "tomorrow"),
    (("lastMessage", "reactions"), None),
    (("lastMessage", "reactions", 0, "is_sender"), 1),
    (("lastMessage", "seen_by"), ["att_1"]),
    (("lastMessage", "original"), {"raw": True}),
    (("lastMessage", "quoted"), []),
    (("lastMessage", "quoted", "attachments"), None),
    (("lastMessage", "reply_to", "timestamp"), "soon"),
    (("lastMessage", "reply_to", "id"), ""),
]


@pytest.mark.parametrize(
    ("path", "value"), WRONG_TYPED, ids=[f"{json_path(p)}={v!r}" for p, v in WRONG_TYPED]
)
def test_wrong_typed_field_names_its_path(rich: dict[str, Any], path: Path_, value: Any) -> None:
    set_at(rich, path, value)
    error = decode_error(rich)
    assert error.path == json_path(path)


@pytest.mark.parametrize(
    ("path", "mutate"),
    [
        (("lastMessage", "attachments", 2, "id"), "delete"),
        (("lastMessage", "attachments", 0, "sticker"), "wrong"),
        (("lastMessage", "quoted", "attachments", 2, "file_name"), "delete"),
        (("lastMessage", "is_sender"), "delete"),
        (("id",), "wrong"),
    ],
    ids=lambda p: json_path(p) if isinstance(p, tuple) else p,
)
def test_fallback_path_still_names_the_broken_field(
    rich: dict[str, Any], path: Path_, mutate: str
) -> None:
    """With an unknown attachment present the codec takes its fallback path; paths survive it."""
    rich["lastMessage"]["attachments"].insert(1, copy.deepcopy(POLL))
    rich["lastMessage"]["quoted"]["attachments"].insert(0, copy.deepcopy(POLL))
    # Paths below are in the payload *with* the unknown attachments inserted.
    if mutate == "delete":
        delete_at(rich, path)
    else:
        set_at(rich, path, [])
    assert decode_error(rich).path == json_path(path)


def test_broken_known_attachment_beside_unknown_one_in_quoted(rich: dict[str, Any]) -> None:
    rich["lastMessage"]["quoted"]["attachments"] = [copy.deepcopy(POLL), {"type": "img"}]
    error = decode_error(rich)
    assert error.path is not None
    assert error.path.startswith("$.lastMessage.quoted.attachments[1].")


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b'{"id": ', b"[]", b"null", b"42", b'"Chat"', "\ud800"],
    ids=repr,
)
def test_bad_bodies_raise_response_decode_error(body: bytes | str) -> None:
    with pytest.raises(pp.ResponseDecodeError) as info:
        pp.decode_chat(body)
    assert isinstance(info.value, pp.PostpressError)
    assert info.value.path in (None, "$")
