"""The ``postpress`` command end to end against ``FakePostpress``: ``chats get``, its errors and
exit codes, help and version; subprocess and in-process. ``chats get-many`` and its progress
bar are in ``test_cli_get_many.py``; ``fake-server`` and ``demo`` in
``test_cli_fake_server_and_demo.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import only_line, run_cli, wire
from support import clean_env, env_for, refusing_port

import postpress_async as pp
from postpress_async import _cli
from postpress_async.testing import FakePostpress

# -- chats get ---------------------------------------------------------------------------------


def test_get_prints_the_chat_as_wire_json(thread_server: FakePostpress, ids: list[str]) -> None:
    result = run_cli("chats", "get", ids[0], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert "lastMessage" in printed
    assert "last_message" not in printed
    assert (
        printed
        == wire(thread_server.chat(ids[0]))
        == json.loads(json.dumps(thread_server.chat(ids[0]).to_dict()))
    )
    assert pp.decode_chat(result.stdout) == thread_server.chat(ids[0])
    assert result.stderr == ""


def test_get_in_process(
    cli_env: FakePostpress, ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ids[1]
    assert _cli.main(["chats", "get", chat_id]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == wire(cli_env.chat(chat_id))
    assert err == ""


def test_get_the_example_chat(thread_server: FakePostpress) -> None:
    example = json.loads((Path(__file__).parent / "data" / "example_chat.json").read_text("utf-8"))
    chat_id = thread_server.add_chat(example)
    result = run_cli("chats", "get", chat_id, env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["lastMessage"]["text"] == example["lastMessage"]["text"]
    assert printed == wire(thread_server.chat(chat_id))


def test_get_a_provider_id_with_account_id(thread_server: FakePostpress, ids: list[str]) -> None:
    chat = thread_server.chat(ids[2])
    assert chat.provider_id
    assert chat.account_id
    result = run_cli(
        "chats",
        "get",
        chat.provider_id,
        "--account-id",
        chat.account_id,
        env=env_for(thread_server),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wire(chat)
    assert thread_server.requests[-1].query == {"account_id": chat.account_id}


def test_get_a_provider_id_without_account_id_is_a_bad_request(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    provider_id = thread_server.chat(ids[2]).provider_id
    assert provider_id
    result = run_cli("chats", "get", provider_id, env=env_for(thread_server))
    assert result.returncode == 10
    line = only_line(result.stderr)
    assert "BadRequestError" in line
    assert "400" in line
    assert "errors/missing_account_id" in line
    assert "account_id is mandatory" in line
    assert result.stdout == ""


def test_flags_override_the_environment(thread_server: FakePostpress, ids: list[str]) -> None:
    env = clean_env(
        POSTPRESS_API_KEY="pp_wrong_key",
        POSTPRESS_BASE_URL=f"http://127.0.0.1:{refusing_port()}/api/v1",
    )
    args = ["--api-key", thread_server.api_key, "--base-url", thread_server.base_url]
    result = run_cli("chats", "get", ids[0], *args, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == wire(thread_server.chat(ids[0]))
    assert thread_server.requests[-1].headers["x-api-key"] == thread_server.api_key


def test_flags_work_without_any_environment(thread_server: FakePostpress, ids: list[str]) -> None:
    args = ["--api-key", thread_server.api_key, "--base-url", thread_server.base_url]
    result = run_cli("chats", "get", ids[0], *args, env=clean_env())
    assert result.returncode == 0, result.stderr


# -- errors: one line on stderr, an exit code per family ---------------------------------------


def test_not_found(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "chat_does_not_exist", env=env_for(thread_server))
    assert result.returncode == 9
    line = only_line(result.stderr)
    assert "NotFoundError" in line
    assert "404" in line
    assert "errors/resource_not_found" in line
    assert "not found" in line  # the envelope's detail
    assert result.stdout == ""


def test_wrong_api_key(thread_server: FakePostpress, ids: list[str]) -> None:
    result = run_cli(
        "chats", "get", ids[0], "--api-key", "pp_wrong_key", env=env_for(thread_server)
    )
    assert result.returncode == 7
    line = only_line(result.stderr)
    assert "AuthenticationError" in line
    assert "401" in line
    assert "errors/invalid_credentials" in line
    assert "pp_wrong_key" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("fault", "code", "names"),
    [
        pytest.param(
            {"error": pp.ErrorType.INSUFFICIENT_PERMISSIONS, "detail": "No access to this chat."},
            8,
            ["PermissionDeniedError", "403", "errors/insufficient_permissions", "No access"],
            id="403",
        ),
        pytest.param(
            {"error": "errors/invalid_parameters", "status": 400, "detail": "Bad chat id."},
            10,
            ["BadRequestError", "400", "errors/invalid_parameters", "Bad chat id."],
            id="400",
        ),
        pytest.param(
            {"error": "errors/too_many_requests", "status": 429, "detail": "Slow down."},
            11,
            ["RateLimitError", "429", "errors/too_many_requests", "Slow down."],
            id="429",
        ),
        pytest.param(
            {"error": pp.ErrorType.SERVICE_UNAVAILABLE, "detail": "Down for maintenance."},
            12,
            ["ServiceUnavailableError", "503", "errors/service_unavailable", "maintenance"],
            id="503",
        ),
        pytest.param(
            {"error": pp.ErrorType.PROVIDER_ERROR, "detail": "Provider is down."},
            12,
            ["InternalServerError", "500", "errors/provider_error", "Provider is down."],
            id="500",
        ),
        pytest.param(
            {"status": 502},
            12,
            ["ServerError", "502"],
            id="502-without-envelope",
        ),
    ],
)
def test_status_errors(
    thread_server: FakePostpress, ids: list[str], fault: dict[str, Any], code: int, names: list[str]
) -> None:
    thread_server.fail(ids[0], times=None, **fault)
    result = run_cli("chats", "get", ids[0], "--max-retries", "0", env=env_for(thread_server))
    assert result.returncode == code, result.stderr
    line = only_line(result.stderr)
    for name in names:
        assert name in line
    assert len(thread_server.requests) == 1  # --max-retries 0: no retry
    assert result.stdout == ""


def test_an_error_without_an_envelope_names_its_status_once(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    thread_server.fail(ids[0], status=502, body="<html>bad gateway</html>", times=None)
    result = run_cli("chats", "get", ids[0], "--max-retries", "0", env=env_for(thread_server))
    line = only_line(result.stderr)
    assert line.startswith("error: ServerError: 502 Bad Gateway"), line
    assert line.count("502") == 1, line


def test_server_text_cannot_steer_the_terminal_or_forge_a_line(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    forged = "\x1b[2K\rerror: nothing wrong\n\x1b]0;title\x07"
    thread_server.fail(ids[0], error=pp.ErrorType.RESOURCE_NOT_FOUND, detail=forged, times=None)
    result = run_cli("chats", "get", ids[0], "--max-retries", "0", env=env_for(thread_server))
    line = only_line(result.stderr)
    assert line.startswith("error: NotFoundError 404 errors/resource_not_found: "), line
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in line), line
    assert "\\x1b[2K" in line  # shown escaped, not acted on


def test_a_retryable_error_is_retried_by_default(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    thread_server.fail(ids[0], error=pp.ErrorType.NETWORK_DOWN, times=1, retry_after=0)
    result = run_cli("chats", "get", ids[0], env=env_for(thread_server))
    assert result.returncode == 0, result.stderr
    assert len(thread_server.requests) == 2


def test_connection_refused(thread_server: FakePostpress) -> None:
    url = f"http://127.0.0.1:{refusing_port()}/api/v1"
    result = run_cli(
        "chats",
        "get",
        "chat_1",
        "--base-url",
        url,
        "--max-retries",
        "0",
        env=env_for(thread_server),
    )
    assert result.returncode == 4, result.stderr
    assert "APIConnectionError" in only_line(result.stderr)


def test_timeout(thread_server: FakePostpress, ids: list[str]) -> None:
    thread_server.fail(ids[0], latency=10, times=1)
    args = ["--timeout", "0.2", "--max-retries", "0"]
    result = run_cli("chats", "get", ids[0], *args, env=env_for(thread_server))
    assert result.returncode == 5, result.stderr
    assert "APITimeoutError" in only_line(result.stderr)


def test_invalid_json_body(thread_server: FakePostpress) -> None:
    thread_server.add_raw("chat_garbled", b'{"object": "Chat", "id": ')
    result = run_cli("chats", "get", "chat_garbled", env=env_for(thread_server))
    assert result.returncode == 6, result.stderr
    assert "ResponseDecodeError" in only_line(result.stderr)
    assert len(thread_server.requests) == 1  # a body that does not decode is not retried


def test_invalid_chat_body(thread_server: FakePostpress) -> None:
    thread_server.add_raw("chat_partial", b'{"object": "Chat"}')
    result = run_cli("chats", "get", "chat_partial", env=env_for(thread_server))
    assert result.returncode == 6, result.stderr
    line = only_line(result.stderr)
    assert "ResponseDecodeError" in line
    assert "$.id" in line


def test_missing_api_key(thread_server: FakePostpress) -> None:
    result = run_cli(
        "chats", "get", "chat_1", env=clean_env(POSTPRESS_BASE_URL=thread_server.base_url)
    )
    assert result.returncode == 3
    line = only_line(result.stderr)
    assert "ConfigurationError" in line
    assert "POSTPRESS_API_KEY" in line
    assert thread_server.requests == []


def test_missing_api_key_in_process(
    cli_env: FakePostpress, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POSTPRESS_API_KEY")
    assert _cli.main(["chats", "get", "chat_1"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "ConfigurationError" in only_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["chats", "get"], id="missing-id"),
        pytest.param(["chats", "frobnicate"], id="unknown-command"),
        pytest.param([], id="no-command"),
        pytest.param(["chats", "get", "chat_1", "--timeout", "soon"], id="bad-number"),
        pytest.param(["chats", "get-many", "--concurrency", "0"], id="zero-concurrency"),
        pytest.param(["demo", "--chats", "-1"], id="negative-chats"),
    ],
)
def test_usage_errors_exit_2(thread_server: FakePostpress, argv: list[str]) -> None:
    result = run_cli(*argv, env=env_for(thread_server))
    assert result.returncode == 2, result.stderr
    assert "usage: postpress" in result.stderr
    assert thread_server.requests == []


def test_a_zero_timeout_is_not_silently_ignored(
    thread_server: FakePostpress, ids: list[str]
) -> None:
    # `--timeout 0` must be refused like `--timeout -1`, not replaced by the default.
    result = run_cli("chats", "get", ids[0], "--timeout", "0", env=env_for(thread_server))
    assert result.returncode in (2, 3), result.stdout
    assert "timeout" in only_line(result.stderr)
    assert thread_server.requests == []


def test_usage_error_in_process(cli_env: FakePostpress, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main(["chats", "get"])
    assert exc_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_an_empty_chat_id_is_a_usage_error(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "", env=env_for(thread_server))
    assert result.returncode == 2
    assert "chat_id must not be empty" in only_line(result.stderr)
    assert thread_server.requests == []


def test_a_hostile_id_stays_one_path_segment(thread_server: FakePostpress) -> None:
    result = run_cli("chats", "get", "../../admin?x=1#y", env=env_for(thread_server))
    assert result.returncode == 9, result.stderr
    assert thread_server.requests[-1].chat_id == "../../admin?x=1#y"


# -- help and version ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["chats"],
        ["chats", "get"],
        ["chats", "get-many"],
        ["fake-server"],
        ["demo"],
    ],
    ids=lambda argv: " ".join(argv) or "postpress",
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main([*argv, "--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: postpress {' '.join(argv)}".rstrip())


def test_help_in_a_subprocess() -> None:
    result = run_cli("--help", env=clean_env())
    assert result.returncode == 0
    for command in ("chats", "fake-server", "demo"):
        assert command in result.stdout
    result = run_cli("chats", "get-many", "--help", env=clean_env())
    assert result.returncode == 0
    for flag in ("--concurrency", "--output", "--errors", "--progress", "--no-progress"):
        assert flag in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        _cli.main(["--version"])
    assert exc_info.value.code == 0
    assert pp.__version__ in capsys.readouterr().out
