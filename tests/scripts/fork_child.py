"""A blocking client used across ``os.fork()``: the child gets a working client of its own.

Run by tests/test_sync_process.py as ``fork_child.py MODE``:

- ``idle``: fork while the client is idle (it has been used, so its loop thread exists).
- ``busy``: fork while another thread of the parent waits on a slow request.
- ``exit``: like ``idle``, but the child leaves through a normal interpreter exit (atexit and
  all) instead of ``os._exit``, so whatever it inherited is finalized there.
- ``drop``: the child drops the inherited client unclosed: no warning (the loop thread was the
  parent's, not the child's to close), while a client of its own dropped unclosed is warned
  about and its thread ends.

The parent never waits for the child without a limit. Prints ``CHILD OK`` (from the child),
``CHILD EXIT <code>`` and ``PARENT OK``; a failed check prints ``FAIL: ...`` and exits 1.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
import traceback
import warnings

import postpress_async as pp
from postpress_async.testing import FakePostpress

CHILD_LIMIT = 15.0


def in_child(client: pp.Postpress, ids: list[str]) -> int:
    try:
        if client.chats.retrieve(ids[1]).id != ids[1]:
            print("FAIL: wrong chat in the child", flush=True)
            return 1
        results = list(client.chats.retrieve_many(ids, concurrency=3))
        if sorted(r.chat_id for r in results if r.ok) != sorted(ids):
            print(f"FAIL: retrieve_many in the child gave {results!r}", flush=True)
            return 1
        with contextlib.suppress(pp.NotFoundError):
            client.chats.retrieve("chat_missing")
            print("FAIL: no NotFoundError in the child", flush=True)
            return 1
        client.close()
        print("CHILD OK", flush=True)
        return 0
    except BaseException:
        traceback.print_exc()
        return 1


def drop_in_child(inherited: list[pp.Postpress], server: FakePostpress, ids: list[str]) -> int:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inherited.clear()
            gc.collect()
        if caught:
            print(f"FAIL: dropping the inherited client warned: {caught!r}", flush=True)
            return 1
        own = pp.Postpress(server.api_key, base_url=server.base_url)
        if own.chats.retrieve(ids[1]).id != ids[1]:
            print("FAIL: wrong chat in the child", flush=True)
            return 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del own
            gc.collect()
        if [w.category for w in caught] != [ResourceWarning]:
            print(f"FAIL: dropping the child's own client gave {caught!r}", flush=True)
            return 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            t.name == "postpress-loop" for t in threading.enumerate()
        ):
            time.sleep(0.01)
        if any(t.name == "postpress-loop" for t in threading.enumerate()):
            print("FAIL: the child's own loop thread did not end", flush=True)
            return 1
        print("CHILD OK", flush=True)
        return 0
    except BaseException:
        traceback.print_exc()
        return 1


def wait_for_child(pid: int) -> int | None:
    """The child's exit code, or None if it had to be killed."""
    deadline = time.monotonic() + CHILD_LIMIT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


def main(mode: str) -> int:
    server = FakePostpress().start()  # stopped by the parent only: the child has no thread
    client = pp.Postpress(server.api_key, base_url=server.base_url)
    background: threading.Thread | None = None
    try:
        ids = server.add_chats(6)
        if client.chats.retrieve(ids[0]).id != ids[0]:
            print("FAIL: wrong chat in the parent", flush=True)
            return 1
        if mode == "busy":
            slow = server.add_chats(1, seed=1)[0]
            server.fail(slow, latency=1.0)
            background = threading.Thread(target=client.chats.retrieve, args=(slow,))
            background.start()
            deadline = time.monotonic() + 10
            while server.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.01)

        sys.stdout.flush()
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process with threads; that is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            if mode == "drop":
                inherited = [client]
                del client  # the only reference left is the list's
                code = drop_in_child(inherited, server, ids)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            code = in_child(client, ids)
            if mode == "exit":
                raise SystemExit(code)  # unwinds only through frames that skip the child
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

        code = wait_for_child(pid)
        print(f"CHILD EXIT {code}", flush=True)
        if background is not None:
            background.join(CHILD_LIMIT)
        if client.chats.retrieve(ids[2]).id != ids[2]:
            print("FAIL: wrong chat in the parent after the fork", flush=True)
            return 1
        print("PARENT OK", flush=True)
        return 0 if code == 0 else 1
    finally:
        if os.getpid() == PARENT:
            client.close()
            server.stop()


PARENT = os.getpid()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
