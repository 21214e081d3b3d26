"""``LoopThread``: a daemon thread running an event loop that blocking code hands coroutines to.

The loop is owned by an anyio ``BlockingPortal``, which runs it, stops it and tears it down.
Each ``call`` is scheduled on the loop directly, one ``asyncio.run_coroutine_threadsafe`` hop,
because the portal's per-call task machinery costs more than the rest of a request (measured:
~170 µs against ~60 µs per hop; see benchmarks/README.md, sync). The calling thread only waits
on a future, so it may run an event loop of its own (a notebook).

Live threads are closed at interpreter exit; after ``fork`` the child forgets the parent's (it
has no such threads, and their sockets are the parent's) without closing anything. Used by the
blocking ``Postpress`` and by ``testing.FakePostpress``'s blocking mode; it knows neither.

The running thread holds no reference to its owner, and the registry of live threads holds only
the threads: an owner dropped without closing is collected, and its finalizer stops the thread
with ``close_soon()``, which never blocks (a finalizer runs wherever the garbage collector does,
the loop's own thread included).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Final, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._loops import loop_factory

__all__ = ["CANCEL_GRACE", "CLOSE_TIMEOUT", "LoopThread"]

T = TypeVar("T")

CLOSE_TIMEOUT: Final = 5.0
"""Seconds ``close()`` and interpreter exit wait for the loop to wind down."""
CANCEL_GRACE: Final = 2.0
"""Seconds an interrupted call waits for its cancelled task to unwind."""


class LoopThread:
    """A daemon thread running an event loop with a blocking portal; started on creation.

    ``owner`` names what the thread serves in error messages ("this Postpress client");
    ``hint`` is added to the message for a call from the loop's own thread; ``on_close`` runs
    in the loop when ``close()`` is called, before the loop stops.
    """

    def __init__(
        self,
        name: str,
        *,
        owner: str = "this loop thread",
        hint: str = "",
        on_close: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._owner, self._hint, self._on_close = owner, hint, on_close
        self._stopped = False
        started: Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]] = Future()

        async def serve() -> None:
            async with BlockingPortal() as portal:
                started.set_result((portal, asyncio.get_running_loop()))
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(serve, backend_options={"loop_factory": loop_factory()})
            except BaseException as exc:  # surfaced to the thread that waits for start
                if not started.done():
                    started.set_exception(exc)
            finally:
                _LIVE.discard(self)  # closed, by close() or close_soon(), or failed to start

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        self.portal, self.loop = started.result()
        _LIVE.add(self)

    @property
    def stopped(self) -> bool:
        """True once ``close()`` has begun."""
        return self._stopped

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
                f"{self._owner} was called from its own event loop thread{self._hint}: "
                "it would wait for itself forever"
            )
        coroutine = run()
        try:
            if self._stopped:
                raise RuntimeError("loop stopped")
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:  # closed, or closing under our feet
            coroutine.close()
            raise RuntimeError(f"{self._owner} is closed; create a new one") from None
        try:
            return future.result()
        except CancelledError:
            if self._stopped:
                raise self.closed_during_call() from None
            raise
        except BaseException:
            # KeyboardInterrupt and friends: cancel the call in flight, and give it a moment
            # to unwind so that the next call does not find it still running.
            if future.cancel():
                finished.wait(CANCEL_GRACE)
            raise

    def closed_during_call(self) -> BaseException:
        """The error of a call that ``close()`` cut short (an owner may raise its own)."""
        return RuntimeError(f"{self._owner} was closed during the call")

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Run ``on_close``, stop the loop and wait for the thread to end; idempotent, each step
        bounded by ``timeout``. After ``close_soon()`` it only waits for the thread."""
        if not self._stopped:
            self._stopped = True
            try:
                if self._on_close is not None:
                    self.portal.start_task_soon(self._on_close).result(timeout)
                self.portal.start_task_soon(self.portal.stop, True).result(timeout)
            except (FutureTimeout, RuntimeError):
                pass  # the loop is gone or stuck; a daemon thread does not block exit
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        _LIVE.discard(self)

    def close_soon(self) -> None:
        """Begin what ``close()`` does and return at once, from any thread; idempotent.

        ``on_close`` (bounded by ``CLOSE_TIMEOUT``) and the stop run in the loop; the thread
        then ends by itself, and leaves the registry of live threads as it does.
        """
        if self._stopped:
            return
        self._stopped = True
        on_close, portal = self._on_close, self.portal

        async def wind_down() -> None:
            try:
                if on_close is not None:
                    await asyncio.wait_for(on_close(), CLOSE_TIMEOUT)
            finally:
                await portal.stop(True)

        coroutine = wind_down()
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:  # the loop has ended already
            coroutine.close()


_LIVE: set[LoopThread] = set()
_ABANDONED_IN_CHILD: list[LoopThread] = []


@atexit.register
def _close_all_at_exit() -> None:
    for loop_thread in list(_LIVE):
        loop_thread.close(timeout=CLOSE_TIMEOUT / 2)


def _after_fork_in_child() -> None:
    # The parent's loop threads do not exist in the child: keep those objects alive, never
    # closed from here (their sockets are the parent's); their owners start afresh.
    _ABANDONED_IN_CHILD.extend(_LIVE)
    _LIVE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
