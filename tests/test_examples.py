"""The scripts in ``examples/`` run against ``FakePostpress`` and do what they say."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import HANG, clean_env, closed_port, env_for, run

import postpress_async as pp
from postpress_async.testing import FakePostpress

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(
    name: str,
    *args: str,
    thread_server: FakePostpress,
    stdin: str = "",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-W", "error", str(EXAMPLES / name), *args]
    return run(argv, env=env_for(thread_server), stdin=stdin, cwd=cwd)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Unclosed" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_every_example_is_tested() -> None:
    tested = {
        "web_handler.py",
        "batch_export.py",
        "sync_script.py",
        "aiohttp_service.py",  # tests/test_example_services.py
        "fastapi_service.py",  # tests/test_example_services.py
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


# -- web_handler.py ------------------------------------------------------------------------------


def test_web_handler_selftest(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(3)[1]
    result = run_example(
        "web_handler.py", "--selftest", chat_id, "chat_missing", thread_server=thread_server
    )
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert f"GET /chat/{chat_id} -> 200" in result.stderr
    assert "GET /chat/chat_missing -> 404" in result.stderr
    chat_body, missing_body = (json.loads(line) for line in result.stdout.splitlines())
    assert chat_body == json.loads(thread_server.chat(chat_id).to_json())
    assert "lastMessage" in chat_body
    assert missing_body["error"] == "NotFoundError"
    assert missing_body["status"] == 404
    assert missing_body["type"] == "errors/resource_not_found"
    assert [r.chat_id for r in thread_server.requests] == [chat_id, "chat_missing"]


def test_web_handler_selftest_reads_stdin(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    result = run_example(
        "web_handler.py", "--selftest", thread_server=thread_server, stdin=f"{chat_id}\n"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == chat_id


def test_web_handler_maps_other_errors_to_502(thread_server: FakePostpress) -> None:
    chat_id = thread_server.add_chats(1)[0]
    thread_server.fail(chat_id, error=pp.ErrorType.INSUFFICIENT_PERMISSIONS, times=None)
    result = run_example("web_handler.py", "--selftest", chat_id, thread_server=thread_server)
    assert result.returncode == 1
    assert f"GET /chat/{chat_id} -> 502" in result.stderr
    assert json.loads(result.stdout)["error"] == "PermissionDeniedError"


# -- batch_export.py -----------------------------------------------------------------------------


def test_batch_export(thread_server: FakePostpress, tmp_path: Path) -> None:
    ids = thread_server.add_chats(50)
    id_file = tmp_path / "ids.txt"
    lines = ["# export", *ids[:25], "", "chat_missing", *ids[25:]]
    id_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "chats.jsonl"
    result = run_example(
        "batch_export.py",
        str(id_file),
        "--output",
        str(out),
        "--concurrency",
        "8",
        thread_server=thread_server,
    )
    assert result.returncode == 1, result.stderr
    assert_clean(result)
    exported = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(exported) == 50
    assert sorted(c["id"] for c in exported) == sorted(ids)
    assert all(pp.decode_chat(json.dumps(c)) == thread_server.chat(c["id"]) for c in exported)
    assert result.stderr.startswith("chat_missing\tNotFoundError")
    assert f"exported 50 chats to {out}, 1 failed" in result.stdout
    assert "errors/resource_not_found" in result.stdout
    assert thread_server.max_in_flight <= 8


def test_batch_export_from_stdin(thread_server: FakePostpress, tmp_path: Path) -> None:
    ids = thread_server.add_chats(10)
    result = run_example(
        "batch_export.py",
        "-",
        thread_server=thread_server,
        stdin="\n".join(ids) + "\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "chats.jsonl").read_text("utf-8").splitlines()) == 10
    assert "exported 10 chats to chats.jsonl, 0 failed" in result.stdout


# -- sync_script.py ------------------------------------------------------------------------------


def test_sync_script(thread_server: FakePostpress) -> None:
    ids = thread_server.add_chats(4)
    result = run_example("sync_script.py", *ids, thread_server=thread_server)
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    for line, chat_id in zip(lines, ids, strict=True):
        chat = thread_server.chat(chat_id)
        assert line == f"{chat_id}\t{chat.account_type}\t{chat.name or '(no name)'}"


def test_sync_script_reads_stdin_and_goes_on_after_a_miss(thread_server: FakePostpress) -> None:
    ids = thread_server.add_chats(2)
    stdin = f"{ids[0]}\nchat_missing\n{ids[1]}\n"
    result = run_example("sync_script.py", thread_server=thread_server, stdin=stdin)
    assert result.returncode == 1
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ids
    assert result.stderr.strip() == "chat_missing: not found"


# -- examples/README.md --------------------------------------------------------------------------

EXAMPLES_README = (EXAMPLES / "README.md").read_text("utf-8")


def test_the_examples_readme_lists_every_example() -> None:
    listed = set(re.findall(r"^\| `(\w+\.py)` \|", EXAMPLES_README, re.MULTILINE))
    assert listed == {p.name for p in EXAMPLES.glob("*.py")}


def test_the_examples_readme_block_runs_line_by_line(tmp_path: Path) -> None:
    """The play-along block as a user types it: the fake server (which writes ``ids.txt``),
    the exports it prints, then each example; only the port is swapped for a free one."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    block = EXAMPLES_README.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    start, exports, *commands, stop = lines
    assert start.startswith("postpress fake-server ")
    assert start.endswith(" &")
    assert stop == "kill %1"
    assert "--ids-out ids.txt" in start
    port = str(closed_port())
    argv = [sys.executable, "-m", "postpress_async", *shlex.split(start[:-1])[1:]]
    argv[argv.index("--port") + 1] = port
    env = clean_env()
    server = subprocess.Popen(
        argv, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        banner = ""
        while "POSTPRESS_API_KEY" not in banner:
            line = server.stderr.readline()
            assert line, f"fake-server ended: {banner}"
            banner += line
        printed = dict(
            word.split("=", 1)
            for line in banner.splitlines()
            if line.strip().startswith("export ")
            for word in line.split()[1:]
        )
        assert exports.startswith("export ")
        told = dict(word.split("=", 1) for word in shlex.split(exports)[1:])
        assert told == {**printed, "POSTPRESS_BASE_URL": "http://127.0.0.1:8080/api/v1"}
        assert len((tmp_path / "ids.txt").read_text("utf-8").split()) == 100
        for command in commands:
            words = shlex.split(command)
            assert words[0] == "python"
            script = EXAMPLES / Path(words[1]).name
            result = run(
                [sys.executable, str(script), *words[2:]], env=clean_env(**printed), cwd=tmp_path
            )
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            assert_clean(result)
        assert len((tmp_path / "chats.jsonl").read_text("utf-8").splitlines()) == 100
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=HANG)
