"""The chats resource: ``retrieve``, ``with_raw_response.retrieve`` and ``retrieve_many``.

A chat asked for by its postpress id (no ``account_id``) must come back with that id, or
with the id a same-origin redirect of the server named: any other chat is refused with
``ResponseDecodeError``, never returned, so that a response meant for another request (a
stray one on a reused connection) cannot hand one chat's content to another's caller. A
provider id with ``account_id`` resolves to a postpress id, so it cannot be compared and is
exempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from functools import partial

from yarl import URL

from ._adaptive import AdaptiveLimit
from ._batch import BatchResults, ProgressCallback, fetch_many, validate_batch_args
from ._codec import decode_chat, decode_chat_body
from ._errors import ResponseDecodeError
from ._models import Chat
from ._redact import SERVER_TEXT_LIMIT, one_line
from ._resource import Request
from ._response import RawResponse
from ._tracing import BatchSpan, Tracing
from ._transport import HttpResponse
from ._url import Route, encode_query, encode_segment

__all__ = ["CHAT", "AsyncChats", "AsyncChatsWithRawResponse"]

CHAT = Route("/chats/{chat_id}", name="chats.retrieve")


def _account_query(account_id: str | None) -> dict[str, object] | None:
    """The query of a chat request: ``account_id`` when given."""
    return None if account_id is None else {"account_id": account_id}


def _is_asked_for(chat: Chat, chat_id: str, url: URL) -> bool:
    """``chat`` is ``chat_id``, or the chat a same-origin redirect sent the request to."""
    if chat.id == chat_id:
        return True
    try:  # a redirect's last segment is another id; without one it is chat_id's own
        return url.raw_parts[-1] == encode_segment(chat.id, "id")
    except ValueError:
        return False


def _another_chat(chat_id: str) -> ResponseDecodeError:
    # The chat that came is someone else's: neither its id nor any of its content is named.
    return ResponseDecodeError(
        f"the server returned a different chat than {one_line(repr(chat_id), SERVER_TEXT_LIMIT)},"
        " the one asked for; it was not returned (a response meant for another request, or a"
        " fault of the server)",
        path="$.id",
    )


def _parse_chat_of(chat_id: str, response: HttpResponse) -> Chat:
    """The parse of a request for the postpress id ``chat_id`` (bound to it with
    ``functools.partial``, built in C): that chat, or an error."""
    chat = decode_chat_body(response)
    if chat.id != chat_id and not _is_asked_for(chat, chat_id, response.url):
        raise _another_chat(chat_id)
    return chat


def _checked_decoder(chat_id: str, url: URL) -> Callable[[bytes | str], Chat]:
    """``decode_chat`` for a raw response to a request for ``chat_id`` (made to ``url``)."""

    def parse(data: bytes | str) -> Chat:
        chat = decode_chat(data)
        if not _is_asked_for(chat, chat_id, url):
            raise _another_chat(chat_id)
        return chat

    return parse


def _raw_chat_parser(chat_id: str | None) -> Callable[[HttpResponse], RawResponse[Chat]]:
    """The raw response, whose ``parse()`` checks the id as ``retrieve`` does (if given)."""

    def raw(response: HttpResponse) -> RawResponse[Chat]:
        return RawResponse(
            status=response.status,
            headers=response.headers,
            content=response.content,
            url=str(response.url),
            parser=decode_chat if chat_id is None else _checked_decoder(chat_id, response.url),
        )

    return raw


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
        if account_id is None:
            return await self._request(CHAT, (chat_id,), None, partial(_parse_chat_of, chat_id))
        return await self._request(CHAT, (chat_id,), _account_query(account_id), decode_chat_body)

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
        with ``fail_fast`` an error that proves no id can succeed (a bad or missing key, a
        proxy's refusal, a certificate that fails verification, an endpoint the last few ids
        all failed to connect to): it stops the batch and is raised after the results already
        finished. ``adaptive`` makes ``concurrency`` a ceiling: when more than 15% of a round
        trip's attempts meet overload the requests in flight are halved, success grows them
        back, an id in retry backoff holds no place, and a ``Retry-After`` pauses the whole
        batch once. ``on_progress(done, failed)`` is called after each result; the returned
        iterator's ``.limit`` is the current limit.
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
            parse = decode_chat_body if query is not None else partial(_parse_chat_of, chat_id)
            return request(CHAT, (chat_id,), query, parse, observer)

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
        parser = _raw_chat_parser(chat_id if account_id is None else None)
        return await self._request(CHAT, (chat_id,), query, parser)
