"""``postpress chats get-many`` end to end against ``FakePostpress``: files and pipes, failures
by type, retries, concurrency, interruption, and the progress bar on a terminal or a pipe.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_support import CLI, only_line, run_cli, wire
from support import HANG, clean_env, env_for

import postpress_async as pp
from postpress_async import _cli
from postpress_async.testing import FakePostpress

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
        "--no-fail-fast",
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
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("SIGINT: fetched "), err
    assert "not attempted" in last, err
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
