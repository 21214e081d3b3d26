"""The Chat schema written for the libraries we compare against.

Same fields, nullability and attachment union as ``postpress_async._models``:

- ``PydanticChat``: plain pydantic v2, decoded with ``PydanticChat.model_validate_json(body)``.
- ``OpenAIChat``: written the way openai-python's generated models are (a subclass of
  ``openai.BaseModel``, ``Optional`` fields defaulting to None, a ``PropertyInfo`` discriminator),
  built the way its client builds responses:
  ``construct_type(type_=OpenAIChat, value=json.loads(body))`` (no validation).

Neither has a fallback for attachment types it does not know; the benchmark payload has none.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import openai
import pydantic
from openai._utils import PropertyInfo
from pydantic import Field, StringConstraints

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]

# --- pydantic v2 ---------------------------------------------------------------------------


class PydanticAttachmentSize(pydantic.BaseModel):
    width: int
    height: int


class _PydanticAttachment(pydantic.BaseModel):
    id: str
    unavailable: bool
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class PydanticImage(_PydanticAttachment):
    type: Literal["img"]
    size: PydanticAttachmentSize
    sticker: bool


class PydanticVideo(_PydanticAttachment):
    type: Literal["video"]
    size: PydanticAttachmentSize
    gif: bool


class PydanticAudio(_PydanticAttachment):
    type: Literal["audio"]
    duration: float | None = None
    voice_note: bool


class PydanticFile(_PydanticAttachment):
    type: Literal["file"]
    file_name: str


class PydanticLinkedInPost(_PydanticAttachment):
    type: Literal["linkedin_post"]


class PydanticVideoMeeting(_PydanticAttachment):
    type: Literal["video_meeting"]
    starts_at: int | None = None
    expires_at: int | None = None
    time_range: float | None = None


PydanticAttachment = Annotated[
    PydanticImage
    | PydanticVideo
    | PydanticAudio
    | PydanticFile
    | PydanticLinkedInPost
    | PydanticVideoMeeting,
    Field(discriminator="type"),
]


class PydanticQuoted(pydantic.BaseModel):
    provider_id: str
    sender_id: str
    text: str | None = None
    attachments: list[PydanticAttachment]
    message_id: NonEmptyStr | None = None


class PydanticReaction(pydantic.BaseModel):
    value: str
    sender_id: str
    is_sender: bool


class PydanticReplyTo(pydantic.BaseModel):
    id: NonEmptyStr
    provider_id: str
    timestamp: dt.datetime
    sender_attendee_id: NonEmptyStr
    sender_id: str
    text: str | None = None


class PydanticMessage(pydantic.BaseModel):
    object: str = "Message"
    id: NonEmptyStr
    provider_id: str
    account_id: NonEmptyStr
    chat_id: NonEmptyStr
    chat_provider_id: str
    sender_id: str
    sender_attendee_id: NonEmptyStr
    timestamp: dt.datetime
    text: str | None = None
    is_sender: int
    attachments: list[PydanticAttachment]
    quoted: PydanticQuoted | None = None
    reactions: list[PydanticReaction]
    seen: int
    seen_by: dict[str, bool | dt.datetime]
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
    parent: NonEmptyStr | None = None
    subject: str | None = None
    message_type: str | None = None
    attendee_type: str | None = None
    attendee_distance: int | None = None
    sender_urn: str | None = None
    reply_to: PydanticReplyTo | None = None


class PydanticChat(pydantic.BaseModel):
    object: str
    id: NonEmptyStr
    account_id: NonEmptyStr
    account_type: str
    provider_id: str
    attendee_provider_id: str | None = None
    name: str | None = None
    type: int
    timestamp: dt.datetime | None = None
    unread_count: int
    archived: int
    muted_until: int | dt.datetime | None = None
    read_only: int
    disabled_features: list[str] | None = Field(default=None, alias="disabledFeatures")
    subject: str | None = None
    organization_id: str | None = None
    mailbox_id: str | None = None
    content_type: str | None = None
    folder: list[str] | None = None
    pinned: int
    last_message: PydanticMessage | None = Field(default=None, alias="lastMessage")


# --- openai-python style -------------------------------------------------------------------


class OpenAIAttachmentSize(openai.BaseModel):
    width: int
    height: int


class OpenAIImage(openai.BaseModel):
    id: str
    type: Literal["img"]
    unavailable: bool
    size: OpenAIAttachmentSize
    sticker: bool
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class OpenAIVideo(openai.BaseModel):
    id: str
    type: Literal["video"]
    unavailable: bool
    size: OpenAIAttachmentSize
    gif: bool
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class OpenAIAudio(openai.BaseModel):
    id: str
    type: Literal["audio"]
    unavailable: bool
    voice_note: bool
    duration: float | None = None
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class OpenAIFile(openai.BaseModel):
    id: str
    type: Literal["file"]
    unavailable: bool
    file_name: str
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class OpenAILinkedInPost(openai.BaseModel):
    id: str
    type: Literal["linkedin_post"]
    unavailable: bool
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


class OpenAIVideoMeeting(openai.BaseModel):
    id: str
    type: Literal["video_meeting"]
    unavailable: bool
    starts_at: int | None = None
    expires_at: int | None = None
    time_range: float | None = None
    file_size: int | None = None
    mimetype: str | None = None
    url: str | None = None
    url_expires_at: int | None = None


OpenAIAttachment = Annotated[
    OpenAIImage | OpenAIVideo | OpenAIAudio | OpenAIFile | OpenAILinkedInPost | OpenAIVideoMeeting,
    PropertyInfo(discriminator="type"),
]


class OpenAIQuoted(openai.BaseModel):
    provider_id: str
    sender_id: str
    attachments: list[OpenAIAttachment]
    text: str | None = None
    message_id: str | None = None


class OpenAIReaction(openai.BaseModel):
    value: str
    sender_id: str
    is_sender: bool


class OpenAIReplyTo(openai.BaseModel):
    id: str
    provider_id: str
    timestamp: dt.datetime
    sender_attendee_id: str
    sender_id: str
    text: str | None = None


class OpenAIMessage(openai.BaseModel):
    id: str
    provider_id: str
    account_id: str
    chat_id: str
    chat_provider_id: str
    sender_id: str
    sender_attendee_id: str
    timestamp: dt.datetime
    is_sender: int
    attachments: list[OpenAIAttachment]
    reactions: list[OpenAIReaction]
    seen: int
    seen_by: dict[str, bool | dt.datetime]
    hidden: int
    deleted: int
    edited: int
    is_event: int
    delivered: int
    original: str
    object: str | None = None
    text: str | None = None
    quoted: OpenAIQuoted | None = None
    behavior: int | None = None
    event_type: int | None = None
    is_forwarded: bool | None = None
    replies: int | None = None
    reply_by: list[str] | None = None
    parent: str | None = None
    subject: str | None = None
    message_type: str | None = None
    attendee_type: str | None = None
    attendee_distance: int | None = None
    sender_urn: str | None = None
    reply_to: OpenAIReplyTo | None = None


class OpenAIChat(openai.BaseModel):
    object: str
    id: str
    account_id: str
    account_type: str
    provider_id: str
    type: int
    unread_count: int
    archived: int
    read_only: int
    pinned: int
    attendee_provider_id: str | None = None
    name: str | None = None
    timestamp: dt.datetime | None = None
    muted_until: int | dt.datetime | None = None
    disabled_features: list[str] | None = Field(default=None, alias="disabledFeatures")
    subject: str | None = None
    organization_id: str | None = None
    mailbox_id: str | None = None
    content_type: str | None = None
    folder: list[str] | None = None
    last_message: OpenAIMessage | None = Field(default=None, alias="lastMessage")
