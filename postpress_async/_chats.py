"""The chats resource: ``retrieve``, ``with_raw_response.retrieve`` and ``retrieve_many``."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

from yarl import URL

from ._batch import ChatResult, ProgressCallback, fetch_many, validate_batch_args
from ._codec import decode_chat
from ._models import Chat
from ._response import RawResponse

if TYPE_CHECKING:
    from ._client import AsyncPostpress

__all__ = ["AsyncChats", "AsyncChatsWithRawResponse", "chat_path_segment"]

_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}
_PLAIN_ID = re.compile(r"[A-Za-z0-9_~-]+").fullmatch
"""Ids made only of unreserved characters other than ".": their own encoding."""


def _percent_encoded(value: str, name: str) -> str:
    """Every character of ``value`` that is not unreserved, percent-encoded."""
    try:
        return quote(value, safe="")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not valid unicode: {value!r}") from exc


def chat_path_segment(chat_id: object) -> str:
    """``chat_id`` percent-encoded as exactly one path segment; rejects bad ids early."""
    if not isinstance(chat_id, str):
        raise TypeError(f"chat_id must be a str, got {type(chat_id).__name__}")
    if _PLAIN_ID(chat_id):  # the usual id needs no quoting: skip quote()'s work
        return chat_id
    if not chat_id:
        raise ValueError("chat_id must not be empty")
    segment = _percent_encoded(chat_id, "chat_id")
    return _DOT_SEGMENTS.get(segment, segment)


def _account_query(account_id: object) -> str:
    if account_id is None:
        return ""
    if not isinstance(account_id, str):
        raise TypeError(f"account_id must be a str or None, got {type(account_id).__name__}")
    if not account_id:
        raise ValueError("account_id must not be empty; pass None to leave it out")
    return "?account_id=" + _percent_encoded(account_id, "account_id")


class AsyncChats:
    """``client.chats``: chats of the connected accounts."""

    def __init__(self, client: AsyncPostpress) -> None:
        self._client = client
        self._prefix = client._config.base_url + "/chats/"
        self.with_raw_response = AsyncChatsWithRawResponse(self)
        """The same methods, returning the ``RawResponse`` instead of the parsed model."""

    def _url(self, chat_id: str, account_id: str | None) -> URL:
        path = self._prefix + chat_path_segment(chat_id) + _account_query(account_id)
        return URL(path, encoded=True)

    async def retrieve(self, chat_id: str, *, account_id: str | None = None) -> Chat:
        """Retrieve a chat with its last message.

        ``chat_id`` is a postpress id or, with ``account_id``, a provider id.
        """
        response = await self._client._get(self._url(chat_id, account_id))
        return decode_chat(response.content)

    def retrieve_many(
        self,
        ids: Iterable[str] | AsyncIterable[str],
        *,
        account_id: str | None = None,
        concurrency: int = 32,
        ordered: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[ChatResult, None]:
        """Retrieve many chats, at most ``concurrency`` at a time; one result per id.

        ``ids`` is read lazily. Results come in completion order, or input order if
        ``ordered``. One id's failure is a result with ``.error`` set, never a raise.
        ``on_progress(done, failed)`` is called after each result.
        """
        validate_batch_args(ids, concurrency, ordered)
        _account_query(account_id)

        async def fetch(chat_id: str) -> Chat:
            return await self.retrieve(chat_id, account_id=account_id)

        return fetch_many(
            fetch, ids, concurrency=concurrency, ordered=ordered, on_progress=on_progress
        )


class AsyncChatsWithRawResponse:
    """``client.chats.with_raw_response``: the chats methods returning ``RawResponse``."""

    def __init__(self, chats: AsyncChats) -> None:
        self._chats = chats

    async def retrieve(self, chat_id: str, *, account_id: str | None = None) -> RawResponse[Chat]:
        """Like ``chats.retrieve``, but return the response; ``.parse()`` gives the Chat."""
        response = await self._chats._client._get(self._chats._url(chat_id, account_id))
        return RawResponse(
            status=response.status,
            headers=response.headers,
            content=response.content,
            url=str(response.url),
            parser=decode_chat,
        )
