"""The chats resource: ``retrieve``, ``with_raw_response.retrieve`` and ``retrieve_many``."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Iterable

from ._adaptive import AdaptiveLimit
from ._batch import BatchResults, ProgressCallback, fetch_many, validate_batch_args
from ._codec import decode_chat, decode_chat_body
from ._models import Chat
from ._resource import Request
from ._response import RawResponse
from ._tracing import BatchSpan, Tracing
from ._transport import HttpResponse
from ._url import Route, encode_query

__all__ = ["CHAT", "AsyncChats", "AsyncChatsWithRawResponse"]

CHAT = Route("/chats/{chat_id}", name="chats.retrieve")


def _account_query(account_id: str | None) -> dict[str, object] | None:
    """The query of a chat request: ``account_id`` when given."""
    return None if account_id is None else {"account_id": account_id}


def _raw_chat(response: HttpResponse) -> RawResponse[Chat]:
    return RawResponse(
        status=response.status,
        headers=response.headers,
        content=response.content,
        url=str(response.url),
        parser=decode_chat,
    )


class AsyncChats:
    """``client.chats``: chats of the connected accounts."""

    def __init__(
        self,
        request: Request,
        tracing: Tracing | None = None,
        retry_after_max: float = 60.0,
        untraced: Request | None = None,
    ) -> None:
        self._request = request
        self._untraced = request if untraced is None else untraced
        """The request without the per-call tracing check: for a batch that found no tracer
        provider at its start, so that its ids do not check again one by one."""
        self._tracing = tracing
        self._retry_after_max = retry_after_max
        self.with_raw_response: AsyncChatsWithRawResponse = AsyncChatsWithRawResponse(request)
        """The same methods, returning the ``RawResponse`` instead of the parsed model."""

    async def retrieve(self, chat_id: str, *, account_id: str | None = None) -> Chat:
        """Retrieve a chat with its last message.

        ``chat_id`` is a postpress id or, with ``account_id``, a provider id.
        """
        query = _account_query(account_id)
        return await self._request(CHAT, (chat_id,), query, decode_chat_body)

    def retrieve_many(
        self,
        ids: Iterable[str] | AsyncIterable[str],
        *,
        account_id: str | None = None,
        concurrency: int = 32,
        ordered: bool = False,
        on_progress: ProgressCallback | None = None,
        fail_fast: bool = True,
        adaptive: bool = True,
    ) -> BatchResults:
        """Retrieve many chats, at most ``concurrency`` at a time; one result per id.

        ``ids`` is read lazily. Results come in completion order, or input order if
        ``ordered``. One id's failure is a result with ``.error`` set, never a raise, except
        with ``fail_fast`` an error that proves no id can succeed (a bad or missing key): it
        stops the batch and is raised after the results already finished. ``adaptive`` makes
        ``concurrency`` a ceiling: overload cuts the requests in flight, success grows them
        back, and a ``Retry-After`` pauses the whole batch. ``on_progress(done, failed)`` is
        called after each result; the returned iterator's ``.limit`` is the current limit.
        """
        validate_batch_args(ids, concurrency, ordered, fail_fast, adaptive)
        query = _account_query(account_id)
        if query is not None:
            encode_query(query)  # a bad account_id fails now, not once per id
        observer = (
            AdaptiveLimit(concurrency, retry_after_max=self._retry_after_max) if adaptive else None
        )

        traced = self._tracing is not None and not self._tracing.idle()
        request = self._request if traced else self._untraced

        def fetch(chat_id: str) -> Awaitable[Chat]:  # the request's own coroutine, no wrapper
            return request(CHAT, (chat_id,), query, decode_chat_body, observer)

        if not traced:  # no span could record: the plain path, no batch span
            return fetch_many(
                fetch,
                ids,
                concurrency=concurrency,
                ordered=ordered,
                on_progress=on_progress,
                fail_fast=fail_fast,
                limiter=observer,
            )
        assert self._tracing is not None
        span = BatchSpan(self._tracing, concurrency)
        return fetch_many(
            span.fetch(fetch),
            ids,
            concurrency=concurrency,
            ordered=ordered,
            on_progress=span.progress(on_progress),
            on_end=span.end,
            fail_fast=fail_fast,
            limiter=observer,
        )


class AsyncChatsWithRawResponse:
    """``client.chats.with_raw_response``: the chats methods returning ``RawResponse``."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def retrieve(self, chat_id: str, *, account_id: str | None = None) -> RawResponse[Chat]:
        """Like ``chats.retrieve``, but return the response; ``.parse()`` gives the Chat."""
        query = _account_query(account_id)
        return await self._request(CHAT, (chat_id,), query, _raw_chat)
