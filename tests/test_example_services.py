"""The web-service examples, served for real under a small concurrent load.

Each runs under ``python -X dev -W error`` (asyncio debug mode, ResourceWarnings shown, every
warning an error) against a ``FakePostpress``: it serves itself on a free port, sends
requests to itself concurrently, shuts down, and must leave nothing behind: no unclosed
session, no pending task, no warning at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support import env_for, run

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
