"""``Postpress``: the blocking client, a thin shell over ``AsyncPostpress``.

Each client owns one anyio blocking portal: a daemon thread running an event loop, in which its
``AsyncPostpress`` lives. Every method forwards one coroutine through the portal and waits for
it; no logic is written twice. The caller's thread may itself run an event loop (a notebook):
it only waits on a future, never touches that loop.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import ssl as _ssl
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Final, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._batch import ChatResult, IdFeed, ProgressCallback, feed_ahead, validate_batch_args
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
from ._models import Chat
from ._response import RawResponse

__all__ = ["Postpress"]

T = TypeVar("T")

CLOSE_TIMEOUT: Final = 5.0
"""Seconds ``close()`` and interpreter exit wait for connections to close."""
CANCEL_GRACE: Final = 2.0
"""Seconds an interrupted call waits for its cancelled task to unwind."""


class _LoopThread:
    """A daemon thread running an event loop with a blocking portal, and the async client."""

    def __init__(self, make_client: Callable[[], AsyncPostpress]) -> None:
        self.client = make_client()
        started: Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]] = Future()
        self._stopped = False

        async def serve() -> None:
            async with BlockingPortal() as portal:
                started.set_result((portal, asyncio.get_running_loop()))
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(serve)
            except BaseException as exc:  # surfaced to the thread that waits for start
                if not started.done():
                    started.set_exception(exc)

        self.thread = threading.Thread(target=run, name="postpress-loop", daemon=True)
        self.thread.start()
        self.portal, self._loop = started.result()
        _LIVE.add(self)

    def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` in the loop and wait; an interrupt cancels it and waits it out."""
        finished = threading.Event()

        async def run() -> T:
            try:
                return await func()
            finally:
                finished.set()

        if threading.get_ident() == self.thread.ident:
            raise RuntimeError(
                "a Postpress method was called from the client's own event loop thread "
                "(in an on_progress callback?): it would wait for itself forever"
            )
        # The portal owns the loop; each call is scheduled on it directly, because the
        # portal's per-call task machinery costs more than the rest of a request (measured:
        # ~170 µs against ~60 µs per hop; see benchmarks/README.md, sync).
        coroutine = run()
        try:
            if self._stopped:
                raise RuntimeError("loop stopped")
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # closed, or closing under our feet
            coroutine.close()
            raise RuntimeError("this Postpress client is closed; create a new one") from None
        try:
            return future.result()
        except CancelledError:
            if self._stopped:
                raise RuntimeError("this Postpress client was closed during the call") from None
            raise
        except BaseException:
            # KeyboardInterrupt and friends: cancel the call in flight, and give it a moment
            # to unwind so that the next call does not find it still running.
            if future.cancel():
                finished.wait(CANCEL_GRACE)
            raise

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Close the async client and stop the loop; bounded by ``timeout`` seconds."""
        if self._stopped:
            return
        self._stopped = True
        _LIVE.discard(self)
        try:
            closing = self.portal.start_task_soon(self.client.aclose)
            closing.result(timeout)
            self.portal.start_task_soon(self.portal.stop, True).result(timeout)
        except (FutureTimeout, RuntimeError):
            pass  # the loop is gone or stuck; a daemon thread does not block exit
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)


_LIVE: set[_LoopThread] = set()


@atexit.register
def _close_all_at_exit() -> None:
    for loop_thread in list(_LIVE):
        loop_thread.close(timeout=CLOSE_TIMEOUT / 2)


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
        )
        first = self._make_async()
        self._first_client: AsyncPostpress | None = first
        self._base_url = first.base_url
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        self._closed = False
        self.chats = Chats(self)
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
                self._loop_thread = _LoopThread(self._make_client)
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
        return f"<Postpress base_url={self.base_url!r} api_key=<redacted>{state}>"

    def _after_fork_in_child(self) -> None:
        self._loop_thread = None
        self._lock = threading.Lock()


class Chats:
    """``client.chats`` of the blocking client."""

    def __init__(self, client: Postpress) -> None:
        self._client = client
        self.with_raw_response = ChatsWithRawResponse(client)
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
    ) -> Iterator[ChatResult]:
        """Retrieve many chats concurrently; one ``ChatResult`` per id, as they complete.

        ``ids`` is read in the calling thread, as results are taken. ``on_progress`` runs in
        the client's loop thread: keep it quick.
        """
        validate_batch_args(ids, concurrency, ordered)
        runner = self._client._runner()
        feed = IdFeed()
        results = runner.client.chats.retrieve_many(
            feed,
            account_id=account_id,
            concurrency=concurrency,
            ordered=ordered,
            on_progress=on_progress,
        )
        return _iterate(runner, iter(ids), feed, results, ahead=feed_ahead(concurrency))


def _iterate(
    runner: _LoopThread,
    ids: Iterator[str],
    feed: IdFeed,
    results: AsyncGenerator[ChatResult, None],
    *,
    ahead: int,
) -> Iterator[ChatResult]:
    """Hand ids to the pool from this thread, a few ahead, and take results one by one."""
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
        if runner.thread.is_alive() and not runner._stopped:
            runner.call(results.aclose)


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
_ABANDONED_IN_CHILD: list[_LoopThread] = []


def _after_fork_in_child() -> None:
    # The parents' loop threads do not exist in the child and their sockets are the parent's:
    # keep those objects alive, never closed from here, and start afresh on first use.
    _ABANDONED_IN_CHILD.extend(_LIVE)
    _LIVE.clear()
    for client in list(_CLIENTS):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
