"""``retrieve_many``: a bounded worker pool over a lazily read source of ids.

``concurrency`` workers each take the next id, fetch it, and hand the result to the consumer;
so never more than ``concurrency`` requests are in flight. Results waiting for the consumer
(or, with ``ordered=True``, for an earlier id) hold a window slot, and a worker takes no new id
while the window is full: memory is bounded by the concurrency, never by the input's size.

Two safety nets for pointing a batch at the real API. ``fail_fast``: an error that proves no
other id can succeed stops the workers, cancels what is in flight, hands over what had finished,
and is raised: a bad or missing key, a proxy's refusal, a certificate that fails verification
(``stops_batch``), or an endpoint that cannot be reached at all (``DeadEndpoint``: the last few
ids all failed to connect, for the same cause, with no success between them). ``adaptive``: an
``AdaptiveLimit`` (``_adaptive.py``) gates each request, and the client reports every failed
attempt to it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Final

import msgspec

from ._adaptive import AdaptiveLimit, is_overload
from ._constants import ErrorType
from ._errors import (
    AuthenticationError,
    CertificateError,
    ProxyError,
)
from ._failures import unreachable_cause
from ._gate import Gate, Inbox
from ._models import Chat

__all__ = [
    "BatchResults",
    "BlockingBatchResults",
    "FATAL_AUTH_TYPES",
    "ChatResult",
    "DeadEndpoint",
    "IdFeed",
    "ProgressCallback",
    "feed_ahead",
    "fetch_many",
    "stops_batch",
    "validate_batch_args",
]

ProgressCallback = Callable[[int, int], object]
"""Called after each result with (results so far, failures so far)."""

_WINDOW_PER_WORKER: Final = 2
FATAL_AUTH_TYPES: Final[frozenset[str | None]] = frozenset(
    {
        None,
        ErrorType.MISSING_CREDENTIALS,
        ErrorType.INVALID_CREDENTIALS,
        ErrorType.INSUFFICIENT_PRIVILEGES,
    }
)


class ChatResult(msgspec.Struct, frozen=True):
    """One id's outcome in ``retrieve_many``: exactly one of ``chat`` and ``error`` is None."""

    chat_id: str
    chat: Chat | None
    error: Exception | None
    index: int
    """Position of the id in the input."""

    @property
    def ok(self) -> bool:
        """True when the chat was fetched."""
        return self.error is None

    def unwrap(self) -> Chat:
        """The chat, or raise the error this id failed with."""
        if self.error is not None:
            raise self.error
        assert self.chat is not None
        return self.chat


def validate_batch_args(
    ids: object,
    concurrency: object,
    ordered: object,
    fail_fast: object = True,
    adaptive: object = True,
) -> None:
    """Reject misuse before any work starts, naming the argument."""
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be an iterable of chat ids, not a single str; wrap it: [chat_id]")
    if not isinstance(ids, (Iterable, AsyncIterable)):
        raise TypeError(f"ids must be an iterable or async iterable, got {type(ids).__name__}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    for name, flag in (("ordered", ordered), ("fail_fast", fail_fast), ("adaptive", adaptive)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")


def feed_ahead(concurrency: int) -> int:
    """How many ids a fed pool should hold beyond those in flight: enough never to starve."""
    return concurrency * (_WINDOW_PER_WORKER + 1)


class IdFeed:
    """An async iterator of ids that another thread fills: the blocking client's source.

    The blocking ``retrieve_many`` reads the caller's iterator in the caller's thread (a
    database cursor may only be read there, and a slow source must not stall the loop) and
    hands the ids over here, a few ahead of the pool.
    """

    def __init__(self) -> None:
        self._ids: collections.deque[str] = collections.deque()
        self._end: BaseException | bool = False
        self._ready: asyncio.Event | None = None

    def put_many(self, ids: list[str], end: BaseException | bool) -> None:
        """Add ids (in the loop); ``end`` is True at the end, or the source's exception."""
        self._ids.extend(ids)
        if end is not False:
            self._end = end
        if self._ready is not None:
            self._ready.set()

    def __aiter__(self) -> IdFeed:
        return self

    async def __anext__(self) -> str:
        while not self._ids:
            if self._end is True:
                raise StopAsyncIteration
            if isinstance(self._end, BaseException):
                raise self._end
            if self._ready is None:
                self._ready = asyncio.Event()
            self._ready.clear()
            await self._ready.wait()
        return self._ids.popleft()


class _Source:
    """Hands out (index, id) pairs from a sync or async iterable, one at a time.

    A sync source is read with ``take_now`` (no await: it costs nothing to switch); an async
    one with ``take``, one ``__anext__`` at a time.
    """

    def __init__(self, ids: Iterable[str] | AsyncIterable[str]) -> None:
        self._async: AsyncIterator[str] | None = None
        self._pairs: Iterator[tuple[int, str]] | None = None
        if isinstance(ids, AsyncIterable):
            self._async = ids.__aiter__()
        else:
            self._pairs = enumerate(ids)  # the index is counted in C, once per id
        self.is_sync = self._pairs is not None
        self._lock = asyncio.Lock()
        self._next_index = 0
        self.exhausted = False
        self.error: Exception | None = None

    def _end(self, error: Exception | None = None) -> None:
        self.exhausted = True
        self.error = error  # the caller's iterator failed: reported after the drain

    def take_now(self) -> tuple[int, str] | None:
        if self.exhausted:
            return None
        assert self._pairs is not None
        try:
            item = next(self._pairs, None)
        except Exception as exc:
            self._end(exc)
            return None
        if item is None:
            self._end()
        return item

    async def take(self) -> tuple[int, str] | None:
        assert self._async is not None
        async with self._lock:
            if self.exhausted:
                return None
            try:
                chat_id = await self._async.__anext__()
            except StopAsyncIteration:
                self._end()
                return None
            except Exception as exc:
                self._end(exc)
                return None
            index = self._next_index
            self._next_index += 1
            return index, chat_id


class BatchResults:
    """What ``retrieve_many`` returns: an async iterator of ``ChatResult``.

    ``limit`` is the number of requests the batch allows in flight right now: ``concurrency``,
    or with ``adaptive=True`` the value it has adapted to (a progress bar can show it).
    """

    __slots__ = ("_limiter", "_results", "concurrency")

    def __init__(
        self, results: AsyncGenerator[ChatResult, None], limiter: AdaptiveLimit | None, ceiling: int
    ) -> None:
        self._results = results
        self._limiter = limiter
        self.concurrency: int = ceiling
        """The ceiling: ``retrieve_many``'s ``concurrency``."""

    @property
    def limit(self) -> int:
        """Requests allowed in flight now (``concurrency`` unless the batch is adaptive)."""
        return self.concurrency if self._limiter is None else self._limiter.limit

    def __aiter__(self) -> AsyncIterator[ChatResult]:
        # ``async for`` steps the generator itself: no call of ours between it and the loop.
        return self._results

    def __anext__(self) -> Awaitable[ChatResult]:
        return self._results.__anext__()

    async def aclose(self) -> None:
        """Stop the batch: requests in flight are cancelled; idempotent."""
        await self._results.aclose()


class BlockingBatchResults:
    """What the blocking ``retrieve_many`` returns: an iterator of ``ChatResult`` with ``limit``."""

    __slots__ = ("_batch", "_results")

    def __init__(self, results: Generator[ChatResult, None, None], batch: BatchResults) -> None:
        self._results = results
        self._batch = batch

    @property
    def limit(self) -> int:
        """Requests allowed in flight now (``concurrency`` unless the batch is adaptive)."""
        return self._batch.limit

    def __iter__(self) -> BlockingBatchResults:
        return self

    def __next__(self) -> ChatResult:
        return next(self._results)

    def close(self) -> None:
        """Stop the batch: requests in flight are cancelled; idempotent."""
        self._results.close()


def stops_batch(exc: BaseException) -> bool:
    """True for an error that proves no other id can succeed: a bad or missing key, a proxy's
    refusal (a wrong proxy password: thousands of 407s could lock the proxy account), or a
    certificate that fails verification (every id goes to the same host)."""
    if isinstance(exc, (ProxyError, CertificateError)):
        return True
    return isinstance(exc, AuthenticationError) and exc.type in FATAL_AUTH_TYPES


DEAD_ENDPOINT_IDS: Final = 8
"""How many ids in a row must fail to connect, for one cause, before a batch stops."""


class DeadEndpoint:
    """Tells a dead endpoint (or proxy) from a flaky one: the last ``ids`` ids to end all
    failed to connect, for the same cause, and no id succeeded between them.

    Each such id has made all its attempts; so a batch against a dead endpoint ends after
    about one id's retries, not one id's retries per id.
    """

    __slots__ = ("_cause", "_ids", "streak")

    def __init__(self, ids: int) -> None:
        self._ids = ids
        self._cause: tuple[str, object] | None = None
        self.streak = 0
        """Ids in a row that failed to connect; the batch sets it to 0 on each success."""

    def failed(self, exc: BaseException) -> bool:
        """An id ended with ``exc``: True if the endpoint is now known to be dead."""
        cause = unreachable_cause(exc)
        if cause is None:
            self.streak = 0
        elif self.streak and cause == self._cause:
            self.streak += 1
        else:
            self._cause, self.streak = cause, 1
        return self.streak >= self._ids


def fetch_many(
    fetch: Callable[[str], Awaitable[Chat]],
    ids: Iterable[str] | AsyncIterable[str],
    *,
    concurrency: int,
    ordered: bool,
    on_progress: ProgressCallback | None,
    on_end: Callable[[], object] | None = None,
    fail_fast: bool = True,
    limiter: AdaptiveLimit | None = None,
) -> BatchResults:
    """One ``ChatResult`` per id, in completion order or, if ``ordered``, input order.

    ``on_end()`` runs last in the batch's ``finally``, however it ended (tracing uses it).
    ``limiter`` (adaptive mode) must be the observer ``fetch`` passes to the client.
    """
    results = _run(fetch, ids, concurrency, ordered, on_progress, on_end, fail_fast, limiter)
    return BatchResults(results, limiter, concurrency)


_CLOSING: Final = RuntimeError("the batch is closing")
"""What ``stop`` holds once the batch ends without an error: never raised."""


class _Stop:
    """A worker's message: the batch must stop with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _run(
    fetch: Callable[[str], Awaitable[Chat]],
    ids: Iterable[str] | AsyncIterable[str],
    concurrency: int,
    ordered: bool,
    on_progress: ProgressCallback | None,
    on_end: Callable[[], object] | None,
    fail_fast: bool,
    limiter: AdaptiveLimit | None,
) -> AsyncGenerator[ChatResult, None]:
    source = _Source(ids)
    window = Gate(concurrency * _WINDOW_PER_WORKER)
    results: Inbox[ChatResult | _Stop | None] = Inbox()  # None: a worker has ended
    put = results.put
    # The error that stopped the batch, once one has; _CLOSING once it is being closed.
    stop: list[Exception] = []
    dead = DeadEndpoint(min(concurrency, DEAD_ENDPOINT_IDS))
    take_now = source.take_now if source.is_sync else None
    succeeded = None if limiter is None else limiter.succeeded

    async def worker() -> None:
        try:
            while not stop:
                if window.free:  # Gate's uncontended path, inline
                    window.free -= 1
                else:
                    await window.enter()
                if limiter is not None and not limiter.try_acquire():
                    await limiter.acquire()
                item = None
                if not stop:
                    item = take_now() if take_now is not None else await source.take()
                if item is None:
                    window.leave()
                    if limiter is not None:
                        limiter.give_back()
                    return
                index, chat_id = item
                try:
                    chat = await fetch(chat_id)
                except Exception as exc:  # one id's failure is a result, never a raise
                    if limiter is not None:
                        limiter.release(is_overload(exc), failed=True)
                    if fail_fast and (stops_batch(exc) or dead.failed(exc)):
                        stop.append(exc)
                        put(_Stop(exc))
                        return
                    put(ChatResult(chat_id, None, exc, index))
                else:
                    if succeeded is not None:
                        succeeded()
                    dead.streak = 0
                    put(ChatResult(chat_id, chat, None, index))
        finally:
            put(None)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    done = failed = 0
    waiting: dict[int, ChatResult] = {}
    expected = 0
    arrived = results.items
    try:
        running = len(workers)
        while running:
            while not arrived:
                await results.wait()
            item = arrived.popleft()
            if type(item) is not ChatResult:
                if item is None:
                    running -= 1
                    continue
                break  # a _Stop: fail fast
            if not ordered:  # the usual batch: each result as it arrives
                done += 1
                if item.error is not None:
                    failed += 1
                if on_progress is not None:
                    on_progress(done, failed)
                if window.waiters:
                    window.leave()
                else:  # Gate's uncontended path, inline
                    window.free += 1
                yield item
                continue
            waiting[item.index] = item
            while expected in waiting:
                result = waiting.pop(expected)
                expected += 1
                done += 1
                failed += result.error is not None
                if on_progress is not None:
                    on_progress(done, failed)
                window.leave()
                yield result
        if stop:
            # Fail fast: cancel what is in flight, hand over what had finished, then raise.
            finished = await _cancel(workers, results, stop)
            for result in sorted([*waiting.values(), *finished], key=_by_index):
                done += 1
                failed += result.error is not None
                if on_progress is not None:
                    on_progress(done, failed)
                yield result
            raise stop[0]
        if source.error is not None:
            raise source.error
    finally:
        try:
            await _cancel(workers, results, stop)
        finally:
            if on_end is not None:
                on_end()


def _by_index(result: ChatResult) -> int:
    return result.index


async def _cancel(
    workers: list[asyncio.Task[None]],
    results: Inbox[ChatResult | _Stop | None],
    stop: list[Exception],
) -> list[ChatResult]:
    """Cancel the workers, wait for them, and return the results they had finished.

    Only what had finished before the cancelling: whatever a worker hands over while it is
    being cancelled is the cancellation's doing, not its id's outcome. ``stop`` is set first,
    so that no worker takes another id even if a layer below swallowed its cancellation.
    """
    if not stop:
        stop.append(_CLOSING)
    settled = len(results.items)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    finished = [
        item for item in itertools.islice(results.items, settled) if isinstance(item, ChatResult)
    ]
    results.items.clear()
    return finished
