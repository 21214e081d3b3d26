"""TLS against real certificates (trustme): what fails verification is final, the trust store.

A certificate from an unknown CA, for another host name, or expired is a ``pp.CertificateError``
after one attempt, with no request sent; a handshake the network cuts is an ordinary, retried
``pp.APIConnectionError``. ``SSL_CERT_FILE`` is read when a client is created.
"""

from __future__ import annotations

import asyncio
import ssl
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from certs import Certs
from support import EXAMPLE, Sleeps

import postpress_async as pp
from postpress_async.testing import FakePostpress

KEY = "pp_test_key"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(autouse=True)
def no_ca_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


CHAT_ID = "chat_01HXYZ4QK3WJ8FN3M6QH7TZ8GR"


async def tls_fake(context: ssl.SSLContext) -> FakePostpress:
    server = FakePostpress(ssl=context)
    await server.astart()
    server.add_chat({**EXAMPLE, "id": CHAT_ID})
    return server


@pytest.fixture
async def good_server(certs: Certs) -> AsyncIterator[FakePostpress]:
    server = await tls_fake(certs.server())
    yield server
    await server.astop()


def no_retry_waits() -> tuple[pp.RetryPolicy, Sleeps]:
    sleeps = Sleeps()
    return pp.RetryPolicy(max_retries=2, sleep=sleeps), sleeps


async def fails_verification(server: FakePostpress, **options: object) -> pp.CertificateError:
    """Retrieve from ``server`` with the default retries: one attempt, a CertificateError."""
    policy, sleeps = no_retry_waits()
    chat_id = CHAT_ID
    before = len(server.requests)
    async with pp.AsyncPostpress(KEY, base_url=server.base_url, retry=policy, **options) as c:  # type: ignore[arg-type]
        with pytest.raises(pp.CertificateError) as info:
            await c.chats.retrieve(chat_id)
    error = info.value
    assert isinstance(error, pp.APIConnectionError)
    assert error.retryable is False
    assert error.attempts == 1
    assert sleeps.waits == []  # never retried
    assert len(server.requests) == before  # the handshake failed: no request reached the server
    assert KEY not in "".join(traceback.format_exception(error))
    return error


async def test_https_with_a_trusted_ca_works(good_server: FakePostpress, certs: Certs) -> None:
    chat_id = CHAT_ID
    async with pp.AsyncPostpress(KEY, base_url=good_server.base_url, ssl=certs.client()) as c:
        assert await c.chats.retrieve(chat_id) == good_server.chat(chat_id)
    assert good_server.base_url.startswith("https://127.0.0.1:")


async def test_an_untrusted_ca_is_a_certificate_error(good_server: FakePostpress) -> None:
    error = await fails_verification(good_server)
    assert "certificate" in str(error)
    assert "SSL_CERT_FILE" in str(error)  # says how to trust a private CA


async def test_a_wrong_host_name_is_a_certificate_error(certs: Certs) -> None:
    server = await tls_fake(certs.server("api.example.test"))
    try:
        error = await fails_verification(server, ssl=certs.client())
    finally:
        await server.astop()
    assert "127.0.0.1" in str(error)
    assert "mismatch" in str(error).lower()


async def test_an_expired_certificate_is_a_certificate_error(certs: Certs) -> None:
    server = await tls_fake(certs.server(expired=True))
    try:
        error = await fails_verification(server, ssl=certs.client())
    finally:
        await server.astop()
    assert "expired" in str(error)


# -- the trust store from the environment ---------------------------------------------------------


async def test_ssl_cert_file_set_after_import_is_honoured(
    good_server: FakePostpress, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))  # pp was imported long ago
    chat_id = CHAT_ID
    async with pp.AsyncPostpress(KEY, base_url=good_server.base_url) as client:
        assert (await client.chats.retrieve(chat_id)).id == chat_id
    await fails_verification(good_server, trust_env=False)


def test_ssl_cert_file_in_the_blocking_client(
    certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakePostpress(ssl=certs.server()) as server:
        chat_id = server.add_chats(1)[0]
        monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
        with pp.Postpress(KEY, base_url=server.base_url) as client:
            assert client.chats.retrieve(chat_id).id == chat_id
        with (
            pp.Postpress(KEY, base_url=server.base_url, trust_env=False, max_retries=0) as c,
            pytest.raises(pp.CertificateError),
        ):
            c.chats.retrieve(chat_id)
    assert len(server.requests) == 1


async def test_the_environment_is_read_when_the_client_is_created(
    good_server: FakePostpress, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pp.AsyncPostpress(KEY, base_url=good_server.base_url, max_retries=0)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))  # too late for that client
    async with client:
        with pytest.raises(pp.CertificateError):
            await client.chats.retrieve(CHAT_ID)


async def test_an_explicit_ssl_context_wins_over_ssl_cert_file(
    good_server: FakePostpress, certs: Certs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    await fails_verification(good_server, ssl=Certs(tmp_path).client())  # another CA


async def test_ssl_cert_dir_is_honoured(
    good_server: FakePostpress, certs: Certs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A CA directory names each certificate by its subject hash, as `openssl rehash` does.
    subject_hash = ssl_subject_hash(certs)
    (tmp_path / f"{subject_hash}.0").write_bytes(certs.ca.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    chat_id = CHAT_ID
    async with pp.AsyncPostpress(KEY, base_url=good_server.base_url) as client:
        assert (await client.chats.retrieve(chat_id)).id == chat_id


def ssl_subject_hash(certs: Certs) -> str:
    """OpenSSL's subject hash of the CA, as ``openssl x509 -hash`` prints it."""
    import subprocess

    result = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(certs.ca_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip("the openssl command is not available")
    return result.stdout.strip()


# -- a handshake cut by the network ---------------------------------------------------------------


@pytest.fixture
def cut_handshakes() -> Iterator[int]:
    """A port whose server reads the TLS ClientHello and resets the connection."""
    loop_servers: list[asyncio.Server] = []

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()

    async def start() -> int:
        server = await asyncio.start_server(cut, "127.0.0.1", 0)
        loop_servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for server in loop_servers:
        server.close()


async def test_a_handshake_cut_by_the_network_is_retried(cut_handshakes: object) -> None:
    port = await cut_handshakes()  # type: ignore[operator]
    policy, sleeps = no_retry_waits()
    async with pp.AsyncPostpress(KEY, base_url=f"https://127.0.0.1:{port}", retry=policy) as c:
        with pytest.raises(pp.APIConnectionError) as info:
            await c.chats.retrieve("chat_1")
    assert not isinstance(info.value, pp.CertificateError)
    assert info.value.retryable is True
    assert info.value.attempts == 3
    assert len(sleeps.waits) == 2
