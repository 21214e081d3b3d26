"""Real certificates from ``trustme``: a CA of our own and server certificates it signs."""

from __future__ import annotations

import datetime as _dt
import ssl
from pathlib import Path

import trustme

__all__ = ["Certs"]


class Certs:
    """One test CA (written to ``ca_file``) and the server contexts it can sign."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = directory / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server(self, *names: str, expired: bool = False) -> ssl.SSLContext:
        """A server context whose certificate names ``names`` (default: 127.0.0.1, localhost)."""
        now = _dt.datetime.now(_dt.timezone.utc)
        window = {
            "not_before": now - _dt.timedelta(days=30),
            "not_after": now - _dt.timedelta(days=1),
        }
        cert = self.ca.issue_cert(
            *(names or ("127.0.0.1", "localhost")), **(window if expired else {})
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    def client(self) -> ssl.SSLContext:
        """A client context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))
