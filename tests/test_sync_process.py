"""The blocking client in whole processes: Ctrl-C, interpreter exit, and ``os.fork()``.

Each test runs a script from ``tests/scripts`` in a fresh interpreter under
``-W error -X dev`` (warnings are errors, asyncio debug on, ResourceWarnings shown). The
scripts check what they can only check from inside; the tests check the exit code, the
markers printed, and that stderr holds nothing about unclosed or destroyed resources. The
subprocess timeout only turns a hang into a failure: no duration is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
HANG_LIMIT = 20.0
"""Seconds a script may run; the slow server calls in the scripts take 30 s or more."""

LEAK_MARKERS = (
    "Unclosed",
    "unclosed",
    "ResourceWarning",
    "Task was destroyed",
    "Task exception was never retrieved",
    "Exception ignored",
    "Traceback",
    "was never awaited",
)


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("POSTPRESS_API_KEY", None)
    env.pop("POSTPRESS_BASE_URL", None)
    env.pop("POSTPRESS_LOG", None)
    try:
        return subprocess.run(
            [sys.executable, "-W", "error", "-X", "dev", str(SCRIPTS / name), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"{name} {' '.join(args)} hung\nstdout:\n{out}\nstderr:\n{err}")


def assert_clean(proc: subprocess.CompletedProcess[str], *markers: str) -> None:
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    for marker in markers:
        assert marker in proc.stdout, report
    assert "FAIL" not in proc.stdout, report
    for marker in LEAK_MARKERS:
        assert marker not in proc.stderr, report


# -- Ctrl-C -----------------------------------------------------------------------------------


def test_keyboard_interrupt_during_a_slow_retrieve() -> None:
    proc = run_script("interrupt_slow_call.py", "retrieve")
    assert_clean(proc, "INTERRUPTED after", "CANCELLED ON SERVER", "CLIENT STILL USABLE", "CLOSED")


def test_keyboard_interrupt_during_retrieve_many() -> None:
    proc = run_script("interrupt_slow_call.py", "retrieve_many")
    assert_clean(proc, "INTERRUPTED after", "CANCELLED ON SERVER", "CLIENT STILL USABLE", "CLOSED")


# -- interpreter exit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", ["close", "forget", "drop", "forget-iterating", "close-iterating", "exit-in-flight"]
)
def test_process_exits_cleanly(mode: str) -> None:
    markers = ("WARNED AND RECLAIMED",) if mode == "drop" else ()
    assert_clean(run_script("client_lifecycle.py", mode), *markers, "DONE")


# -- fork -------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("mode", ["idle", "busy", "exit", "drop"])
def test_client_after_fork(mode: str) -> None:
    proc = run_script("fork_child.py", mode)
    assert_clean(proc, "CHILD OK", "CHILD EXIT 0", "PARENT OK")
