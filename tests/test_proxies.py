"""Through real proxies: pproxy (http, SOCKS5) in a subprocess, and our own forward proxy.

Both clients reach FakePostpress through an http proxy given as ``proxy=`` or found in the
environment (set after import), an https base URL through CONNECT, SOCKS5 with credentials;
``NO_PROXY`` and ``trust_env=False`` go direct; a proxy that is down is a retried connection
error; a proxy's refusal (407 over http and https, a refused CONNECT) is a final
``pp.ProxyError`` that never shows the proxy's credentials.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from certs import Certs
from proxies import ForwardProxy, PProxy, RefusingSocks5
from support import Sleeps, refusing_port

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEY = "pp_test_key"
USER = "alice"
SECRET = "Pr0xy-S3cret"


@pytest.fixture(autouse=True)
def no_ca_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(scope="module")
def http_pproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PProxy]:
    with PProxy("http", log=tmp_path_factory.mktemp("pproxy") / "http.log") as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_pproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PProxy]:
    log = tmp_path_factory.mktemp("pproxy") / "socks.log"
    with PProxy("socks5", username=USER, password=SECRET, log=log) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def tls_server(certs: Certs) -> AsyncIterator[FakePostpress]:
    async with FakePostpress(ssl=certs.server()) as server:
        yield server


@pytest.fixture
async def auth_proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy(username=USER, password=SECRET) as proxy:
        yield proxy


def relayed(proxy: PProxy, server: FakePostpress) -> bool:
    """Whether pproxy's log shows a connection to ``server``."""
    return f"127.0.0.1:{server.port}" in proxy.log()


def shows_nothing_secret(error: BaseException) -> None:
    shown = "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))
    assert SECRET not in shown
    assert KEY not in shown


# -- through an http proxy ---------------------------------------------------------------------


async def test_async_client_through_an_http_proxy(
    fake_postpress: FakePostpress, http_pproxy: PProxy
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    async with pp.AsyncPostpress(
        KEY, base_url=fake_postpress.base_url, proxy=http_pproxy.url
    ) as client:
        assert await client.chats.retrieve(chat_id) == fake_postpress.chat(chat_id)
        assert f"proxy='{http_pproxy.url}'" in repr(client)
    assert relayed(http_pproxy, fake_postpress)
    assert [r.chat_id for r in fake_postpress.requests] == [chat_id]


def test_blocking_client_through_an_http_proxy(http_pproxy: PProxy) -> None:
    with FakePostpress() as server:
        chat_id = server.add_chats(1)[0]
        with pp.Postpress(KEY, base_url=server.base_url, proxy=http_pproxy.url) as client:
            assert client.chats.retrieve(chat_id) == server.chat(chat_id)
            assert "proxy=" in repr(client)
        assert relayed(http_pproxy, server)


async def test_http_proxy_from_the_environment_set_after_import(
    fake_postpress: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        async with pp.AsyncPostpress(KEY, base_url=fake_postpress.base_url) as client:
            await client.chats.retrieve(chat_id)
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("GET", fake_postpress.chat_url(chat_id))
    ]


async def test_http_through_a_proxy_with_credentials(
    fake_postpress: FakePostpress, auth_proxy: ForwardProxy
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    proxy = auth_proxy.url("al ice".replace(" ", "%20"), SECRET)  # percent-encoded user name
    async with ForwardProxy(username="al ice", password=SECRET) as spaced:
        for url, seen in ((auth_proxy.url(USER, SECRET), auth_proxy), (proxy, None)):
            if seen is None:
                url, seen = url.replace(str(auth_proxy.port), str(spaced.port)), spaced
            async with pp.AsyncPostpress(
                KEY, base_url=fake_postpress.base_url, proxy=url
            ) as client:
                assert (await client.chats.retrieve(chat_id)).id == chat_id
            [request] = seen.requests
            assert (request.method, request.authorized) == ("GET", True)
    # The proxy passes the request on without its credentials.
    for request in fake_postpress.requests:
        assert "proxy-authorization" not in {name.lower() for name in request.headers}
    assert len(fake_postpress.requests) == 2


def test_blocking_client_with_https_proxy_from_the_environment(
    certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An https base URL: HTTPS_PROXY, a CONNECT tunnel, TLS inside it.
    with FakePostpress(ssl=certs.server()) as server, ForwardProxy() as proxy:
        chat_id = server.add_chats(1)[0]
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for an https API
        with pp.Postpress(KEY, base_url=server.base_url, ssl=certs.client()) as client:
            assert client.chats.retrieve(chat_id) == server.chat(chat_id)
        assert [(r.method, r.target) for r in proxy.requests] == [
            ("CONNECT", f"127.0.0.1:{server.port}")
        ]


async def test_https_through_connect_with_credentials(
    tls_server: FakePostpress, auth_proxy: ForwardProxy, certs: Certs
) -> None:
    chat_id = tls_server.add_chats(1)[0]
    async with pp.AsyncPostpress(
        KEY,
        base_url=tls_server.base_url,
        proxy=auth_proxy.url(USER, SECRET),
        ssl=certs.client(),
    ) as client:
        assert (await client.chats.retrieve(chat_id)).id == chat_id
        assert SECRET not in repr(client)
    [connect] = auth_proxy.requests
    assert (connect.method, connect.credentials, connect.authorized) == (
        "CONNECT",
        f"{USER}:{SECRET}",
        True,
    )
    # The server never sees the proxy's credentials; the proxy never sees the request.
    [request] = tls_server.requests
    assert "proxy-authorization" not in {name.lower() for name in request.headers}


async def test_the_certificate_is_still_verified_through_a_tunnel(
    tls_server: FakePostpress, auth_proxy: ForwardProxy
) -> None:
    sleeps = Sleeps()
    async with pp.AsyncPostpress(
        KEY,
        base_url=tls_server.base_url,
        proxy=auth_proxy.url(USER, SECRET),
        retry=pp.RetryPolicy(sleep=sleeps),
    ) as client:
        with pytest.raises(pp.CertificateError) as info:
            await client.chats.retrieve("chat_1")
    assert info.value.attempts == 1
    assert tls_server.requests == []
    shows_nothing_secret(info.value)


# -- SOCKS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_socks5_with_credentials(
    fake_postpress: FakePostpress, socks_pproxy: PProxy, scheme: str
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    url = socks_pproxy.url.replace("socks5://", f"{scheme}://")
    async with pp.AsyncPostpress(KEY, base_url=fake_postpress.base_url, proxy=url) as client:
        assert await client.chats.retrieve(chat_id) == fake_postpress.chat(chat_id)
        assert SECRET not in repr(client)
    assert relayed(socks_pproxy, fake_postpress)


def test_blocking_client_through_socks5_from_all_proxy(
    socks_pproxy: PProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakePostpress() as server:
        chat_id = server.add_chats(1)[0]
        monkeypatch.setenv("ALL_PROXY", socks_pproxy.url)
        with pp.Postpress(KEY, base_url=server.base_url) as client:
            assert client.chats.retrieve(chat_id).id == chat_id
            assert SECRET not in repr(client)
        assert relayed(socks_pproxy, server)


async def test_socks5_refusing_the_credentials_is_a_proxy_error(
    fake_postpress: FakePostpress,
) -> None:
    async with RefusingSocks5() as proxy:
        url = f"socks5://{USER}:WRONG-{SECRET}@127.0.0.1:{proxy.port}"
        async with pp.AsyncPostpress(
            KEY, base_url=fake_postpress.base_url, proxy=url, retry=pp.RetryPolicy(sleep=Sleeps())
        ) as client:
            with pytest.raises(pp.ProxyError) as info:
                await client.chats.retrieve("chat_1")
    assert info.value.attempts == 1
    assert proxy.attempts == 1
    assert fake_postpress.requests == []
    shows_nothing_secret(info.value)


async def test_socks5_hanging_up_on_wrong_credentials_is_a_connection_error(
    fake_postpress: FakePostpress, socks_pproxy: PProxy
) -> None:
    # pproxy closes the connection instead of answering: no different from a network cut.
    wrong = f"socks5://{USER}:WRONG-{SECRET}@127.0.0.1:{socks_pproxy.port}"
    async with pp.AsyncPostpress(
        KEY, base_url=fake_postpress.base_url, proxy=wrong, retry=pp.RetryPolicy(sleep=Sleeps())
    ) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve("chat_1")
    assert "SOCKS handshake" in str(info.value)
    assert fake_postpress.requests == []
    shows_nothing_secret(info.value)


# -- direct after all -----------------------------------------------------------------------------


async def test_no_proxy_goes_direct(
    fake_postpress: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1")
        async with pp.AsyncPostpress(KEY, base_url=fake_postpress.base_url) as client:
            await client.chats.retrieve(chat_id)
        monkeypatch.setenv("NO_PROXY", "example.com")  # the same, not bypassed: the control
        async with pp.AsyncPostpress(KEY, base_url=fake_postpress.base_url) as client:
            await client.chats.retrieve(chat_id)
    assert len(proxy.requests) == 1
    assert len(fake_postpress.requests) == 2


async def test_trust_env_false_ignores_the_proxy_variables(
    fake_postpress: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    async with ForwardProxy() as proxy:
        for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url())
        async with pp.AsyncPostpress(
            KEY, base_url=fake_postpress.base_url, trust_env=False
        ) as client:
            await client.chats.retrieve(chat_id)
        with pp.Postpress(KEY, base_url=fake_postpress.base_url, trust_env=False) as blocking:
            assert "proxy=" not in repr(blocking)
    assert proxy.requests == []
    assert len(fake_postpress.requests) == 1


# -- failures -------------------------------------------------------------------------------------


async def test_a_proxy_that_is_down_is_a_retried_connection_error(
    fake_postpress: FakePostpress,
) -> None:
    sleeps = Sleeps()
    port = refusing_port()
    async with pp.AsyncPostpress(
        KEY,
        base_url=fake_postpress.base_url,
        proxy=f"http://{USER}:{SECRET}@127.0.0.1:{port}",
        retry=pp.RetryPolicy(sleep=sleeps),
    ) as client:
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve("chat_1")
    error = info.value
    assert not isinstance(error, pp.ProxyError)
    assert error.retryable is True
    assert error.attempts == 3
    assert f"proxy http://***@127.0.0.1:{port}" in str(error)
    shows_nothing_secret(error)


@pytest.mark.parametrize("password", [f"WRONG-{SECRET}", None])
async def test_proxy_407_over_http(
    fake_postpress: FakePostpress, auth_proxy: ForwardProxy, password: str | None
) -> None:
    url = auth_proxy.url(USER, password) if password else auth_proxy.url()
    async with pp.AsyncPostpress(
        KEY, base_url=fake_postpress.base_url, proxy=url, retry=pp.RetryPolicy(sleep=Sleeps())
    ) as client:
        with pytest.raises(pp.ProxyError) as info:
            await client.chats.retrieve("chat_1")
    error = info.value
    assert (error.status, error.retryable, error.attempts) == (407, False, 1)
    assert "proxy" in str(error)
    assert "407" in str(error)
    assert len(auth_proxy.requests) == 1
    assert fake_postpress.requests == []
    shows_nothing_secret(error)


async def test_proxy_407_over_https(tls_server: FakePostpress, auth_proxy: ForwardProxy) -> None:
    async with pp.AsyncPostpress(
        KEY,
        base_url=tls_server.base_url,
        proxy=auth_proxy.url(USER, f"WRONG-{SECRET}"),
        retry=pp.RetryPolicy(sleep=Sleeps()),
    ) as client:
        with pytest.raises(pp.ProxyError) as info:
            await client.chats.retrieve("chat_1")
    error = info.value
    assert (error.status, error.retryable, error.attempts) == (407, False, 1)
    assert error.proxy == f"http://***@127.0.0.1:{auth_proxy.port}"
    assert [r.method for r in auth_proxy.requests] == ["CONNECT"]
    assert tls_server.requests == []
    shows_nothing_secret(error)


def test_blocking_client_proxy_407(certs: Certs) -> None:
    with (
        FakePostpress(ssl=certs.server()) as server,
        ForwardProxy(username=USER, password=SECRET) as proxy,
        pp.Postpress(
            KEY, base_url=server.base_url, proxy=proxy.url(USER, "nope"), ssl=certs.client()
        ) as client,
        pytest.raises(pp.ProxyError) as info,
    ):
        client.chats.retrieve("chat_1")
    assert info.value.status == 407
    assert info.value.attempts == 1


@pytest.mark.parametrize(
    ("status", "final"), [(403, True), (400, True), (502, False), (504, False)]
)
async def test_a_failed_connect(
    tls_server: FakePostpress, status: int, final: bool, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    async with (
        ForwardProxy(connect_status=status) as proxy,
        pp.AsyncPostpress(
            KEY,
            base_url=tls_server.base_url,
            proxy=proxy.url(),
            retry=pp.RetryPolicy(sleep=sleeps),
        ) as client,
    ):
        with pytest.raises(pp.APIConnectionError) as info:
            await client.chats.retrieve("chat_1")
    error = info.value
    assert isinstance(error, pp.ProxyError) is final
    assert error.retryable is not final
    assert error.attempts == (1 if final else 3)
    assert str(status) in str(error)
    assert len(proxy.requests) == error.attempts


async def test_a_callers_session_takes_proxy_but_not_the_environment(
    fake_postpress: FakePostpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = fake_postpress.add_chats(1)[0]
    async with ForwardProxy() as env_proxy, ForwardProxy() as given, aiohttp.ClientSession() as s:
        monkeypatch.setenv("HTTP_PROXY", env_proxy.url())
        async with pp.AsyncPostpress(
            KEY, base_url=fake_postpress.base_url, http_session=s
        ) as client:
            await client.chats.retrieve(chat_id)  # the session's trust_env (off) decides
        async with pp.AsyncPostpress(
            KEY, base_url=fake_postpress.base_url, http_session=s, proxy=given.url()
        ) as client:
            await client.chats.retrieve(chat_id)
        with pytest.raises(pp.ConfigurationError, match="socks5"):
            pp.AsyncPostpress(KEY, http_session=s, proxy="socks5://127.0.0.1:1080")
    assert env_proxy.requests == []
    assert [r.method for r in given.requests] == ["GET"]
