"""A response nobody asked for never reaches a caller: no call gets another call's chat.

The server (``RawServer``) answers each request with the chat it asked for, and then sends one
more response on the same keep-alive connection, unsolicited. aiohttp parsed those bytes as the
answer to the next request sent on that connection: call B got A's stray and every later call
the one before's. Two defences, each tested on its own, then together:

1. The connector never reuses a pooled connection on which anything arrived while it rested,
   or that holds a response parsed after the one its request read (``_network._PoolGuard``):
   the next call goes out on a new connection and gets its own chat.
2. A chat whose ``id`` is not the plain postpress id asked for is refused with
   ``ResponseDecodeError`` naming no content of it (a provider id with ``account_id`` is
   exempt; so is the id a same-origin redirect named).

Every case runs on the async client, the blocking client and ``retrieve_many``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from rawserver import Exchange, RawServer, response_head
from support import EXAMPLE, until
from support import SECRET_KEY as KEY
from tls_material import tls_client_context, tls_server_context

import postpress_async as pp

PRIVATE = "PRIVATE-CONTENT-OF-ANOTHER-CHAT"


def chat_body(chat_id: str) -> bytes:
    return json.dumps({**EXAMPLE, "id": chat_id, "name": f"{PRIVATE} {chat_id}"}).encode()


def chat_response(chat_id: str) -> bytes:
    body = chat_body(chat_id)
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return head + body


def asked_for(exchange: Exchange) -> str:
    """The chat id in the request line (the ids here need no percent-encoding)."""
    target = exchange.head.split(b" ", 2)[1].decode()
    return target.split("?", 1)[0].rsplit("/", 1)[1]


Behaviour = Callable[[Exchange], Awaitable[bool]]


def with_stray(
    *, split: int | None = None, together: bool = False, with_the_last_bytes: bool = False
) -> Behaviour:
    """Answer the request, then send a stray response (``stray_<id>``) on the connection.

    ``together``: in the same write as the answer (one read on the client, parsed before
    the client even looks at the answer). ``with_the_last_bytes``: in the write of the
    answer's last bytes, while the client is reading its body: aiohttp puts the connection
    back in the pool in the middle of parsing that read, and parses the stray after that.
    Otherwise once the answer is out; ``split`` sends only that many bytes of the stray in
    the answer's write, and the rest after it.
    """

    async def behave(exchange: Exchange) -> bool:
        chat_id = asked_for(exchange)
        answer, stray = chat_response(chat_id), chat_response(f"stray_{chat_id}")
        if together:
            await exchange.send(answer + stray)
        elif with_the_last_bytes:
            await exchange.send(answer[:-10])
            await asyncio.sleep(0.05)  # the client has the head and waits for the body
            await exchange.send(answer[-10:] + stray)
        elif split is not None:
            await exchange.send(answer + stray[:split])
            await asyncio.sleep(0.05)  # the client reads the answer and pools the connection
            await exchange.send(stray[split:])
        else:
            await exchange.send(answer)
            await asyncio.sleep(0.05)
            await exchange.send(stray)
        return True

    return behave


def client_for(server: RawServer, **options: Any) -> pp.AsyncPostpress:
    return pp.AsyncPostpress(KEY, base_url=server.base_url, max_retries=0, **options)


def assert_own_or_refused(chat_id: str, outcome: object) -> None:
    """``outcome`` is the chat asked for, or an error that shows no other chat's content."""
    if isinstance(outcome, pp.Chat):
        assert outcome.id == chat_id
        return
    assert isinstance(outcome, pp.PostpressError), repr(outcome)
    assert PRIVATE not in str(outcome)
    assert "stray_" not in str(outcome)


# -- 1. the pool: a connection something arrived on is never reused ------------------------------


@pytest.mark.parametrize(
    ("behaviour", "closed_while_idle"),
    [
        (with_stray(), True),
        (with_stray(together=True), False),
        (with_stray(with_the_last_bytes=True), False),
        (with_stray(split=5), True),
    ],
    ids=[
        "after the answer",
        "in the answer's write",
        "with the answer's last bytes",
        "split: 5 bytes, then the rest",
    ],
)
async def test_a_connection_that_received_a_stray_is_not_reused(
    behaviour: Behaviour, closed_while_idle: bool
) -> None:
    ids = ["chat_A", "chat_B", "chat_C"]
    async with RawServer(behaviour) as server, client_for(server) as client:
        for count, chat_id in enumerate(ids, start=1):
            chat = await client.chats.retrieve(chat_id)
            assert chat.id == chat_id
            if closed_while_idle:
                # A stray arriving on a resting connection closes it there and then.
                assert await until(
                    lambda n=count: server.hits == n and server.open_connections == 0
                )
            # Otherwise the stray came in the same read as the answer's end, parsed before the
            # call returned: the connection is closed when the next call would take it.
        assert server.connections == len(ids)


@pytest.mark.parametrize(
    ("behaviour", "closed_while_idle"),
    [(with_stray(), True), (with_stray(with_the_last_bytes=True), False)],
    ids=["after the answer", "with the answer's last bytes"],
)
async def test_the_same_over_tls(
    tmp_path: Path, behaviour: Behaviour, closed_while_idle: bool
) -> None:
    async with (
        RawServer(behaviour, tls=tls_server_context(tmp_path)) as server,
        client_for(server, ssl=tls_client_context()) as client,
    ):
        for count, chat_id in enumerate(["chat_A", "chat_B", "chat_C"], start=1):
            assert (await client.chats.retrieve(chat_id)).id == chat_id
            if closed_while_idle:
                assert await until(
                    lambda n=count: server.hits == n and server.open_connections == 0
                )
        assert server.connections == 3


async def test_a_clean_connection_is_still_reused() -> None:
    async def clean(exchange: Exchange) -> bool:
        await exchange.send(chat_response(asked_for(exchange)))
        return True

    async with RawServer(clean) as server, client_for(server) as client:
        for chat_id in ["chat_A", "chat_B", "chat_C"]:
            assert (await client.chats.retrieve(chat_id)).id == chat_id
        assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer_then_close(exchange: Exchange) -> bool:
        await exchange.send(chat_response(asked_for(exchange)))
        return False  # FIN after the answer

    async with RawServer(answer_then_close) as server, client_for(server) as client:
        for chat_id in ["chat_A", "chat_B", "chat_C"]:
            assert (await client.chats.retrieve(chat_id)).id == chat_id
            assert await until(lambda: server.open_connections == 0)
        assert server.connections == 3


async def test_strays_on_idle_pooled_connections_close_each_of_them() -> None:
    # Three connections rest in the pool; a stray arrives on two of them; the next calls
    # must go out on the clean one and on new ones, never on those two.
    gate = asyncio.Event()
    strays_sent: list[int] = []

    async def behave(exchange: Exchange) -> bool:
        chat_id = asked_for(exchange)
        if chat_id.startswith("first_"):
            await gate.wait()  # the three first calls are all in flight at once
            await exchange.send(chat_response(chat_id))
            if chat_id != "first_2":
                await asyncio.sleep(0.05)
                await exchange.send(chat_response(f"stray_{chat_id}"))
                strays_sent.append(exchange.hit)
            return True
        await exchange.send(chat_response(chat_id))
        return True

    async with RawServer(behave) as server, client_for(server) as client:
        calls = [asyncio.ensure_future(client.chats.retrieve(f"first_{n}")) for n in range(1, 4)]
        assert await until(lambda: server.hits == 3)
        gate.set()
        assert [c.id for c in await asyncio.gather(*calls)] == ["first_1", "first_2", "first_3"]
        assert await until(lambda: len(strays_sent) == 2 and server.open_connections == 1)
        for chat_id in ["next_1", "next_2", "next_3"]:
            assert (await client.chats.retrieve(chat_id)).id == chat_id
        assert server.connections == 3  # the clean one served all three


# -- 2. the id check: a chat with another id is refused ------------------------------------------


def always(chat_id: str) -> Behaviour:
    async def behave(exchange: Exchange) -> bool:
        await exchange.send(chat_response(chat_id))
        return True

    return behave


async def test_another_chat_than_the_one_asked_for_is_refused() -> None:
    async with RawServer(always("chat_other")) as server:
        async with client_for(server) as client:
            with pytest.raises(pp.ResponseDecodeError) as info:
                await client.chats.retrieve("chat_mine")
            results = [r async for r in client.chats.retrieve_many(["chat_mine", "chat_x"])]
            raw = await client.chats.with_raw_response.retrieve("chat_mine")
            with pytest.raises(pp.ResponseDecodeError):
                raw.parse()

        def blocking() -> BaseException:
            with (
                pp.Postpress(KEY, base_url=server.base_url, max_retries=2) as sync_client,
                pytest.raises(pp.ResponseDecodeError) as sync_info,
            ):
                sync_client.chats.retrieve("chat_mine")
            return sync_info.value

        sync_error = await asyncio.to_thread(blocking)
    for error in [info.value, sync_error, *(r.error for r in results)]:
        assert isinstance(error, pp.ResponseDecodeError)
        assert error.retryable is False
        assert error.path == "$.id"
        assert "different chat" in str(error)
        assert PRIVATE not in str(error)
        assert "chat_other" not in str(error)  # not even its id
    assert sorted(r.chat_id for r in results) == ["chat_mine", "chat_x"]
    assert server.hits == 5  # not retried


async def test_a_provider_id_with_account_id_is_exempt() -> None:
    async with RawServer(always("chat_resolved")) as server, client_for(server) as client:
        chat = await client.chats.retrieve("2-NTRkZDA4", account_id="acc_1")
        results = [r async for r in client.chats.retrieve_many(["2-NTRkZDA4"], account_id="acc_1")]
        raw = await client.chats.with_raw_response.retrieve("2-NTRkZDA4", account_id="acc_1")
    assert chat.id == "chat_resolved"
    assert [r.chat.id for r in results if r.chat is not None] == ["chat_resolved"]
    assert raw.parse().id == "chat_resolved"


async def test_the_chat_a_same_origin_redirect_named_is_accepted() -> None:
    async def moved(exchange: Exchange) -> bool:
        chat_id = asked_for(exchange)
        if chat_id == "chat_old":
            location = exchange.head.split(b" ", 2)[1].decode().replace("chat_old", "chat_new")
            await exchange.send(
                response_head(301, [("Location", location), ("Content-Length", "0")])
            )
        elif chat_id == "chat_lying":
            location = exchange.head.split(b" ", 2)[1].decode().replace("chat_lying", "chat_b")
            await exchange.send(
                response_head(301, [("Location", location), ("Content-Length", "0")])
            )
        else:
            # chat_new is chat_new; chat_b answers with yet another chat
            await exchange.send(chat_response("chat_new" if chat_id == "chat_new" else "chat_c"))
        return True

    async with RawServer(moved) as server, client_for(server) as client:
        assert (await client.chats.retrieve("chat_old")).id == "chat_new"
        with pytest.raises(pp.ResponseDecodeError):
            await client.chats.retrieve("chat_lying")  # redirected to chat_b, got chat_c


# -- both together: never a foreign chat, however the race goes ----------------------------------


def stray_of_previous() -> Behaviour:
    """Answer each request with the previous request's chat, then its own: the desynchronised
    stream a stray leaves behind when it wins the race against the next request."""
    previous: list[str] = []

    async def behave(exchange: Exchange) -> bool:
        chat_id = asked_for(exchange)
        data = b"".join(chat_response(p) for p in previous[-1:]) + chat_response(chat_id)
        previous.append(chat_id)
        await exchange.send(data)
        return True

    return behave


def ids_for(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{n:03d}" for n in range(count)]


async def outcomes_async(server: RawServer, ids: Sequence[str]) -> list[object]:
    outcomes: list[object] = []
    async with client_for(server) as client:
        for chat_id in ids:
            try:
                outcomes.append(await client.chats.retrieve(chat_id))
            except pp.PostpressError as exc:
                outcomes.append(exc)
    return outcomes


async def outcomes_batch(server: RawServer, ids: Sequence[str]) -> list[object]:
    async with client_for(server) as client:
        results = [
            r
            async for r in client.chats.retrieve_many(
                ids, concurrency=1, ordered=True, fail_fast=False
            )
        ]
    assert [r.chat_id for r in results] == list(ids)
    return [r.chat if r.error is None else r.error for r in results]


async def outcomes_blocking(server: RawServer, ids: Sequence[str]) -> list[object]:
    def run() -> list[object]:
        outcomes: list[object] = []
        with pp.Postpress(KEY, base_url=server.base_url, max_retries=0) as client:
            for chat_id in ids:
                try:
                    outcomes.append(client.chats.retrieve(chat_id))
                except pp.PostpressError as exc:
                    outcomes.append(exc)
        return outcomes

    return await asyncio.to_thread(run)


WAYS = {"async": outcomes_async, "retrieve_many": outcomes_batch, "blocking": outcomes_blocking}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize(
    "make_behaviour",
    [with_stray, lambda: with_stray(with_the_last_bytes=True), stray_of_previous],
    ids=["stray after the answer", "stray with the answer's last bytes", "answers one behind"],
)
async def test_back_to_back_calls_never_get_a_foreign_chat(
    way: str, make_behaviour: Callable[[], Behaviour]
) -> None:
    # No waiting between calls: whichever defence catches a stray, each call gets its own
    # chat or an error, and never the chat of another call.
    ids = ids_for(way, 12)
    async with RawServer(make_behaviour()) as server:
        outcomes = await WAYS[way](server, ids)
    assert len(outcomes) == len(ids)
    for chat_id, outcome in zip(ids, outcomes, strict=True):
        assert_own_or_refused(chat_id, outcome)
    assert any(isinstance(o, pp.Chat) for o in outcomes)  # not an SDK that refuses everything
