"""The web-service examples, served for real under a small concurrent load.

Each runs under ``python -X dev -W error`` (asyncio debug mode, ResourceWarnings shown, every
warning an error) against a ``FakePostpress``: it serves itself on a free port, sends
requests to itself concurrently, shuts down, and must leave nothing behind: no unclosed
session, no pending task, no warning at all.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import env_for, refusing_port, run

import postpress_async as pp
from postpress_async.testing import FakePostpress

EXAMPLES = Path(__file__).parent.parent / "examples"
REQUESTS = 120
CONCURRENCY = 12


def spans_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    while span.get("parent_id") in by_id:
        span = by_id[span["parent_id"]]
        found.append(span)
    return found


def unexpected_stderr(stderr: str) -> list[str]:
    """Lines of stderr, less asyncio debug mode's notes on slow callbacks (a busy machine)."""
    return [
        line
        for line in stderr.splitlines()
        if not (line.startswith("Executing <") and " took " in line)
    ]


@pytest.mark.parametrize("name", ["aiohttp_service.py", "fastapi_service.py"])
def test_service_under_load_traces_and_shuts_down_cleanly(name: str, tmp_path: Path) -> None:
    if name == "fastapi_service.py":
        pytest.importorskip("fastapi")
        pytest.importorskip("uvicorn")
    pytest.importorskip("opentelemetry.sdk")
    spans_file = tmp_path / "spans.jsonl"
    with FakePostpress(latency=0.005) as server:
        chat_ids = server.add_chats(5)
        argv = [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error",
            str(EXAMPLES / name),
            "--selftest",
            str(REQUESTS),
            "--concurrency",
            str(CONCURRENCY),
            "--spans",
            str(spans_file),
            *chat_ids,
            "chat_missing",
        ]
        result = run(argv, env=env_for(server))
        assert result.returncode == 0, result.stderr
        assert unexpected_stderr(result.stderr) == []
        assert json.loads(result.stdout) == {"200": 100, "404": 20}
        assert server.request_count == REQUESTS
        assert server.max_in_flight > 1  # the one shared client served requests side by side
        assert {r.chat_id for r in server.requests} == {*chat_ids, "chat_missing"}

    spans = spans_in(spans_file)
    by_id = {span["context"]["span_id"]: span for span in spans}
    calls = [span for span in spans if span["name"] == "chats.retrieve"]
    assert len(calls) == REQUESTS
    for call in calls:
        chain = ancestors(call, by_id)
        assert any(span["kind"] == "SpanKind.SERVER" for span in chain), call
        assert {span["context"]["trace_id"] for span in chain} == {call["context"]["trace_id"]}
    failed = [call for call in calls if call["status"]["status_code"] == "ERROR"]
    assert len(failed) == 20
    assert {call["attributes"]["postpress.error.type"] for call in failed} == {
        "errors/resource_not_found"
    }
    assert len({call["context"]["trace_id"] for call in calls}) == REQUESTS  # one per request


# -- fastapi_service.py: every postpress error mapped to a status --------------------------------


def load_example(name: str) -> ModuleType:
    """Import an example as a module of its own (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{Path(name).stem}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fastapi_service() -> ModuleType:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    return load_example("fastapi_service.py")


def test_fastapi_service_maps_each_api_error_to_a_status(
    fastapi_service: ModuleType, thread_server: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real app and a real client: each fault of the fake becomes its status."""
    from fastapi.testclient import TestClient

    ok, forbidden, limited, unavailable, down, doomed, gateway, html = thread_server.add_chats(8)
    provider_id = thread_server.chat(ok).provider_id
    thread_server.add_raw("chat_broken", b'{"object": "Chat"}')
    thread_server.fail(forbidden, error=pp.ErrorType.INSUFFICIENT_PERMISSIONS, times=None)
    thread_server.fail(limited, status=429, retry_after=0, times=None)
    thread_server.fail(unavailable, error=pp.ErrorType.NO_HANDLER, retry_after=7, times=None)
    thread_server.fail(down, error=pp.ErrorType.NO_HANDLER, times=None)
    thread_server.fail(doomed, error=pp.ErrorType.AUTHENTICATION_INTENT_ERROR, times=None)
    thread_server.fail(gateway, error=pp.ErrorType.REQUEST_TIMEOUT, retry_after=0, times=None)
    thread_server.fail(html, status=502, body="<html>bad gateway</html>", times=None)
    monkeypatch.setenv("POSTPRESS_BASE_URL", thread_server.base_url)
    monkeypatch.setenv("POSTPRESS_API_KEY", thread_server.api_key)
    expected = {
        ok: (200, None),
        "chat_missing": (404, "NotFoundError"),
        provider_id: (400, "BadRequestError"),  # a provider id needs its account_id
        forbidden: (502, "PermissionDeniedError"),
        limited: (429, "RateLimitError"),
        unavailable: (503, "ServiceUnavailableError"),
        down: (503, "ServiceUnavailableError"),
        doomed: (502, "InternalServerError"),
        gateway: (504, "GatewayTimeoutError"),
        html: (502, "ServerError"),
        "chat_broken": (502, "ResponseDecodeError"),
    }
    with TestClient(fastapi_service.app) as http:
        answers = {chat_id: http.get(f"/chats/{chat_id}") for chat_id in expected}
    for chat_id, (status, error) in expected.items():
        response = answers[chat_id]
        assert response.status_code == status, (chat_id, response.text)
        if error is None:
            assert response.json()["id"] == chat_id
            continue
        body = response.json()
        assert body["error"] == error
        assert body["detail"] in {message for _, _, message in fastapi_service.ERROR_STATUSES}
        if error != "ResponseDecodeError":
            assert body["request_id"].startswith("req_")  # what postpress support asks for
        assert "<html>" not in response.text  # never the upstream's body
    assert answers[limited].headers["Retry-After"] == "1"  # 0 from upstream: one second
    assert answers[unavailable].headers["Retry-After"] == "7"
    assert "Retry-After" not in answers[down].headers
    assert answers[doomed].json()["type"] == "errors/authentication_intent_error"


def test_fastapi_service_hides_a_refused_key(
    fastapi_service: ModuleType, thread_server: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    chat_id = thread_server.add_chats(1)[0]
    key = "pp_live_WRONG_key_4711"
    monkeypatch.setenv("POSTPRESS_BASE_URL", thread_server.base_url)
    monkeypatch.setenv("POSTPRESS_API_KEY", key)
    with TestClient(fastapi_service.app) as http:
        response = http.get(f"/chats/{chat_id}")
    assert response.status_code == 502  # this service's key: not the caller's to fix
    assert response.json()["error"] == "AuthenticationError"
    assert response.json()["type"] == "errors/invalid_credentials"
    assert key not in response.text


async def test_fastapi_service_maps_failures_without_a_response(
    fastapi_service: ModuleType, server: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeouts, refused connections and bad settings, each raised by a real client."""
    chat_id = server.add_chats(1)[0]
    server.fail(chat_id, latency=30, times=None)
    async with pp.AsyncPostpress(
        server.api_key, base_url=server.base_url, timeout=0.05, max_retries=0
    ) as client:
        with pytest.raises(pp.APITimeoutError) as timed_out:
            await client.chats.retrieve(chat_id)
    async with pp.AsyncPostpress(
        "pp_key", base_url=f"http://127.0.0.1:{refusing_port()}/api/v1", max_retries=0
    ) as client:
        with pytest.raises(pp.APIConnectionError) as refused:
            await client.chats.retrieve(chat_id)
    monkeypatch.delenv("POSTPRESS_API_KEY", raising=False)
    with pytest.raises(pp.ConfigurationError) as unset:
        pp.AsyncPostpress()
    for exc, status in ((timed_out, 504), (refused, 503), (unset, 500)):
        response = fastapi_service.error_response(exc.value)
        assert response.status_code == status
        body = json.loads(response.body)
        assert body["error"] == type(exc.value).__name__
        assert str(exc.value) not in response.body.decode()  # a fixed message, not the SDK's
