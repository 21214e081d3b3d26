"""Use a blocking client and end it one way or another; the process must exit cleanly.

Run by tests/test_sync_process.py under ``python -W error -X dev``, as
``client_lifecycle.py MODE`` with MODE one of:

- ``close``: use the client, ``close()`` it, drop it, ``gc.collect()``.
- ``forget``: use the client and exit with it still open and referenced.
- ``drop``: use the client, drop the last reference without closing, ``gc.collect()``, exit:
  the one ``ResourceWarning`` (caught here, so ``-W error`` does not turn it into an error in
  the finalizer) names the client, and its loop thread ends before the server stops.
- ``forget-iterating``: leave a ``retrieve_many`` half-consumed, requests in flight, and exit.
- ``close-iterating``: ``close()`` the client while a ``retrieve_many`` is half-consumed.
- ``exit-in-flight``: like ``forget-iterating``, but the server outlives the script's code
  (a daemon thread), so the requests are still in flight when the interpreter exits.

Prints ``DONE`` last; any failed check raises, so the exit code says.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEPT: list[object] = []


def use(client: pp.Postpress, ids: list[str]) -> None:
    assert client.chats.retrieve(ids[0]).id == ids[0]
    assert client.chats.with_raw_response.retrieve(ids[1]).parse().id == ids[1]
    results = list(client.chats.retrieve_many([*ids, "chat_missing"], concurrency=4))
    assert sum(r.ok for r in results) == len(ids)
    try:
        client.chats.retrieve("chat_missing")
    except pp.NotFoundError:
        pass
    else:
        raise AssertionError("no NotFoundError")


def half_consumed(
    client: pp.Postpress, server: FakePostpress, latency: float = 2.0
) -> Iterator[pp.ChatResult]:
    fast, *slow = server.add_chats(10, seed=1)
    for chat_id in slow:
        server.fail(chat_id, latency=latency, times=None)
    results = client.chats.retrieve_many([fast, *slow], concurrency=3)
    assert next(results).chat_id == fast
    return results


def exit_in_flight() -> None:
    server = FakePostpress().start()  # never stopped: its daemon thread dies with the process
    client = pp.Postpress(server.api_key, base_url=server.base_url)
    use(client, server.add_chats(4))
    KEPT.append(half_consumed(client, server, latency=60.0))
    KEPT.append(client)
    deadline = time.monotonic() + 10
    while server.in_flight < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 3, server.in_flight
    print("DONE", flush=True)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "postpress-loop"]


def main(mode: str) -> None:
    if mode == "exit-in-flight":
        exit_in_flight()
        return
    with FakePostpress() as server:
        ids = server.add_chats(8)
        client = pp.Postpress(
            server.api_key, base_url=server.base_url, retry=pp.RetryPolicy(max_retries=0)
        )
        use(client, ids)
        if mode == "close":
            client.close()
            del client
            gc.collect()
        elif mode == "forget":
            KEPT.append(client)
        elif mode == "drop":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                del client
                gc.collect()
            messages = [str(w.message) for w in caught if w.category is ResourceWarning]
            assert len(caught) == len(messages) == 1, caught
            assert messages[0].startswith("unclosed postpress client <Postpress"), messages
            deadline = time.monotonic() + 10
            while loop_threads() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not loop_threads(), loop_threads()
            print("WARNED AND RECLAIMED", flush=True)
        elif mode == "forget-iterating":
            KEPT.append(half_consumed(client, server))
            KEPT.append(client)
        elif mode == "close-iterating":
            results = half_consumed(client, server)
            client.close()
            KEPT.append(results)
            del client
            gc.collect()
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
