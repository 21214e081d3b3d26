"""The Chat payload as msgspec Structs, and the decoder built once for it.

Attributes are the wire names in snake_case. A field the reference marks nullable defaults to
None (null or absent); an optional field defaults to None too. Values of documented sets stay
plain ``str``/``int`` so that new values decode unchanged (see ``_constants``).
"""

from __future__ import annotations

import copy
import datetime as _dt
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec
from msgspec import Meta, field

__all__ = [
    "Attachment",
    "AttachmentSize",
    "AudioAttachment",
    "Chat",
    "FileAttachment",
    "ImageAttachment",
    "LinkedInPostAttachment",
    "Message",
    "QuotedMessage",
    "Reaction",
    "ReplyTo",
    "UnknownAttachment",
    "VideoAttachment",
    "VideoMeetingAttachment",
]

NonEmptyStr = Annotated[str, Meta(min_length=1)]
Timestamp = Annotated[_dt.datetime, Meta(tz=True)]
"""A timezone-aware datetime. The wire's ISO strings carry a zone; the codec reads one that
does not as UTC (off the fast path, so a well-formed payload pays nothing for it)."""
UTC = _dt.timezone.utc


class _Model(msgspec.Struct, kw_only=True, gc=False):
    """Base of every model: keyword-only fields, wire JSON out."""

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready builtins under its wire names."""
        result: dict[str, Any] = _to_builtins(self)
        return result

    def to_json(self) -> bytes:
        """The model as wire JSON; ``decode_chat(chat.to_json()) == chat``."""
        return _encode(_to_builtins(self))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """pydantic's hook (FastAPI models, pydantic fields): see ``_pydantic``."""
        from ._pydantic import core_schema_for  # only once pydantic asks: it imports pydantic

        return core_schema_for(cls)


class AttachmentSize(_Model, kw_only=True):
    """Pixel size of an image or video attachment."""

    width: int
    height: int


class _AttachmentBase(_Model, tag_field="type", kw_only=True):
    """Fields shared by every attachment variant; ``type`` is the variant's tag."""

    type: ClassVar[str]
    id: str
    unavailable: bool
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class ImageAttachment(_AttachmentBase, tag="img", kw_only=True):
    """An image (``type == "img"``)."""

    type: ClassVar[str] = "img"
    size: AttachmentSize
    sticker: bool


class VideoAttachment(_AttachmentBase, tag="video", kw_only=True):
    """A video (``type == "video"``)."""

    type: ClassVar[str] = "video"
    size: AttachmentSize
    gif: bool


class AudioAttachment(_AttachmentBase, tag="audio", kw_only=True):
    """An audio clip or voice note (``type == "audio"``)."""

    type: ClassVar[str] = "audio"
    duration: float | None = None
    voice_note: bool


class FileAttachment(_AttachmentBase, tag="file", kw_only=True):
    """A generic file (``type == "file"``)."""

    type: ClassVar[str] = "file"
    file_name: str


class LinkedInPostAttachment(_AttachmentBase, tag="linkedin_post", kw_only=True):
    """A shared LinkedIn post (``type == "linkedin_post"``)."""

    type: ClassVar[str] = "linkedin_post"


class VideoMeetingAttachment(_AttachmentBase, tag="video_meeting", kw_only=True):
    """A video meeting invitation (``type == "video_meeting"``); times are Unix epochs."""

    type: ClassVar[str] = "video_meeting"
    starts_at: int | None = None
    expires_at: int | None = None
    time_range: float | None = None


class UnknownAttachment(_Model, kw_only=True):
    """An attachment whose ``type`` this SDK does not know; ``raw`` is the original object."""

    type: str
    id: str | None = None
    raw: dict[str, Any]


_KNOWN_ATTACHMENT_CLASSES = (
    ImageAttachment,
    VideoAttachment,
    AudioAttachment,
    FileAttachment,
    LinkedInPostAttachment,
    VideoMeetingAttachment,
)
KNOWN_ATTACHMENT_TYPES = frozenset(cls.type for cls in _KNOWN_ATTACHMENT_CLASSES)

KnownAttachment = (
    ImageAttachment
    | VideoAttachment
    | AudioAttachment
    | FileAttachment
    | LinkedInPostAttachment
    | VideoMeetingAttachment
)
Attachment = KnownAttachment | UnknownAttachment
"""Any attachment; ``UnknownAttachment`` stands in for a ``type`` added after this release."""

# msgspec decodes the six tagged variants; an UnknownAttachment is put in place by the codec's
# fallback path, so the annotation msgspec resolves at run time must not include it.
if TYPE_CHECKING:
    _Decoded = Attachment
else:
    _Decoded = KnownAttachment


class QuotedMessage(_Model, kw_only=True):
    """The message a message quotes."""

    provider_id: str
    sender_id: str
    text: str | None = None
    attachments: list[_Decoded]
    message_id: NonEmptyStr | None = None
    """The quoted message's postpress id."""


class Reaction(_Model, kw_only=True):
    """An emoji reaction left on a message."""

    value: str
    sender_id: str
    is_sender: bool


class ReplyTo(_Model, kw_only=True):
    """The message a message replies to."""

    id: NonEmptyStr
    provider_id: str
    timestamp: Timestamp
    sender_attendee_id: NonEmptyStr
    sender_id: str
    text: str | None = None


class Message(_Model, kw_only=True):
    """A message: the ``lastMessage`` of a chat. 0/1 flags are ints and work as booleans."""

    object: str = "Message"
    id: NonEmptyStr
    provider_id: str
    account_id: NonEmptyStr
    chat_id: NonEmptyStr
    chat_provider_id: str
    sender_id: str
    sender_attendee_id: NonEmptyStr
    timestamp: Timestamp
    text: str | None = None
    is_sender: int
    attachments: list[_Decoded]
    quoted: QuotedMessage | None = None
    reactions: list[Reaction]
    seen: int
    seen_by: dict[str, bool | Timestamp]
    hidden: int
    deleted: int
    edited: int
    is_event: int
    delivered: int
    behavior: int | None = None
    event_type: int | None = None
    original: str
    is_forwarded: bool | None = None
    replies: int | None = None
    reply_by: list[str] | None = None
    parent: Annotated[str, Meta(min_length=1)] | None = None
    subject: str | None = None
    message_type: str | None = None
    attendee_type: str | None = None
    attendee_distance: int | None = None
    sender_urn: str | None = None
    reply_to: ReplyTo | None = None


class Chat(_Model, kw_only=True):
    """A chat with its most recent message. 0/1 flags are ints and work as booleans."""

    object: str
    id: NonEmptyStr
    account_id: NonEmptyStr
    account_type: str
    provider_id: str
    attendee_provider_id: str | None = None
    name: str | None = None
    type: int
    timestamp: Timestamp | None = None
    unread_count: int
    archived: int
    muted_until: int | Timestamp | None = None
    read_only: int
    disabled_features: list[str] | None = field(default=None, name="disabledFeatures")
    subject: str | None = None
    organization_id: str | None = None
    mailbox_id: str | None = None
    content_type: str | None = None
    folder: list[str] | None = None
    pinned: int
    last_message: Message | None = field(default=None, name="lastMessage")

    MUTED_INDEFINITELY: ClassVar[int] = -1

    @property
    def muted_indefinitely(self) -> bool:
        """True when ``muted_until`` is -1 (muted until the user unmutes)."""
        return self.muted_until == self.MUTED_INDEFINITELY

    def is_muted(self, at: _dt.datetime | None = None) -> bool:
        """Whether the chat is muted at ``at`` (default: now).

        ``muted_until`` is -1 (muted indefinitely), a datetime (muted until then) or None
        (not muted). Any other number counts as not muted.
        """
        muted = self.muted_until
        if isinstance(muted, _dt.datetime):
            now = at if at is not None else _dt.datetime.now(UTC)
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            return now < muted
        return muted == self.MUTED_INDEFINITELY


_encode = msgspec.json.Encoder().encode


def _to_builtins(model: msgspec.Struct) -> Any:
    """A model as JSON-ready builtins under wire names; unknown attachments as they came."""
    if isinstance(model, UnknownAttachment):
        return copy.deepcopy(model.raw)
    out = msgspec.to_builtins(model)
    _restore_unknown(model, out)
    return out


def _restore_unknown(model: msgspec.Struct, out: Any) -> None:
    # msgspec writes an UnknownAttachment as its fields; on the wire it is the raw object.
    if isinstance(model, Chat):
        if model.last_message is not None:
            _restore_unknown(model.last_message, out["lastMessage"])
        return
    if isinstance(model, Message) and model.quoted is not None:
        _restore_unknown(model.quoted, out["quoted"])
    if isinstance(model, (Message, QuotedMessage)):
        for index, attachment in enumerate(model.attachments):
            if isinstance(attachment, UnknownAttachment):
                out["attachments"][index] = copy.deepcopy(attachment.raw)
