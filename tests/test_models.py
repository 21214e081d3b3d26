"""The Chat models and ``decode_chat`` on recorded payloads, field for field.

``example_chat.json`` is the reference's example response, verbatim. ``rich_chat.json`` is
hand-written: every attachment variant, a quoted message, a reply, reactions, read receipts of
both kinds and every optional field set. Unknown and invalid payloads are in
``test_models_unknown_and_invalid.py``; timestamps, flags and the round trip in
``test_models_times_flags_round_trip.py``; the string constants in ``test_constants.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from payloads import (
    DATA,
    PLUS_2,
    SPEC,
    UTC,
    decode,
    fields,
    load,
    needs_spec,
)

import postpress_async as pp

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
