"""Ctrl-C during a slow blocking call: control returns at once and the request is cancelled.

Run by tests/test_sync_process.py as ``interrupt_slow_call.py retrieve|retrieve_many``. Prints
one marker line per check that held and exits 0; a failed check prints ``FAIL: ...`` and exits
1. Durations are printed for people, never judged here.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import postpress_async as pp
from postpress_async.testing import FakePostpress

SERVER_LATENCY = 30.0
"""Seconds the slow ids take on the server: far longer than the test lets this script run."""
CONCURRENCY = 4


def wait_for(condition: Callable[[], bool], limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def interrupt_once_in_flight(server: FakePostpress, count: int) -> None:
    """Send SIGINT to this process ~0.3 s after the server holds ``count`` requests."""

    def run() -> None:
        wait_for(lambda: server.in_flight >= count)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=run, name="interrupter", daemon=True).start()


def fail(message: str) -> int:
    print(f"FAIL: {message}", flush=True)
    return 1


def interrupt_retrieve(client: pp.Postpress, server: FakePostpress, slow: list[str]) -> int:
    interrupt_once_in_flight(server, 1)
    started = time.monotonic()
    try:
        client.chats.retrieve(slow[0])
    except KeyboardInterrupt:
        print(f"INTERRUPTED after {time.monotonic() - started:.2f}s", flush=True)
    except BaseException as exc:
        return fail(f"retrieve raised {exc!r} instead of KeyboardInterrupt")
    else:
        return fail("retrieve returned although the server never answered")
    return 0


def interrupt_retrieve_many(
    client: pp.Postpress, server: FakePostpress, fast: str, slow: list[str]
) -> int:
    interrupt_once_in_flight(server, CONCURRENCY)
    started = time.monotonic()
    got = []
    try:
        for result in client.chats.retrieve_many([fast, *slow], concurrency=CONCURRENCY):
            got.append(result)
    except KeyboardInterrupt:
        print(f"INTERRUPTED after {time.monotonic() - started:.2f}s", flush=True)
    except BaseException as exc:
        context = type(exc.__context__).__name__
        return fail(f"retrieve_many raised {exc!r} (context: {context}) not KeyboardInterrupt")
    else:
        return fail("retrieve_many finished although the server never answered")
    if [r.chat_id for r in got] != [fast]:
        return fail(f"retrieve_many yielded {got!r} before the interrupt")
    return 0


def main(mode: str) -> int:
    with FakePostpress() as server:
        fast, *slow = server.add_chats(9)
        for chat_id in slow:
            server.fail(chat_id, latency=SERVER_LATENCY, times=None)
        with pp.Postpress(server.api_key, base_url=server.base_url, timeout=60.0) as client:
            client.chats.retrieve(fast)  # the loop thread and a connection exist already
            if mode == "retrieve":
                failed = interrupt_retrieve(client, server, slow)
            else:
                failed = interrupt_retrieve_many(client, server, fast, slow)
            if failed:
                return failed
            if not wait_for(lambda: server.in_flight == 0):
                return fail(f"the server still has {server.in_flight} requests in flight")
            print("CANCELLED ON SERVER", flush=True)
            if client.chats.retrieve(fast).id != fast:
                return fail("wrong chat after the interrupt")
            print("CLIENT STILL USABLE", flush=True)
        print("CLOSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
