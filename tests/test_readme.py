"""The README's examples run: every python block, the command at the top, the CLI block.

The contributors' command, which CI runs: ``test_release.py``.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from proxies import ForwardProxy
from support import EXAMPLE, env_for, run

from postpress_async import _cli
from postpress_async.testing import FakePostpress

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text("utf-8")

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(lang: str) -> list[str]:
    """The bodies of the README's fenced blocks of ``lang``, in order."""
    return [m["body"] for m in _FENCE.finditer(README) if m["lang"] == lang]


PYTHON_BLOCKS = blocks("python")
SH_BLOCKS = blocks("sh")


def block_id(index: int, code: str) -> str:
    first = next((line for line in code.splitlines() if line.strip()), "")
    return f"{index}-{first.strip()[:40]}"


@pytest.fixture
def server(thread_server: FakePostpress) -> FakePostpress:
    """The fake the README's examples talk to: the reference's example chat and a few more."""
    thread_server.add_chat(EXAMPLE)
    thread_server.add_chats(3)
    return thread_server


def test_the_readme_has_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 5
    assert len(SH_BLOCKS) >= 3


@pytest.mark.parametrize(
    "code",
    [pytest.param(code, id=block_id(i, code)) for i, code in enumerate(PYTHON_BLOCKS)],
)
def test_python_block_runs(code: str, server: FakePostpress, tmp_path: Path) -> None:
    if re.search(r"^\s*(from|import) fastapi\b", code, re.MULTILINE):
        pytest.importorskip("fastapi", reason="FastAPI is not installed (it needs Python 3.11+)")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    result = run([sys.executable, "-W", "error", str(script)], env=env_for(server), cwd=tmp_path)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # Nothing left unclosed, nothing warned about (warnings in __del__ only print).
    assert "Unclosed" not in result.stderr
    assert "Warning" not in result.stderr


def test_quickstart_fetches_the_example_chat(server: FakePostpress, tmp_path: Path) -> None:
    quickstart = next(code for code in PYTHON_BLOCKS if "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR" in code)
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart, encoding="utf-8")
    result = run([sys.executable, str(script)], env=env_for(server))
    assert result.returncode == 0, result.stderr
    assert EXAMPLE["name"] in result.stdout
    assert [r.chat_id for r in server.requests] == ["chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR"]


# -- the command at the top -----------------------------------------------------------------------


def test_try_it_runs_the_demo() -> None:
    try_it = SH_BLOCKS[0].strip()
    assert len(try_it.splitlines()) == 1
    assert "postpress demo" in try_it
    words = shlex.split(try_it)
    assert words[-2:] == [".venv/bin/postpress", "demo"]


# -- the command-line block ----------------------------------------------------------------------


def cli_commands() -> list[list[str]]:
    """The ``postpress ...`` lines of the README's sh blocks, as argv lists."""
    commands = []
    for block in SH_BLOCKS:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "postpress":
                commands.append(words[1:])
    return commands


CLI_COMMANDS = cli_commands()


def test_the_cli_block_shows_every_command() -> None:
    shown = {tuple(argv[:2]) if argv[0] == "chats" else (argv[0],) for argv in CLI_COMMANDS}
    assert shown >= {("chats", "get"), ("chats", "get-many"), ("fake-server",), ("demo",)}


@pytest.mark.parametrize("argv", CLI_COMMANDS, ids=lambda argv: " ".join(argv))
def test_cli_block_command_parses(argv: list[str]) -> None:
    args = _cli.build_parser().parse_args(argv)
    assert callable(args.run)


def test_cli_block_get_commands_run(server: FakePostpress, tmp_path: Path) -> None:
    """The block's ``chats get`` and ``get-many`` lines, run against the fake."""
    (tmp_path / "ids.txt").write_text(
        "\n".join(["chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR", *server.add_chats(5, seed=1)]) + "\n",
        encoding="utf-8",
    )
    env = env_for(server)
    ran = 0
    for argv in CLI_COMMANDS:
        if argv[0] != "chats":
            continue  # fake-server serves forever; demo: test_cli_fake_server_and_demo.py
        result = run([sys.executable, "-m", "postpress_async", *argv], env=env, cwd=tmp_path)
        assert result.returncode == 0, (argv, result.stderr)
        ran += 1
    assert ran >= 2
    assert len((tmp_path / "chats.jsonl").read_text("utf-8").splitlines()) == 6


# -- the Networks section, through a real proxy --------------------------------------------------


def networks_blocks() -> list[str]:
    section = README.split("## Networks", 1)[1].split("\n## ", 1)[0]
    return [m["body"] for m in _FENCE.finditer(section) if m["lang"] == "python"]


def test_the_networks_examples_run_through_a_proxy(server: FakePostpress, tmp_path: Path) -> None:
    blocks = networks_blocks()
    assert len(blocks) >= 3
    with ForwardProxy(username="alice", password="s3cret") as proxy:
        # The README's HTTPS_PROXY, for the fake's http:// base URL.
        env = env_for(server, HTTP_PROXY=proxy.url("alice", "s3cret"), NO_PROXY="example.com")
        for index, code in enumerate(blocks):
            script = tmp_path / f"networks_{index}.py"
            script.write_text(code, encoding="utf-8")
            result = run([sys.executable, "-W", "error", str(script)], env=env, cwd=tmp_path)
            assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            assert "s3cret" not in result.stdout + result.stderr
            if 'proxy="socks5h' in code:
                assert "proxy='socks5h://***@proxy.corp:1080'" in result.stdout
            elif "print(client)" in code:
                assert f"proxy='http://***@127.0.0.1:{proxy.port}'" in result.stdout
    fetched = [r for r in proxy.requests if r.method == "GET"]
    assert len(fetched) == 2  # the two blocks that fetch a chat went through the proxy
    assert all(r.credentials == "alice:s3cret" for r in fetched)
    assert len(server.requests) == 2
