"""The ``postpress`` command end to end against ``FakePostpress``: subprocess and in-process."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support import HANG, clean_env, closed_port, env_for, run

import postpress_async as pp
from postpress_async import _cli
from postpress_async.testing import FakePostpress

CLI = [sys.executable, "-m", "postpress_async"]
DEMO_HANG = 180.0
FEW = 5


def run_cli(
    *args: str,
    env: dict[str, str],
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = HANG,
) -> subprocess.CompletedProcess[str]:
    return run([*CLI, *args], env=env, stdin=stdin, cwd=cwd, timeout=timeout)


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def wire(chat: pp.Chat) -> Any:
    """A chat as the JSON a reader of stdout sees: wire names, builtins only."""
    return json.loads(chat.to_json())


@pytest.fixture
def ids(thread_server: FakePostpress) -> list[str]:
    """A few generated chats on ``thread_server``."""
    return thread_server.add_chats(FEW)


@pytest.fixture
def cli_env(thread_server: FakePostpress, monkeypatch: pytest.MonkeyPatch) -> FakePostpress:
    """Point the in-process CLI at ``thread_server`` through the environment."""
    for name in [k for k in os.environ if k.startswith("POSTPRESS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("POSTPRESS_API_KEY", thread_server.api_key)
    monkeypatch.setenv("POSTPRESS_BASE_URL", thread_server.base_url)
    return thread_server


# -- chats get ---------------------------------------------------------------------------------


def test_get_prints_the_chat_as_wire_json(thread_server: FakePostpress, ids: list[str]) -> None:
    result = run_cli("chats", "get", ids[0], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert "lastMessage" in printed
    assert "last_message" not in printed
    assert (
        printed
        == wire(thread_server.chat(ids[0]))
        == json.loads(json.dumps(thread_server.chat(ids[0]).to_dict()))
    )
    assert pp.decode_chat(result.stdout) == thread_server.chat(ids[0])
    assert result.stderr == ""


def test_get_in_process(
    cli_env: FakePostpress, ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ids[1]
    assert _cli.main(["chats", "get", chat_id]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == wire(cli_env.chat(chat_id))
    assert err == ""


def test_get_the_example_chat(thread_server: FakePostpress) -> None:
    example = json.loads((Path(__file__).parent / "data" / "example_chat.json").read_text("utf-8"))
    chat_id = thread_server.add_chat(example)
    result = run_cli("chats", "get", chat_id, env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["lastMessage"]["text"] == example["lastMessage"]["text"]
    assert printed == wire(thread_server.chat(chat_id))


def test_get_a_provider_id_with_account_id(thread_server: FakePostpress, ids: list[str]) -> None:
    chat = thread_server.chat(ids[2])
    assert chat.provider_id
    assert chat.account_id
    result = run_cli(
        "chats",
        "get",
        chat.provider_id,
        "--account-id",
        chat.account_id,
        env=env_for(thread_server),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wire(chat)
    assert thread_server.requests[-1].query == {"account_id": chat.account_id}


def test_get_a_provider_id_without_account_id_is_a_bad_request(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    provider_id = thread_server.chat(ids[2]).provider_id
    assert provider_id
    result = run_cli("chats", "get", provider_id, env=env_for(thread_server))
    assert result.returncode == 10
    line = only_line(result.stderr)
    assert "BadRequestError" in line
    assert "400" in line
    assert "errors/missing_account_id" in line
    assert "account_id is mandatory" in line
    assert result.stdout == ""


def test_flags_override_the_environment(thread_server: FakePostpress, ids: list[str]) -> None:
    env = clean_env(
        POSTPRESS_API_KEY="pp_wrong_key",
        POSTPRESS_BASE_URL=f"http://127.0.0.1:{closed_port()}/api/v1",
    )
    args = ["--api-key", thread_server.api_key, "--base-url", thread_server.base_url]
    result = run_cli("chats", "get", ids[0], *args, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wire(thread_server.chat(ids[0]))
    assert thread_server.requests[-1].headers["x-api-key"] == thread_server.api_key


def test_flags_work_without_any_environment(thread_server: FakePostpress, ids: list[str]) -> None:
    args = ["--api-key", thread_server.api_key, "--base-url", thread_server.base_url]
    result = run_cli("chats", "get", ids[0], *args, env=clean_env())
    assert result.returncode == 0, result.stderr


# -- errors: one line on stderr, an exit code per family ---------------------------------------


def test_not_found(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "chat_does_not_exist", env=env_for(thread_server))
    assert result.returncode == 9
    line = only_line(result.stderr)
    assert "NotFoundError" in line
    assert "404" in line
    assert "errors/resource_not_found" in line
    assert "not found" in line  # the envelope's detail
    assert result.stdout == ""


def test_wrong_api_key(thread_server: FakePostpress, ids: list[str]) -> None:
    result = run_cli(
        "chats", "get", ids[0], "--api-key", "pp_wrong_key", env=env_for(thread_server)
    )
    assert result.returncode == 7
    line = only_line(result.stderr)
    assert "AuthenticationError" in line
    assert "401" in line
    assert "errors/invalid_credentials" in line
    assert "pp_wrong_key" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("fault", "code", "names"),
    [
        pytest.param(
            {"error": pp.ErrorType.INSUFFICIENT_PERMISSIONS, "detail": "No access to this chat."},
            8,
            ["PermissionDeniedError", "403", "errors/insufficient_permissions", "No access"],
            id="403",
        ),
        pytest.param(
            {"error": "errors/invalid_parameters", "status": 400, "detail": "Bad chat id."},
            10,
            ["BadRequestError", "400", "errors/invalid_parameters", "Bad chat id."],
            id="400",
        ),
        pytest.param(
            {"error": "errors/too_many_requests", "status": 429, "detail": "Slow down."},
            11,
            ["RateLimitError", "429", "errors/too_many_requests", "Slow down."],
            id="429",
        ),
        pytest.param(
            {"error": pp.ErrorType.SERVICE_UNAVAILABLE, "detail": "Down for maintenance."},
            12,
            ["ServiceUnavailableError", "503", "errors/service_unavailable", "maintenance"],
            id="503",
        ),
        pytest.param(
            {"error": pp.ErrorType.PROVIDER_ERROR, "detail": "Provider is down."},
            12,
            ["InternalServerError", "500", "errors/provider_error", "Provider is down."],
            id="500",
        ),
        pytest.param(
            {"status": 502},
            12,
            ["ServerError", "502"],
            id="502-without-envelope",
        ),
    ],
)
def test_status_errors(
    thread_server: FakePostpress, ids: list[str], fault: dict[str, Any], code: int, names: list[str]
) -> None:
    thread_server.fail(ids[0], times=None, **fault)
    result = run_cli("chats", "get", ids[0], "--max-retries", "0", env=env_for(thread_server))
    assert result.returncode == code, result.stderr
    line = only_line(result.stderr)
    for name in names:
        assert name in line
    assert len(thread_server.requests) == 1  # --max-retries 0: no retry
    assert result.stdout == ""


def test_a_retryable_error_is_retried_by_default(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    thread_server.fail(ids[0], error=pp.ErrorType.NETWORK_DOWN, times=1, retry_after=0)
    result = run_cli("chats", "get", ids[0], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    assert len(thread_server.requests) == 2


def test_connection_refused(thread_server: FakePostpress) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    result = run_cli(
        "chats",
        "get",
        "chat_1",
        "--base-url",
        url,
        "--max-retries",
        "0",
        env=env_for(thread_server),
    )
    assert result.returncode == 4, result.stderr
    assert "APIConnectionError" in only_line(result.stderr)


def test_timeout(thread_server: FakePostpress, ids: list[str]) -> None:
    thread_server.fail(ids[0], latency=10, times=1)
    args = ["--timeout", "0.2", "--max-retries", "0"]
    result = run_cli("chats", "get", ids[0], *args, env=env_for(thread_server))
    assert result.returncode == 5, result.stderr
    assert "APITimeoutError" in only_line(result.stderr)


def test_invalid_json_body(thread_server: FakePostpress) -> None:
    thread_server.add_raw("chat_garbled", b'{"object": "Chat", "id": ')
    result = run_cli("chats", "get", "chat_garbled", env=env_for(thread_server))
    assert result.returncode == 6, result.stderr
    assert "ResponseDecodeError" in only_line(result.stderr)
    assert len(thread_server.requests) == 1  # a body that does not decode is not retried


def test_invalid_chat_body(thread_server: FakePostpress) -> None:
    thread_server.add_raw("chat_partial", b'{"object": "Chat"}')
    result = run_cli("chats", "get", "chat_partial", env=env_for(thread_server))
    assert result.returncode == 6, result.stderr
    line = only_line(result.stderr)
    assert "ResponseDecodeError" in line
    assert "$.id" in line


def test_missing_api_key(thread_server: FakePostpress) -> None:
    result = run_cli(
        "chats", "get", "chat_1", env=clean_env(POSTPRESS_BASE_URL=thread_server.base_url)
    )
    assert result.returncode == 3
    line = only_line(result.stderr)
    assert "ConfigurationError" in line
    assert "POSTPRESS_API_KEY" in line
    assert thread_server.requests == []


def test_missing_api_key_in_process(
    cli_env: FakePostpress, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POSTPRESS_API_KEY")
    assert _cli.main(["chats", "get", "chat_1"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "ConfigurationError" in only_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["chats", "get"], id="missing-id"),
        pytest.param(["chats", "frobnicate"], id="unknown-command"),
        pytest.param([], id="no-command"),
        pytest.param(["chats", "get", "chat_1", "--timeout", "soon"], id="bad-number"),
        pytest.param(["chats", "get-many", "--concurrency", "0"], id="zero-concurrency"),
        pytest.param(["demo", "--chats", "-1"], id="negative-chats"),
    ],
)
def test_usage_errors_exit_2(thread_server: FakePostpress, argv: list[str]) -> None:
    result = run_cli(*argv, env=env_for(thread_server))
    assert result.returncode == 2, result.stderr
    assert "usage: postpress" in result.stderr
    assert thread_server.requests == []


def test_a_zero_timeout_is_not_silently_ignored(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    # `--timeout 0` must be refused like `--timeout -1`, not replaced by the default.
    result = run_cli("chats", "get", ids[0], "--timeout", "0", env=env_for(thread_server))
    assert result.returncode in (2, 3), result.stdout
    assert "timeout" in only_line(result.stderr)
    assert thread_server.requests == []


def test_usage_error_in_process(cli_env: FakePostpress, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main(["chats", "get"])
    assert exc_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_an_empty_chat_id_is_a_usage_error(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "", env=env_for(thread_server))
    assert result.returncode == 2
    assert "chat_id must not be empty" in only_line(result.stderr)
    assert thread_server.requests == []


def test_a_hostile_id_stays_one_path_segment(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "../../admin?x=1#y", env=env_for(thread_server))
    assert result.returncode == 9, result.stderr
    assert thread_server.requests[-1].chat_id == "../../admin?x=1#y"


# -- chats get-many ----------------------------------------------------------------------------


def write_ids(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def failure_lines(text: str) -> dict[str, str]:
    """``id TAB description`` lines, by id; asserts each id appears once."""
    lines = [line for line in text.splitlines() if "\t" in line]
    ids = [line.split("\t", 1)[0] for line in lines]
    assert len(ids) == len(set(ids)), lines
    return dict(line.split("\t", 1) for line in lines)


def test_get_many_to_files(thread_server: FakePostpress, ids: list[str], tmp_path: Path) -> None:
    missing = ["chat_missing_1", "chat_missing_2"]
    lines = ["# chats to export", ids[0], "", ids[1], "   ", missing[0], "#chat_commented_out"]
    id_file = write_ids(tmp_path / "ids.txt", [*lines, *ids[2:], f"  {missing[1]}  "])
    out, errs = tmp_path / "chats.jsonl", tmp_path / "errors.txt"
    result = run_cli(
        "chats", "get-many", str(id_file), "--output", str(out), "--errors", str(errs),
        env=env_for(thread_server),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    chats = read_jsonl(out.read_text("utf-8"))
    assert sorted(c["id"] for c in chats) == sorted(ids)
    assert all(c == wire(thread_server.chat(c["id"])) for c in chats)
    failures = failure_lines(errs.read_text("utf-8"))
    assert sorted(failures) == missing
    assert all(
        d.startswith("NotFoundError 404 errors/resource_not_found") for d in failures.values()
    )
    assert "\t" not in result.stderr  # failures went to --errors, not stderr
    assert f"fetched {len(ids)}, failed 2" in result.stderr
    assert "errors/resource_not_found" in result.stderr
    # Comments and blank lines were never requested; every id exactly once.
    requested = Counter(r.chat_id for r in thread_server.requests)
    assert requested == Counter([*ids, *missing])


def test_get_many_from_stdin_to_stdout(thread_server: FakePostpress, ids: list[str]) -> None:
    for args in (["-"], []):
        thread_server.reset()
        result = run_cli(
            "chats", "get-many", *args, env=env_for(thread_server), stdin="\n".join(ids)
        )
        assert result.returncode == 0, result.stderr
        chats = read_jsonl(result.stdout)
        assert len(chats) == len(ids)
        assert {c["id"] for c in chats} == set(ids)
        assert all("lastMessage" in c for c in chats)
        assert f"fetched {len(ids)}, failed 0" in result.stderr
        assert len(thread_server.requests) == len(ids)


def test_get_many_failures_on_stderr_by_type(thread_server: FakePostpress, ids: list[str]) -> None:
    thread_server.fail(ids[0], error=pp.ErrorType.INSUFFICIENT_PERMISSIONS, times=None)
    thread_server.fail(ids[1], error=pp.ErrorType.INSUFFICIENT_PERMISSIONS, times=None)
    lines = [*ids, "chat_missing"]
    result = run_cli("chats", "get-many", "-", env=env_for(thread_server), stdin="\n".join(lines))
    assert result.returncode == 1, result.stderr
    assert {c["id"] for c in read_jsonl(result.stdout)} == set(ids[2:])
    failures = failure_lines(result.stderr)
    assert set(failures) == {ids[0], ids[1], "chat_missing"}
    assert failures[ids[0]].startswith("PermissionDeniedError 403 errors/insufficient_permissions")
    assert failures["chat_missing"].startswith("NotFoundError 404")
    assert f"fetched {len(ids) - 2}, failed 3" in result.stderr
    by_type = {
        line.split()[1]: int(line.split()[0])
        for line in result.stderr.splitlines()
        if line.startswith("  ") and "errors/" in line
    }
    assert by_type == {"errors/insufficient_permissions": 2, "errors/resource_not_found": 1}


def test_get_many_retries_each_id(thread_server: FakePostpress, ids: list[str]) -> None:
    thread_server.fail(ids[0], error=pp.ErrorType.NETWORK_DOWN, times=2, retry_after=0)
    result = run_cli("chats", "get-many", env=env_for(thread_server), stdin="\n".join(ids))
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(result.stdout)) == len(ids)
    assert len(thread_server.requests) == len(ids) + 2


def test_get_many_with_a_wrong_key_reports_every_id(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    result = run_cli(
        "chats",
        "get-many",
        "--api-key",
        "pp_wrong",
        env=env_for(thread_server),
        stdin="\n".join(ids),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert set(failure_lines(result.stderr)) == set(ids)
    assert f"fetched 0, failed {len(ids)}" in result.stderr


def test_get_many_concurrency(thread_server: FakePostpress, tmp_path: Path) -> None:
    many = thread_server.add_chats(24, seed=3)
    thread_server.latency = 0.05
    id_file = write_ids(tmp_path / "ids.txt", many)
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "chats",
        "get-many",
        str(id_file),
        "-o",
        str(out),
        "--concurrency",
        "3",
        env=env_for(thread_server),
    )
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(out.read_text("utf-8"))) == len(many)
    assert 1 < thread_server.max_in_flight <= 3


def test_get_many_with_account_id(thread_server: FakePostpress, ids: list[str]) -> None:
    chat = thread_server.chat(ids[3])
    assert chat.provider_id
    assert chat.account_id
    result = run_cli(
        "chats", "get-many", "--account-id", chat.account_id,
        env=env_for(thread_server), stdin=chat.provider_id,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_jsonl(result.stdout) == [wire(chat)]


def test_get_many_an_empty_file(thread_server: FakePostpress, tmp_path: Path) -> None:
    id_file = write_ids(tmp_path / "ids.txt", ["# nothing here", ""])
    result = run_cli("chats", "get-many", str(id_file), env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "fetched 0, failed 0" in result.stderr
    assert thread_server.requests == []


def test_get_many_a_missing_file(thread_server: FakePostpress, tmp_path: Path) -> None:
    result = run_cli("chats", "get-many", str(tmp_path / "nope.txt"), env=env_for(thread_server))
    assert result.returncode == 2
    assert "nope.txt" in only_line(result.stderr)


def test_get_many_missing_api_key(thread_server: FakePostpress) -> None:
    env = clean_env(POSTPRESS_BASE_URL=thread_server.base_url)
    result = run_cli("chats", "get-many", env=env, stdin="chat_1\n")
    assert result.returncode == 3
    assert "ConfigurationError" in only_line(result.stderr)


def test_get_many_in_process(
    cli_env: FakePostpress, ids: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    id_file = write_ids(tmp_path / "ids.txt", [*ids, "chat_missing"])
    out = tmp_path / "out.jsonl"
    assert _cli.main(["chats", "get-many", str(id_file), "-o", str(out), "--no-progress"]) == 1
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert {c["id"] for c in read_jsonl(out.read_text("utf-8"))} == set(ids)
    assert set(failure_lines(stderr)) == {"chat_missing"}
    assert f"fetched {len(ids)}, failed 1" in stderr


def test_get_many_into_a_closed_pipe(thread_server: FakePostpress, tmp_path: Path) -> None:
    """``postpress chats get-many ids.txt | head -1``: the reader leaving is not an error."""
    id_file = write_ids(tmp_path / "ids.txt", thread_server.add_chats(1000, seed=2))
    proc = subprocess.Popen(
        [*CLI, "chats", "get-many", str(id_file), "--concurrency", "8"],
        env=env_for(thread_server),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        assert json.loads(proc.stdout.readline())["object"] == "Chat"
        proc.stdout.close()  # like `head -1` exiting
        proc.wait(timeout=HANG)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    # 2 means "bad usage"; a closed stdout is the reader's choice, not the user's mistake.
    assert proc.returncode != 2, err
    assert b"BrokenPipeError" not in err, err
    assert b"Traceback" not in err, err


def test_get_many_interrupted(thread_server: FakePostpress, tmp_path: Path) -> None:
    many = thread_server.add_chats(200, seed=4)
    thread_server.latency = 0.05
    id_file = write_ids(tmp_path / "ids.txt", many)
    proc = subprocess.Popen(
        [*CLI, "chats", "get-many", str(id_file), "--concurrency", "2"],
        env=env_for(thread_server),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # readline() below must not buffer what communicate() reads next
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines()[-1] == "interrupted"
    assert b"Traceback" not in err, err
    lines = [first, *rest.splitlines()]
    assert 0 < len(lines) < len(many)
    assert all(json.loads(line)["object"] == "Chat" for line in lines)


# -- the progress bar ----------------------------------------------------------------------------


def run_with_terminal_stderr(
    args: Sequence[str], env: dict[str, str], *, columns: int | None = 100
) -> tuple[int, str]:
    """Run ``args`` with stderr on a pseudo-terminal; returns the exit code and what it showed.

    ``columns=None`` leaves the terminal's size unset (0x0), as a fresh pty has it.
    """
    master, slave = pty.openpty()
    if columns is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        proc = subprocess.Popen(
            list(args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + HANG
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{args} hung; it showed {b''.join(chunks)!r}")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every copy of the terminal's slave side is closed
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.fixture
def id_file(thread_server: FakePostpress, tmp_path: Path) -> Path:
    return write_ids(tmp_path / "ids.txt", thread_server.add_chats(40, seed=5))


def get_many_args(id_file: Path, *extra: str) -> list[str]:
    out = id_file.with_suffix(".jsonl")
    return [*CLI, "chats", "get-many", str(id_file), "-o", str(out), *extra]


def test_progress_bar_on_a_terminal(thread_server: FakePostpress, id_file: Path) -> None:
    code, shown = run_with_terminal_stderr(get_many_args(id_file), env_for(thread_server))
    assert code == 0, shown
    assert "chat/s" in shown, shown
    assert "40/40" in shown, shown  # a file of ids is counted first: a bar with a total
    assert "100%" in shown, shown
    assert "fetched 40, failed 0" in shown
    assert len(read_jsonl(id_file.with_suffix(".jsonl").read_text("utf-8"))) == 40


def test_progress_bar_on_a_terminal_of_unknown_size(
    thread_server: FakePostpress, id_file: Path
) -> None:
    # A pseudo-terminal whose size nobody set reports 0 columns: the bar must still show
    # its count and rate rather than an empty line.
    code, shown = run_with_terminal_stderr(
        get_many_args(id_file), env_for(thread_server), columns=None
    )
    assert code == 0, shown
    assert "chat/s" in shown, shown


def test_no_progress_bar_on_a_terminal_when_told(
    thread_server: FakePostpress, id_file: Path
) -> None:
    code, shown = run_with_terminal_stderr(
        get_many_args(id_file, "--no-progress"), env_for(thread_server)
    )
    assert code == 0, shown
    assert "chat/s" not in shown, shown
    assert "\r" not in shown.replace("\r\n", "\n"), shown
    assert "fetched 40, failed 0" in shown


def test_no_progress_bar_into_a_pipe(thread_server: FakePostpress, id_file: Path) -> None:
    result = run_cli(*get_many_args(id_file)[len(CLI) :], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    assert "chat/s" not in result.stderr
    assert "\r" not in result.stderr
    assert only_line(result.stderr).startswith("fetched 40, failed 0")


def test_progress_bar_into_a_pipe_when_told(thread_server: FakePostpress, id_file: Path) -> None:
    result = run_cli(*get_many_args(id_file, "--progress")[len(CLI) :], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    assert "chat/s" in result.stderr
    assert "40/40" in result.stderr
    assert "fetched 40, failed 0" in result.stderr


# -- fake-server ---------------------------------------------------------------------------------


@contextlib.contextmanager
def running(args: Sequence[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        list(args),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=HANG)


def read_stderr_until(proc: subprocess.Popen[bytes], marker: str) -> str:
    """What ``proc`` wrote to stderr up to the end of the line holding ``marker``."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + HANG
    while marker.encode() not in seen or not seen.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in time; saw {seen!r}"
        ready, _, _ = select.select([proc.stderr], [], [], remaining)
        if ready:
            data = os.read(proc.stderr.fileno(), 65536)
            assert data, f"exited ({proc.wait()}) before {marker!r}; saw {seen!r}"
            seen += data
    return seen.decode()


def interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C: the server stops quietly, exiting 130 (or 0)."""
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=HANG)
    assert proc.returncode in (0, 130), rest
    assert b"Traceback" not in rest, rest


def test_fake_server_serves_until_interrupted() -> None:
    port = closed_port()
    env = clean_env(POSTPRESS_API_KEY="pp_demo_key")
    args = [*CLI, "fake-server", "--port", str(port), "--chats", "7"]
    with running(args, env) as proc:
        shown = read_stderr_until(proc, "postpress chats get")
        base_url = f"http://127.0.0.1:{port}/api/v1"
        assert f"serving 7 chats at {base_url}" in shown
        assert f"POSTPRESS_BASE_URL={base_url}" in shown
        assert "POSTPRESS_API_KEY=pp_demo_key" in shown
        example_id = shown.split("postpress chats get")[1].split()[0]
        with pp.Postpress("pp_demo_key", base_url=base_url, max_retries=0) as client:
            chat = client.chats.retrieve(example_id)
            assert chat.id == example_id
            assert chat.last_message is not None
            with pytest.raises(pp.NotFoundError):
                client.chats.retrieve("chat_not_served")
        interrupt(proc)


def test_fake_server_and_the_command_together(tmp_path: Path) -> None:
    """The README's play-along: start the fake server, point `postpress chats get` at it."""
    port = closed_port()
    with running([*CLI, "fake-server", "--port", str(port), "--chats", "3"], clean_env()) as proc:
        shown = read_stderr_until(proc, "postpress chats get")
        exports = dict(
            line.split("export ", 1)[1].split("=", 1)
            for line in shown.splitlines()
            if "export " in line
        )
        assert set(exports) == {"POSTPRESS_BASE_URL", "POSTPRESS_API_KEY"}
        example_id = shown.split("postpress chats get")[1].split()[0]
        result = run_cli("chats", "get", example_id, env=clean_env(**exports))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["id"] == example_id
        interrupt(proc)


# -- demo ----------------------------------------------------------------------------------------


def check_demo_output(result: subprocess.CompletedProcess[str], total: int) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    chat = json.loads(result.stdout)
    assert chat["object"] == "Chat"
    assert "lastMessage" in chat
    pp.decode_chat(result.stdout)
    assert f"fetched {total}, failed 0" in result.stderr, result.stderr[-3000:]


def test_demo_small() -> None:
    result = run_cli("demo", "--chats", "500", env=clean_env(), timeout=DEMO_HANG)
    check_demo_output(result, 500)


@pytest.mark.slow
def test_demo_default_through_the_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    script = shutil.which("postpress", path=str(Path(sys.executable).parent))
    command = [script, "demo"] if script else [*CLI, "demo"]
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=DEMO_HANG,
        check=False,
    )
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n`{' '.join(command[-2:])}` took {elapsed:.1f}s")
    check_demo_output(result, 10_000)


# -- help and version ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["chats"],
        ["chats", "get"],
        ["chats", "get-many"],
        ["fake-server"],
        ["demo"],
    ],
    ids=lambda argv: " ".join(argv) or "postpress",
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main([*argv, "--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: postpress {' '.join(argv)}".rstrip())


def test_help_in_a_subprocess() -> None:
    result = run_cli("--help", env=clean_env())
    assert result.returncode == 0
    for command in ("chats", "fake-server", "demo"):
        assert command in result.stdout
    result = run_cli("chats", "get-many", "--help", env=clean_env())
    assert result.returncode == 0
    for flag in ("--concurrency", "--output", "--errors", "--progress", "--no-progress"):
        assert flag in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main(["--version"])
    assert exc_info.value.code == 0
    assert pp.__version__ in capsys.readouterr().out
