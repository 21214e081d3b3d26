"""Sequential blocking calls: one request at a time, each waiting for the last, as a script does.

    python benchmarks/run.py sync                         # every case, a table (starts the server)
    python benchmarks/bench_sync.py --lib Postpress --scale 0.1     # one case, one JSON line

Each case makes 3,000 sequential ``GET {base_url}/chats/{id}`` calls (after 300 to warm up)
against the same canned server as the throughput suite, each ending in its own result:

- ``Postpress``: ``pp.Postpress(...).chats.retrieve(id)``, the blocking client: every call
  goes through its anyio portal to the event loop thread and back. Its loop thread runs on
  uvloop when uvloop is installed (the ``speed`` extra), as here.
- ``Postpress (asyncio loop)``: the same with ``POSTPRESS_UVLOOP=0``: asyncio's own loop.
- ``requests`` (baseline): ``requests.Session.get`` + ``json.loads(response.content)``.
- ``httpx-msgspec``: ``httpx.Client.get`` + ``msgspec.json.Decoder(pp.Chat).decode``.
- ``AsyncPostpress (no portal)``: ``await client.chats.retrieve(id)`` in a loop under
  ``asyncio.run``; not a blocking client, but it shows what the portal's hop costs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from _harness import Column, Figures, Suite, Target, main, scaled
from _server import Meter, base_url, chat_ids, payload, running

CALLS = 3_000
WARMUP = 300
MAX_SECONDS = 10.0
"""A run stops after this long (none of the cases gets near it)."""


def sequential(fetch: Callable[[str], object], ids: Iterable[str], seconds: float) -> int:
    """Call ``fetch`` on each id in turn until they run out or ``seconds`` pass; the count."""
    deadline = time.perf_counter() + seconds
    done = 0
    for chat_id in ids:
        fetch(chat_id)
        done += 1
        if time.perf_counter() >= deadline:
            break
    return done


def measure(fetch: Callable[[str], Any]) -> Figures:
    """Check one result, warm up, then time ``CALLS`` sequential calls."""
    chat = fetch("chat_check")
    assert chat.last_message.attachments[0].size.width == 1600
    sequential(fetch, chat_ids(scaled(WARMUP)), MAX_SECONDS)
    ids = chat_ids(scaled(CALLS))
    with Meter() as meter:
        done = sequential(fetch, ids, MAX_SECONDS)
    return meter.figures(done)


def postpress(uvloop: bool = True) -> Figures:
    if not uvloop:
        os.environ["POSTPRESS_UVLOOP"] = "0"  # read when the client's loop thread starts
    import postpress_async as pp

    with pp.Postpress(api_key="k", base_url=base_url()) as client:
        return measure(client.chats.retrieve)


def requests_json() -> Figures:
    import json

    import requests

    prefix = base_url() + "/chats/"
    with requests.Session() as session:
        session.headers["X-API-KEY"] = "k"

        def fetch(chat_id: str) -> object:
            response = session.get(prefix + chat_id)
            response.raise_for_status()
            return json.loads(response.content)

        # requests gives dicts: check them here, then time the same call.
        assert fetch("chat_check")["lastMessage"]["attachments"][0]["size"]["width"] == 1600
        sequential(fetch, chat_ids(scaled(WARMUP)), MAX_SECONDS)
        ids = chat_ids(scaled(CALLS))
        with Meter() as meter:
            done = sequential(fetch, ids, MAX_SECONDS)
        return meter.figures(done)


def httpx_msgspec() -> Figures:
    import httpx
    import msgspec

    import postpress_async as pp

    decode = msgspec.json.Decoder(pp.Chat).decode
    with httpx.Client(base_url=base_url(), headers={"X-API-KEY": "k"}) as client:

        def fetch(chat_id: str) -> object:
            response = client.get("/chats/" + chat_id)
            response.raise_for_status()
            return decode(response.content)

        return measure(fetch)


def async_no_portal() -> Figures:
    import postpress_async as pp

    async def run() -> Figures:
        async with pp.AsyncPostpress(api_key="k", base_url=base_url()) as client:
            retrieve = client.chats.retrieve

            async def loop(ids: Iterable[str], seconds: float) -> int:
                deadline = time.perf_counter() + seconds
                done = 0
                for chat_id in ids:
                    await retrieve(chat_id)
                    done += 1
                    if time.perf_counter() >= deadline:
                        break
                return done

            chat: Any = await retrieve("chat_check")
            assert chat.last_message.attachments[0].size.width == 1600
            await loop(chat_ids(scaled(WARMUP)), MAX_SECONDS)
            ids = chat_ids(scaled(CALLS))
            with Meter() as meter:
                done = await loop(ids, MAX_SECONDS)
            return meter.figures(done)

    return asyncio.run(run())


def describe() -> str:
    return (
        f"{scaled(CALLS):,} sequential `GET /chats/{{id}}` calls from one thread (after "
        f"{scaled(WARMUP):,} to warm up), against the canned keep-alive server of the "
        f"throughput suite in another process ({len(payload()):,}-byte `chat.json`), server "
        "and client pinned to one core each. One connection, one request at a time: the "
        "figure is the round trip through each stack."
    )


SUITE = Suite(
    name="sync",
    title="Blocking clients: sequential chats.retrieve",
    baseline="requests",
    cases={
        "Postpress": postpress,
        "Postpress (asyncio loop)": functools.partial(postpress, uvloop=False),
        "requests": requests_json,
        "httpx-msgspec": httpx_msgspec,
        "AsyncPostpress (no portal)": async_no_portal,
    },
    packages=["requests", "httpx", "msgspec", "anyio", "aiohttp", "postpress_async", "uvloop"],
    describe=describe,
    columns=(
        Column("rate", "requests/s", versus=True),
        Column("cpu_us", "client CPU µs/req", "{:,.1f}", higher_is_better=False, versus=True),
        Column("server_cpu", "server CPU", "{:.0f}%"),
    ),
    fixture=running,
    targets=(
        Target("Postpress ≥ 2x requests", "Postpress", "rate", "requests", 2.0),
        Target("Postpress ≥ 1.1x httpx-msgspec", "Postpress", "rate", "httpx-msgspec", 1.1),
    ),
    method=(
        f"one timed run of {CALLS:,} sequential calls after {WARMUP:,} to warm up; requests/s "
        "is wall-clock, client CPU is the process's CPU time (all its threads) per request, "
        "server CPU the server process's over the same interval in % of its one core"
    ),
)

if __name__ == "__main__":
    main(SUITE)
