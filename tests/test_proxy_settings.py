"""Proxy URLs and the proxy environment, as the client reads them when it is created (no I/O)."""

from __future__ import annotations

import sys
import traceback

import pytest

import postpress_async as pp
from postpress_async._proxy import (
    bypasses_proxy,
    parse_proxy,
    proxy_for,
    require_socks,
)
from postpress_async._redact import MESSAGE_LIMIT, bounded, redact_url, redact_urls

SECRET = "s3cr3t-Pa55"
API = "https://api.postpress.ai/api/v1"


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("http://proxy.corp:3128", "http", "proxy.corp", 3128),
        ("http://proxy.corp", "http", "proxy.corp", 80),
        ("HTTPS://Proxy.Corp", "https", "proxy.corp", 443),
        ("socks4://10.0.0.1", "socks4", "10.0.0.1", 1080),
        ("socks5://127.0.0.1:9050", "socks5", "127.0.0.1", 9050),
        ("socks5h://[::1]:1080/", "socks5h", "::1", 1080),
    ],
)
def test_proxy_urls_are_parsed(url: str, scheme: str, host: str, port: int) -> None:
    proxy = parse_proxy(url)
    assert (proxy.scheme, proxy.host, proxy.port) == (scheme, host, port)
    assert proxy.username is None
    assert proxy.password is None
    assert proxy.is_socks == scheme.startswith("socks")


def test_credentials_are_decoded_and_never_shown() -> None:
    proxy = parse_proxy(f"http://al%40ice:{SECRET}%2F1@proxy.corp:3128")
    assert (proxy.username, proxy.password) == ("al@ice", SECRET + "/1")
    assert proxy.url == "http://proxy.corp:3128"
    assert proxy.redacted == "http://***@proxy.corp:3128"
    for shown in (repr(proxy), str(proxy), proxy.url, proxy.redacted):
        assert SECRET not in shown
        assert "alice" not in shown.replace("@", "")
    assert parse_proxy("socks5://[::1]:1080").url == "socks5://[::1]:1080"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"ftp://bob:{SECRET}@proxy.corp:21", "must start with one of http://"),
        (f"bob:{SECRET}@proxy.corp:3128", "must start with one of"),
        ("proxy.corp:3128", "must start with one of"),
        (f"http://bob:{SECRET}@:3128", "has no host"),
        ("http://", "has no host"),
        (f"http://bob:{SECRET} @proxy.corp:3128", "spaces"),
        (f"http://bob:{SECRET}@proxy.corp:3128\n", "control characters"),
        (f"http://bob:{SECRET}@proxy.corp:99999", "not a valid URL"),
        ("", "is empty"),
    ],
)
def test_bad_proxy_urls_fail_in_the_constructor_without_their_credentials(
    url: str, says: str
) -> None:
    for client in (pp.AsyncPostpress, pp.Postpress):
        with pytest.raises(pp.ConfigurationError, match=says) as info:
            client("key", base_url=API, proxy=url)
        assert SECRET not in str(info.value)
        assert "proxy" in str(info.value)
        shown = "".join(traceback.format_exception(info.value))
        assert SECRET not in shown
        assert SECRET not in repr(info.value.__context__)


def test_a_proxy_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(pp.ConfigurationError, match="must be a URL"):
        pp.AsyncPostpress("key", base_url=API, proxy=3128)  # type: ignore[arg-type]


def test_redaction_of_free_text() -> None:
    assert redact_url(f"http://u:{SECRET}@h:1/p?q") == "http://***@h:1/p?q"
    assert redact_url(f"u:{SECRET}@h:1") == "***@h:1"
    assert redact_url("http://h:1/a@b") == "http://h:1/a@b"
    text = f"407, message='Proxy Authentication Required', url='http://u:{SECRET}@127.0.0.1:9'"
    assert redact_urls(text) == (
        "407, message='Proxy Authentication Required', url='http://***@127.0.0.1:9'"
    )
    long = bounded(f"socks5://u:{SECRET}@h:1 " + "x" * 5000)
    assert len(long) <= MESSAGE_LIMIT
    assert SECRET not in long


# -- the environment -------------------------------------------------------------------------------


def pick(base_url: str = API, *, trust_env: bool = True, **environ: str) -> str | None:
    found = proxy_for(base_url, proxy=None, trust_env=trust_env, environ=environ)
    return None if found is None else found.url


def test_the_target_scheme_picks_the_variable() -> None:
    env = {"https_proxy": "http://s:1", "http_proxy": "http://p:2", "all_proxy": "http://a:3"}
    assert pick(API, **env) == "http://s:1"
    assert pick("http://127.0.0.1:8000/api/v1", **env) == "http://p:2"
    assert pick(API, all_proxy="socks5h://a:3") == "socks5h://a:3"
    assert pick(API, http_proxy="http://p:2") is None  # no https proxy for an https API
    assert pick(API) is None


def test_either_case_and_lower_case_wins() -> None:
    assert pick(API, HTTPS_PROXY="http://upper:1") == "http://upper:1"
    assert pick(API, HTTPS_PROXY="http://upper:1", https_proxy="http://lower:2") == (
        "http://lower:2"
    )
    assert pick(API, ALL_PROXY="http://upper:3") == "http://upper:3"
    assert pick(API, HTTPS_PROXY="  ") is None


def test_http_proxy_in_upper_case_is_ignored_under_cgi() -> None:
    http = "http://127.0.0.1:8000"
    assert pick(http, HTTP_PROXY="http://evil:1", REQUEST_METHOD="GET") is None
    assert pick(http, http_proxy="http://ok:1", REQUEST_METHOD="GET") == "http://ok:1"


def test_a_proxy_without_a_scheme_in_the_environment_is_http() -> None:
    assert pick(API, HTTPS_PROXY="proxy.corp:3128") == "http://proxy.corp:3128"


def test_a_bad_proxy_in_the_environment_names_the_variable() -> None:
    with pytest.raises(pp.ConfigurationError, match="HTTPS_PROXY") as info:
        pick(API, HTTPS_PROXY=f"ftp://u:{SECRET}@h:1")
    assert SECRET not in str(info.value)


def test_trust_env_false_ignores_the_environment() -> None:
    assert pick(API, trust_env=False, HTTPS_PROXY="http://s:1", ALL_PROXY="http://a:1") is None


def test_an_explicit_proxy_wins_over_the_environment_and_no_proxy() -> None:
    environ = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "*"}
    for trust_env in (True, False):
        found = proxy_for(API, proxy="socks5://mine:2", trust_env=trust_env, environ=environ)
        assert found is not None
        assert found.url == "socks5://mine:2"
        assert found.source == "proxy"


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("*", "api.postpress.ai", 443, True),
        ("postpress.ai", "api.postpress.ai", 443, True),
        ("postpress.ai", "postpress.ai", 443, True),
        (".postpress.ai", "api.postpress.ai", 443, True),
        ("*.postpress.ai", "api.postpress.ai", 443, True),
        ("POSTPRESS.AI", "api.postpress.ai", 443, True),
        ("press.ai", "api.postpress.ai", 443, False),  # a suffix, but not a domain suffix
        ("ai.postpress.ai.evil", "api.postpress.ai", 443, False),
        ("other.com, postpress.ai", "api.postpress.ai", 443, True),
        ("other.com postpress.ai", "api.postpress.ai", 443, True),
        ("postpress.ai:443", "api.postpress.ai", 443, True),
        ("postpress.ai:8443", "api.postpress.ai", 443, False),
        ("127.0.0.1", "127.0.0.1", 8000, True),
        ("127.0.0.1:8000", "127.0.0.1", 8000, True),
        ("127.0.0.1:9000", "127.0.0.1", 8000, False),
        ("127.0.0.2", "127.0.0.1", 8000, False),
        ("127.0.0.0/8", "127.0.0.1", 8000, True),
        ("10.0.0.0/8", "127.0.0.1", 8000, False),
        ("::1", "::1", 8000, True),
        ("[::1]:8000", "::1", 8000, True),
        ("::1/128", "127.0.0.1", 8000, False),
        ("localhost", "127.0.0.1", 8000, False),  # names are not resolved
        ("", "api.postpress.ai", 443, False),
        (",,", "api.postpress.ai", 443, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, direct: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is direct


def test_no_proxy_sends_the_api_direct() -> None:
    env = {"HTTPS_PROXY": "http://s:1", "no_proxy": "postpress.ai"}
    assert pick(API, **env) is None
    assert pick("https://api.other.com", **env) == "http://s:1"
    assert pick("http://127.0.0.1:8000/x", HTTP_PROXY="http://p:1", NO_PROXY="127.0.0.1") is None


# -- socks without its extra ---------------------------------------------------------------------


def test_socks_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # as if not installed
    for client in (pp.AsyncPostpress, pp.Postpress):
        with pytest.raises(pp.ConfigurationError, match=r"pip install 'postpress_async\[socks\]'"):
            client("key", base_url=API, proxy=f"socks5://u:{SECRET}@127.0.0.1:1080")
    monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(pp.ConfigurationError, match="ALL_PROXY"):
        pp.AsyncPostpress("key", base_url=API)
    pp.AsyncPostpress("key", base_url=API, trust_env=False)  # the environment ignored: fine


def test_http_proxies_need_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)
    require_socks(parse_proxy("http://127.0.0.1:3128"))
    require_socks(parse_proxy("https://127.0.0.1:3128"))


def test_proxy_and_trust_env_are_keyword_only_with_the_same_defaults() -> None:
    import inspect

    for client in (pp.AsyncPostpress, pp.Postpress):
        params = inspect.signature(client).parameters
        assert params["proxy"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["proxy"].default is None
        assert params["trust_env"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["trust_env"].default is True
    with pytest.raises(pp.ConfigurationError, match="trust_env"):
        pp.AsyncPostpress("key", base_url=API, trust_env="yes")  # type: ignore[arg-type]
