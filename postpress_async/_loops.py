"""The event loops the SDK owns (the blocking client's thread, the CLI): uvloop when installed.

``pip install 'postpress_async[speed]'`` adds uvloop; without it, or with
``POSTPRESS_UVLOOP=0``, they run on asyncio's own loop. A user's own loop is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "loop_name", "run"]

T = TypeVar("T")

UVLOOP_ENV = "POSTPRESS_UVLOOP"
"""Set to ``0`` to keep asyncio's loop even where uvloop is installed (to compare, or debug)."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop for the SDK: ``uvloop.new_event_loop`` when available."""
    if os.environ.get(UVLOOP_ENV, "").strip().lower() not in ("0", "false", "no", "off"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop ``run`` would use (the CLI's demo prints it)."""
    return "asyncio" if loop_factory() is asyncio.new_event_loop else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the SDK's choice of loop (Python 3.10+)."""
    loop = loop_factory()()
    asyncio.set_event_loop(loop)  # as asyncio.run does, so get_event_loop() finds it
    try:
        task = loop.create_task(main)
        try:
            return loop.run_until_complete(task)
        except BaseException:
            # An interrupt while the loop ran: cancel the main task and let it unwind, as
            # asyncio.run does, so that its finally blocks run (files are flushed).
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            raise
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
