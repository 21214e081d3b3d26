"""Helpers of the CLI tests: run the ``postpress`` command, read what it printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import HANG, run

import postpress_async as pp

CLI = [sys.executable, "-m", "postpress_async"]
DEMO_HANG = 180.0
FEW = 5
"""How many chats the ``ids`` fixture puts on the server."""


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
