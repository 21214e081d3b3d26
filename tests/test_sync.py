"""``pp.Postpress``, the blocking client: parity with the async one, threads, loops, lifecycle.

The fake server runs in its own thread (``with FakePostpress()``), since a blocking call holds
the thread it is made from. Ctrl-C, interpreter exit and ``fork`` are in
``test_sync_process.py``. Waits are bounded only to turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from support import WAIT, Sleeps, until_sync

import postpress_async as pp
from postpress_async.testing import FakePostpress

T = TypeVar("T")
SECRET = "pp_live_Zq8sEcReT0123456789"


def settings(thread_server: FakePostpress, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=Sleeps()))
    kwargs.setdefault("timeout", 30.0)
    return {"api_key": thread_server.api_key, "base_url": thread_server.base_url, **kwargs}


@pytest.fixture
def client(thread_server: FakePostpress) -> Iterator[pp.Postpress]:
    with pp.Postpress(**settings(thread_server)) as c:
        yield c


def run_async(make: Callable[[pp.AsyncPostpress], Any], **kwargs: Any) -> Any:
    """Run ``make(client)`` with a fresh ``AsyncPostpress`` in a fresh event loop."""

    async def main() -> Any:
        async with pp.AsyncPostpress(**kwargs) as client:
            return await make(client)

    return asyncio.run(main())


def in_thread(func: Callable[[], T], name: str = "caller") -> T:
    """Run ``func`` in a new thread and return its result; a hang fails instead of hanging."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", func()))
        except BaseException as exc:
            outcome.append(("error", exc))

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"{name} did not finish: deadlock?"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "postpress-loop" and t.is_alive()]


# -- parity with the async client -------------------------------------------------------------


def test_retrieve_matches_the_async_client(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    ids = thread_server.add_chats(6)
    by_provider = next(thread_server.chat(i) for i in ids if thread_server.chat(i).provider_id)
    provider_id, account_id = by_provider.provider_id, by_provider.account_id
    assert provider_id is not None

    async def fetch_async(c: pp.AsyncPostpress) -> tuple[list[pp.Chat], pp.Chat]:
        return [await c.chats.retrieve(i) for i in ids], await c.chats.retrieve(
            provider_id, account_id=account_id
        )

    async_chats, async_by_provider = run_async(fetch_async, **settings(thread_server))
    assert [client.chats.retrieve(i) for i in ids] == async_chats
    assert client.chats.retrieve(provider_id, account_id=account_id) == async_by_provider
    assert async_by_provider.id == by_provider.id
    assert async_chats == [thread_server.chat(i) for i in ids]


def test_with_raw_response_matches_the_async_client(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    chat_id = thread_server.add_chats(1)[0]

    async def fetch_async(c: pp.AsyncPostpress) -> pp.RawResponse[pp.Chat]:
        return await c.chats.with_raw_response.retrieve(chat_id)

    expected = run_async(fetch_async, **settings(thread_server))
    raw = client.chats.with_raw_response.retrieve(chat_id)
    assert isinstance(raw, pp.RawResponse)
    assert type(raw) is type(expected)
    assert (raw.status, raw.content, raw.url) == (expected.status, expected.content, expected.url)
    assert raw.headers["Content-Type"] == expected.headers["Content-Type"]
    assert raw.headers["X-Request-Id"] != expected.headers["X-Request-Id"]
    assert raw.parse() == expected.parse() == thread_server.chat(chat_id)


def test_retrieve_many_matches_the_async_client(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    ids = [*thread_server.add_chats(20), "chat_missing", "chat_also_missing"]
    thread_server.latency = (0.0, 0.005)

    async def fetch_async(c: pp.AsyncPostpress) -> list[pp.ChatResult]:
        return [r async for r in c.chats.retrieve_many(ids, concurrency=5, ordered=True)]

    expected = run_async(fetch_async, **settings(thread_server))
    got = list(client.chats.retrieve_many(ids, concurrency=5, ordered=True))
    assert all(isinstance(r, pp.ChatResult) for r in got)

    def summary(results: list[pp.ChatResult]) -> list[tuple[Any, ...]]:
        return [(r.index, r.chat_id, r.chat, type(r.error)) for r in results]

    assert summary(got) == summary(expected)
    assert [type(r.error) for r in got if r.error is not None] == [pp.NotFoundError] * 2


def test_constructor_takes_the_async_arguments_but_http_session() -> None:
    sync_params = inspect.signature(pp.Postpress).parameters
    async_params = {
        name: param
        for name, param in inspect.signature(pp.AsyncPostpress).parameters.items()
        if name != "http_session"
    }
    assert "http_session" in inspect.signature(pp.AsyncPostpress).parameters
    assert list(sync_params) == list(async_params)
    for name, param in sync_params.items():
        other = async_params[name]
        assert param.kind == other.kind, name
        assert param.default == other.default, name
        assert param.annotation == other.annotation, name


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("chats",), "retrieve"),
        (("chats",), "retrieve_many"),
        (("chats", "with_raw_response"), "retrieve"),
    ],
)
def test_methods_take_the_async_arguments(
    thread_server: FakePostpress, path: tuple[str, ...], name: str
) -> None:
    with pp.Postpress(**settings(thread_server)) as sync_client:
        sync_owner: Any = sync_client
        for part in path:
            sync_owner = getattr(sync_owner, part)
        sync_sig = inspect.signature(getattr(sync_owner, name))

    async_client = pp.AsyncPostpress(**settings(thread_server))  # never used: nothing to close
    async_owner: Any = async_client
    for part in path:
        async_owner = getattr(async_owner, part)
    async_sig = inspect.signature(getattr(async_owner, name))

    assert list(sync_sig.parameters) == list(async_sig.parameters)
    for param_name, param in sync_sig.parameters.items():
        other = async_sig.parameters[param_name]
        assert (param.kind, param.default) == (other.kind, other.default), param_name


BAD_SETTINGS: list[dict[str, Any]] = [
    {"api_key": None},
    {"api_key": ""},
    {"api_key": "pp key with spaces\n"},
    {"base_url": "ftp://example.com/api/v1"},
    {"base_url": "not a url"},
    {"timeout": -1},
    {"timeout": "10"},
    {"max_retries": -1},
    {"retry": "twice"},
    {"limits": 10},
    {"default_headers": {"X-API-KEY": "k"}},
    {"max_response_size": -1},
    {"max_redirects": -1},
]


@pytest.mark.parametrize("bad", BAD_SETTINGS, ids=lambda d: "-".join(map(str, d)))
def test_bad_settings_raise_at_construction_in_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any]
) -> None:
    monkeypatch.delenv("POSTPRESS_API_KEY", raising=False)
    monkeypatch.delenv("POSTPRESS_BASE_URL", raising=False)
    kwargs = {"api_key": "pp_test_key", "base_url": "http://127.0.0.1:9/api/v1", **bad}
    threads_before = set(threading.enumerate())

    with pytest.raises(pp.ConfigurationError) as info:
        pp.Postpress(**kwargs)

    assert set(threading.enumerate()) <= threads_before  # no loop thread was started for it
    with pytest.raises(pp.ConfigurationError) as async_info:
        pp.AsyncPostpress(**kwargs)
    assert str(info.value) == str(async_info.value)


def test_missing_key_message_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTPRESS_API_KEY", raising=False)
    with pytest.raises(pp.ConfigurationError, match="POSTPRESS_API_KEY"):
        pp.Postpress()


def test_insecure_transport_warning_points_at_the_callers_line() -> None:
    # Like the async client's, the warning names the line that built the client, so that
    # users see their own code (and can filter by module), not the package's internals.
    url = "http://example.com/api/v1"
    with pytest.warns(pp.InsecureTransportWarning) as async_record:
        pp.AsyncPostpress("pp_test_key", base_url=url)
    with pytest.warns(pp.InsecureTransportWarning) as sync_record:
        client = pp.Postpress("pp_test_key", base_url=url)
    client.close()
    assert [w.filename for w in async_record] == [__file__]
    assert [w.filename for w in sync_record] == [__file__]


def test_environment_settings_apply(
    monkeypatch: pytest.MonkeyPatch, thread_server: FakePostpress
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    monkeypatch.setenv("POSTPRESS_API_KEY", thread_server.api_key)
    monkeypatch.setenv("POSTPRESS_BASE_URL", thread_server.base_url)
    with pp.Postpress() as client:
        assert client.base_url == thread_server.base_url
        assert client.chats.retrieve(chat_id).id == chat_id


# -- threads ----------------------------------------------------------------------------------


def test_eight_threads_share_one_client(thread_server: FakePostpress) -> None:
    ids = thread_server.add_chats(40)
    thread_server.latency = (0.0, 0.003)
    expected = {i: thread_server.chat(i) for i in ids}
    loops_before = len(loop_threads())
    client = pp.Postpress(**settings(thread_server))
    start = threading.Barrier(8)
    failures: list[BaseException] = []
    checked = [0] * 8

    def work(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait(WAIT)  # all eight make the client's very first call together
            for _ in range(40):
                chat_id = rng.choice(ids)
                assert client.chats.retrieve(chat_id) == expected[chat_id]
                checked[n] += 1
            mine = rng.sample(ids, 15)
            results = list(client.chats.retrieve_many(mine, concurrency=4, ordered=n % 2 == 0))
            assert sorted(r.chat_id for r in results) == sorted(mine)
            assert all(r.chat == expected[r.chat_id] for r in results)
            raw = client.chats.with_raw_response.retrieve(mine[0])
            assert raw.parse() == expected[mine[0]]
            try:
                client.chats.retrieve(f"chat_missing_{n}")
            except pp.NotFoundError:
                checked[n] += 1
        except BaseException as exc:
            failures.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert not any(t.is_alive() for t in threads), "a thread is stuck"
        assert failures == []
        assert checked == [41] * 8
        assert len(loop_threads()) == loops_before + 1  # one portal for the whole client
        assert thread_server.request_count == 8 * (40 + 15 + 1 + 1)
    finally:
        client.close()
    assert until_sync(lambda: len(loop_threads()) == loops_before), "the loop thread ended"


def test_two_clients_have_two_loops_and_do_not_interfere(thread_server: FakePostpress) -> None:
    ids = thread_server.add_chats(4)
    loops_before = len(loop_threads())
    with (
        pp.Postpress(**settings(thread_server)) as first,
        pp.Postpress(**settings(thread_server)) as second,
    ):
        assert first.chats.retrieve(ids[0]).id == ids[0]
        assert second.chats.retrieve(ids[1]).id == ids[1]
        assert len(loop_threads()) == loops_before + 2
        first.close()
        assert second.chats.retrieve(ids[2]).id == ids[2]
    assert until_sync(lambda: len(loop_threads()) == loops_before), "both loop threads ended"


def test_retrieve_many_iterated_from_another_thread_than_created(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    ids = thread_server.add_chats(10)
    results = client.chats.retrieve_many(ids, concurrency=3)
    got = in_thread(lambda: list(results))
    assert sorted(r.chat_id for r in got) == sorted(ids)


# -- a thread whose event loop is running (a notebook cell) -----------------------------------


def test_blocking_calls_inside_a_running_event_loop(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    ids = thread_server.add_chats(8)

    async def cell() -> tuple[pp.Chat, list[pp.ChatResult], pp.RawResponse[pp.Chat]]:
        asyncio.get_running_loop()  # this thread's loop is running, as in a notebook
        chat = client.chats.retrieve(ids[0])
        many = list(client.chats.retrieve_many(ids, concurrency=4))
        raw = client.chats.with_raw_response.retrieve(ids[1])
        with pytest.raises(pp.NotFoundError):
            client.chats.retrieve("chat_missing")
        await asyncio.sleep(0)  # the cell's own loop still runs afterwards
        return chat, many, raw

    chat, many, raw = in_thread(lambda: asyncio.run(cell()), name="notebook")
    assert chat == thread_server.chat(ids[0])
    assert sorted(r.chat_id for r in many) == sorted(ids)
    assert raw.parse() == thread_server.chat(ids[1])


def test_client_created_and_closed_inside_a_running_event_loop(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]

    async def cell() -> pp.Chat:
        with pp.Postpress(**settings(thread_server)) as client:
            return client.chats.retrieve(chat_id)

    assert in_thread(lambda: asyncio.run(cell()), name="notebook").id == chat_id


def test_blocking_calls_from_inside_a_running_loop_in_the_main_thread(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    chat_id = thread_server.add_chats(1)[0]

    async def cell() -> pp.Chat:
        return client.chats.retrieve(chat_id)

    assert asyncio.run(cell()).id == chat_id


# -- errors -----------------------------------------------------------------------------------


def test_not_found_is_the_same_class_as_async(
    thread_server: FakePostpress, client: pp.Postpress
) -> None:
    async def fetch_async(c: pp.AsyncPostpress) -> BaseException:
        try:
            await c.chats.retrieve("chat_unknown")
        except pp.PostpressError as exc:
            return exc
        raise AssertionError("no error")

    expected = run_async(fetch_async, **settings(thread_server))
    with pytest.raises(pp.NotFoundError) as info:
        client.chats.retrieve("chat_unknown")
    assert type(info.value) is type(expected)
    assert info.value.status == expected.status == 404
    assert info.value.type == pp.ErrorType.RESOURCE_NOT_FOUND
    assert info.value.attempts == 1


def test_retryable_error_after_retries(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    sleeps = Sleeps()
    with (
        pp.Postpress(**settings(thread_server, retry=pp.RetryPolicy(sleep=sleeps))) as client,
        pytest.raises(pp.ServiceUnavailableError) as info,
    ):
        client.chats.retrieve(chat_id)
    assert info.value.attempts == 3
    assert info.value.status == 503
    assert len(sleeps.waits) == 2
    assert thread_server.request_count == 3


def test_one_retryable_fault_then_success(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, error=pp.ErrorType.PROVIDER_ERROR, times=1)
    sleeps = Sleeps()
    with pp.Postpress(**settings(thread_server, retry=pp.RetryPolicy(sleep=sleeps))) as client:
        assert client.chats.retrieve(chat_id) == thread_server.chat(chat_id)
    assert len(sleeps.waits) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"error": pp.ErrorType.INSUFFICIENT_PERMISSIONS}, pp.PermissionDeniedError),
        ({"error": pp.ErrorType.EXPIRED_CREDENTIALS}, pp.AuthenticationError),
        ({"status": 502}, pp.ServerError),
        ({"error": pp.ErrorType.REQUEST_TIMEOUT}, pp.GatewayTimeoutError),
        ({"status": 200, "body": b"{not json", "content_type": "application/json"}, None),
    ],
)
def test_error_classes_match_async(
    thread_server: FakePostpress, fault: dict[str, Any], error: type[Exception] | None
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, times=None, **fault)

    async def fetch_async(c: pp.AsyncPostpress) -> BaseException:
        try:
            await c.chats.retrieve(chat_id)
        except pp.PostpressError as exc:
            return exc
        raise AssertionError("no error")

    expected = run_async(fetch_async, **settings(thread_server))
    if error is not None:
        assert isinstance(expected, error)
    with (
        pp.Postpress(**settings(thread_server)) as client,
        pytest.raises(pp.PostpressError) as info,
    ):
        client.chats.retrieve(chat_id)
    assert type(info.value) is type(expected)
    assert info.value.attempts == expected.attempts
    assert thread_server.api_key not in str(info.value)


def test_connection_error_is_the_same_class_as_async() -> None:
    with FakePostpress() as gone:
        base_url = gone.base_url
    kwargs = {"api_key": "pp_test_key", "base_url": base_url, "max_retries": 0}

    async def fetch_async(c: pp.AsyncPostpress) -> BaseException:
        try:
            await c.chats.retrieve("chat_1")
        except pp.PostpressError as exc:
            return exc
        raise AssertionError("no error")

    expected = run_async(fetch_async, **kwargs)
    assert isinstance(expected, pp.APIConnectionError)
    with pp.Postpress(**kwargs) as client, pytest.raises(pp.APIConnectionError) as info:
        client.chats.retrieve("chat_1")
    assert type(info.value) is type(expected)


@pytest.mark.parametrize(
    ("chat_id", "error"), [("", ValueError), (None, TypeError), (7, TypeError)]
)
def test_bad_ids_raise_like_async_before_any_request(
    thread_server: FakePostpress, client: pp.Postpress, chat_id: Any, error: type[Exception]
) -> None:
    async def fetch_async(c: pp.AsyncPostpress) -> None:
        await c.chats.retrieve(chat_id)

    with pytest.raises(error):
        run_async(fetch_async, **settings(thread_server))
    with pytest.raises(error):
        client.chats.retrieve(chat_id)
    with pytest.raises(error):
        client.chats.with_raw_response.retrieve(chat_id)
    assert thread_server.request_count == 0


def test_timeout_is_api_timeout_error(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, latency=5.0, times=None)
    with (
        pp.Postpress(**settings(thread_server, timeout=0.2, max_retries=0)) as client,
        pytest.raises(pp.APITimeoutError),
    ):
        client.chats.retrieve(chat_id)
    assert until_sync(lambda: thread_server.in_flight == 0), (
        "the timed-out request ended on the server"
    )


# -- lifecycle --------------------------------------------------------------------------------


def test_close_is_idempotent_and_stops_the_loop_thread(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    loops_before = len(loop_threads())
    client = pp.Postpress(**settings(thread_server))
    assert not client.closed
    assert len(loop_threads()) == loops_before  # nothing started before the first call
    client.chats.retrieve(chat_id)
    assert len(loop_threads()) == loops_before + 1
    client.close()
    assert client.closed
    client.close()
    assert client.closed
    assert until_sync(lambda: len(loop_threads()) == loops_before), "the loop thread ended"


def test_close_an_unused_client_starts_nothing() -> None:
    loops_before = len(loop_threads())
    client = pp.Postpress("pp_test_key", base_url="http://127.0.0.1:9/api/v1")
    client.close()
    client.close()
    assert client.closed
    assert len(loop_threads()) == loops_before
    with pytest.raises(RuntimeError):
        client.chats.retrieve("chat_1")


def test_with_closes(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    with pp.Postpress(**settings(thread_server)) as client:
        assert client.chats.retrieve(chat_id).id == chat_id
    assert client.closed


def test_with_closes_when_the_body_raises(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    client = pp.Postpress(**settings(thread_server))

    def body() -> None:
        with client:
            client.chats.retrieve(chat_id)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        body()
    assert client.closed


def test_calls_after_close_raise_runtime_error(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    with pp.Postpress(**settings(thread_server)) as client:
        client.chats.retrieve(chat_id)
    requests = thread_server.request_count
    with pytest.raises(RuntimeError, match="closed"):
        client.chats.retrieve(chat_id)
    with pytest.raises(RuntimeError, match="closed"):
        client.chats.with_raw_response.retrieve(chat_id)
    with pytest.raises(RuntimeError, match="closed"):
        list(client.chats.retrieve_many([chat_id]))
    assert thread_server.request_count == requests


def retrieve_in_thread(
    client: pp.Postpress, chat_id: str
) -> tuple[threading.Thread, list[BaseException | pp.Chat]]:
    """Start ``client.chats.retrieve(chat_id)`` in a daemon thread; the outcome lands in a list."""
    outcome: list[BaseException | pp.Chat] = []

    def call() -> None:
        try:
            outcome.append(client.chats.retrieve(chat_id))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    return caller, outcome


def test_close_from_another_thread_while_a_call_waits(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, latency=60.0, times=None)
    client = pp.Postpress(**settings(thread_server))
    caller, outcome = retrieve_in_thread(client, chat_id)
    assert until_sync(lambda: thread_server.in_flight == 1), "the request reached the server"
    in_thread(client.close, name="closer")
    caller.join(WAIT)
    assert not caller.is_alive(), "the waiting call never returned after close()"
    (result,) = outcome
    assert isinstance(result, Exception), result  # an error, never a hang or a bogus chat
    assert until_sync(lambda: thread_server.in_flight == 0), "the request ended on the server"


def test_close_from_another_thread_while_a_call_waits_to_retry(
    thread_server: FakePostpress,
) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, error=pp.ErrorType.SERVICE_UNAVAILABLE, times=None)
    backing_off = threading.Event()

    async def long_backoff(seconds: float) -> None:
        backing_off.set()
        await asyncio.Event().wait()  # a backoff that outlasts the client; only close ends it

    client = pp.Postpress(**settings(thread_server, retry=pp.RetryPolicy(sleep=long_backoff)))
    caller, outcome = retrieve_in_thread(client, chat_id)
    assert backing_off.wait(WAIT), "the call never reached its backoff"
    in_thread(client.close, name="closer")
    caller.join(WAIT)
    assert not caller.is_alive(), "the waiting call never returned after close()"
    (result,) = outcome
    # The caller learns the client was closed (or why the call failed) in the package's own
    # terms, never through the portal's concurrent.futures.CancelledError.
    assert isinstance(result, (pp.PostpressError, RuntimeError)), repr(result)


def test_close_while_a_retrieve_many_is_half_consumed(thread_server: FakePostpress) -> None:
    fast, *slow = thread_server.add_chats(6)
    for chat_id in slow:
        thread_server.fail(chat_id, latency=60.0, times=None)
    client = pp.Postpress(**settings(thread_server))
    results = client.chats.retrieve_many([fast, *slow], concurrency=3)
    assert next(results).chat_id == fast
    assert until_sync(lambda: thread_server.in_flight == 3), "the pool filled up"
    in_thread(client.close, name="closer")
    assert until_sync(lambda: thread_server.in_flight == 0), "the requests ended on the server"
    with pytest.raises(RuntimeError):
        next(results)


def test_repr_never_shows_the_key(thread_server: FakePostpress) -> None:
    client = pp.Postpress(SECRET, base_url=thread_server.base_url)
    try:
        text = repr(client)
        assert SECRET not in text
        assert SECRET[-6:] not in text
        assert thread_server.base_url in text
        assert "closed" not in text
    finally:
        client.close()
    assert SECRET not in repr(client)
    assert "closed" in repr(client)
    assert SECRET not in str(client)
    assert SECRET not in repr(client.chats) + repr(client.chats.with_raw_response)
