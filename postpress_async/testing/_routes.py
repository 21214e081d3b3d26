"""The plain functions under the fake server: the chat store, the route table, API-key auth.

Nothing here knows aiohttp: a handler takes the store, the path params, the query and the
request id and returns a ``Reply`` (status, headers, body). Adding an endpoint means adding its
handler and one ``Route`` to ``ROUTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import msgspec

from .. import _fake_data as _fake
from .._chats import CHAT
from .._constants import ErrorType
from .._models import Chat

__all__ = ["MISSING_ACCOUNT_ID", "ROUTES", "ChatStore", "Handler", "Route", "authenticate"]

MISSING_ACCOUNT_ID = "errors/missing_account_id"
"""The fake's error id (status 400) for a provider id fetched without ``account_id``."""

_encode = msgspec.json.Encoder().encode
_Held = tuple[bytes, str, int]  # body, content type, status


class ChatStore:
    """The chats served, each encoded once: by id, and by provider id and account."""

    def __init__(self) -> None:
        self.held: dict[str, _Held] = {}
        self._by_provider: dict[str, dict[str, str]] = {}  # provider id -> account -> chat id
        self._generated: dict[int, int] = {}

    def add(self, chat: Chat | Mapping[str, Any]) -> str:
        wire = chat.to_dict() if isinstance(chat, Chat) else chat
        chat_id, account_id, provider_id = (
            wire.get(k) for k in ("id", "account_id", "provider_id")
        )
        if not isinstance(chat_id, str) or not chat_id:
            raise ValueError("a chat needs a non-empty string 'id' to be served")
        self.held[chat_id] = (_encode(wire), _fake.JSON, 200)
        if isinstance(provider_id, str) and provider_id and isinstance(account_id, str):
            self._by_provider.setdefault(provider_id, {})[account_id] = chat_id
        return chat_id

    def generate(self, n: int, seed: int) -> list[str]:
        accounts = _fake.generate_accounts(seed)
        start = self._generated.get(seed, 0)
        self._generated[seed] = start + n
        chats = (_fake.generate_chat(seed, i, accounts) for i in range(start, start + n))
        return [self.add(chat) for chat in chats]

    def lookup(self, chat_id: str, account_id: str | None, rid: str) -> _fake.Reply:
        """A postpress id, or a provider id with its ``account_id``; else a 400 or 404."""
        held = self.held.get(chat_id)
        if held is None and chat_id in self._by_provider:
            if account_id is None:
                detail = "account_id is mandatory when chat_id is a provider id."
                return _fake.envelope(400, MISSING_ACCOUNT_ID, detail, rid)
            owner = self._by_provider[chat_id].get(account_id)
            held = None if owner is None else self.held.get(owner)
        if held is None:
            return _fake.envelope(404, ErrorType.RESOURCE_NOT_FOUND, None, rid)
        body, content_type, status = held
        return status, {"Content-Type": content_type, "X-Request-Id": rid}, body


Handler = Callable[[ChatStore, Mapping[str, str], Mapping[str, str], str], _fake.Reply]
"""``handler(store, path params, query, request id)``: the reply of an authorized request."""


def get_chat(
    store: ChatStore, params: Mapping[str, str], query: Mapping[str, str], rid: str
) -> _fake.Reply:
    """``GET /chats/{chat_id}[?account_id=...]``."""
    return store.lookup(params["chat_id"], query.get("account_id"), rid)


class Route:
    """``method`` on ``pattern`` (below the prefix; ``{name}`` is one non-empty segment)."""

    __slots__ = ("_segments", "handler", "method", "pattern")

    def __init__(self, method: str, pattern: str, handler: Handler) -> None:
        self.method, self.pattern, self.handler = method, pattern, handler
        # Split once: a str is a literal segment, a 1-tuple holds a param's name.
        self._segments = [
            (s[1:-1],) if s.startswith("{") and s.endswith("}") else s for s in pattern.split("/")
        ]

    def __repr__(self) -> str:
        return f"Route({self.method!r}, {self.pattern!r})"

    def match(self, path: str) -> dict[str, str] | None:
        """The percent-decoded params if the raw ``path`` (prefix removed) fits, else None."""
        parts = path.split("/")
        if len(parts) != len(self._segments):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(parts, self._segments, strict=True):
            if isinstance(segment, tuple):
                if not part:
                    return None
                params[segment[0]] = unquote(part)
            elif part != segment:
                return None
        return params


ROUTES: tuple[Route, ...] = (Route("GET", CHAT.template, get_chat),)
"""The endpoints served, on the SDK's own path templates."""


def authenticate(headers: Mapping[str, str], api_key: str, rid: str) -> _fake.Reply | None:
    """None for the right ``X-API-KEY``, else the 401 envelope to send."""
    key = headers.get("X-API-KEY")
    if not key:
        return _fake.envelope(401, ErrorType.MISSING_CREDENTIALS, None, rid)
    if key != api_key:
        return _fake.envelope(401, ErrorType.INVALID_CREDENTIALS, None, rid)
    return None
