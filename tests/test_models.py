"""The Chat models and ``decode_chat`` on recorded and hand-written payloads.

``example_chat.json`` is the reference's example response, verbatim. ``rich_chat.json`` is
hand-written: every attachment variant, a quoted message, a reply, reactions, read receipts of
both kinds and every optional field set.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

import postpress_async as pp

DATA = Path(__file__).parent / "data"
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


@pytest.fixture
def example() -> dict[str, Any]:
    return load("example_chat.json")


@pytest.fixture
def rich() -> dict[str, Any]:
    return load("rich_chat.json")


POLL = {"id": "poll_01", "type": "poll", "question": "Lunch?", "options": ["yes", "no"]}
"""An attachment of a type added after this release."""


# --- The reference's example response --------------------------------------------------------


@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "str"])
def test_example_response_decodes_field_for_field(as_text: bool) -> None:
    body = (DATA / "example_chat.json").read_bytes()
    chat = pp.decode_chat(body.decode() if as_text else body)

    assert type(chat) is pp.Chat
    assert fields(chat) == {
        "object": "Chat",
        "id": "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "account_id": "acc_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "account_type": "LINKEDIN",
        "provider_id": "2-NTRkZDA4M2QtZDcxZS00YzY5...",
        "attendee_provider_id": "ACoAACr-1eYBl...",
        "name": "Jordan Walke",
        "type": 0,
        "timestamp": dt.datetime(2026, 5, 17, 9, 42, 11, tzinfo=UTC),
        "unread_count": 2,
        "archived": 0,
        "muted_until": None,
        "read_only": 0,
        "disabled_features": None,
        "subject": None,
        "organization_id": None,
        "mailbox_id": None,
        "content_type": None,
        "folder": ["INBOX", "INBOX_LINKEDIN_CLASSIC"],
        "pinned": 0,
        "last_message": chat.last_message,
    }
    assert chat.timestamp is not None
    assert chat.timestamp.utcoffset() == dt.timedelta(0)
    assert chat.type == pp.ChatType.ONE_TO_ONE
    assert chat.account_type == pp.AccountType.LINKEDIN
    assert chat.folder == [pp.Folder.INBOX, pp.Folder.INBOX_LINKEDIN_CLASSIC]
    assert not chat.is_muted()
    assert not chat.muted_indefinitely

    message = chat.last_message
    assert type(message) is pp.Message
    assert fields(message) == {
        "object": "Message",
        "id": "msg_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "provider_id": "urn:li:msg:2-NTRkZDA4...",
        "account_id": "acc_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "chat_id": "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "chat_provider_id": "2-NTRkZDA4M2QtZDcxZS00YzY5...",
        "sender_id": "ACoAACr-1eYBl...",
        "sender_attendee_id": "att_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "timestamp": dt.datetime(2026, 5, 17, 9, 42, 11, tzinfo=UTC),
        "text": "Sounds good - let's chat tomorrow.",
        "is_sender": 0,
        "attachments": [],
        "quoted": None,
        "reactions": [],
        "seen": 1,
        "seen_by": {"att_01HXYZ4QK3WJ8FN3M6QH7TZ8GR": True},
        "hidden": 0,
        "deleted": 0,
        "edited": 0,
        "is_event": 0,
        "delivered": 1,
        "behavior": 0,
        "event_type": None,
        "original": "{...raw provider payload...}",
        "is_forwarded": None,
        "replies": None,
        "reply_by": None,
        "parent": None,
        "subject": None,
        "message_type": None,
        "attendee_type": None,
        "attendee_distance": None,
        "sender_urn": None,
        "reply_to": None,
    }
    assert message.timestamp.utcoffset() == dt.timedelta(0)
    assert message.seen_by["att_01HXYZ4QK3WJ8FN3M6QH7TZ8GR"] is True


@needs_spec
def test_example_in_the_reference_matches_the_recorded_file() -> None:
    text = SPEC.read_text("utf-8")
    start = text.index("Example response") + len("Example response")
    end = text.index("Errors", start)
    assert json.loads(text[start:end]) == load("example_chat.json")


# --- A rich chat: every variant and every optional field -------------------------------------


def test_rich_chat_top_level_fields(rich: dict[str, Any]) -> None:
    chat = decode(rich)
    message = chat.last_message
    assert message is not None
    assert fields(chat) == {
        "object": "Chat",
        "id": "chat_01HY2RICH7K3WJ8FN3M6QH7TZ8",
        "account_id": "acc_01HY2RICH7K3WJ8FN3M6QH7TZ8",
        "account_type": "LINKEDIN",
        "provider_id": "2-YTk1ZGQ0ZWMtNjA3Ni00ZjQ1LWI0MjctMmE3ZGY0NzQwNzRj",
        "attendee_provider_id": "ACoAAB1xG0wBq9rHk2",
        "name": "Recruiting sync: Platform team",
        "type": 1,
        "timestamp": dt.datetime(2026, 5, 17, 9, 42, 11, 250000, tzinfo=PLUS_2),
        "unread_count": 5,
        "archived": 1,
        "muted_until": dt.datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
        "read_only": 1,
        "disabled_features": ["reactions", "reply"],
        "subject": "Platform engineer role",
        "organization_id": "org_74410023",
        "mailbox_id": "mbx_99120001",
        "content_type": "inmail",
        "folder": ["INBOX", "INBOX_LINKEDIN_RECRUITER"],
        "pinned": 1,
        "last_message": message,
    }
    assert chat.timestamp is not None
    assert chat.timestamp.utcoffset() == dt.timedelta(hours=2)
    assert chat.type == pp.ChatType.GROUP
    assert chat.content_type == pp.ContentType.INMAIL
    assert chat.folder == [pp.Folder.INBOX, pp.Folder.INBOX_LINKEDIN_RECRUITER]


def test_rich_chat_message_fields(rich: dict[str, Any]) -> None:
    message = decode(rich).last_message
    assert message is not None
    expected = {
        "object": "Message",
        "id": "msg_01HY2RICHMSG3WJ8FN3M6QH7TZ",
        "provider_id": "urn:li:msg:2-YTk1ZGQ0ZWMtNjA3Ni00ZjQ1",
        "account_id": "acc_01HY2RICH7K3WJ8FN3M6QH7TZ8",
        "chat_id": "chat_01HY2RICH7K3WJ8FN3M6QH7TZ8",
        "chat_provider_id": "2-YTk1ZGQ0ZWMtNjA3Ni00ZjQ1LWI0MjctMmE3ZGY0NzQwNzRj",
        "sender_id": "ACoAAB1xG0wBq9rHk2",
        "sender_attendee_id": "att_01HY2RICHATT3WJ8FN3M6QH7T",
        "timestamp": dt.datetime(2026, 5, 17, 7, 42, 11, 250000, tzinfo=UTC),
        "text": "Here are the slides, the recording and the JD.",
        "is_sender": 1,
        "seen": 1,
        "seen_by": {
            "att_01HY2RICHATT3WJ8FN3M6QH7T": True,
            "att_01HY2QUOTEDATT8FN3M6QH7TZ": dt.datetime(2026, 5, 17, 7, 45, tzinfo=UTC),
            "att_01HY2THIRDATT38FN3M6QH7TZ": False,
        },
        "hidden": 0,
        "deleted": 0,
        "edited": 1,
        "is_event": 1,
        "delivered": 1,
        "behavior": 2,
        "event_type": 3,
        "original": (
            '{"entityUrn":"urn:li:msg:2-YTk1ZGQ0ZWMtNjA3Ni00ZjQ1",'
            '"body":{"text":"Here are the slides"}}'
        ),
        "is_forwarded": True,
        "replies": 2,
        "reply_by": ["att_01HY2QUOTEDATT8FN3M6QH7TZ", "att_01HY2THIRDATT38FN3M6QH7TZ"],
        "parent": "msg_01HY2PARENT3WJ8FN3M6QH7TZ",
        "subject": "Re: Platform engineer role",
        "message_type": "INMAIL_REPLY",
        "attendee_type": "MEMBER",
        "attendee_distance": 2,
        "sender_urn": "urn:li:fsd_profile:ACoAAB1xG0wBq9rHk2",
    }
    actual = fields(message)
    for name in ("attachments", "quoted", "reactions", "reply_to"):
        del actual[name]  # checked by the tests below
    assert actual == expected
    assert message.message_type == pp.MessageType.INMAIL_REPLY
    assert message.attendee_type == pp.AttendeeType.MEMBER
    seen_at = message.seen_by["att_01HY2QUOTEDATT8FN3M6QH7TZ"]
    assert isinstance(seen_at, dt.datetime)
    assert seen_at.utcoffset() == dt.timedelta(0)
    assert message.seen_by["att_01HY2RICHATT3WJ8FN3M6QH7T"] is True
    assert message.seen_by["att_01HY2THIRDATT38FN3M6QH7TZ"] is False


def test_rich_chat_every_attachment_variant(rich: dict[str, Any]) -> None:
    message = decode(rich).last_message
    assert message is not None
    attachments = message.attachments
    assert [type(a) for a in attachments] == [
        pp.ImageAttachment,
        pp.VideoAttachment,
        pp.AudioAttachment,
        pp.FileAttachment,
        pp.LinkedInPostAttachment,
        pp.VideoMeetingAttachment,
    ]
    assert [a.type for a in attachments] == [
        "img",
        "video",
        "audio",
        "file",
        "linkedin_post",
        "video_meeting",
    ]
    media = "https://media.postpress.ai/att/"
    assert attachments == [
        pp.ImageAttachment(
            id="img_01",
            file_size=482113,
            unavailable=False,
            mimetype="image/png",
            url=media + "img_01.png",
            url_expires_at=1779004931,
            size=pp.AttachmentSize(width=1280, height=720),
            sticker=False,
        ),
        pp.VideoAttachment(
            id="vid_01",
            file_size=10485760,
            unavailable=False,
            mimetype="video/mp4",
            url=media + "vid_01.mp4",
            url_expires_at=1779004932,
            size=pp.AttachmentSize(width=1920, height=1080),
            gif=True,
        ),
        pp.AudioAttachment(
            id="aud_01",
            file_size=52000,
            unavailable=False,
            mimetype="audio/ogg",
            url=media + "aud_01.ogg",
            url_expires_at=1779004933,
            duration=12.5,
            voice_note=True,
        ),
        pp.FileAttachment(
            id="file_01",
            file_size=88211,
            unavailable=True,
            mimetype="application/pdf",
            url=media + "file_01.pdf",
            url_expires_at=1779004934,
            file_name="Platform Engineer - JD.pdf",
        ),
        pp.LinkedInPostAttachment(
            id="post_01",
            file_size=0,
            unavailable=False,
            mimetype="text/html",
            url="https://www.linkedin.com/feed/update/urn:li:activity:7190000000000000000",
            url_expires_at=1779004935,
        ),
        pp.VideoMeetingAttachment(
            id="meet_01",
            file_size=0,
            unavailable=False,
            mimetype="text/calendar",
            url="https://meet.example.com/abc-defg-hij",
            url_expires_at=1779004936,
            starts_at=1779008400,
            expires_at=1779012000,
            time_range=3600,
        ),
    ]
    image = attachments[0]
    assert isinstance(image, pp.ImageAttachment)
    assert (image.size.width, image.size.height) == (1280, 720)


def test_quoted_message_id_is_the_quoted_messages_postpress_id(rich: dict[str, Any]) -> None:
    quoted = rich["lastMessage"]["quoted"]
    del quoted["message_id"]
    message = decode(rich).last_message
    assert message is not None
    assert message.quoted is not None
    assert message.quoted.message_id is None
    assert not hasattr(message, "message_id")  # a Message's own postpress id is .id
    quoted["message_id"] = ""
    with pytest.raises(pp.ResponseDecodeError) as info:
        decode(rich)
    assert info.value.path == "$.lastMessage.quoted.message_id"


def test_rich_chat_quoted_reactions_and_reply(rich: dict[str, Any]) -> None:
    message = decode(rich).last_message
    assert message is not None
    assert message.quoted == pp.QuotedMessage(
        provider_id="urn:li:msg:2-QUOTED0001",
        sender_id="ACoAAC9zQuoted",
        text="Could you send the deck?",
        attachments=[
            pp.ImageAttachment(
                id="qimg_01",
                unavailable=False,
                size=pp.AttachmentSize(width=64, height=64),
                sticker=True,
            ),
            pp.FileAttachment(id="qfile_01", unavailable=False, file_name="agenda.txt"),
        ],
        message_id="msg_01HY2QUOTEDMSG8FN3M6QH7TZ",
    )
    assert [type(r) for r in message.reactions] == [pp.Reaction] * 3
    assert [(r.value, r.sender_id, r.is_sender) for r in message.reactions] == [
        ("👍", "ACoAAC9zQuoted", False),
        ("🎉", "ACoAAB1xG0wBq9rHk2", True),
        ("❤️", "ACoAAD4Third", False),
    ]
    assert message.reply_to == pp.ReplyTo(
        id="msg_01HY2REPLYTO3WJ8FN3M6QH7T",
        provider_id="urn:li:msg:2-REPLYTO0001",
        timestamp=dt.datetime(2026, 5, 16, 18, 0, tzinfo=UTC),
        sender_attendee_id="att_01HY2QUOTEDATT8FN3M6QH7TZ",
        sender_id="ACoAAC9zQuoted",
        text="Could you send the deck?",
    )
    assert type(message.reply_to) is pp.ReplyTo
    assert message.reply_to.timestamp.utcoffset() == dt.timedelta(0)


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


# --- Constants -------------------------------------------------------------------------------


def test_string_constants_equal_their_wire_values() -> None:
    assert pp.AccountType.LINKEDIN == "LINKEDIN"
    assert {m.value for m in pp.AccountType} == {
        "WHATSAPP",
        "LINKEDIN",
        "SLACK",
        "TWITTER",
        "MESSENGER",
        "INSTAGRAM",
        "TELEGRAM",
    }
    assert pp.MessageType.INMAIL_REPLY == "INMAIL_REPLY"
    assert {m.value for m in pp.MessageType} == {
        "MESSAGE",
        "INVITATION",
        "INMAIL",
        "INMAIL_DECLINE",
        "INMAIL_REPLY",
        "INMAIL_ACCEPT",
    }
    assert pp.AttendeeType.ORGANIZATION == "ORGANIZATION"
    assert {m.value for m in pp.AttendeeType} == {"MEMBER", "ORGANIZATION", "OTHER"}
    assert pp.Folder.INBOX_LINKEDIN_SALES_NAVIGATOR == "INBOX_LINKEDIN_SALES_NAVIGATOR"
    assert {m.value for m in pp.Folder} == {
        "INBOX",
        "INBOX_LINKEDIN_CLASSIC",
        "INBOX_LINKEDIN_RECRUITER",
        "INBOX_LINKEDIN_SALES_NAVIGATOR",
        "INBOX_LINKEDIN_ORGANIZATION",
    }
    for enum_type in (pp.AccountType, pp.MessageType, pp.AttendeeType, pp.Folder):
        for member in enum_type:
            assert member.name == member.value  # named as its value
            assert str(member) == member.value
            assert f"{member}" == member.value


def test_content_type_by_upper_and_wire_name() -> None:
    assert pp.ContentType.INMAIL == "inmail"
    assert pp.ContentType.inmail == "inmail"
    assert pp.ContentType.SPONSORED == pp.ContentType.sponsored == "sponsored"
    assert pp.ContentType.LINKEDIN_OFFER == pp.ContentType.linkedin_offer == "linkedin_offer"
    assert {m.value for m in pp.ContentType} == {"inmail", "sponsored", "linkedin_offer"}
    assert str(pp.ContentType.inmail) == "inmail"


def test_chat_type_constants() -> None:
    assert pp.ChatType.ONE_TO_ONE == 0
    assert pp.ChatType.GROUP == 1
    assert pp.ChatType.BROADCAST == 2
    assert {int(m) for m in pp.ChatType} == {0, 1, 2}


def documented_error_ids() -> dict[str, int]:
    """Every ``errors/...`` id in the reference, with the status of the section it is in."""
    text = SPEC.read_text("utf-8")
    errors = text[text.index("Every error response") :]
    ids: dict[str, int] = {}
    sections = re.split(r"\n(?=\d{3} [A-Z][A-Za-z ]+\d+ types?\n)", errors)
    for section in sections:
        heading = re.match(r"(\d{3}) [A-Za-z ]+?(\d+) types?\n", section)
        if heading is None:
            continue
        status, count = int(heading[1]), int(heading[2])
        found = re.findall(r"errors/[a-z_]+", section)
        assert len(found) == count, f"{status}: {found}"
        ids.update(dict.fromkeys(found, status))
    return ids


@needs_spec
def test_error_type_has_exactly_the_documented_ids() -> None:
    documented = documented_error_ids()
    everywhere = set(re.findall(r"errors/[a-z_]+", SPEC.read_text("utf-8")))
    assert set(documented) == everywhere
    assert len(documented) == 33
    assert {m.value for m in pp.ErrorType} == set(documented)
    assert len(list(pp.ErrorType)) == 33


@needs_spec
def test_error_type_names_and_statuses() -> None:
    for error_id, status in documented_error_ids().items():
        name = error_id.rsplit("/", 1)[1].upper()
        member = getattr(pp.ErrorType, name)
        assert member == error_id
        assert member.name == name
        assert member.status == status, error_id
    assert pp.ErrorType.EXPIRED_CREDENTIALS == "errors/expired_credentials"
