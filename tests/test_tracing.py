"""OpenTelemetry spans, recorded with the OpenTelemetry SDK's in-memory exporter.

The SDK's provider is set once for the process (OpenTelemetry allows no second one); each
test clears the exporter. Calls go to a real ``FakePostpress``; what is not installed, or
installed without a provider, is checked in subprocesses.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from proxies import ForwardProxy
from support import Sleeps, clean_env, run

import postpress_async as pp
from postpress_async.testing import FakePostpress

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace import ReadableSpan  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

StatusCode = trace.StatusCode
SpanKind = trace.SpanKind
KEY = "pp_live_tracing_secret_key_0123456789"
HEADER_SECRET = "hdr-secret-5f1c"
PROXY_SECRET = "proxy-secret-93be"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    exporter.shutdown()  # later tests in this process record nothing


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def server() -> Iterator[FakePostpress]:
    with FakePostpress(api_key=KEY) as fake:
        yield fake


def client_for(server: FakePostpress, **kwargs: Any) -> pp.AsyncPostpress:
    kwargs.setdefault("retry", pp.RetryPolicy(sleep=Sleeps()))
    return pp.AsyncPostpress(KEY, base_url=server.base_url, **kwargs)


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def only(exporter: InMemorySpanExporter, name: str = "chats.retrieve") -> ReadableSpan:
    (span,) = named(exporter, name)
    return span


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def tracer() -> Any:
    return trace.get_tracer("tests")


# -- one call --------------------------------------------------------------------------------


async def test_a_call_is_one_client_span_with_the_http_attributes(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    async with client_for(server) as client:
        with tracer().start_as_current_span("handler") as handler:
            await client.chats.retrieve(chat_id)
    span = only(spans)
    assert span.kind == SpanKind.CLIENT
    assert parent_id(span) == handler.get_span_context().span_id
    assert span.context.trace_id == handler.get_span_context().trace_id
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.template": "/chats/{chat_id}",
        "http.response.status_code": 200,
        "postpress.attempts": 1,
    }
    assert span.status.status_code == StatusCode.UNSET


async def test_without_a_current_span_the_call_is_a_root(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    async with client_for(server) as client:
        await client.chats.with_raw_response.retrieve(chat_id)
    span = only(spans)
    assert span.parent is None
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200


async def test_retries_are_counted_with_the_last_status(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, error=pp.ErrorType.NETWORK_DOWN, times=2)
    async with client_for(server) as client:
        await client.chats.retrieve(chat_id)
    span = only(spans)
    assert span.attributes is not None
    assert span.attributes["postpress.attempts"] == 3
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.status_code == StatusCode.UNSET
    assert "error.type" not in span.attributes
    assert len(server.requests) == 3


async def test_a_failure_after_retries_is_an_error_span(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, error=pp.ErrorType.NETWORK_DOWN, times=None)
    async with client_for(server, max_retries=2) as client:
        with pytest.raises(pp.ServiceUnavailableError) as info:
            await client.chats.retrieve(chat_id)
    span = only(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ServiceUnavailableError"
    assert span.attributes["postpress.error.type"] == "errors/network_down"
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["postpress.attempts"] == 3 == info.value.attempts
    assert not span.events  # no exception event: its message is the server's text


async def test_a_connection_failure_has_no_status_code(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, status=503, times=1)  # an attempt with a status, then none
    server.fail(chat_id, drop=True, times=None)
    async with client_for(server, max_retries=1) as client:
        with pytest.raises(pp.APIConnectionError):
            await client.chats.retrieve(chat_id)
    span = only(spans)
    assert span.attributes is not None
    assert span.attributes["error.type"] == "APIConnectionError"
    assert span.attributes["postpress.attempts"] == 2
    assert "http.response.status_code" not in span.attributes
    assert "postpress.error.type" not in span.attributes


@pytest.mark.parametrize(
    ("setup", "error", "status", "envelope"),
    [
        ({"error": pp.ErrorType.RESOURCE_NOT_FOUND}, "NotFoundError", 404, True),
        ({"status": 404, "body": "<h1>Not Found</h1>"}, "NotFoundError", 404, False),
        ({"error": pp.ErrorType.INVALID_CREDENTIALS}, "AuthenticationError", 401, True),
    ],
)
async def test_final_errors_name_their_class_and_envelope(
    spans: InMemorySpanExporter,
    server: FakePostpress,
    setup: dict[str, Any],
    error: str,
    status: int,
    envelope: bool,
) -> None:
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, **setup)
    async with client_for(server) as client:
        with pytest.raises(pp.APIStatusError) as info:
            await client.chats.retrieve(chat_id)
    span = only(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == error == type(info.value).__name__
    assert span.attributes["http.response.status_code"] == status
    assert span.attributes["postpress.attempts"] == 1
    if envelope:
        assert span.attributes["postpress.error.type"] == info.value.type
    else:
        assert "postpress.error.type" not in span.attributes


async def test_a_body_that_is_not_a_chat_fails_the_span_with_status_200(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    server.add_raw("chat_bad", b'{"object": "Chat"}')
    async with client_for(server) as client:
        with pytest.raises(pp.ResponseDecodeError):
            await client.chats.retrieve("chat_bad")
    span = only(spans)
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ResponseDecodeError"
    assert span.attributes["http.response.status_code"] == 200


async def test_nothing_secret_or_personal_is_recorded(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1, seed=7)[0]
    chat = server.chat(chat_id)
    assert chat.last_message is not None
    assert chat.last_message.text
    private = [KEY, HEADER_SECRET, chat.last_message.text, chat.account_id, chat.provider_id]
    if chat.name:
        private.append(chat.name)
    server.fail(chat_id, error=pp.ErrorType.NETWORK_DOWN, detail=chat.last_message.text)
    server.fail("chat_gone", error=pp.ErrorType.RESOURCE_NOT_FOUND, detail=KEY)
    headers = {"X-Trace-Test": HEADER_SECRET}
    async with client_for(server, default_headers=headers) as client:
        await client.chats.retrieve(chat.provider_id, account_id=chat.account_id)
        await client.chats.retrieve(chat_id)
        with pytest.raises(pp.NotFoundError):
            await client.chats.retrieve("chat_gone")
        async for _ in client.chats.retrieve_many([chat_id, "chat_gone"]):
            pass
    recorded = [json.loads(span.to_json()) for span in spans.get_finished_spans()]
    assert len(recorded) == 6
    text = json.dumps(recorded)
    for value in private:
        assert value not in text


async def test_no_proxy_credential_is_recorded(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_id = server.add_chats(1)[0]
    async with ForwardProxy(username="span-user", password=PROXY_SECRET) as proxy:
        good, bad = proxy.url("span-user", PROXY_SECRET), proxy.url("span-user", "wrong-pw")
        async with client_for(server, proxy=good) as client:
            await client.chats.retrieve(chat_id)
        async with client_for(server, proxy=bad) as client:
            with pytest.raises(pp.ProxyError):
                await client.chats.retrieve(chat_id)
    first, refused = named(spans, "chats.retrieve")
    assert (first.attributes or {})["http.response.status_code"] == 200
    assert (refused.attributes or {})["error.type"] == "ProxyError"
    assert refused.status.status_code == StatusCode.ERROR
    text = json.dumps([json.loads(span.to_json()) for span in spans.get_finished_spans()])
    for secret in (PROXY_SECRET, "wrong-pw", "span-user", KEY):
        assert secret not in text


# -- the blocking client -----------------------------------------------------------------------


def test_the_blocking_client_parents_on_the_callers_span(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(4)
    parents: dict[str, int] = {}

    with pp.Postpress(KEY, base_url=server.base_url) as client:

        def call(chat_id: str) -> None:
            with tracer().start_as_current_span(f"caller {chat_id}") as caller:
                parents[chat_id] = caller.get_span_context().span_id
                client.chats.retrieve(chat_id)

        threads = [threading.Thread(target=call, args=(chat_id,)) for chat_id in chat_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.chats.retrieve(chat_ids[0])  # no caller span: a root, not a leftover parent

    calls = named(spans, "chats.retrieve")
    assert len(calls) == 5
    callers = {s.context.span_id: s.name.split()[1] for s in named_prefix(spans, "caller ")}
    assert sorted(callers.values()) == sorted(chat_ids)
    children = [s for s in calls if s.parent is not None]
    assert sorted(callers[s.parent.span_id] for s in children if s.parent) == sorted(chat_ids)
    assert sum(s.parent is None for s in calls) == 1
    assert set(parents.values()) == set(callers)


def named_prefix(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_the_blocking_batch_is_one_parent_span(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(10)
    ids = [*chat_ids, "chat_missing"]
    with (
        pp.Postpress(KEY, base_url=server.base_url) as client,
        tracer().start_as_current_span("job") as job,
    ):
        results = list(client.chats.retrieve_many(ids, concurrency=3))
    assert len(results) == 11
    batch = only(spans, "chats.retrieve_many")
    assert parent_id(batch) == job.get_span_context().span_id
    assert batch.kind == SpanKind.INTERNAL
    assert batch.attributes is not None
    assert batch.attributes["postpress.batch.fetched"] == 10
    assert batch.attributes["postpress.batch.failed"] == 1
    assert batch.attributes["postpress.batch.concurrency"] == 3
    calls = named(spans, "chats.retrieve")
    assert len(calls) == 11
    assert {parent_id(s) for s in calls} == {batch.context.span_id}


# -- retrieve_many -----------------------------------------------------------------------------


async def test_a_batch_is_one_parent_span_with_counts(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(6)
    server.fail(chat_ids[0], error=pp.ErrorType.NETWORK_DOWN, times=1)
    async with client_for(server) as client:
        with tracer().start_as_current_span("job") as job:
            results = [r async for r in client.chats.retrieve_many([*chat_ids, "nope"])]
        await client.chats.retrieve(chat_ids[1])  # after the batch: not its child
    assert sum(r.ok for r in results) == 6
    batch = only(spans, "chats.retrieve_many")
    assert parent_id(batch) == job.get_span_context().span_id
    assert batch.attributes is not None
    assert batch.attributes["postpress.batch.fetched"] == 6
    assert batch.attributes["postpress.batch.failed"] == 1
    calls = named(spans, "chats.retrieve")
    in_batch = [s for s in calls if parent_id(s) == batch.context.span_id]
    assert len(in_batch) == 7
    retried = [s for s in in_batch if (s.attributes or {}).get("postpress.attempts") == 2]
    assert len(retried) == 1
    assert [parent_id(s) for s in calls if s not in in_batch] == [None]


async def test_a_batch_left_early_still_ends_its_span(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(20)
    async with client_for(server) as client:
        results = client.chats.retrieve_many(chat_ids, concurrency=2)
        async for _ in results:
            break
        await results.aclose()
    batch = only(spans, "chats.retrieve_many")
    assert batch.attributes is not None
    assert batch.attributes["postpress.batch.fetched"] == 1
    assert batch.end_time is not None


async def test_a_failing_id_source_fails_the_batch_span(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(2)

    def ids() -> Iterator[str]:
        yield from chat_ids
        raise OSError("the id file went away")

    async with client_for(server) as client:
        with pytest.raises(OSError, match="went away"):
            async for _ in client.chats.retrieve_many(ids()):
                pass
    batch = only(spans, "chats.retrieve_many")
    assert batch.status.status_code == StatusCode.ERROR
    assert batch.attributes is not None
    assert batch.attributes["error.type"] == "OSError"
    assert batch.attributes["postpress.batch.fetched"] == 2


async def test_a_fail_fast_stop_fails_the_batch_span_with_the_key_error(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    chat_ids = server.add_chats(200)
    async with pp.AsyncPostpress("pp_wrong_key", base_url=server.base_url) as client:
        with pytest.raises(pp.AuthenticationError):
            async for _ in client.chats.retrieve_many(chat_ids, concurrency=8):
                pass
    batch = only(spans, "chats.retrieve_many")
    assert batch.status.status_code == StatusCode.ERROR
    assert batch.attributes is not None
    assert batch.attributes["error.type"] == "AuthenticationError"
    assert batch.attributes["postpress.batch.fetched"] == 0
    calls = named(spans, "chats.retrieve")
    assert len(calls) <= 2 * 8  # stopped after a few requests, each with its span
    # A call the stop cut short has a span too, failed by nothing: cancelled, it may or may
    # not have reached the server first, so the server saw between the answered calls and
    # all of them.
    answered = [s for s in calls if (s.attributes or {}).get("http.response.status_code")]
    cut_short = [s for s in calls if s not in answered]
    assert answered, "the key error came from a response"
    assert all(s.status.status_code == StatusCode.ERROR for s in answered)
    assert {(s.attributes or {})["http.response.status_code"] for s in answered} == {401}
    assert all(s.status.status_code == StatusCode.UNSET for s in cut_short)
    assert len(answered) <= server.request_count <= len(calls)


ABANDONED_BATCHES = """
import asyncio
import postpress_async as pp
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)


kept = []  # as a traceback would keep them: still alive when asyncio.run shuts down


async def abandon(client):
    results = client.chats.retrieve_many(CHAT_IDS, concurrency=2)
    kept.append(results)
    async for _ in results:
        return  # neither finished nor closed: the loop's shutdown closes what is left


async def main():
    async with pp.AsyncPostpress(KEY, base_url=BASE_URL) as client:
        for _ in range(5):
            await abandon(client)


asyncio.run(main())
batches = [s for s in exporter.get_finished_spans() if s.name == "chats.retrieve_many"]
print(len(batches), sorted({s.attributes["postpress.batch.fetched"] for s in batches}))
"""


def test_batches_left_to_the_loops_shutdown_close_once_and_end_their_spans(
    server: FakePostpress,
) -> None:
    chat_ids = server.add_chats(20)
    prelude = f"KEY, BASE_URL, CHAT_IDS = {KEY!r}, {server.base_url!r}, {chat_ids!r}\n"
    result = run([sys.executable, "-c", prelude + ABANDONED_BATCHES], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no "error occurred during closing of asynchronous generator"
    assert result.stdout.split(None, 1) == ["5", "[1]\n"]


# -- opentelemetry-instrumentation-aiohttp-client ----------------------------------------------


async def test_instrumented_aiohttp_spans_nest_under_the_call(
    spans: InMemorySpanExporter, server: FakePostpress
) -> None:
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.aiohttp_client")
    instrumentor = instrumentation.AioHttpClientInstrumentor()
    instrumentor.instrument()
    try:
        chat_id = server.add_chats(1)[0]
        server.fail(chat_id, error=pp.ErrorType.NETWORK_DOWN, times=1)
        async with client_for(server) as client:
            await client.chats.retrieve(chat_id)
    finally:
        instrumentor.uninstrument()
    call = only(spans)
    http = [s for s in spans.get_finished_spans() if s is not call]
    assert len(http) == 2  # one per attempt
    assert {parent_id(s) for s in http} == {call.context.span_id}
    statuses = []
    for s in http:  # the instrumentation writes the old or the new semantic conventions
        attributes = dict(s.attributes or {})
        statuses.append(
            attributes.get("http.response.status_code", attributes.get("http.status_code"))
        )
    assert sorted(statuses) == [200, 503]
    assert KEY not in json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])


# -- not installed, or installed without a provider --------------------------------------------

NOT_INSTALLED = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
import postpress_async as pp
from postpress_async._client import AsyncPostpress
with pp.Postpress(KEY, base_url=BASE_URL) as client:
    client.chats.retrieve(CHAT_ID)
    assert list(client.chats.retrieve_many([CHAT_ID]))[0].ok
    inner = client._runner().client
    assert inner.chats._request.__func__ is AsyncPostpress._request
    assert inner.chats._tracing is None
print("ok")
"""

NO_PROVIDER_THEN_PROVIDER = """
import postpress_async as pp
from postpress_async._client import AsyncPostpress
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

with pp.Postpress(KEY, base_url=BASE_URL) as client:
    client.chats.retrieve(CHAT_ID)  # no provider: a no-op span, nothing to see
    inner = client._runner().client
    assert inner.chats._request.__func__ is AsyncPostpress._traced_request
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # set after the client was made: it still follows
    client.chats.retrieve(CHAT_ID)
print([span.name for span in exporter.get_finished_spans()])
"""


@pytest.mark.parametrize(
    ("script", "expected"),
    [(NOT_INSTALLED, "ok"), (NO_PROVIDER_THEN_PROVIDER, "['chats.retrieve']")],
    ids=["not-installed", "no-provider-then-provider"],
)
def test_in_a_fresh_process(server: FakePostpress, script: str, expected: str) -> None:
    chat_id = server.add_chats(1)[0]
    prelude = f"KEY, BASE_URL, CHAT_ID = {KEY!r}, {server.base_url!r}, {chat_id!r}\n"
    result = run([sys.executable, "-W", "error", "-c", prelude + script], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert result.stderr == ""
