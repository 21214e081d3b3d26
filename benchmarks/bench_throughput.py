"""Requests per second through each async client, 64 at a time, against a local canned server.

    python benchmarks/run.py throughput            # every case, a table (starts the server)
    python benchmarks/bench_throughput.py --lib retrieve --scale 0.1   # one case, one JSON line
    python benchmarks/bench_throughput.py --paired --server nginx  # retrieve vs the baseline

Every case drives the same loop: 64 tasks take ids from one shared iterator and fetch
``{base_url}/chats/{id}`` until 20,000 are done, after 2,000 to warm up (connections open,
code paths warm). Each fetch ends in the case's own result: a ``pp.Chat``, bytes, or a model.
A run stops early after 10 s (warm-up: 2 s), which only the slow peers reach: so that five
rounds fit in five minutes, they time the ~6,000 requests they make in 10 s.

- ``retrieve``: ``AsyncPostpress.chats.retrieve(id)``, the SDK as a user calls it.
- ``aiohttp-msgspec`` (baseline): ``session.get(url)`` + ``read()`` + ``msgspec.json.Decoder
  (pp.Chat)``: the same result with nothing in between, the floor the SDK's stack can reach.
- ``aiohttp-bytes``: the same without the decode; the HTTP part alone.
- ``httpx-pydantic``: ``httpx.AsyncClient.get`` + ``PydanticChat.model_validate_json``.
- ``openai``: ``AsyncOpenAI(base_url=..., max_retries=0).get(path, cast_to=OpenAIChat)``,
  the generated-SDK way (httpx underneath, ``construct_type`` on ``json.loads``).
- ``wrk``: not a client but the server's ceiling: ``wrk -t1 -c64`` for 3 s from the client's
  core (only where wrk is installed).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from _harness import Column, Figures, Suite, Target, main, pin_to_client_core, scaled
from _server import Meter, base_url, chat_ids, payload, running

REQUESTS = 20_000
WARMUP = 2_000
CONCURRENCY = 64
MAX_SECONDS = 10.0
"""A run stops taking ids after this long: the slow peers time ~6,000 requests, not 20,000."""
MAX_WARMUP_SECONDS = 2.0

Fetch = Callable[[str], Awaitable[object]]


async def drive(
    fetch: Fetch, ids: Iterable[str], *, seconds: float, concurrency: int = CONCURRENCY
) -> int:
    """Fetch ids ``concurrency`` at a time until they run out or ``seconds`` pass; the count.

    Each task takes the next id from the shared iterator as soon as it is free, so exactly
    ``concurrency`` requests are in flight until the end.
    """
    source = iter(ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        for chat_id in source:
            await fetch(chat_id)
            done += 1
            if loop.time() >= deadline:
                return

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def measure(fetch: Fetch, check: Callable[[Any], None]) -> Figures:
    """Check one result, warm up, then time ``REQUESTS`` fetches (at most ``MAX_SECONDS``)."""
    check(await fetch("chat_check"))
    await drive(fetch, chat_ids(scaled(WARMUP)), seconds=MAX_WARMUP_SECONDS)
    ids = chat_ids(scaled(REQUESTS))
    with Meter() as meter:
        done = await drive(fetch, ids, seconds=MAX_SECONDS)
    return meter.figures(done)


def check_chat(chat: Any) -> None:
    assert chat.last_message.attachments[0].size.width == 1600
    assert chat.last_message.quoted.text


def check_bytes(body: Any) -> None:
    assert json.loads(body) == {**json.loads(payload()), "id": "chat_check"}  # the id asked for


def retrieve() -> Figures:
    import postpress_async as pp

    async def run() -> Figures:
        async with pp.AsyncPostpress(api_key="k", base_url=base_url()) as client:
            return await measure(client.chats.retrieve, check_chat)

    return asyncio.run(run())


def bare_fetch(session: Any, decode: Callable[[bytes], object] | None) -> Fetch:
    """The baseline's request: ``session.get`` + ``read()`` (+ ``decode``), nothing between."""
    prefix = base_url() + "/chats/"

    async def fetch(chat_id: str) -> object:
        async with session.get(prefix + chat_id) as resp:
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
            body = await resp.read()
        return body if decode is None else decode(body)

    return fetch


def _aiohttp(decode: Callable[[bytes], object] | None) -> Figures:
    import aiohttp

    async def run() -> Figures:
        async with aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session:
            fetch = bare_fetch(session, decode)
            return await measure(fetch, check_bytes if decode is None else check_chat)

    return asyncio.run(run())


def aiohttp_msgspec() -> Figures:
    import msgspec

    import postpress_async as pp

    return _aiohttp(msgspec.json.Decoder(pp.Chat).decode)


def aiohttp_bytes() -> Figures:
    return _aiohttp(None)


def httpx_pydantic() -> Figures:
    import httpx
    from _peers import PydanticChat

    async def run() -> Figures:
        # Keep-alive for all 64 connections (httpx keeps 20 by default and would reconnect).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=base_url(), headers={"X-API-KEY": "k"}, limits=limits
        ) as client:

            async def fetch(chat_id: str) -> object:
                response = await client.get("/chats/" + chat_id)
                response.raise_for_status()
                return PydanticChat.model_validate_json(response.content)

            return await measure(fetch, check_chat)

    return asyncio.run(run())


def openai_get() -> Figures:
    import openai
    from _peers import OpenAIChat

    async def run() -> Figures:
        async with openai.AsyncOpenAI(base_url=base_url(), api_key="k", max_retries=0) as client:

            async def fetch(chat_id: str) -> object:
                return await client.get("/chats/" + chat_id, cast_to=OpenAIChat)

            return await measure(fetch, check_chat)

    return asyncio.run(run())


def wrk() -> Figures:
    """The server's ceiling: wrk's rate from the client core, C rather than Python."""
    seconds = max(1, round(3 * min(1.0, scaled(REQUESTS) / REQUESTS)))
    command = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", base_url() + "/chats/chat_wrk"]
    with Meter() as meter:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.MULTILINE)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    figures = meter.figures(int(count[1]))
    # The Meter's CPU figure is this process's, not wrk's: leave it out.
    return {**figures, "rate": float(rate[1]), "cpu_us": float("nan")}


def paired_in_process(loop: str, rounds: int, block: int, server: str) -> None:
    """``retrieve`` against ``aiohttp-msgspec`` in alternating blocks on one loop (_paired)."""
    import aiohttp
    import msgspec
    from _paired import alternate, report, run_on

    import postpress_async as pp

    pin_to_client_core()
    decode = msgspec.json.Decoder(pp.Chat).decode

    def blocks(fetch: Fetch) -> Callable[[int], Awaitable[int]]:
        return lambda count: drive(fetch, chat_ids(count), seconds=math.inf)

    async def run() -> dict[str, tuple[list[float], list[float]]]:
        async with (
            pp.AsyncPostpress(api_key="k", base_url=base_url()) as client,
            aiohttp.ClientSession(headers={"X-API-KEY": "k"}) as session,
        ):
            check_chat(await client.chats.retrieve("chat_check"))
            cases = {
                "aiohttp-msgspec": blocks(bare_fetch(session, decode)),
                "retrieve": blocks(client.chats.retrieve),
            }
            return await alternate(cases, rounds, block)

    figures = run_on(loop, run)
    print(report(loop, server, figures, "retrieve", "aiohttp-msgspec", block), flush=True)


def describe() -> str:
    return (
        f"{scaled(REQUESTS):,} `GET /chats/{{id}}` at concurrency {CONCURRENCY} from one "
        f"process (after {scaled(WARMUP):,} to warm up), against a canned HTTP/1.1 keep-alive "
        "server in another process on 127.0.0.1 answering `benchmarks/data/chat.json` "
        f"({len(payload()):,} bytes) to every GET. Server and client are pinned to one core "
        "each."
    )


CASES: dict[str, Callable[[], Figures]] = {
    "retrieve": retrieve,
    "aiohttp-msgspec": aiohttp_msgspec,
    "aiohttp-bytes": aiohttp_bytes,
    "httpx-pydantic": httpx_pydantic,
    "openai": openai_get,
}
if shutil.which("wrk"):
    CASES["wrk (server ceiling)"] = wrk

SUITE = Suite(
    name="throughput",
    title="Async throughput: chats.retrieve at concurrency 64",
    baseline="aiohttp-msgspec",
    cases=CASES,
    packages=["aiohttp", "msgspec", "httpx", "pydantic", "openai", "postpress_async"],
    describe=describe,
    columns=(
        Column("rate", "requests/s", versus=True),
        Column("count", "timed"),
        Column("cpu_us", "client CPU µs/req", "{:,.1f}", higher_is_better=False, versus=True),
        Column("server_cpu", "server CPU", "{:.0f}%"),
    ),
    fixture=running,
    targets=(
        Target("retrieve ≥ 0.90x aiohttp-msgspec", "retrieve", "rate", "aiohttp-msgspec", 0.90),
        Target("retrieve ≥ 5x openai", "retrieve", "rate", "openai", 5.0),
    ),
    method=(
        f"one timed run of {REQUESTS:,} requests (or as many as finish in {MAX_SECONDS:.0f} s: "
        f"the `timed` column) after {WARMUP:,} to warm up; requests/s is "
        "wall-clock, client CPU is the process's CPU time per request (a second view of the "
        "same cost, without the time spent waiting), server CPU is the server process's CPU "
        "time over the same interval in % of its one core"
    ),
)

if __name__ == "__main__":
    import sys

    if "--paired" in sys.argv:
        import _paired

        _paired.main("bench_throughput", sys.argv[1:], block=2_000, rounds=90)
    else:
        main(SUITE)
