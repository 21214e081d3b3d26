"""The trust store: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` read when a client is created.

OpenSSL reads those variables only when a context loads its default paths, and aiohttp builds
its default context when it is imported: a variable set after ``import postpress_async`` would
be ignored. So the client builds its own verifying context from the values it read, and with
``trust_env=False`` one that ignores them. Contexts are cached: building one loads the whole
CA bundle, which a process should do once per distinct trust store, not once per client.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["TrustStore", "trust_store_from_env", "verifying_context"]

CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"


class TrustStore(NamedTuple):
    """The CA file and directory to verify servers with; both None: the system's defaults."""

    ca_file: str | None = None
    ca_dir: str | None = None


def trust_store_from_env(environ: Mapping[str, str], *, trust_env: bool) -> TrustStore:
    """``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set (and existing), unless ``trust_env`` is off."""
    if not trust_env:
        return TrustStore()
    ca_file = environ.get(CA_FILE_ENV) or None
    ca_dir = environ.get(CA_DIR_ENV) or None
    # As httpx does: a variable naming nothing is ignored, as OpenSSL itself ignores it.
    return TrustStore(
        ca_file if ca_file and os.path.isfile(ca_file) else None,
        ca_dir if ca_dir and os.path.isdir(ca_dir) else None,
    )


def _stamp(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def verifying_context(store: TrustStore) -> ssl.SSLContext:
    """A verifying client context trusting ``store``; shared while its files are unchanged."""
    return _context(store, _stamp(store.ca_file), _stamp(store.ca_dir))


@functools.lru_cache(maxsize=16)
def _context(
    store: TrustStore, _file_stamp: tuple[int, int] | None, _dir_stamp: tuple[int, int] | None
) -> ssl.SSLContext:
    ca_file, ca_dir = store
    if ca_file is None and ca_dir is None:
        # The system's store without the environment: OpenSSL's compiled-in paths.
        paths = ssl.get_default_verify_paths()
        ca_file = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
        ca_dir = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
        if ca_file is None and ca_dir is None:  # Windows, macOS: the platform's own store
            return ssl.create_default_context()
    return ssl.create_default_context(cafile=ca_file, capath=ca_dir)
