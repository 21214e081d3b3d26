"""``postpress fake-server`` (served until Ctrl-C, and used by the command) and ``postpress demo``,
in real subprocesses with real signals.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cli_support import CLI, DEMO_HANG, run_cli
from support import HANG, clean_env, closed_port

import postpress_async as pp

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
    # The demo plants faults: those that pass are retried through; the planted ones fail.
    stats = re.search(r"ids failed for good (\d+) \(planted (\d+)\)", result.stderr)
    assert stats is not None, result.stderr[-3000:]
    assert stats[1] == stats[2]
    assert f"fetched {total - int(stats[1])}, failed {stats[1]}" in result.stderr


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
