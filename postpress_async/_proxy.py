"""Proxy settings: check a proxy URL, and pick the proxy for the API from ``proxy=`` or the env.

Pure: no I/O and no aiohttp. The environment is read as requests and httpx read it, once, when
a client is created: ``https_proxy`` / ``http_proxy`` by the target's scheme, then
``all_proxy``; each name in lower or upper case (lower wins); ``no_proxy`` lists hosts to reach
directly (``*``, a host and its subdomains, ``host:port``, an IP address or an IP network).
An explicit ``proxy=`` wins over all of them, ``no_proxy`` included.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from ._errors import ConfigurationError
from ._redact import redact_url

__all__ = [
    "PROXY_SCHEMES",
    "SOCKS_EXTRA_HINT",
    "Proxy",
    "bypasses_proxy",
    "parse_proxy",
    "proxy_for",
    "require_socks",
]

PROXY_SCHEMES: Final = ("http", "https", "socks4", "socks5", "socks5h")
SOCKS_EXTRA_HINT: Final = "pip install 'postpress_async[socks]'"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "socks4": 1080, "socks5": 1080, "socks5h": 1080}
_EXAMPLE: Final = "'http://proxy.example.com:3128'"


@dataclass(frozen=True)
class Proxy:
    """A checked proxy URL; its credentials stay out of ``repr`` and of ``url``."""

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    source: str = "proxy"
    """Where it came from, for messages: ``proxy`` (the argument) or an environment variable."""

    @property
    def is_socks(self) -> bool:
        """True for socks4, socks5 and socks5h proxies."""
        return self.scheme.startswith("socks")

    @property
    def url(self) -> str:
        """``scheme://host:port``, without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def redacted(self) -> str:
        """The URL as it may be shown: credentials, if any, replaced by ``***``."""
        if self.username is None and self.password is None:
            return self.url
        return self.url.replace("://", "://***@", 1)

    def __repr__(self) -> str:
        return f"Proxy({self.redacted!r})"


def parse_proxy(value: object, *, source: str = "proxy") -> Proxy:
    """Check a proxy URL; a ``ConfigurationError`` that never shows its credentials if bad."""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{source} must be a URL like {_EXAMPLE}, got {type(value).__name__}"
        )
    if not value:
        raise ConfigurationError(f"{source} is empty: pass a URL like {_EXAMPLE}, or None")
    shown = redact_url(value)
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigurationError(
            f"{source} must not contain spaces or control characters, got {shown!r}"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{source} is not a valid URL: {shown!r}") from None
    scheme = parts.scheme.lower()
    if "://" not in value or scheme not in PROXY_SCHEMES:
        known = ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        raise ConfigurationError(
            f"{source} must start with one of {known} (a URL like {_EXAMPLE}), got {shown!r}"
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"{source} has no host: {shown!r}")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Proxy(
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        username=username,
        password=password,
        source=source,
    )


def require_socks(proxy: Proxy) -> None:
    """Raise ``ConfigurationError`` naming the extra if a SOCKS proxy cannot be used here."""
    if not proxy.is_socks:
        return
    try:
        import aiohttp_socks  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"{proxy.source} is a {proxy.scheme} proxy, which needs the 'socks' extra: "
            f"{SOCKS_EXTRA_HINT}"
        ) from None


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The value and the spelling of ``name`` (lower case first, as urllib does), if set."""
    for spelled in (name, name.upper()):
        # Under CGI, HTTP_PROXY can be set by a request's "Proxy:" header (httpoxy).
        if spelled == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            continue
        value = environ.get(spelled)
        if value and value.strip():
            return value.strip(), spelled
    return None


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma- or space-separated entries) sends ``host:port`` direct."""
    host = host.lower().rstrip(".").strip("[]")
    address = _ip(host)
    for raw in re.split(r"[,\s]+", no_proxy.lower()):
        if not raw:
            continue
        if raw == "*":
            return True
        entry, entry_port = _split_host_port(raw)
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        if address is not None:
            if _ip(entry) == address:
                return True
            continue
        name = entry.lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_for(
    base_url: str, *, proxy: object, trust_env: bool, environ: Mapping[str, str]
) -> Proxy | None:
    """The proxy to reach ``base_url`` through: ``proxy=``, else the environment, else None."""
    if proxy is not None:
        return parse_proxy(proxy)
    if not trust_env:
        return None
    target = urlsplit(base_url)
    scheme = target.scheme.lower()
    host = target.hostname or ""
    port = target.port or _DEFAULT_PORTS.get(scheme, 443)
    no_proxy = _env(environ, "no_proxy")
    if no_proxy is not None and bypasses_proxy(host, port, no_proxy[0]):
        return None
    found = _env(environ, f"{scheme}_proxy") or _env(environ, "all_proxy")
    if found is None:
        return None
    value, name = found
    if "://" not in value:  # "proxy.corp:3128", as requests and httpx accept it
        value = "http://" + value
    return parse_proxy(value, source=name)
