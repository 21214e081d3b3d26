"""Every response gives its pooled connection back, whatever became of it.

The transport awaits aiohttp's response and releases it itself (no ``async with``): a
response it forgot to release would keep its connection checked out for as long as anything
holds it, and an error's traceback does. With one connection in the pool, the next request
would then wait for it until its timeout; here each call is bounded well below that, and the
server counts the connections the client opened.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rawserver import Exchange, RawServer, response_head
from support import EXAMPLE_BODY, EXAMPLE_ID

import postpress_async as pp
from postpress_async._fake_data import envelope

BOUND = 5.0
"""Seconds a call may take here: far below the attempt timeout a leaked connection meets."""


def answer(status: int, headers: dict[str, str], body: bytes) -> bytes:
    return response_head(status, [*headers.items(), ("Content-Length", str(len(body)))]) + body


NOT_FOUND = answer(*envelope(404, "errors/resource_not_found", None, "req_404"))
FORBIDDEN_REDIRECT = answer(302, {"Location": "https://elsewhere.example/chats/x"}, b"")
CHAT = answer(200, {"Content-Type": "application/json"}, EXAMPLE_BODY)
TOO_LARGE = answer(200, {"Content-Type": "application/json"}, b" " * (4 * 1024 * 1024))
"""Over ``max_response_size`` and too long to arrive in one read: still on the wire when the
client refuses it, so its connection cannot be reused."""


def one_connection_client(server: RawServer, **options: Any) -> pp.AsyncPostpress:
    """A client of ``server`` whose pool holds one connection, with no retries."""
    return pp.AsyncPostpress(
        "pp_test_key",
        base_url=server.base_url,
        max_retries=0,
        limits=pp.Limits(max_connections=1),
        **options,
    )


async def test_each_kind_of_response_gives_its_connection_back() -> None:
    script = [CHAT, NOT_FOUND, CHAT, FORBIDDEN_REDIRECT, CHAT, TOO_LARGE, CHAT]
    connection_of_hit: list[object] = []

    async def behave(exchange: Exchange) -> bool:
        connection_of_hit.append(exchange.writer)
        await exchange.send(script[exchange.hit - 1])
        return True  # keep-alive: the client decides whether the connection is reused

    async with (
        RawServer(behave) as server,
        one_connection_client(server, max_response_size=8000) as client,
    ):

        async def call() -> object:
            try:
                return await asyncio.wait_for(client.chats.retrieve(EXAMPLE_ID), BOUND)
            except pp.PostpressError as exc:
                return exc

        outcomes = [await call() for _ in script]

    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Chat",
        "NotFoundError",
        "Chat",
        "APIStatusError",
        "Chat",
        "ResponseTooLargeError",
        "Chat",
    ]
    assert server.hits == len(script)
    # The 404 and the refused redirect were read whole and released: their connection served
    # the next request. The body over max_response_size was refused while most of it was still
    # on the wire: its connection was closed, and the last request opened a second one. (Kept
    # in ``outcomes``, each error's traceback holds the response it came from: had the client
    # not released it, the one connection would still be checked out and the last call would
    # have timed out.)
    assert len({id(writer) for writer in connection_of_hit[:6]}) == 1
    assert server.connections == 2


@pytest.mark.parametrize("phase", ["head", "body"])
async def test_a_cancelled_call_gives_its_connection_back(phase: str) -> None:
    # The first request is cancelled while it waits for the response (``head``) or for the
    # rest of its body (``body``); the next request must still get the pool's one connection.
    stalled = asyncio.Event()

    async def behave(exchange: Exchange) -> bool:
        if exchange.hit == 1:
            if phase == "body":
                await exchange.send(CHAT[: len(CHAT) - 100])
            stalled.set()
            await exchange.until_client_leaves()
            return False
        await exchange.send(CHAT)
        return True

    async with RawServer(behave) as server, one_connection_client(server) as client:
        first = asyncio.create_task(client.chats.retrieve(EXAMPLE_ID))
        await asyncio.wait_for(stalled.wait(), BOUND)
        await asyncio.sleep(0.05)  # let what was sent arrive
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        chat = await asyncio.wait_for(client.chats.retrieve(EXAMPLE_ID), BOUND)

    assert chat.id == EXAMPLE_ID
    assert server.hits == 2
    assert server.connections == 2  # the cancelled exchange's connection was closed, not reused
