"""TLS material for the verification tests (test-only; valid until 2126)."""

from __future__ import annotations

import ssl
from pathlib import Path

TEST_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBqzCCAVGgAwIBAgIUWpACa2OoIqgWcxLwj7rW7gqADMswCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXcG9zdHByZXNzX2FzeW5jIHRlc3QgQ0EwIBcNMjYxMTI3MDI1
NDAzWhgPMjEyNjExMDMwMjU0MDNaMCIxIDAeBgNVBAMMF3Bvc3RwcmVzc19hc3lu
YyB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9UmSKJTVTFYRSfBR
xIH17k0jgQkF1T6nGmkiVuSPbJ3LUbNocWVzxQJGWw3rkQ7/1Qr+8YNvWVu95Hdu
Wmo4nKNjMGEwHQYDVR0OBBYEFEFoHO0DEvNGl5OYfGn4VLnKKGbGMB8GA1UdIwQY
MBaAFEFoHO0DEvNGl5OYfGn4VLnKKGbGMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P
AQH/BAQDAgEGMAoGCCqGSM49BAMCA0gAMEUCIQC67+Sha4AFpwWbOuU/wv/0oxHs
9qyUQWmqgn3LEWi/6AIgUt4g3t8s5WFKRiWtjSTuXNimWts7E/hsgfUxlpfTykw=
-----END CERTIFICATE-----
"""
"""A private CA that signed ``TEST_CERT_PEM``; trust it with ``ssl=`` to pass verification."""

TEST_CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBzDCCAXOgAwIBAgIUH/Sv6s24G6bRQwl4BR1F6lB3FewwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXcG9zdHByZXNzX2FzeW5jIHRlc3QgQ0EwIBcNMjYxMTI3MDI1
NDAzWhgPMjEyNjExMDMwMjU0MDNaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABApUoOWLwMYuqR+//v1lGGIqLfgs6F0y08Fq
oRQBVwnlBF8FoyzFPyV0wNHx+iMGCMz+H4LJFUAjZjDoIqMzelSjgZIwgY8wDAYD
VR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEw
GgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MB0GA1UdDgQWBBQM7LT2ixPc9jSH
tjJ81DJYo4MJzjAfBgNVHSMEGDAWgBRBaBztAxLzRpeTmHxp+FS5yihmxjAKBggq
hkjOPQQDAgNHADBEAiAr7SIijW2Z1P3NhNqmgf48jIZhbGWR8OSHz72/MduzAAIg
OLrgrZARekEfv5MEt7iV5UbPqN8uvs0C8+HDG4WMtj4=
-----END CERTIFICATE-----
"""
"""A server certificate for 127.0.0.1 and localhost, signed by ``TEST_CA_PEM``."""

TEST_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6ZrDnLR7QJt6T5SH
ztvAM3ngqkfuUYUJEQWjgFDBJMGhRANCAAQKVKDli8DGLqkfv/79ZRhiKi34LOhd
MtPBaqEUAVcJ5QRfBaMsxT8ldMDR8fojBgjM/h+CyRVAI2Yw6CKjM3pU
-----END PRIVATE KEY-----
"""


def tls_server_context(directory: Path) -> ssl.SSLContext:
    """A server context presenting ``TEST_CERT_PEM`` (the files are written to ``directory``)."""
    cert, key = directory / "server.pem", directory / "server.key"
    cert.write_text(TEST_CERT_PEM)
    key.write_text(TEST_KEY_PEM)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def tls_client_context() -> ssl.SSLContext:
    """A client context that trusts the test CA (and verifies as strictly as the default)."""
    return ssl.create_default_context(cadata=TEST_CA_PEM)
