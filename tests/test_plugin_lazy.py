"""The pytest plugin costs a project that merely has the SDK installed nothing at start-up.

pytest imports every ``pytest11`` entry point at start; ours, ``_postpress_async_pytestplugin``,
imports the SDK (and with it aiohttp and the fake server's ``aiohttp.web``) only when a test
asks for one of its fixtures.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from support import clean_env, run

import _postpress_async_pytestplugin

HEAVY = ("postpress_async", "aiohttp", "msgspec", "yarl")

PROBE = f"""
import sys
import pytest, pytest_asyncio  # pytest has both loaded before it loads entry points
before = set(sys.modules)
import _postpress_async_pytestplugin
print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in {HEAVY!r}))
"""


def test_importing_the_plugin_imports_nothing_of_the_sdk() -> None:
    result = run([sys.executable, "-c", PROBE], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_entry_point_is_the_top_level_plugin_module() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "postpress_async"
    ]
    assert entry.value == "_postpress_async_pytestplugin"
    assert entry.load() is _postpress_async_pytestplugin


UNRELATED_TEST = """
import sys

def test_that_does_not_use_the_fake() -> None:
    assert not [m for m in sys.modules if m.split(".")[0] == "postpress_async"]
"""

TEST_USING_THE_FIXTURES = """
import json
import urllib.request

async def test_async_fixture(fake_postpress) -> None:
    assert fake_postpress.base_url.startswith("http://127.0.0.1:")

def test_thread_fixture(fake_postpress_thread) -> None:
    chat_id = fake_postpress_thread.add_chats(1)[0]
    request = urllib.request.Request(
        fake_postpress_thread.chat_url(chat_id), headers={"X-API-KEY": "pp_test_key"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["id"] == chat_id
"""


def test_a_pytest_run_in_another_project_loads_the_sdk_only_for_its_fixtures(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n", encoding="utf-8")
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TEST, encoding="utf-8")
    (tmp_path / "test_with_fake.py").write_text(TEST_USING_THE_FIXTURES, encoding="utf-8")
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = run([*pytest_run, "test_unrelated.py"], env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(pytest_run, env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("3 passed"), result.stdout
