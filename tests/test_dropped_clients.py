"""Blocking clients dropped without ``close()`` (issue 17, item 6): reclaimed, and warned about.

A dropped ``pp.Postpress`` is collected, its finalizer closes its connections and ends its loop
thread, and a ``ResourceWarning`` says so, as aiohttp does for an unclosed session. A client
still needed (its results being read) is not collected; a closed or unused one is not warned
about. Interpreter exit and ``fork`` are covered in test_sync_process.py (``drop`` modes).
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import threading
import warnings
import weakref
from typing import Any

import pytest
from support import open_fds, until_sync

import postpress_async as pp
from postpress_async._loop_thread import LoopThread
from postpress_async.testing import FakePostpress

UNCLOSED = r"^unclosed postpress client <Postpress base_url='[^']+' api_key=<redacted>>: "
UNCLOSED += r"call close\(\) or use `with`$"


def process_state() -> tuple[int, int, int]:
    """Python threads, the process's OS threads, and its open file descriptors."""
    return threading.active_count(), len(os.listdir("/proc/self/task")), open_fds()


def back_to(before: tuple[int, ...]) -> bool:
    return all(now <= then for now, then in zip(process_state(), before, strict=True))


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "postpress-loop" and t.is_alive()]


def client_for(server: FakePostpress) -> pp.Postpress:
    return pp.Postpress(server.api_key, base_url=server.base_url)


def use_and_drop(server: FakePostpress, chat_id: str, count: int) -> list[weakref.ref[Any]]:
    """Make ``count`` clients, each with a request (a thread and a connection), drop each
    unclosed, then collect; weak references to them are returned."""
    clients = []
    for _ in range(count):
        client = client_for(server)
        assert client.chats.retrieve(chat_id).id == chat_id
        clients.append(weakref.ref(client))
        del client
    gc.collect()
    return clients


def collect(box: list[Any]) -> None:
    """Drop what ``box`` holds, then collect."""
    box.clear()
    gc.collect()


def test_a_hundred_dropped_clients_give_back_every_thread_and_descriptor(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    gc.collect()
    before = process_state()
    with pytest.warns(ResourceWarning) as caught:
        clients = use_and_drop(thread_server, chat_id, 100)
    assert [ref for ref in clients if ref() is not None] == []
    messages = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert len(messages) == 100
    assert all(re.match(UNCLOSED, m) for m in messages), messages[0]
    # The loop threads wind down on their own (a finalizer never waits), and the server's end
    # of each connection closes once it sees the client's close: wait for both, no slack.
    # (At most: what an earlier test left behind may end meanwhile.)
    assert until_sync(lambda: back_to(before)), (before, process_state())
    assert thread_server.request_count == 100


def test_a_client_whose_results_are_being_read_is_not_collected(
    thread_server: FakePostpress,
) -> None:
    ids = thread_server.add_chats(20)
    threads_before = len(loop_threads())
    box = [client_for(thread_server).chats.retrieve_many(ids, concurrency=4)]
    gc.collect()  # the client is unreachable but through its results: it must stay open
    assert sorted(r.chat_id for r in box[0] if r.ok) == sorted(ids)
    with pytest.warns(ResourceWarning, match=UNCLOSED):
        collect(box)
    assert until_sync(lambda: len(loop_threads()) == threads_before), "the loop thread ended"


def test_a_closed_or_unused_client_is_not_warned_about(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    threads_before = len(loop_threads())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closed = client_for(thread_server)
        closed.chats.retrieve(chat_id)
        closed.close()
        unused = client_for(thread_server)  # no thread, no connection: nothing to reclaim
        del closed, unused
        gc.collect()
    assert caught == []
    assert until_sync(lambda: len(loop_threads()) == threads_before), "the loop thread ended"


def test_close_soon_from_the_loop_thread_itself_runs_on_close_and_ends_the_thread() -> None:
    """A finalizer runs wherever the garbage collector does, the loop's own thread included,
    where a blocking ``close()`` could not stop the loop it runs in."""
    closed_in: list[str] = []

    async def on_close() -> None:
        closed_in.append(threading.current_thread().name)

    runner = LoopThread("test-reclaimed", owner="this test helper", on_close=on_close)

    async def drop_from_inside() -> str:
        runner.close_soon()
        runner.close_soon()  # idempotent
        return threading.current_thread().name

    assert runner.call(drop_from_inside) == "test-reclaimed"
    runner.thread.join(10)
    assert not runner.thread.is_alive()
    assert closed_in == ["test-reclaimed"]
    assert runner.loop.is_closed()
    with pytest.raises(RuntimeError, match="this test helper is closed"):
        runner.call(lambda: asyncio.sleep(0))
