"""``POSTPRESS_LOG`` and the ``postpress_async`` logger, each case in a fresh interpreter.

Logging is process-wide state, so every case runs a small script in a subprocess: it starts a
``FakePostpress``, optionally configures logging the way an application would, makes real
requests, and the test reads what reached stderr.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from support import clean_env, run

SCRIPT = """
import asyncio, logging, sys
import postpress_async as pp
from postpress_async.testing import FakePostpress

SETUP

async def main():
    async with FakePostpress(api_key="pp_secret_key_123") as server:
        chat_id = server.add_chats(1)[0]
        server.fail(chat_id, error=pp.ErrorType.NETWORK_DOWN, times=1)
        async with pp.AsyncPostpress("pp_secret_key_123", base_url=server.base_url) as client:
            LATE_SETUP
            chat = await client.chats.retrieve(chat_id)
        async with pp.AsyncPostpress("pp_secret_key_123", base_url=server.base_url) as client:
            await client.chats.retrieve(chat_id)
    logger = logging.getLogger("postpress_async")
    print(logging.getLevelName(logger.level), len(logger.handlers), chat.id == chat_id)

asyncio.run(main())
"""
RESPONSE_LINE = "GET /api/v1/chats/"
RETRY_LINE = "retrying in "


def run_script(
    postpress_log: str | None, setup: str = "", late_setup: str = "pass"
) -> tuple[str, int, str]:
    """Run ``SCRIPT`` with ``POSTPRESS_LOG`` set (or not); its stdout fields and stderr."""
    source = SCRIPT.replace("LATE_SETUP", late_setup).replace("SETUP", textwrap.dedent(setup))
    env = clean_env() if postpress_log is None else clean_env(POSTPRESS_LOG=postpress_log)
    result = run([sys.executable, "-c", source], env=env)
    assert result.returncode == 0, result.stderr
    level, handlers, ok = result.stdout.split()
    assert ok == "True"
    assert "pp_secret_key_123" not in result.stderr
    return level, int(handlers), result.stderr


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", "DEBUG"),
        ("Info", "INFO"),
        ("WARNING", "WARNING"),
        ("warn", "WARNING"),
        (" error ", "ERROR"),
        ("critical", "CRITICAL"),
    ],
)
def test_postpress_log_takes_every_standard_level_name(value: str, level: str) -> None:
    got_level, handlers, err = run_script(value)
    assert (got_level, handlers) == (level, 1)
    if level == "DEBUG":
        assert err.count(RESPONSE_LINE) == 3  # the failed attempt, its retry, the second client
        assert err.count(RETRY_LINE) == 1
    elif level == "INFO":
        assert err.count(RESPONSE_LINE) == 0
        assert err.count(RETRY_LINE) == 1
    else:
        assert err == ""


@pytest.mark.parametrize("value", ["1", "true", "verbose", "trace", "debug,info"])
def test_any_other_value_is_ignored_with_one_warning(value: str) -> None:
    level, handlers, err = run_script(value)  # two clients, and no exception
    assert (level, handlers) == ("NOTSET", 0)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "POSTPRESS_LOG" in lines[0]
    assert repr(value) in lines[0]
    assert "ignored" in lines[0]


def test_a_long_bad_value_is_shortened_in_the_warning() -> None:
    _, _, err = run_script("x" * 500)
    assert len(err.strip()) < 200
    assert "x" * 40 in err


def test_unset_adds_no_handler_and_prints_nothing() -> None:
    assert run_script(None) == ("NOTSET", 0, "")
    assert run_script("  ") == ("NOTSET", 0, "")


def test_debug_alone_prints_each_line_once() -> None:
    _, _, err = run_script("debug")
    lines = err.splitlines()
    assert len(lines) == 4, err
    assert all(" postpress_async " in line for line in lines)


BASIC_CONFIG = 'logging.basicConfig(level=logging.DEBUG, format="APP %(name)s %(message)s")'


def sdk_lines(err: str) -> list[str]:
    """The lines of ``err`` from the SDK's logger (asyncio logs too under basicConfig)."""
    return [line for line in err.splitlines() if "postpress_async" in line]


def test_debug_with_basic_config_prints_each_line_once() -> None:
    _, _, err = run_script("debug", setup=BASIC_CONFIG)
    lines = sdk_lines(err)
    assert len(lines) == 4, err
    assert all(line.startswith("APP postpress_async ") for line in lines), err
    assert sum(RESPONSE_LINE in line for line in lines) == 3


def test_basic_config_after_the_first_client_still_prints_once() -> None:
    _, _, err = run_script("debug", late_setup=BASIC_CONFIG)
    lines = sdk_lines(err)
    assert len(lines) == 4, err
    assert all(line.startswith("APP postpress_async ") for line in lines), err


def test_an_application_handler_above_the_level_leaves_lower_records_to_ours() -> None:
    setup = """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("APP %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    """
    _, _, err = run_script("debug", setup=setup)
    lines = err.splitlines()
    assert len(lines) == 4, err
    debug_lines = [line for line in lines if RESPONSE_LINE in line]
    assert len(debug_lines) == 3
    assert not any(line.startswith("APP") for line in debug_lines)
    (retry_line,) = (line for line in lines if RETRY_LINE in line)
    assert retry_line.startswith("APP INFO retrying in ")


def test_an_application_handler_on_a_non_propagating_logger_is_respected() -> None:
    setup = """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("MINE %(message)s"))
    logging.getLogger("postpress_async").addHandler(handler)
    logging.getLogger("postpress_async").propagate = False
    """
    _, handlers, err = run_script("info", setup=setup)
    assert handlers == 2  # the application's and ours, which stays silent
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith("MINE")]
    assert err.count(RETRY_LINE) == 1


def test_configuring_the_logger_without_postpress_log() -> None:
    """What the README tells people who configure logging themselves."""
    setup = """
    logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("postpress_async").setLevel(logging.DEBUG)
    """
    level, handlers, err = run_script(None, setup=setup)
    assert (level, handlers) == ("DEBUG", 0)
    assert err.count("DEBUG postpress_async GET /api/v1/chats/") == 3
    assert err.count("INFO postpress_async retrying in ") == 1
