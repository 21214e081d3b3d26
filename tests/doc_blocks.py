"""Running the Python blocks of the README and of docs/ as a user would.

A user starts ``postpress fake-server``, exports the two variables it prints, saves a block to
a file and runs it: ``python block.py``, or ``pytest block_test.py`` for a block that is a
test module. A block that needs more than the package says so on its first line
(``# Needs: pip install fastapi httpx2``); such a block is skipped only when one of those
packages is absent, and a block that imports a package it does not declare fails.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from support import HANG, clean_env, closed_port, run

FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)

# What a "# Needs: pip install ..." line may name: each package's importable module, which must
# be present to run the block, and the top-level names it lets the block import.
REQUIREMENTS: dict[str, tuple[str, frozenset[str]]] = {
    "fastapi": ("fastapi", frozenset({"fastapi"})),
    "httpx2": ("httpx2", frozenset({"httpx2"})),
    "opentelemetry-sdk": ("opentelemetry.sdk", frozenset({"opentelemetry"})),
    "postpress_async[socks]": ("aiohttp_socks", frozenset()),
    "pytest": ("pytest", frozenset({"pytest"})),
    "pytest-asyncio": ("pytest_asyncio", frozenset({"pytest_asyncio"})),
    "pytest-recording": ("pytest_recording", frozenset({"vcr"})),
    "aioresponses": ("aioresponses", frozenset({"aioresponses"})),
}
ALWAYS_THERE = frozenset({"postpress_async", "aiohttp"}) | frozenset(sys.stdlib_module_names)
_SOCKS_URL = re.compile(r"socks[45]h?://")


def fenced(markdown: str, lang: str) -> list[str]:
    """The bodies of the fenced blocks of ``lang`` in ``markdown``, in order."""
    return [m["body"] for m in FENCE.finditer(markdown) if m["lang"] == lang]


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the fenced ``python`` blocks of ``markdown``, in order."""
    return fenced(markdown, "python")


def pytest_settings(markdown: str) -> str:
    """The docs' ``[tool.pytest.ini_options]`` block: the settings they tell users to have."""
    (settings,) = [b for b in fenced(markdown, "toml") if "[tool.pytest.ini_options]" in b]
    return settings


def block_id(index: int, code: str) -> str:
    first = next((line for line in code.splitlines() if line.strip()), "")
    return f"{index}-{first.strip()[:40]}"


def needs(code: str) -> list[str]:
    """The packages the block's ``# Needs: pip install ...`` first line names."""
    first = code.splitlines()[0] if code else ""
    if not first.startswith("# Needs: pip install "):
        return []
    return shlex.split(first.removeprefix("# Needs: pip install "))


def undeclared(code: str) -> set[str]:
    """What the block uses but does not name in its ``# Needs`` line."""
    declared = needs(code)
    allowed = set(ALWAYS_THERE)
    for name in declared:
        allowed |= REQUIREMENTS[name][1]
    imported = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    missing = imported - allowed
    if _SOCKS_URL.search(code) and "postpress_async[socks]" not in declared:
        missing.add("postpress_async[socks]")
    if is_test_module(code) and "pytest" not in declared:
        missing.add("pytest")
    return missing


def absent(code: str) -> list[str]:
    """The packages the block needs that are not installed here."""
    return [name for name in needs(code) if importlib.util.find_spec(REQUIREMENTS[name][0]) is None]


def is_test_module(code: str) -> bool:
    return re.search(r"^(async )?def test_", code, re.MULTILINE) is not None


def run_block(
    code: str, env: dict[str, str], where: Path, *, pyproject: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a block as a user would, warnings as errors: a script, or a test module (under the
    pytest settings ``pyproject``, the docs' own)."""
    if is_test_module(code):
        (where / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        script = where / "test_block.py"
        script.write_text(code, encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"]
        if "pytest.mark.vcr" in code:
            argv.append("--record-mode=once")
        return run([*argv, str(script)], env=env, cwd=where)
    script = where / "block.py"
    script.write_text(code, encoding="utf-8")
    return run([sys.executable, "-W", "error", str(script)], env=env, cwd=where)


@contextlib.contextmanager
def fake_server_command() -> Iterator[dict[str, str]]:
    """``postpress fake-server`` as a user starts it (on a free port rather than 8080): yields
    the variables it tells the user to export."""
    argv = [sys.executable, "-m", "postpress_async", "fake-server", "--port", str(closed_port())]
    proc = subprocess.Popen(
        argv, env=clean_env(), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        banner = ""
        while "POSTPRESS_API_KEY" not in banner:
            line = proc.stderr.readline()
            assert line, f"fake-server ended: {banner}"
            banner += line
        yield dict(
            word.split("=", 1)
            for line in banner.splitlines()
            if line.strip().startswith("export ")
            for word in shlex.split(line)[1:]
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=HANG)
