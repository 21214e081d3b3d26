"""Errors that explain themselves: a wrong base URL, and which time limit fired.

Every error comes from a real response (or a real wait) of a ``FakePostpress``.
"""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from support import Sleeps

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEY = "pp_live_explained_secret_0123456789"
HINT = "may not point at the postpress API"


@pytest.fixture
def server() -> Iterator[FakePostpress]:
    with FakePostpress(api_key=KEY) as fake:
        yield fake


def client(base_url: str, **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=Sleeps()))
    return pp.AsyncPostpress(KEY, base_url=base_url, **kwargs)


# -- a URL that is not the API -------------------------------------------------------------------


async def test_a_base_url_without_the_api_path_says_so(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    wrong = server.base_url.removesuffix("/api/v1")  # as with POSTPRESS_BASE_URL=http://host
    async with client(wrong) as c:
        with pytest.raises(pp.NotFoundError) as info:
            await c.chats.retrieve(chat_id, account_id="acc_private_value")
    message = str(info.value)
    assert f"{wrong}/chats/{chat_id} answered without a postpress error envelope" in message
    assert HINT in message
    assert "POSTPRESS_BASE_URL" in message
    assert info.value.type is None
    assert info.value.status == 404
    assert "acc_private_value" not in message  # the query is never shown
    assert KEY not in message
    assert server.requests[-1].chat_id is None


async def test_a_405_without_an_envelope_says_so_too(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, status=405, body="Method Not Allowed")
    async with client(server.base_url) as c:
        with pytest.raises(pp.BadRequestError) as info:
            await c.chats.retrieve(chat_id)
    assert info.value.status == 405
    assert f"{server.base_url}/chats/{chat_id} answered without" in str(info.value)
    assert HINT in str(info.value)


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        ({"error": pp.ErrorType.RESOURCE_NOT_FOUND}, pp.NotFoundError),
        ({"status": 500, "body": "oops"}, pp.InternalServerError),
        ({"status": 403, "body": "<h1>Forbidden</h1>"}, pp.PermissionDeniedError),
    ],
)
async def test_other_errors_carry_no_such_hint(
    server: FakePostpress, fault: dict[str, Any], cls: type[pp.APIStatusError]
) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, times=None, **fault)
    async with client(server.base_url, max_retries=0) as c:
        with pytest.raises(cls) as info:
            await c.chats.retrieve(chat_id)
    assert HINT not in str(info.value)
    assert "/chats/" not in str(info.value)


# -- which time limit fired ------------------------------------------------------------------


async def test_the_attempt_limit_with_the_attempt_count(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, latency=5.0, times=None)
    timeout = pp.Timeout(attempt=0.2, read=None)
    async with client(server.base_url, timeout=timeout, max_retries=2) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id, account_id="acc_private_value")
    error = info.value
    assert (error.limit, error.seconds, error.attempts) == ("attempt", 0.2, 3)
    assert str(error) == (
        f"GET /api/v1/chats/{chat_id} timed out: the attempt took longer than "
        "Timeout.attempt=0.2s; 3 attempts made"
    )
    assert len(server.requests) == 3


async def test_the_read_limit(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, latency=5.0, times=None)
    async with client(server.base_url, timeout=pp.Timeout(read=0.2), max_retries=0) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id)
    assert (info.value.limit, info.value.seconds) == ("read", 0.2)
    assert str(info.value).endswith("no data from the server for Timeout.read=0.2s; 1 attempt made")


async def test_the_deadline(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, latency=5.0, times=None)
    timeout = pp.Timeout(attempt=30, deadline=0.25)
    async with client(server.base_url, timeout=timeout) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id)
    assert (info.value.limit, info.value.seconds) == ("deadline", 0.25)
    assert "the call reached its overall Timeout.deadline=0.25s" in str(info.value)


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose listen queue is full: a new connection is never set up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # more than the kernel queues for backlog 0; extra SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


async def test_the_connect_limit(unanswered_port: int) -> None:
    timeout = pp.Timeout(attempt=30, connect=0.2)
    async with client(f"http://127.0.0.1:{unanswered_port}/api/v1", timeout=timeout) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve("chat_1")
    assert (info.value.limit, info.value.seconds) == ("connect", 0.2)
    assert "no connection within Timeout.connect=0.2s; 3 attempts made" in str(info.value)


async def test_a_timeout_pickles_with_its_limit(server: FakePostpress) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, latency=5.0, times=None)
    async with client(server.base_url, timeout=pp.Timeout(attempt=0.1), max_retries=1) as c:
        with pytest.raises(pp.APITimeoutError) as info:
            await c.chats.retrieve(chat_id)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.limit, copy.seconds, copy.attempts) == ("attempt", 0.1, 2)
    assert str(copy) == str(info.value)
