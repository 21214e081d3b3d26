"""Redirects against real servers: same-origin ones are followed, the key never leaves.

Another port on 127.0.0.1 is another origin, and so is the same port under ``localhost``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import EXAMPLE, no_sleep
from support import SECRET_KEY as KEY

import postpress_async as pp
from postpress_async.testing import FakePostpress


@pytest.fixture
def server(secret_server: FakePostpress) -> FakePostpress:
    """The secret-key server with two more copies of the example, to redirect between."""
    secret_server.add_chat({**EXAMPLE, "id": "chat_old"})
    secret_server.add_chat({**EXAMPLE, "id": "chat_new"})
    return secret_server


@pytest.fixture
async def other() -> AsyncIterator[FakePostpress]:
    """A second server: another origin, which must never see the key."""
    async with FakePostpress(api_key=KEY) as fake:
        fake.add_chat({**EXAMPLE, "id": "chat_new"})
        yield fake


def client_for(server: FakePostpress, **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=no_sleep))
    return pp.AsyncPostpress(KEY, base_url=server.base_url, **kwargs)


def assert_never_saw_the_key(server: FakePostpress) -> None:
    for request in server.requests:
        assert "x-api-key" not in request.headers
        assert KEY not in request.raw_path
        assert all(KEY not in value for value in request.headers.values())


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_same_origin_redirect_is_followed_with_the_key(
    server: FakePostpress, status: int
) -> None:
    server.fail("chat_old", status=status, redirect_to=server.chat_url("chat_new"))
    async with client_for(server) as client:
        chat = await client.chats.retrieve("chat_old")
    assert chat.id == "chat_new"
    first, second = server.requests
    assert first.chat_id == "chat_old"
    assert second.chat_id == "chat_new"
    assert second.headers["X-API-KEY"] == KEY
    assert second.method == "GET"


@pytest.mark.parametrize(
    "location",
    ["/api/v1/chats/chat_new", "chat_new", "./chat_new", "../chats/chat_new"],
)
async def test_relative_location(server: FakePostpress, location: str) -> None:
    server.fail("chat_old", status=302, redirect_to=location)
    async with client_for(server) as client:
        chat = await client.chats.retrieve("chat_old")
    assert chat.id == "chat_new"
    assert server.requests[-1].raw_path == "/api/v1/chats/chat_new"
    assert server.requests[-1].headers["X-API-KEY"] == KEY


async def test_redirect_keeps_the_query_of_the_location(server: FakePostpress) -> None:
    server.fail("chat_old", status=307, redirect_to="/api/v1/chats/chat_new?account_id=acc_9")
    async with client_for(server) as client:
        await client.chats.retrieve("chat_old", account_id="acc_1")
    assert server.requests[-1].query == {"account_id": "acc_9"}


async def test_raw_response_follows_redirects(server: FakePostpress) -> None:
    server.fail("chat_old", status=302, redirect_to="/api/v1/chats/chat_new")
    async with client_for(server) as client:
        raw = await client.chats.with_raw_response.retrieve("chat_old")
    assert raw.status == 200
    assert raw.parse().id == "chat_new"
    assert raw.url.endswith("/chats/chat_new")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_cross_origin_redirect_is_refused(
    server: FakePostpress, other: FakePostpress, status: int
) -> None:
    server.fail("chat_old", status=status, redirect_to=other.chat_url("chat_new"))
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError) as info:
            await client.chats.retrieve("chat_old")
    err = info.value
    assert err.status == status
    assert err.retryable is False
    assert KEY not in str(err)
    assert "127.0.0.1" in str(err)
    assert "origin" in str(err)
    assert other.requests == []  # not even without the key
    assert server.request_count == 1  # refused, not retried


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/api/v1/chats/chat_new",  # same port, other host
        "https://127.0.0.1:{port}/api/v1/chats/chat_new",  # same host and port, other scheme
        "//localhost:{port}/api/v1/chats/chat_new",  # scheme-relative
        "http://127.0.0.1:{other_port}/api/v1/chats/chat_new",
        "http://127.0.0.1.nip.io:{port}/api/v1/chats/chat_new",
    ],
)
async def test_other_origin_spellings_are_refused(
    server: FakePostpress, other: FakePostpress, target: str
) -> None:
    location = target.format(port=server.port, other_port=other.port)
    server.fail("chat_old", status=302, redirect_to=location)
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError):
            await client.chats.retrieve("chat_old")
    assert server.request_count == 1  # `localhost` would reach this same server: it must not
    assert other.requests == []


async def test_redirect_to_another_origin_after_a_same_origin_hop(
    server: FakePostpress, other: FakePostpress
) -> None:
    server.fail("chat_old", status=307, redirect_to="/api/v1/chats/chat_hop")
    server.fail("chat_hop", status=302, redirect_to=other.chat_url("chat_new"))
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError):
            await client.chats.retrieve("chat_old")
    assert server.request_count == 2
    assert other.requests == []


async def test_key_not_sent_to_other_origin_even_if_redirects_repeat(
    server: FakePostpress, other: FakePostpress
) -> None:
    server.fail(status=302, redirect_to=other.chat_url("chat_new"), times=None)
    async with client_for(server) as client:
        for _ in range(3):
            with pytest.raises(pp.APIStatusError):
                await client.chats.retrieve("chat_old")
    assert_never_saw_the_key(other)
    assert other.requests == []


async def test_redirect_loop_stops_after_max_redirects(server: FakePostpress) -> None:
    server.fail("chat_old", status=302, redirect_to=server.chat_url("chat_old"), times=None)
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError) as info:
            await client.chats.retrieve("chat_old")
    assert info.value.status == 302
    assert "max_redirects" in str(info.value)
    assert server.request_count == 5 + 1  # the default max_redirects is 5


@pytest.mark.parametrize("max_redirects", [0, 1, 3])
async def test_max_redirects_setting(server: FakePostpress, max_redirects: int) -> None:
    server.fail("chat_old", status=307, redirect_to=server.chat_url("chat_old"), times=None)
    async with client_for(server, max_redirects=max_redirects) as client:
        with pytest.raises(pp.APIStatusError):
            await client.chats.retrieve("chat_old")
    assert server.request_count == max_redirects + 1


async def test_two_hop_loop_between_ids(server: FakePostpress) -> None:
    server.fail("chat_old", status=302, redirect_to="/api/v1/chats/chat_new", times=None)
    server.fail("chat_new", status=302, redirect_to="/api/v1/chats/chat_old", times=None)
    async with client_for(server, max_redirects=4) as client:
        with pytest.raises(pp.APIStatusError):
            await client.chats.retrieve("chat_old")
    assert server.request_count == 5


async def test_redirect_within_the_limit_succeeds(server: FakePostpress) -> None:
    server.fail("chat_old", status=302, redirect_to="/api/v1/chats/chat_old", times=2)
    async with client_for(server, max_redirects=2) as client:
        chat = await client.chats.retrieve("chat_old")
    assert chat.id == "chat_old"
    assert server.request_count == 3


async def test_redirect_without_location_is_a_status_error(server: FakePostpress) -> None:
    server.fail("chat_old", status=302, body=b"Found", times=None)
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError) as info:
            await client.chats.retrieve("chat_old")
    assert info.value.status == 302
    assert server.request_count == 1
