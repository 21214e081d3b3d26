"""``Postpress``: the blocking client, a thin shell over ``AsyncPostpress``.

Each client owns one ``LoopThread`` (``_loop_thread``): a daemon thread running an event loop,
in which its ``AsyncPostpress`` lives. Every method forwards one coroutine to that loop and
waits for it; no logic is written twice. The caller's thread may itself run an event loop (a
notebook): it only waits on a future, never touches that loop.

Nothing in that thread refers back to the ``Postpress``: a client dropped without ``close()``
is collected, and its finalizer closes the loop thread and its connections and warns with a
``ResourceWarning``, as aiohttp does for an unclosed session. Until then, a client is kept
alive by anything that still needs its thread (``chats``, a ``retrieve_many`` being read).
"""

from __future__ import annotations

import functools
import os
import ssl as _ssl
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TypeVar

from ._batch import (
    BatchResults,
    BlockingBatchResults,
    ChatResult,
    IdFeed,
    ProgressCallback,
    feed_ahead,
    validate_batch_args,
)
from ._client import AsyncPostpress
from ._config import (
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_SIZE,
    NOT_GIVEN,
    Limits,
    NotGiven,
    RetryPolicy,
    Timeout,
)
from ._errors import closed_in_flight
from ._loop_thread import LoopThread
from ._models import Chat
from ._response import RawResponse

__all__ = ["Postpress"]

T = TypeVar("T")


class _LoopThread(LoopThread):
    """The loop thread of one ``Postpress``, with the ``AsyncPostpress`` that lives in it."""

    def __init__(self, client: AsyncPostpress) -> None:
        super().__init__(
            "postpress-loop",
            owner="this Postpress client",
            hint=" (in an on_progress callback?)",
            on_close=client.aclose,
        )
        self.client = client

    def closed_during_call(self) -> BaseException:
        return closed_in_flight()  # what the async client raises for a call in flight


class Postpress:
    """The blocking client, for scripts and notebooks; safe to share between threads.

    Takes the same arguments as ``AsyncPostpress`` and offers the same methods, blocking.
    Use ``with``, or call ``close()`` when done (an unclosed client is closed at exit).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout = Timeout(),  # noqa: B008 - frozen value object
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        ssl: _ssl.SSLContext | bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        proxy: str | None = None,
        trust_env: bool = True,
        rate_limit: float | None = None,
    ) -> None:
        # Built now so that bad settings raise here, in the caller's thread; after a fork the
        # child builds a fresh one with the same settings.
        self._make_async = functools.partial(
            AsyncPostpress,
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            limits=limits,
            default_headers=default_headers,
            ssl=ssl,
            max_response_size=max_response_size,
            max_redirects=max_redirects,
            proxy=proxy,
            trust_env=trust_env,
            rate_limit=rate_limit,
        )
        first = self._make_async()
        self._first_client: AsyncPostpress | None = first
        self._base_url = first.base_url
        self._proxy = first._settings.proxy
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        # The finalizer that closes the loop thread if the client is dropped unclosed.
        self._reclaim: weakref.finalize[[_LoopThread, str], Postpress] | None = None
        self._closed = False
        self.chats: Chats = Chats(self)
        """Chats: ``retrieve``, ``retrieve_many``, ``with_raw_response.retrieve``."""
        _CLIENTS.add(self)

    def _make_client(self) -> AsyncPostpress:
        client, self._first_client = self._first_client, None
        return client if client is not None else self._make_async()

    def _runner(self) -> _LoopThread:
        loop_thread = self._loop_thread
        if loop_thread is not None:
            return loop_thread
        with self._lock:
            if self._closed:
                raise RuntimeError("this Postpress client is closed; create a new one")
            if self._loop_thread is None:
                loop_thread = _LoopThread(self._make_client())
                self._reclaim = weakref.finalize(self, _reclaim, loop_thread, repr(self))
                self._reclaim.atexit = False  # at exit, _loop_thread closes what is left
                self._loop_thread = loop_thread
            return self._loop_thread

    def _call(self, func: Callable[[AsyncPostpress], Awaitable[T]]) -> T:
        runner = self._runner()
        client = runner.client
        return runner.call(lambda: func(client))

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """True once the client has been closed."""
        return self._closed

    def close(self) -> None:
        """Close connections and stop the loop thread; safe to call more than once."""
        with self._lock:
            self._closed = True
            runner, self._loop_thread = self._loop_thread, None
            reclaim, self._reclaim = self._reclaim, None
        if reclaim is not None:
            reclaim.detach()
        if runner is not None:
            runner.close()

    def __enter__(self) -> Postpress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        via = "" if self._proxy is None else f" proxy={self._proxy.redacted!r}"
        return f"<Postpress base_url={self.base_url!r}{via} api_key=<redacted>{state}>"

    def _after_fork_in_child(self) -> None:
        self._loop_thread = None
        self._lock = threading.Lock()
        if self._reclaim is not None:  # the parent's thread is the parent's to close
            self._reclaim.detach()
            self._reclaim = None


def _reclaim(loop_thread: _LoopThread, client: str) -> None:
    """The finalizer of a ``Postpress`` dropped unclosed: close its loop thread, and say so."""
    loop_thread.close_soon()
    warnings.warn(
        f"unclosed postpress client {client}: call close() or use `with`",
        ResourceWarning,
        stacklevel=1,  # a finalizer has no caller to point at
    )


class Chats:
    """``client.chats`` of the blocking client."""

    def __init__(self, client: Postpress) -> None:
        self._client = client
        self.with_raw_response: ChatsWithRawResponse = ChatsWithRawResponse(client)
        """The same methods, returning the ``RawResponse`` instead of the parsed model."""

    def retrieve(self, chat_id: str, *, account_id: str | None = None) -> Chat:
        """Retrieve a chat with its last message (see ``AsyncPostpress.chats.retrieve``)."""
        return self._client._call(lambda c: c.chats.retrieve(chat_id, account_id=account_id))

    def retrieve_many(
        self,
        ids: Iterable[str],
        *,
        account_id: str | None = None,
        concurrency: int = 32,
        ordered: bool = False,
        on_progress: ProgressCallback | None = None,
        fail_fast: bool = True,
        adaptive: bool = True,
    ) -> BlockingBatchResults:
        """Retrieve many chats concurrently; one ``ChatResult`` per id, as they complete.

        ``ids`` is read in the calling thread, as results are taken. ``on_progress`` runs in
        the client's loop thread: keep it quick. ``fail_fast`` and ``adaptive`` as in
        ``AsyncPostpress.chats.retrieve_many``.
        """
        validate_batch_args(ids, concurrency, ordered, fail_fast, adaptive)
        runner = self._client._runner()
        feed = IdFeed()
        results = runner.client.chats.retrieve_many(
            feed,
            account_id=account_id,
            concurrency=concurrency,
            ordered=ordered,
            on_progress=on_progress,
            fail_fast=fail_fast,
            adaptive=adaptive,
        )
        blocking = _iterate(
            runner, iter(ids), feed, results, ahead=feed_ahead(concurrency), owner=self._client
        )
        return BlockingBatchResults(blocking, results)


def _iterate(
    runner: _LoopThread,
    ids: Iterator[str],
    feed: IdFeed,
    results: BatchResults,
    *,
    ahead: int,
    owner: Postpress,
) -> Generator[ChatResult, None, None]:
    """Hand ids to the pool from this thread, a few ahead, and take results one by one.

    ``owner``, the client, is held only to keep it alive while the results are read: dropped,
    it would close the loop thread under them (``pp.Postpress().chats.retrieve_many(ids)``).
    """
    outstanding = 0  # ids handed over whose result has not come back
    exhausted = False

    async def step(batch: list[str], end: BaseException | bool) -> ChatResult:
        feed.put_many(batch, end)
        return await results.__anext__()

    try:
        while True:
            batch: list[str] = []
            end: BaseException | bool = False
            while not exhausted and outstanding + len(batch) < ahead:
                try:
                    batch.append(next(ids))
                except StopIteration:
                    exhausted = end = True
                except Exception as exc:  # the caller's iterator failed: the pool reports it
                    exhausted = True
                    end = exc
            outstanding += len(batch)
            try:
                result = runner.call(functools.partial(step, batch, end))
            except StopAsyncIteration:
                return
            outstanding -= 1
            yield result
    finally:
        if runner.thread.is_alive() and not runner.stopped:
            try:
                runner.call(results.aclose)
            except Exception:
                if not runner.stopped:
                    raise
                # closed meanwhile: stopping the loop ended the batch as well


class ChatsWithRawResponse:
    """``client.chats.with_raw_response`` of the blocking client."""

    def __init__(self, client: Postpress) -> None:
        self._client = client

    def retrieve(self, chat_id: str, *, account_id: str | None = None) -> RawResponse[Chat]:
        """Like ``chats.retrieve``, but return the ``RawResponse``."""
        return self._client._call(
            lambda c: c.chats.with_raw_response.retrieve(chat_id, account_id=account_id)
        )


_CLIENTS: weakref.WeakSet[Postpress] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The parent's loop threads do not exist in the child (``_loop_thread`` forgets them):
    # each client starts a fresh one, with a fresh AsyncPostpress, on first use.
    for client in list(_CLIENTS):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
