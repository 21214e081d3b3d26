"""The README's examples run: every python block against ``postpress fake-server`` as a user
runs it, the commands at the top, the CLI block.

The contributors' command, which CI runs: ``test_release.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_blocks import (
    FENCE,
    REQUIREMENTS,
    absent,
    block_id,
    fake_server_command,
    is_test_module,
    needs,
    pytest_settings,
    python_blocks,
    run_block,
    undeclared,
)
from proxies import ForwardProxy
from support import EXAMPLE, EXAMPLE_ID, env_for, run

import postpress_async as pp
from postpress_async import _cli
from postpress_async.testing import FakePostpress

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def blocks(lang: str) -> list[str]:
    """The bodies of the README's fenced blocks of ``lang``, in order."""
    return [m["body"] for m in FENCE.finditer(README) if m["lang"] == lang]


PYTHON_BLOCKS = python_blocks(README)
SH_BLOCKS = blocks("sh")


def sh_block(*words: str) -> str:
    """The one sh block holding every one of ``words``."""
    found = [block for block in SH_BLOCKS if all(word in block for word in words)]
    assert len(found) == 1, (words, found)
    return found[0]


@pytest.fixture
def server(thread_server: FakePostpress) -> FakePostpress:
    """The fake the README's examples talk to: the reference's example chat and a few more."""
    thread_server.add_chat(EXAMPLE)
    thread_server.add_chats(3)
    return thread_server


@pytest.fixture(scope="module")
def fake_server_exports() -> Iterator[dict[str, str]]:
    """``postpress fake-server`` started as the README says; what it tells the user to export."""
    with fake_server_command() as exports:
        yield exports


def test_the_readme_has_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 5
    assert len(SH_BLOCKS) >= 3


@pytest.mark.parametrize(
    "code",
    [pytest.param(code, id=block_id(i, code)) for i, code in enumerate(PYTHON_BLOCKS)],
)
def test_python_block_runs_against_the_fake_server_command(
    code: str, fake_server_exports: dict[str, str], tmp_path: Path
) -> None:
    """Each block, saved to a file and run with only what ``postpress fake-server`` printed."""
    assert not undeclared(code), f"add '# Needs: pip install ...' for {undeclared(code)}"
    if absent(code):
        pytest.skip(f"needs {', '.join(absent(code))} (pip install {' '.join(needs(code))})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPRESS_")}
    settings = pytest_settings(README)
    result = run_block(code, {**env, **fake_server_exports}, tmp_path, pyproject=settings)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # Nothing left unclosed, nothing warned about (warnings in __del__ only print).
    assert "Unclosed" not in result.stderr
    assert "Warning" not in result.stderr
    if is_test_module(code):
        assert re.search(r"^\d+ passed", result.stdout, re.MULTILINE), result.stdout
        assert "skipped" not in result.stdout
    cassettes = list(tmp_path.glob("cassettes/**/*.yaml"))
    assert bool(cassettes) == ("pytest.mark.vcr" in code)
    for cassette in cassettes:  # recorded, with the key filtered out
        assert "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR" in cassette.read_text("utf-8")
        assert fake_server_exports["POSTPRESS_API_KEY"] not in cassette.read_text("utf-8")


def test_every_needs_line_names_a_known_package() -> None:
    named = {name for code in PYTHON_BLOCKS for name in needs(code)}
    assert named <= set(REQUIREMENTS)
    assert {"fastapi", "httpx2", "opentelemetry-sdk", "postpress_async[socks]"} <= named


def test_a_block_that_imports_an_undeclared_package_is_caught() -> None:
    assert undeclared("import fastapi\n") == {"fastapi"}
    assert undeclared("# Needs: pip install fastapi httpx2\nimport fastapi\n") == set()
    assert undeclared('pp.Postpress(proxy="socks5://h:1")\n') == {"postpress_async[socks]"}
    assert undeclared("def test_x():\n    pass\n") == {"pytest"}


def test_the_fake_server_command_serves_the_readme_example_chat(
    fake_server_exports: dict[str, str],
) -> None:
    assert f'"{EXAMPLE_ID}"' in README
    base_url = fake_server_exports["POSTPRESS_BASE_URL"]
    key = fake_server_exports["POSTPRESS_API_KEY"]
    with pp.Postpress(key, base_url=base_url, max_retries=0) as client:
        assert client.chats.retrieve(EXAMPLE_ID) == pp.decode_chat(json.dumps(EXAMPLE))


def test_the_readme_says_how_to_run_the_blocks(fake_server_exports: dict[str, str]) -> None:
    """The play-along block: the command, then the exports it prints (default port 8080)."""
    block = sh_block("postpress fake-server", "export POSTPRESS_BASE_URL")
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert lines[0] == "postpress fake-server"
    told = dict(word.split("=", 1) for word in shlex.split(lines[1])[1:])
    printed = dict(fake_server_exports)
    port = printed["POSTPRESS_BASE_URL"].split(":")[2].split("/")[0]
    printed["POSTPRESS_BASE_URL"] = printed["POSTPRESS_BASE_URL"].replace(port, "8080")
    assert told == printed
    assert _cli.build_parser().parse_args(["fake-server"]).port == 8080


def test_quickstart_fetches_the_example_chat(server: FakePostpress, tmp_path: Path) -> None:
    quickstart = next(code for code in PYTHON_BLOCKS if "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR" in code)
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart, encoding="utf-8")
    result = run([sys.executable, str(script)], env=env_for(server))
    assert result.returncode == 0, result.stderr
    assert EXAMPLE["name"] in result.stdout
    assert [r.chat_id for r in server.requests] == ["chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR"]


# -- the command at the top -----------------------------------------------------------------------


def test_install_comes_first() -> None:
    assert SH_BLOCKS[0].strip() == "pip install postpress_async"
    for extra in ("socks", "otel", "speed"):
        assert extra in README.split("**Try it**", 1)[0]


def test_try_it_runs_the_demo() -> None:
    try_it = sh_block("postpress demo", "venv").strip()
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


def test_get_many_help_shows_concurrency_and_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["chats", "get-many", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    default = _cli.build_parser().parse_args(["chats", "get-many"]).concurrency
    assert "--concurrency N at most N requests in flight" in usage
    assert f"(default: {default})" in usage.split("--concurrency N", 2)[2]


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
    return [m["body"] for m in FENCE.finditer(section) if m["lang"] == "python"]


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
