"""Known values of the reference's documented sets.

Model fields stay plain ``str``/``int`` so that a value the API adds later decodes unchanged;
these enums only name the values documented today. Each member compares equal to its wire
value (``AccountType.LINKEDIN == "LINKEDIN"``, ``ChatType.GROUP == 1``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

__all__ = [
    "AccountType",
    "AttendeeType",
    "ChatType",
    "ContentType",
    "ErrorType",
    "Folder",
    "MessageType",
]


class _StrConstant(str, enum.Enum):
    """A string constant that prints as its wire value."""

    def __str__(self) -> str:
        return str(self.value)

    __format__ = str.__format__  # type: ignore[assignment]


class AccountType(_StrConstant):
    """Documented values of ``Chat.account_type``."""

    WHATSAPP = "WHATSAPP"
    LINKEDIN = "LINKEDIN"
    SLACK = "SLACK"
    TWITTER = "TWITTER"
    MESSENGER = "MESSENGER"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"


class ChatType(enum.IntEnum):
    """Documented values of ``Chat.type``."""

    ONE_TO_ONE = 0
    GROUP = 1
    BROADCAST = 2


class MessageType(_StrConstant):
    """Documented values of ``Message.message_type``."""

    MESSAGE = "MESSAGE"
    INVITATION = "INVITATION"
    INMAIL = "INMAIL"
    INMAIL_DECLINE = "INMAIL_DECLINE"
    INMAIL_REPLY = "INMAIL_REPLY"
    INMAIL_ACCEPT = "INMAIL_ACCEPT"


class AttendeeType(_StrConstant):
    """Documented values of ``Message.attendee_type``."""

    MEMBER = "MEMBER"
    ORGANIZATION = "ORGANIZATION"
    OTHER = "OTHER"


class Folder(_StrConstant):
    """Documented values of ``Chat.folder`` items (custom folder names also occur)."""

    INBOX = "INBOX"
    INBOX_LINKEDIN_CLASSIC = "INBOX_LINKEDIN_CLASSIC"
    INBOX_LINKEDIN_RECRUITER = "INBOX_LINKEDIN_RECRUITER"
    INBOX_LINKEDIN_SALES_NAVIGATOR = "INBOX_LINKEDIN_SALES_NAVIGATOR"
    INBOX_LINKEDIN_ORGANIZATION = "INBOX_LINKEDIN_ORGANIZATION"


class ContentType(_StrConstant):
    """Documented values of ``Chat.content_type``; members are also reachable by the value."""

    INMAIL = "inmail"
    SPONSORED = "sponsored"
    LINKEDIN_OFFER = "linkedin_offer"
    # Aliases named exactly as the wire value, so ContentType.inmail works too.
    inmail = "inmail"
    sponsored = "sponsored"
    linkedin_offer = "linkedin_offer"


class ErrorType(_StrConstant):
    """The 33 documented error ids of the error envelope's ``type``."""

    # 401
    MISSING_CREDENTIALS = "errors/missing_credentials"
    MULTIPLE_SESSIONS = "errors/multiple_sessions"
    INVALID_CHECKPOINT_SOLUTION = "errors/invalid_checkpoint_solution"
    INVALID_PROXY_CREDENTIALS = "errors/invalid_proxy_credentials"
    CHECKPOINT_ERROR = "errors/checkpoint_error"
    INVALID_CREDENTIALS = "errors/invalid_credentials"
    EXPIRED_CREDENTIALS = "errors/expired_credentials"
    INSUFFICIENT_PRIVILEGES = "errors/insufficient_privileges"
    DISCONNECTED_ACCOUNT = "errors/disconnected_account"
    DISCONNECTED_FEATURE = "errors/disconnected_feature"
    INVALID_CREDENTIALS_BUT_VALID_ACCOUNT_IMAP = "errors/invalid_credentials_but_valid_account_imap"
    EXPIRED_LINK = "errors/expired_link"
    WRONG_ACCOUNT = "errors/wrong_account"
    # 403
    ACCOUNT_RESTRICTED = "errors/account_restricted"
    ACCOUNT_MISMATCH = "errors/account_mismatch"
    INSUFFICIENT_PERMISSIONS = "errors/insufficient_permissions"
    SESSION_MISMATCH = "errors/session_mismatch"
    FEATURE_NOT_SUBSCRIBED = "errors/feature_not_subscribed"
    SUBSCRIPTION_REQUIRED = "errors/subscription_required"
    UNKNOWN_AUTHENTICATION_CONTEXT = "errors/unknown_authentication_context"
    ACTION_REQUIRED = "errors/action_required"
    RESOURCE_ACCESS_RESTRICTED = "errors/resource_access_restricted"
    # 404
    RESOURCE_NOT_FOUND = "errors/resource_not_found"
    INVALID_RESOURCE_IDENTIFIER = "errors/invalid_resource_identifier"
    # 500
    UNEXPECTED_ERROR = "errors/unexpected_error"
    PROVIDER_ERROR = "errors/provider_error"
    AUTHENTICATION_INTENT_ERROR = "errors/authentication_intent_error"
    # 503
    NO_CLIENT_SESSION = "errors/no_client_session"
    NO_CHANNEL = "errors/no_channel"
    NO_HANDLER = "errors/no_handler"
    NETWORK_DOWN = "errors/network_down"
    SERVICE_UNAVAILABLE = "errors/service_unavailable"
    # 504
    REQUEST_TIMEOUT = "errors/request_timeout"

    @property
    def status(self) -> int:
        """The HTTP status the reference documents for this error id."""
        return ERROR_STATUS[self]


ERROR_STATUS: Final[Mapping[ErrorType, int]] = {
    ErrorType.MISSING_CREDENTIALS: 401,
    ErrorType.MULTIPLE_SESSIONS: 401,
    ErrorType.INVALID_CHECKPOINT_SOLUTION: 401,
    ErrorType.INVALID_PROXY_CREDENTIALS: 401,
    ErrorType.CHECKPOINT_ERROR: 401,
    ErrorType.INVALID_CREDENTIALS: 401,
    ErrorType.EXPIRED_CREDENTIALS: 401,
    ErrorType.INSUFFICIENT_PRIVILEGES: 401,
    ErrorType.DISCONNECTED_ACCOUNT: 401,
    ErrorType.DISCONNECTED_FEATURE: 401,
    ErrorType.INVALID_CREDENTIALS_BUT_VALID_ACCOUNT_IMAP: 401,
    ErrorType.EXPIRED_LINK: 401,
    ErrorType.WRONG_ACCOUNT: 401,
    ErrorType.ACCOUNT_RESTRICTED: 403,
    ErrorType.ACCOUNT_MISMATCH: 403,
    ErrorType.INSUFFICIENT_PERMISSIONS: 403,
    ErrorType.SESSION_MISMATCH: 403,
    ErrorType.FEATURE_NOT_SUBSCRIBED: 403,
    ErrorType.SUBSCRIPTION_REQUIRED: 403,
    ErrorType.UNKNOWN_AUTHENTICATION_CONTEXT: 403,
    ErrorType.ACTION_REQUIRED: 403,
    ErrorType.RESOURCE_ACCESS_RESTRICTED: 403,
    ErrorType.RESOURCE_NOT_FOUND: 404,
    ErrorType.INVALID_RESOURCE_IDENTIFIER: 404,
    ErrorType.UNEXPECTED_ERROR: 500,
    ErrorType.PROVIDER_ERROR: 500,
    ErrorType.AUTHENTICATION_INTENT_ERROR: 500,
    ErrorType.NO_CLIENT_SESSION: 503,
    ErrorType.NO_CHANNEL: 503,
    ErrorType.NO_HANDLER: 503,
    ErrorType.NETWORK_DOWN: 503,
    ErrorType.SERVICE_UNAVAILABLE: 503,
    ErrorType.REQUEST_TIMEOUT: 504,
}
"""The HTTP status the reference documents for each error id, written out one by one."""
