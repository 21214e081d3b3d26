"""Client settings: where they come from, how bad ones are refused, the value objects."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import pytest

import postpress_async as pp
from postpress_async._transport import client_timeout
from postpress_async.testing import FakePostpress

DEFAULT_BASE_URL = "https://api.postpress.ai/api/v1"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell."""
    for name in ("POSTPRESS_API_KEY", "POSTPRESS_BASE_URL", "POSTPRESS_LOG"):
        monkeypatch.delenv(name, raising=False)


def make(**kwargs: Any) -> pp.AsyncPostpress:
    """A client built outside any event loop: construction alone opens nothing."""
    kwargs.setdefault("api_key", "pp_test_key")
    return pp.AsyncPostpress(**kwargs)


# -- api_key ----------------------------------------------------------------------------------


async def sent_headers(server: FakePostpress, **kwargs: Any) -> Mapping[str, str]:
    """The headers the server received for one retrieve by a client built with ``kwargs``."""
    (chat_id,) = server.add_chats(1)
    kwargs.setdefault("base_url", server.base_url)
    async with pp.AsyncPostpress(**kwargs) as client:
        await client.chats.retrieve(chat_id)
    return server.requests[-1].headers


async def test_api_key_from_argument(
    monkeypatch: pytest.MonkeyPatch, fake_postpress: FakePostpress
) -> None:
    monkeypatch.setenv("POSTPRESS_API_KEY", "pp_from_env")
    headers = await sent_headers(fake_postpress, api_key=fake_postpress.api_key)
    assert headers["X-API-KEY"] == fake_postpress.api_key


async def test_api_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, fake_postpress: FakePostpress
) -> None:
    monkeypatch.setenv("POSTPRESS_API_KEY", fake_postpress.api_key)
    headers = await sent_headers(fake_postpress)
    assert headers["X-API-KEY"] == fake_postpress.api_key


@pytest.mark.parametrize("env", [None, ""])
def test_missing_api_key_says_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env is not None:
        monkeypatch.setenv("POSTPRESS_API_KEY", env)
    with pytest.raises(pp.ConfigurationError, match="POSTPRESS_API_KEY") as info:
        pp.AsyncPostpress()
    assert "api_key" in str(info.value)


def test_empty_api_key_argument_is_refused() -> None:
    with pytest.raises(pp.ConfigurationError, match="POSTPRESS_API_KEY"):
        pp.AsyncPostpress("")


def test_missing_api_key_in_the_blocking_client_raises_in_the_caller() -> None:
    with pytest.raises(pp.ConfigurationError, match="POSTPRESS_API_KEY"):
        pp.Postpress()


@pytest.mark.parametrize("key", ["pp_key\r\nX-Evil: 1", "pp_key\n", " pp_key", "pp\x00key"])
def test_api_key_with_control_characters_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(pp.ConfigurationError, match="api_key") as info:
        pp.AsyncPostpress(key)
    assert "pp_key" not in str(info.value)
    assert "pp\x00key" not in str(info.value)


def test_api_key_must_be_a_str() -> None:
    with pytest.raises(pp.ConfigurationError, match="api_key"):
        pp.AsyncPostpress(b"pp_bytes_key")  # type: ignore[arg-type]


# -- base_url ---------------------------------------------------------------------------------


def test_base_url_default() -> None:
    assert make().base_url == DEFAULT_BASE_URL == "https://api.postpress.ai/api/v1"


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPRESS_BASE_URL", "http://127.0.0.1:8080/api/v1")
    assert make().base_url == "http://127.0.0.1:8080/api/v1"


def test_base_url_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPRESS_BASE_URL", "http://127.0.0.1:8080/api/v1")
    assert make(base_url="https://eu.postpress.ai/api/v1").base_url == (
        "https://eu.postpress.ai/api/v1"
    )


def test_empty_base_url_environment_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPRESS_BASE_URL", "")
    assert make().base_url == DEFAULT_BASE_URL


def test_base_url_trailing_slash_is_dropped() -> None:
    assert make(base_url="https://api.postpress.ai/api/v1/").base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize(
    "url",
    [
        "api.postpress.ai/api/v1",
        "//api.postpress.ai/api/v1",
        "ftp://api.postpress.ai/api/v1",
        "file:///etc/passwd",
        "https://",
        "",
        "https://api.postpress.ai/api/v1?region=eu",
        "https://api.postpress.ai/api/v1#top",
        "https://user:hunter2@api.postpress.ai/api/v1",
        "https://user@api.postpress.ai/api/v1",
    ],
)
def test_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(pp.ConfigurationError, match="base_url") as info:
        make(base_url=url)
    assert "hunter2" not in str(info.value)


def test_bad_base_url_from_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTPRESS_BASE_URL", "api.postpress.ai")
    with pytest.raises(pp.ConfigurationError, match="base_url"):
        make()


@pytest.mark.parametrize(
    "url",
    [
        # urlsplit silently drops CR/LF/TAB, so these pass its checks unless tested for;
        # a .env file saved with CRLF line endings produces the first one.
        "https://api.postpress.ai/api/v1\r",
        "https://api.postpress.ai/api/v1\r\nX-Evil: 1",
        "https://api.postpress.ai/api/\tv1",
        "https://api.postpress.ai/api v1",
    ],
    ids=["trailing_cr", "crlf", "tab", "space"],
)
def test_base_url_with_whitespace_or_control_characters_is_refused(url: str) -> None:
    with pytest.raises(pp.ConfigurationError, match="base_url"):
        make(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.postpress.ai:99999/api/v1",
        "https://api.postpress.ai:http/api/v1",
        "https://[::1/api/v1",
    ],
)
def test_unparseable_base_url_is_a_configuration_error(url: str) -> None:
    # not a bare ValueError from urllib or yarl
    with pytest.raises(pp.ConfigurationError, match="base_url"):
        make(base_url=url)


def test_base_url_must_be_a_str() -> None:
    with pytest.raises(pp.ConfigurationError, match="base_url"):
        make(base_url=42)


# -- timeout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [-1, 0, -0.5, math.nan, math.inf, "30", True, False, None, [30]],
    ids=repr,
)
def test_bad_timeout_is_refused(value: Any) -> None:
    with pytest.raises(pp.ConfigurationError, match=r"(?i)timeout"):
        make(timeout=value)


def test_float_timeout_is_coerced() -> None:
    client = make(timeout=2.5)
    assert isinstance(client.timeout, pp.Timeout)
    assert client.timeout.attempt == 2.5
    assert client.timeout.connect is not None
    assert client.timeout.connect <= 2.5
    assert make(timeout=5).timeout.attempt == 5.0
    assert isinstance(make(timeout=5).timeout.attempt, float)


def test_timeout_object_is_kept() -> None:
    timeout = pp.Timeout(attempt=3, connect=1, read=2, deadline=10)
    assert make(timeout=timeout).timeout is timeout


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"attempt": -1}, "attempt"),
        ({"attempt": None}, "attempt"),
        ({"attempt": math.nan}, "attempt"),
        ({"connect": 0}, "connect"),
        ({"read": "1"}, "read"),
        ({"deadline": -3}, "deadline"),
        ({"deadline": True}, "deadline"),
    ],
)
def test_timeout_parts_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pp.ConfigurationError, match=re.escape(f"Timeout.{name}")):
        pp.Timeout(**kwargs)


def test_timeout_value_semantics() -> None:
    default = pp.Timeout()
    assert default == pp.Timeout()
    assert hash(default) == hash(pp.Timeout())
    assert default.attempt == 30.0
    assert default.deadline is not None
    assert pp.Timeout(attempt=1) != pp.Timeout(attempt=2)
    assert pp.Timeout(read=None, deadline=None).deadline is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.attempt = 1  # type: ignore[misc]
    assert dataclasses.replace(default, attempt=5).attempt == 5
    assert "attempt=30.0" in repr(default)


def test_per_attempt_timeout_never_exceeds_the_deadline() -> None:
    assert pp.Timeout(attempt=30, deadline=5).attempt_total == 5
    assert pp.Timeout(attempt=30, deadline=None).attempt_total == 30
    given = client_timeout(pp.Timeout(attempt=30, connect=2, read=3))
    assert (given.connect, given.sock_read) == (2, 3)
    # The attempt's own limit is the client's (_expiry), not a timer per request in aiohttp.
    assert given.total is None


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 1.5, True, "2", None], ids=repr)
def test_bad_max_retries_is_refused(value: Any) -> None:
    with pytest.raises(pp.ConfigurationError, match="max_retries"):
        make(max_retries=value)


def test_max_retries_zero_and_default() -> None:
    assert make().retry.max_retries == 2
    assert make(max_retries=0).retry.max_retries == 0
    assert make(max_retries=7).retry.max_retries == 7


def test_max_retries_overrides_only_that_part_of_a_policy() -> None:
    policy = pp.RetryPolicy(max_retries=5, backoff_initial=0.1, backoff_max=1.0)
    client = make(retry=policy, max_retries=1)
    assert client.retry.max_retries == 1
    assert client.retry.backoff_initial == 0.1
    assert client.retry.backoff_max == 1.0
    assert make(retry=policy).retry is policy


def test_retry_must_be_a_policy() -> None:
    with pytest.raises(pp.ConfigurationError, match="retry"):
        make(retry={"max_retries": 1})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_initial": 0}, "backoff_initial"),
        ({"backoff_max": math.inf}, "backoff_max"),
        ({"retry_after_max": -1}, "retry_after_max"),
        ({"retry_if": "always"}, "retry_if"),
    ],
)
def test_retry_policy_is_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pp.ConfigurationError, match=name):
        pp.RetryPolicy(**kwargs)


def test_retry_policy_value_semantics() -> None:
    async def fake_sleep(seconds: float) -> None:
        return None

    assert pp.RetryPolicy() == pp.RetryPolicy()
    assert pp.RetryPolicy(sleep=fake_sleep) == pp.RetryPolicy()  # the sleep is test plumbing
    assert pp.RetryPolicy(max_retries=1) != pp.RetryPolicy(max_retries=2)
    policy = pp.RetryPolicy()
    assert policy.max_retries == 2
    assert policy.backoff_initial <= policy.backoff_max
    assert policy.retry_if(pp.APIConnectionError("x")) is True
    assert policy.retry_if(pp.ResponseDecodeError("x")) is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 9  # type: ignore[misc]


# -- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_connections": -1}, "max_connections"),
        ({"max_connections": 1.5}, "max_connections"),
        ({"max_connections": True}, "max_connections"),
        ({"max_connections_per_host": -2}, "max_connections_per_host"),
        ({"dns_cache_ttl": -1}, "dns_cache_ttl"),
        ({"dns_cache_ttl": "10"}, "dns_cache_ttl"),
        ({"keepalive_timeout": -1}, "keepalive_timeout"),
        ({"keepalive_timeout": math.nan}, "keepalive_timeout"),
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pp.ConfigurationError, match=re.escape(f"Limits.{name}")):
        pp.Limits(**kwargs)


def test_limits_must_be_limits() -> None:
    with pytest.raises(pp.ConfigurationError, match="limits"):
        make(limits={"max_connections": 5})


def test_limits_value_semantics() -> None:
    assert pp.Limits() == pp.Limits()
    assert pp.Limits(max_connections=5) != pp.Limits()
    assert pp.Limits(dns_cache_ttl=None).dns_cache_ttl is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        pp.Limits().max_connections = 1  # type: ignore[misc]


async def test_limits_bound_the_connections_to_the_server(server: FakePostpress) -> None:
    # The client keeps its Limits (this was `client._config.limits` once), seen from the
    # server: 12 concurrent retrieves over a 3-connection pool, each held by latency, never
    # have more than 3 requests in flight. Without the limit all 12 would arrive together.
    ids = server.add_chats(12)
    server.latency = 0.02
    async with pp.AsyncPostpress(
        server.api_key, base_url=server.base_url, limits=pp.Limits(max_connections=3)
    ) as client:
        chats = await asyncio.gather(*(client.chats.retrieve(chat_id) for chat_id in ids))
    assert [chat.id for chat in chats] == ids
    assert server.request_count == len(ids)
    assert server.max_in_flight <= 3


# -- default_headers and the rest ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-KEY": "pp_other"},
        {"x-api-key": "pp_other"},
        {"X-Api-Key": "pp_other"},
    ],
)
def test_default_headers_cannot_carry_the_key(headers: dict[str, str]) -> None:
    with pytest.raises(pp.ConfigurationError, match="default_headers") as info:
        make(default_headers=headers)
    assert "pp_other" not in str(info.value)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Team": "a\r\nX-Evil: 1"},
        {"X-Team": "a\nb"},
        {"X-Team\r\nX-Evil": "1"},
        {"X-Team": "a\x00b"},
    ],
)
def test_default_headers_with_line_breaks_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(pp.ConfigurationError, match=r"(?i)default.header"):
        make(default_headers=headers)


def test_default_headers_must_be_strings() -> None:
    with pytest.raises(pp.ConfigurationError, match=r"default_headers"):
        make(default_headers={"X-Team": 7})


async def test_default_headers_are_sent_with_the_key(fake_postpress: FakePostpress) -> None:
    headers = await sent_headers(
        fake_postpress, api_key=fake_postpress.api_key, default_headers={"X-Team": "growth"}
    )
    assert headers["X-Team"] == "growth"
    assert headers["X-API-KEY"] == fake_postpress.api_key
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("postpress-async/")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_response_size": -1}, "max_response_size"),
        ({"max_response_size": True}, "max_response_size"),
        ({"max_response_size": 1.5}, "max_response_size"),
        ({"max_redirects": -1}, "max_redirects"),
        ({"max_redirects": "5"}, "max_redirects"),
    ],
)
def test_bad_sizes_are_refused(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pp.ConfigurationError, match=name):
        make(**kwargs)


def test_http_session_and_ssl_types_are_checked() -> None:
    with pytest.raises(TypeError, match="http_session"):
        make(http_session=object())
    with pytest.raises(TypeError, match="ssl"):
        make(ssl="yes")


def test_not_given_sentinel() -> None:
    assert repr(pp.NOT_GIVEN) == "NOT_GIVEN"
    assert not pp.NOT_GIVEN
    assert pp.NOT_GIVEN is not None
    assert isinstance(pp.NOT_GIVEN, pp.NotGiven)


def test_configuration_messages_are_one_readable_line() -> None:
    cases: list[dict[str, Any]] = [
        {"timeout": -1},
        {"max_retries": -1},
        {"base_url": "ftp://x"},
        {"default_headers": {"X-API-KEY": "k"}},
    ]
    for kwargs in cases:
        with pytest.raises(pp.ConfigurationError) as info:
            make(**kwargs)
        message = str(info.value)
        assert "\n" not in message
        assert re.search(r"[a-z_]+", message)
