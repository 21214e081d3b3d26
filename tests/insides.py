"""The only places the tests look inside the SDK, each because nothing observable can prove it.

Everything else asserts on what a server received (``server.requests``, ``request_count``,
``max_in_flight``) or on the public API. Keep every private look here, so a change to the
SDK's insides breaks one small module, not the tests.
"""

from __future__ import annotations

from typing import Any

import postpress_async as pp


def connector_of(client: pp.AsyncPostpress) -> Any:
    """The client's own aiohttp connector, or None before its first request.

    Why private: "after ``aclose()`` no pooled connection is left open" is about sockets the
    server may already have forgotten; only the connector knows them.
    """
    session = client._transport._session
    return None if session is None else session.connector


def pooled_protocols(client: pp.AsyncPostpress) -> list[Any]:
    """The connections the client's connector holds, idle and in use (aiohttp's own fields)."""
    connector = connector_of(client)
    if connector is None:
        return []
    idle = [proto for conns in connector._conns.values() for proto, _ in conns]
    return idle + list(connector._acquired)


def loop_thread_of(client: pp.Postpress) -> Any:
    """The blocking client's event loop thread (it has a ``portal`` to run coroutines there).

    Why private: the soak counts the tasks left on that loop after thousands of requests; no
    public call runs code on the client's own loop.
    """
    return client._runner()


def adaptive_batch(fetch: Any, ids: list[str], *, concurrency: int) -> Any:
    """``retrieve_many``'s pool and adaptive limit over any ``fetch``: a ``BatchResults``.

    Why private: the client tells a batch's limit of each failed attempt itself, so the only
    way to see what the pool's worker tells it when a request ends (``release(overloaded)``) is
    a fetch that tells it nothing.
    """
    from postpress_async._adaptive import AdaptiveLimit
    from postpress_async._batch import fetch_many

    return fetch_many(
        fetch,
        ids,
        concurrency=concurrency,
        ordered=False,
        on_progress=None,
        limiter=AdaptiveLimit(concurrency),
    )


def attempt_timers(client: pp.AsyncPostpress) -> int:
    """How many loop timers the client holds for its attempts' timeouts.

    Why private: "attempts that end in the same tick share one timer" is the whole point of
    ``_expiry``; the loop does not say whose timers it holds.
    """
    return len(client._transport._expiries._handles)
