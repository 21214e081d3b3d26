"""Errors and results cross processes: raised by a real client in a ProcessPoolExecutor worker.

Each case makes a blocking client in a worker process fail against a real server in this one
(FakePostpress, a proxy, a TLS server): the error is pickled back by concurrent.futures, and
must arrive with its class and every attribute, headers included (aiohttp's are not
picklable; the errors keep a copy). ``retrieve_many``'s ``ChatResult`` list crosses too.
"""

from __future__ import annotations

import multiprocessing
import pickle
import ssl
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from certs import Certs
from proxies import ForwardProxy
from support import refusing_port

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEY = "pp_test_key"
SECRET = "Pr0xy-S3cret"


# -- what the worker runs (importable by name: the pool spawns fresh interpreters) -------------


def _client(base_url: str, options: dict[str, Any]) -> pp.Postpress:
    options = dict(options)
    ca_file = options.pop("ca_file", None)
    if ca_file is not None:
        options["ssl"] = ssl.create_default_context(cafile=ca_file)
    return pp.Postpress(options.pop("api_key", KEY), base_url=base_url, max_retries=0, **options)


def fetch(base_url: str, chat_id: str, options: dict[str, Any]) -> pp.Chat:
    """Retrieve one chat with a blocking client; whatever it raises goes back pickled."""
    with _client(base_url, options) as client:
        return client.chats.retrieve(chat_id)


def fetch_many(base_url: str, ids: list[str]) -> list[pp.ChatResult]:
    with _client(base_url, {}) as client:
        return list(client.chats.retrieve_many(ids, ordered=True))


# -- the pool and the servers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    # spawn: a fresh interpreter, as Celery or a fork-less platform would give.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


@pytest.fixture(scope="module")
def server() -> Iterator[FakePostpress]:
    with FakePostpress() as fake:
        yield fake


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


def raised_in_worker(pool: ProcessPoolExecutor, *args: Any) -> BaseException:
    future = pool.submit(fetch, *args)
    error = future.exception(timeout=60)
    assert error is not None, "the worker did not fail"
    return error


def same_state(error: BaseException) -> None:
    """A round trip through pickle in this process keeps class, message and attributes."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


# -- status errors from real responses ------------------------------------------------------------

StatusCase = Callable[[FakePostpress, str], dict[str, Any]]


def _not_found(server: FakePostpress, chat_id: str) -> dict[str, Any]:
    server.fail(chat_id, error=pp.ErrorType.RESOURCE_NOT_FOUND)
    return {}


def _rate_limited(server: FakePostpress, chat_id: str) -> dict[str, Any]:
    server.fail(chat_id, status=429, retry_after=7, headers={"X-Extra": "a"})
    return {}


def _provider_error(server: FakePostpress, chat_id: str) -> dict[str, Any]:
    server.fail(chat_id, error=pp.ErrorType.PROVIDER_ERROR, detail="the provider failed")
    return {}


def _proxy_page(server: FakePostpress, chat_id: str) -> dict[str, Any]:
    server.fail(chat_id, status=502, body=b"<html>bad gateway</html>")
    return {}


def _bad_key(server: FakePostpress, chat_id: str) -> dict[str, Any]:
    return {"api_key": "pp_wrong_key"}


@pytest.mark.parametrize(
    ("case", "expected", "status"),
    [
        (_not_found, pp.NotFoundError, 404),
        (_rate_limited, pp.RateLimitError, 429),
        (_provider_error, pp.InternalServerError, 500),
        (_proxy_page, pp.ServerError, 502),
        (_bad_key, pp.AuthenticationError, 401),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)).strip("_"),
)
def test_status_errors_cross_processes(
    pool: ProcessPoolExecutor,
    server: FakePostpress,
    case: StatusCase,
    expected: type[pp.APIStatusError],
    status: int,
) -> None:
    chat_id = server.add_chats(1, seed=status)[0]
    options = case(server, chat_id)
    error = raised_in_worker(pool, server.base_url, chat_id, options)
    assert type(error) is expected
    assert isinstance(error, pp.APIStatusError)
    sent = server.requests[-1]
    assert error.status == status
    assert error.request_id == sent.request_id
    assert error.headers["x-request-id"] == sent.request_id  # case-insensitive still
    assert error.headers["X-Request-Id"] == sent.request_id
    assert error.body
    assert error.retryable is (status in (429, 500, 502))
    assert error.attempts == 1
    if status == 429:
        assert error.retry_after == 7
        assert error.headers["x-extra"] == "a"
    if case in (_not_found, _provider_error, _bad_key):  # the ones with an error envelope
        assert error.type is not None
        assert error.detail
    same_state(error)


# -- every other kind ---------------------------------------------------------------------------


def test_decode_and_size_errors_cross_processes(
    pool: ProcessPoolExecutor, server: FakePostpress
) -> None:
    server.add_raw("chat_broken", b'{"object": "Chat", "id": 5}')
    error = raised_in_worker(pool, server.base_url, "chat_broken", {})
    assert type(error) is pp.ResponseDecodeError
    assert error.path is not None
    same_state(error)
    chat_id = server.add_chats(1, seed=77)[0]
    error = raised_in_worker(pool, server.base_url, chat_id, {"max_response_size": 10})
    assert type(error) is pp.ResponseTooLargeError
    same_state(error)


def test_a_refused_redirect_crosses_processes(
    pool: ProcessPoolExecutor, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1, seed=78)[0]
    server.fail(chat_id, redirect_to="http://127.0.0.2:9/elsewhere")
    error = raised_in_worker(pool, server.base_url, chat_id, {})
    assert type(error) is pp.APIStatusError
    assert error.status == 307
    assert error.headers["location"] == "http://127.0.0.2:9/elsewhere"
    same_state(error)


def test_connection_errors_cross_processes(pool: ProcessPoolExecutor) -> None:
    error = raised_in_worker(pool, f"http://127.0.0.1:{refusing_port()}/api/v1", "chat_1", {})
    assert type(error) is pp.APIConnectionError
    assert error.retryable is True
    same_state(error)


def test_proxy_and_certificate_errors_cross_processes(
    pool: ProcessPoolExecutor, server: FakePostpress, certs: Certs
) -> None:
    with ForwardProxy(username="alice", password=SECRET) as proxy:
        options = {"proxy": proxy.url("alice", "wrong")}
        error = raised_in_worker(pool, server.base_url, "chat_1", options)
    assert type(error) is pp.ProxyError
    assert (error.status, error.proxy) == (407, f"http://***@127.0.0.1:{proxy.port}")
    same_state(error)
    with FakePostpress(ssl=certs.server("api.example.test")) as tls:
        error = raised_in_worker(pool, tls.base_url, "chat_1", {"ca_file": str(certs.ca_file)})
    assert type(error) is pp.CertificateError
    assert error.retryable is False
    same_state(error)


def test_configuration_errors_cross_processes(pool: ProcessPoolExecutor) -> None:
    error = raised_in_worker(pool, "https://api.example.test", "c", {"proxy": "ftp://h:1"})
    assert type(error) is pp.ConfigurationError
    same_state(error)


def test_chat_results_cross_processes(pool: ProcessPoolExecutor, server: FakePostpress) -> None:
    ids = server.add_chats(2, seed=79)
    server.fail(ids[1], error=pp.ErrorType.RESOURCE_NOT_FOUND)
    results = pool.submit(fetch_many, server.base_url, [ids[0], ids[1]]).result(timeout=60)
    assert [type(r) for r in results] == [pp.ChatResult, pp.ChatResult]
    assert results[0].chat == server.chat(ids[0])
    assert results[0].error is None
    error = results[1].error
    assert isinstance(error, pp.NotFoundError)
    (failed,) = [r for r in server.requests if r.chat_id == ids[1]]  # in flight with ids[0]
    assert error.request_id == failed.request_id
    copies = pickle.loads(pickle.dumps(results))
    assert [(r.chat_id, r.chat, r.index, type(r.error)) for r in copies] == [
        (r.chat_id, r.chat, r.index, type(r.error)) for r in results
    ]
    assert vars(copies[1].error) == vars(error)
