"""The pure parts of the fake server in ``testing``: realistic chats and error envelopes.

Chat ``i`` of a seed is a pure function of ``(seed, i)``, so a run can be reproduced and a
server can hand out more chats of the same stream later. Every generated payload decodes with
``decode_chat``; the mix covers all attachment variants (and a rare unknown one), reactions,
read receipts of both kinds, quoted and replied-to messages, events, empty chats and nulls.
"""

from __future__ import annotations

import base64
import datetime as _dt
import email.utils
import http
import random
import time
from typing import Any

import msgspec

from ._constants import ERROR_STATUS, ErrorType

__all__ = [
    "ERROR_DETAILS",
    "EXAMPLE_CHAT",
    "JSON",
    "Reply",
    "documented_status",
    "envelope",
    "generate_accounts",
    "generate_chat",
    "phrase",
    "retry_after_value",
    "ulid",
]

Reply = tuple[int, dict[str, str], bytes]
"""A response to send: status, headers, body."""
JSON = "application/json"
_encode = msgspec.json.Encoder().encode

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters
_EPOCH_START = 1_704_067_200  # 2024-01-01T00:00:00Z
_EPOCH_SPAN = 2 * 365 * 86_400
_ACCOUNT_TYPES = ("LINKEDIN", "WHATSAPP", "SLACK", "TELEGRAM", "INSTAGRAM", "MESSENGER", "TWITTER")
_ACCOUNT_WEIGHTS = (40, 25, 10, 8, 7, 6, 4)
# fmt: off
_FIRST = ("Jordan", "Amélie", "Zoë", "Ørjan", "José", "Aiko", "Priya", "Li", "Kwame", "Sasha",
          "Mohammed", "Ines", "Ngozi", "Björn", "Chloé", "Dmitri", "Fatima", "Hana", "Olu")
_LAST = ("Walke", "Dubois", "Nakamura", "Okafor", "García", "Müller", "Kowalski", "Nguyen",
         "O'Brien", "Ivanova", "Haddad", "Lindqvist", "Singh", "李", "Rossi", "Abebe")
_GROUPS = ("Design review", "Q3 launch 🚀", "Family 👨‍👩‍👧", "#general", "Hiring — backend",
           "Book club", "Founders", "On-call", "Équipe Paris", "週末の予定")
_TEXTS = ("Sounds good - let's chat tomorrow.", "Thanks! 🙏", "👍", "ok", "",
          "Are you free for a quick call at 3pm?", "Nous avons bien reçu votre message.",
          "I've attached the deck, let me know what you think.", "¿Nos vemos el lunes?",
          "Hi Jordan,\n\nI came across your profile and wanted to reach out about a role.",
          "Can you send me the \"final\" version? The link says 'expired'.",
          "明日の会議は10時からです。", "مرحبا، كيف حالك؟", "Running 5 min late 🏃‍♀️💨",
          "See https://example.com/a?b=1&c=2#frag for details", "<b>not html</b> & not escaped")
# fmt: on
_EMOJI = ("👍", "❤️", "😂", "🎉", "😮", "🙏", "🔥", "👀")
_MIMES = {
    "img": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/quicktime"),
    "audio": ("audio/ogg", "audio/mpeg", "audio/mp4"),
    "file": ("application/pdf", "text/csv", "application/zip", None),
}
_FILE_NAMES = ("deck.pdf", "Q3 numbers.csv", "résumé (final).pdf", "photos.zip", "notes")
_ATTACHMENT_KINDS = ("img", "video", "audio", "file", "linkedin_post", "video_meeting")
_ATTACHMENT_WEIGHTS = (35, 12, 18, 20, 8, 7)


EXAMPLE_CHAT: dict[str, Any] = {
    "object": "Chat",
    "id": "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
    "account_id": "acc_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
    "account_type": "LINKEDIN",
    "provider_id": "2-NTRkZDA4M2QtZDcxZS00YzY5...",
    "attendee_provider_id": "ACoAACr-1eYBl...",
    "name": "Jordan Walke",
    "type": 0,
    "timestamp": "2026-05-17T09:42:11.000Z",
    "unread_count": 2,
    "archived": 0,
    "muted_until": None,
    "read_only": 0,
    "folder": ["INBOX", "INBOX_LINKEDIN_CLASSIC"],
    "pinned": 0,
    "lastMessage": {
        "object": "Message",
        "id": "msg_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "provider_id": "urn:li:msg:2-NTRkZDA4...",
        "account_id": "acc_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "chat_id": "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "chat_provider_id": "2-NTRkZDA4M2QtZDcxZS00YzY5...",
        "sender_id": "ACoAACr-1eYBl...",
        "sender_attendee_id": "att_01HXYZ4QK3WJ8FN3M6QH7TZ8GR",
        "timestamp": "2026-05-17T09:42:11.000Z",
        "text": "Sounds good - let's chat tomorrow.",
        "is_sender": 0,
        "attachments": [],
        "reactions": [],
        "seen": 1,
        "seen_by": {"att_01HXYZ4QK3WJ8FN3M6QH7TZ8GR": True},
        "hidden": 0,
        "deleted": 0,
        "edited": 0,
        "is_event": 0,
        "delivered": 1,
        "behavior": 0,
        "original": "{...raw provider payload...}",
    },
}
"""The reference's example chat, verbatim: the id the README and the docs use, which
``postpress fake-server`` always serves."""


def ulid(rng: random.Random, ms: int) -> str:
    """A ULID-shaped id: 10 Crockford characters of time, 16 of randomness."""
    value = (ms << 80) | rng.getrandbits(80)
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(120, -10, -10)])


def _iso(epoch: float) -> str:
    whole = int(epoch)
    millis = int((epoch - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _b64(rng: random.Random, n: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(n)).decode("ascii")[:n]


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _chat_provider_id(rng: random.Random, account_type: str, group: bool) -> str:
    if account_type == "LINKEDIN":
        return "2-" + _b64(rng, 40) + "=="
    if account_type == "WHATSAPP":
        return f"120363{_digits(rng, 12)}@g.us" if group else f"{_digits(rng, 11)}@s.whatsapp.net"
    if account_type == "SLACK":
        return rng.choice("CDG") + "".join(rng.choices(_CROCKFORD, k=10))
    if account_type == "TELEGRAM":
        return f"-100{_digits(rng, 10)}" if group else _digits(rng, 10)
    if account_type == "TWITTER":
        return f"{_digits(rng, 18)}-{_digits(rng, 18)}"
    return _digits(rng, 16)


def _sender_id(rng: random.Random, account_type: str) -> str:
    if account_type == "LINKEDIN":
        return "ACoAA" + _b64(rng, 34)
    if account_type == "WHATSAPP":
        return f"{_digits(rng, 11)}@s.whatsapp.net"
    if account_type == "SLACK":
        return "U" + "".join(rng.choices(_CROCKFORD, k=10))
    return _digits(rng, rng.choice((10, 16, 18)))


def _message_provider_id(rng: random.Random, account_type: str, epoch: float) -> str:
    if account_type == "LINKEDIN":
        return "2-" + _b64(rng, 48) + "=="
    if account_type == "WHATSAPP":
        return "3EB0" + f"{rng.getrandbits(64):016X}"
    if account_type == "SLACK":
        return f"{int(epoch)}.{rng.randrange(1_000_000):06d}"
    if account_type in ("INSTAGRAM", "MESSENGER"):
        return "mid.$" + _b64(rng, 36)
    return _digits(rng, rng.choice((6, 19)))


def _maybe(rng: random.Random, probability: float, value: Any) -> Any:
    return value if rng.random() < probability else None


def _attachment(rng: random.Random, kind: str, ms: int, epoch: float) -> dict[str, Any]:
    unavailable = rng.random() < 0.08
    item: dict[str, Any] = {"id": ulid(rng, ms), "type": kind, "unavailable": unavailable}
    if not unavailable:
        mimes = _MIMES.get(kind, (None,))
        item["file_size"] = rng.randrange(1_000, 25_000_000)
        item["mimetype"] = rng.choice(mimes)
        item["url"] = f"https://files.postpress.ai/att/{item['id']}?sig={_b64(rng, 24)}"
        item["url_expires_at"] = int(epoch) + 3600
    if kind in ("img", "video"):
        item["size"] = {
            "width": rng.choice((320, 640, 1080, 1920)),
            "height": rng.randrange(200, 2000),
        }
        item["sticker" if kind == "img" else "gif"] = rng.random() < 0.1
    elif kind == "audio":
        item["voice_note"] = rng.random() < 0.7
        item["duration"] = _maybe(rng, 0.9, round(rng.uniform(1, 300), 2))
    elif kind == "file":
        item["file_name"] = rng.choice(_FILE_NAMES)
    elif kind == "linkedin_post":
        item["url"] = f"https://www.linkedin.com/feed/update/urn:li:activity:{_digits(rng, 19)}"
    elif kind == "video_meeting":
        starts = _maybe(rng, 0.8, int(epoch) + rng.randrange(3600, 7 * 86_400))
        item["starts_at"] = starts
        item["expires_at"] = None if starts is None else starts + 3600
        item["time_range"] = _maybe(rng, 0.7, float(rng.choice((900, 1800, 3600))))
    return item


def _attachments(rng: random.Random, ms: int, epoch: float, most: int) -> list[dict[str, Any]]:
    count = rng.choices(range(most + 1), weights=(70, 20, 7, 3)[: most + 1])[0]
    items = []
    for _ in range(count):
        if rng.random() < 0.02:  # a variant added after this release
            items.append({"id": ulid(rng, ms), "type": "poll", "question": "Lunch?", "options": 3})
            continue
        kind = rng.choices(_ATTACHMENT_KINDS, weights=_ATTACHMENT_WEIGHTS)[0]
        items.append(_attachment(rng, kind, ms, epoch))
    return items


def _message(
    rng: random.Random, chat: dict[str, Any], attendees: list[str], epoch: float
) -> dict[str, Any]:
    account_type: str = chat["account_type"]
    ms = int(epoch * 1000)
    is_sender = int(rng.random() < 0.4)
    sender_id = attendees[0] if is_sender else rng.choice(attendees[1:])
    is_event = int(rng.random() < 0.04)
    text = None if is_event or rng.random() < 0.1 else rng.choice(_TEXTS)
    seen_by: dict[str, Any] = {}
    for attendee in rng.sample(attendees, k=rng.randrange(len(attendees) + 1)):
        seen_by["att_" + attendee[-12:]] = (
            _iso(epoch + rng.uniform(1, 9000)) if rng.random() < 0.5 else rng.random() < 0.8
        )
    message: dict[str, Any] = {
        "object": "Message",
        "id": "msg_" + ulid(rng, ms),
        "provider_id": _message_provider_id(rng, account_type, epoch),
        "account_id": chat["account_id"],
        "chat_id": chat["id"],
        "chat_provider_id": chat["provider_id"],
        "sender_id": sender_id,
        "sender_attendee_id": "att_" + ulid(rng, ms),
        "timestamp": _iso(epoch),
        "text": text,
        "is_sender": is_sender,
        "attachments": [] if is_event else _attachments(rng, ms, epoch, 3),
        "reactions": [
            {"value": rng.choice(_EMOJI), "sender_id": rng.choice(attendees), "is_sender": False}
            for _ in range(rng.choices((0, 1, 2, 3), weights=(75, 15, 7, 3))[0])
        ],
        "seen": int(bool(seen_by)),
        "seen_by": seen_by,
        "hidden": int(rng.random() < 0.02),
        "deleted": int(rng.random() < 0.03),
        "edited": int(rng.random() < 0.07),
        "is_event": is_event,
        "delivered": int(rng.random() < 0.95),
        "behavior": _maybe(rng, 0.8, rng.choice((0, 0, 0, 1, 2))),
        "original": '{"raw":"' + _b64(rng, rng.randrange(16, 64)) + '"}',
    }
    if is_event:
        message["event_type"] = rng.randrange(14)
    if rng.random() < 0.1:
        message["quoted"] = {
            "provider_id": _message_provider_id(rng, account_type, epoch - 60),
            "sender_id": rng.choice(attendees),
            "text": _maybe(rng, 0.9, rng.choice(_TEXTS)),
            "attachments": _attachments(rng, ms, epoch, 1),
            "message_id": "msg_" + ulid(rng, ms - 60_000),
        }
    if rng.random() < 0.08:
        message["reply_to"] = {
            "id": "msg_" + ulid(rng, ms - 60_000),
            "provider_id": _message_provider_id(rng, account_type, epoch - 60),
            "timestamp": _iso(epoch - rng.uniform(60, 86_400)),
            "sender_attendee_id": "att_" + ulid(rng, ms),
            "sender_id": rng.choice(attendees),
            "text": _maybe(rng, 0.9, rng.choice(_TEXTS)),
        }
    if rng.random() < 0.05:
        message["is_forwarded"] = True
    if account_type == "SLACK" and rng.random() < 0.3:
        message["replies"] = rng.randrange(1, 12)
        message["reply_by"] = rng.sample(attendees, k=min(2, len(attendees)))
        message["parent"] = "msg_" + ulid(rng, ms - 3_600_000)
    if account_type == "LINKEDIN":
        message["message_type"] = rng.choice(("MESSAGE", "MESSAGE", "INMAIL", "INVITATION"))
        message["attendee_type"] = rng.choice(("MEMBER", "MEMBER", "ORGANIZATION", "OTHER"))
        message["attendee_distance"] = rng.choice((1, 2, 3, 4, -1))
        message["sender_urn"] = "urn:li:fsd_profile:" + sender_id
        message["subject"] = _maybe(rng, 0.2, "Opportunity at Acme")
    return message


def generate_chat(seed: int, index: int, accounts: list[str]) -> dict[str, Any]:
    """Chat ``index`` of the stream for ``seed``, as a wire dict; ``accounts`` to pick from."""
    rng = random.Random(f"postpress:{seed}:{index}")
    epoch = _EPOCH_START + rng.random() * _EPOCH_SPAN
    ms = int(epoch * 1000)
    account_type = rng.choices(_ACCOUNT_TYPES, weights=_ACCOUNT_WEIGHTS)[0]
    chat_type = rng.choices((0, 1, 2), weights=(75, 22, 3))[0]
    group = chat_type != 0
    attendees = [_sender_id(rng, account_type) for _ in range(rng.randrange(3, 7) if group else 2)]
    chat: dict[str, Any] = {
        "object": "Chat",
        "id": "chat_" + ulid(rng, ms),
        "account_id": rng.choice(accounts),
        "account_type": account_type,
        "provider_id": _chat_provider_id(rng, account_type, group),
        "attendee_provider_id": None if group else attendees[1],
        "name": rng.choice(_GROUPS) if group else _maybe(rng, 0.9, _person(rng)),
        "type": chat_type,
        "timestamp": _maybe(rng, 0.97, _iso(epoch)),
        "unread_count": rng.choices((0, rng.randrange(1, 40)), weights=(70, 30))[0],
        "archived": int(rng.random() < 0.1),
        "muted_until": rng.choices((None, -1, _iso(epoch + 86_400 * 7)), weights=(85, 10, 5))[0],
        "read_only": rng.choices((0, 1, 2), weights=(94, 4, 2))[0],
        "pinned": int(rng.random() < 0.05),
    }
    if rng.random() < 0.15:
        chat["disabledFeatures"] = rng.sample(("reactions", "reply"), k=rng.randrange(1, 3))
    if account_type == "LINKEDIN":
        chat["folder"] = [
            "INBOX",
            rng.choice(
                (
                    "INBOX_LINKEDIN_CLASSIC",
                    "INBOX_LINKEDIN_RECRUITER",
                    "INBOX_LINKEDIN_SALES_NAVIGATOR",
                )
            ),
        ]
        if rng.random() < 0.2:
            chat["content_type"] = rng.choice(("inmail", "sponsored", "linkedin_offer"))
            chat["subject"] = "Opportunity at Acme"
        if rng.random() < 0.05:
            chat["organization_id"] = _digits(rng, 8)
            chat["mailbox_id"] = "urn:li:fsd_mailbox:" + _digits(rng, 8)
            chat["folder"].append("INBOX_LINKEDIN_ORGANIZATION")
    elif rng.random() < 0.05:
        chat["folder"] = ["INBOX", "Clients ⭐"]
    chat["lastMessage"] = (
        None if rng.random() < 0.05 else _message(rng, chat, attendees, epoch - rng.uniform(0, 5))
    )
    return chat


def generate_accounts(seed: int, count: int = 5) -> list[str]:
    """The account ids the chats of ``seed`` belong to."""
    rng = random.Random(f"postpress:{seed}:accounts")
    return ["acc_" + ulid(rng, _EPOCH_START * 1000 + i) for i in range(count)]


ERROR_DETAILS: dict[str, str] = {
    "errors/missing_credentials": "Some credentials are necessary to perform the request.",
    "errors/multiple_sessions": (
        "LinkedIn limits multiple sessions on certain Recruiter accounts. Use the cookie "
        "connection method."
    ),
    "errors/invalid_checkpoint_solution": (
        "The checkpoint resolution did not pass successfully. Retry."
    ),
    "errors/invalid_proxy_credentials": "The provided proxy credentials are invalid.",
    "errors/checkpoint_error": "The checkpoint does not appear to be resolvable.",
    "errors/invalid_credentials": "The provided credentials are invalid.",
    "errors/expired_credentials": "Credentials have expired. Reconnect the account.",
    "errors/insufficient_privileges": "This resource is out of your API-key scopes.",
    "errors/disconnected_account": "The account is disconnected from the provider service.",
    "errors/disconnected_feature": "The service you're trying to reach is disconnected.",
    "errors/invalid_credentials_but_valid_account_imap": (
        "IMAP/SMTP credentials are invalid but the account is otherwise valid."
    ),
    "errors/expired_link": "This link has expired. Generate a new one.",
    "errors/wrong_account": "The provided credentials do not match the correct account.",
    "errors/account_restricted": "The account has been restricted by the provider.",
    "errors/account_mismatch": "This action cannot be done with your account.",
    "errors/insufficient_permissions": (
        "Valid authentication but insufficient permissions to perform the request."
    ),
    "errors/session_mismatch": "Token user id does not match client session id.",
    "errors/feature_not_subscribed": (
        "The requested feature has not been subscribed or authenticated properly."
    ),
    "errors/subscription_required": "A subscription is required to use this feature.",
    "errors/unknown_authentication_context": (
        "An additional step seems necessary to complete login."
    ),
    "errors/action_required": "An additional step is required.",
    "errors/resource_access_restricted": "You don't have access to this resource.",
    "errors/resource_not_found": "The requested resource was not found.",
    "errors/invalid_resource_identifier": "The provided identifier is not a valid chat id.",
    "errors/unexpected_error": "Something went wrong.",
    "errors/provider_error": "The provider is experiencing operational problems. Retry later.",
    "errors/authentication_intent_error": (
        "The current authentication intent was killed after failure."
    ),
    "errors/no_client_session": "No client session is currently running.",
    "errors/no_channel": "No channel to client session.",
    "errors/no_handler": "Handler missing for that request.",
    "errors/network_down": "Network is down on the server side. Retry shortly.",
    "errors/service_unavailable": "Service temporarily unavailable. Retry later.",
    "errors/request_timeout": "Request timed out. Retry, and contact support if it persists.",
}
"""The reference's description of each documented error id: the envelope's ``detail``."""


def documented_status(error_id: str) -> int | None:
    """The status the reference gives ``error_id``, or None for an undocumented id."""
    try:
        return ERROR_STATUS[ErrorType(error_id)]
    except ValueError:
        return None


def phrase(status: int) -> str:
    """The reason phrase of an HTTP status ("Not Found")."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def envelope(status: int, error_id: str, detail: str | None, request_id: str) -> Reply:
    """An error response in the reference's envelope, ``instance`` being the request id."""
    body = {
        "title": phrase(status),
        "detail": detail or ERROR_DETAILS.get(error_id, phrase(status) + "."),
        "instance": request_id,
        "type": str(error_id),
        "status": status,
    }
    return status, {"Content-Type": JSON, "X-Request-Id": request_id}, _encode(body)


def retry_after_value(value: float | str | _dt.datetime | None) -> str | None:
    """A ``Retry-After`` header value from seconds, a datetime, or a string kept as is."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return email.utils.format_datetime(aware.astimezone(_dt.timezone.utc), usegmt=True)
    return str(int(value)) if float(value).is_integer() else str(value)
