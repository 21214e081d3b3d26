"""Signals and the ``postpress`` command, in real subprocesses with real signals.

Ctrl-C stops ``fake-server`` wherever it lands, inside a protocol callback on uvloop included;
a command started with SIGINT ignored keeps ignoring it, as ``asyncio.Runner`` does; and the
suite's own Ctrl-C tests pass when pytest itself was started with SIGINT ignored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import HANG, clean_env, closed_port, refusing_port, run

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "scripts"

IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
"""``python -c IGNORING_SIGINT ARGS``: run ``python ARGS`` with SIGINT ignored from its start,
as a background job of a non-interactive shell is started."""


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_ctrl_c_inside_a_protocol_callback_stops_the_fake_server(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed (the speed extra)")
    script = SCRIPTS / "interrupt_fake_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(closed_port())],
        env=clean_env(POSTPRESS_UVLOOP="1" if loop == "uvloop" else "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = finish(proc)
    assert out == f"serving on {loop}\n", err
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "interrupted", err
    assert "Traceback" not in err, err


def test_a_command_started_with_sigint_ignored_keeps_ignoring_it() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", IGNORING_SIGINT, "-m", "postpress_async", "fake-server",
         "--port", str(closed_port()), "--chats", "1"],
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        assert "fake postpress serving" in proc.stderr.readline()
        # Heard, SIGINT would stop the server first (130, "interrupted"): signals reach the
        # loop in the order sent. Ignored, the SIGTERM after it stops the server (0, quietly).
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
    finally:
        _, err = finish(proc)
    assert proc.returncode == 0, err
    assert "interrupted" not in err


def test_the_ctrl_c_tests_pass_under_a_pytest_started_with_sigint_ignored() -> None:
    tests = [
        "tests/test_cli_fake_server_and_demo.py::test_fake_server_serves_until_interrupted",
        "tests/test_sync_process.py::test_keyboard_interrupt_during_a_slow_retrieve",
        "tests/test_cli_signals.py::test_ctrl_c_inside_a_protocol_callback_stops_the_fake_server",
    ]
    result = run(
        [sys.executable, "-c", IGNORING_SIGINT, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *tests],
        env=clean_env(),
        cwd=ROOT,
        timeout=4 * HANG,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout.splitlines()[-1], result.stdout


HANDLERS_AFTER_MAIN = """
import signal, sys
from postpress_async import _cli
code = _cli.main(["chats", "get", "chat_1", "--base-url", sys.argv[1], "--max-retries", "0"])
assert code != 0  # nothing listens there: a connection error
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
      signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
"""


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_process_that_called_main_still_stops_on_ctrl_c_and_sigterm(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed (the speed extra)")
    base_url = f"http://127.0.0.1:{refusing_port()}/api/v1"
    env = clean_env(POSTPRESS_API_KEY="pp_key", POSTPRESS_UVLOOP="1" if loop == "uvloop" else "0")
    result = run([sys.executable, "-c", HANDLERS_AFTER_MAIN, base_url], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True\n"  # uvloop's loop left its own handlers when it closed
