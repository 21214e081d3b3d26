"""A 2xx body is read whole however it arrives, and its connection is reused after it.

The transport takes a body that arrived with its head as it is, without awaiting aiohttp's
``read()``, and awaits the rest of one that did not. Both ways, on asyncio's loop and on
uvloop's, the chat comes out whole and the next request goes over the same connection (the
server counts them). A caller's session keeps aiohttp's ``read()``, so that its trace configs
still hear of every body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from rawserver import Exchange, RawServer, response_head
from support import EXAMPLE_BODY, EXAMPLE_ID, LOOPS, on_loop

import postpress_async as pp

HEAD = response_head(
    200, [("Content-Type", "application/json"), ("Content-Length", str(len(EXAMPLE_BODY)))]
)


async def whole(exchange: Exchange) -> bool:
    """Head and body in one write: the body is there when the head is."""
    await exchange.send(HEAD + EXAMPLE_BODY)
    return True


async def in_three_pieces(exchange: Exchange) -> bool:
    """The head, then the body in two writes, each after the client has had time to read."""
    await exchange.send(HEAD)
    await asyncio.sleep(0.05)
    half = len(EXAMPLE_BODY) // 2
    await exchange.send(EXAMPLE_BODY[:half])
    await asyncio.sleep(0.05)
    await exchange.send(EXAMPLE_BODY[half:])
    return True


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("behaviour", [whole, in_three_pieces], ids=["whole", "in-pieces"])
def test_the_body_is_read_whole_and_the_connection_reused(
    loop: str, behaviour: Callable[[Exchange], Awaitable[bool]]
) -> None:
    async def main() -> tuple[list[pp.Chat], RawServer]:
        async with (
            RawServer(behaviour) as server,
            pp.AsyncPostpress("k", base_url=server.base_url, max_retries=0) as client,
        ):
            chats = [await client.chats.retrieve(EXAMPLE_ID) for _ in range(3)]
        return chats, server

    chats, server = on_loop(loop, main)
    assert [chat.id for chat in chats] == [EXAMPLE_ID] * 3
    assert all(chat.to_json() == chats[0].to_json() for chat in chats)
    assert server.hits == 3
    assert server.connections == 1


async def test_a_callers_session_still_tells_its_trace_configs_of_each_body() -> None:
    bodies: list[bytes] = []

    async def on_chunk(session: object, context: object, params: Any) -> None:
        bodies.append(params.chunk)

    traced = aiohttp.TraceConfig()
    traced.on_response_chunk_received.append(on_chunk)
    async with (
        RawServer(whole) as server,
        aiohttp.ClientSession(trace_configs=[traced]) as session,
        pp.AsyncPostpress("k", base_url=server.base_url, http_session=session) as client,
    ):
        for _ in range(2):
            assert (await client.chats.retrieve(EXAMPLE_ID)).id == EXAMPLE_ID
    assert bodies == [EXAMPLE_BODY, EXAMPLE_BODY]
