"""Client settings as small value objects, their defaults, and the environment look-ups."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import math
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit

from yarl import URL

from ._errors import ConfigurationError, is_retryable
from ._proxy import Proxy, proxy_for, require_socks
from ._tls import TrustStore, trust_store_from_env

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "InsecureTransportWarning",
    "Limits",
    "NotGiven",
    "RetryPolicy",
    "Settings",
    "Timeout",
    "settings",
]

DEFAULT_BASE_URL: Final = "https://api.postpress.ai/api/v1"
API_KEY_ENV: Final = "POSTPRESS_API_KEY"
BASE_URL_ENV: Final = "POSTPRESS_BASE_URL"
DEFAULT_MAX_RETRIES: Final = 2
DEFAULT_MAX_RESPONSE_SIZE: Final = 16 * 1024 * 1024
DEFAULT_MAX_REDIRECTS: Final = 5


class InsecureTransportWarning(UserWarning):
    """The API key would travel in clear text: ``base_url`` is http:// to a non-loopback host."""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stacklevel_outside_package() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this package."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__ or "-"):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    return level


class NotGiven(enum.Enum):
    """Sentinel type for "argument not given", distinct from None."""

    NOT_GIVEN = enum.auto()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def _seconds(name: str, value: float | None, *, allow_none: bool) -> None:
    if value is None:
        if not allow_none:
            raise ConfigurationError(f"{name} must be a number of seconds, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class Timeout:
    """Time limits in seconds: per attempt (``attempt``, ``connect``, ``read``) and overall.

    ``deadline`` bounds a whole call, retries and their waits included; ``read`` bounds the
    wait for each chunk of the response; ``None`` turns a part off (``attempt`` excepted).
    """

    attempt: float = 30.0
    connect: float | None = 10.0
    read: float | None = None
    deadline: float | None = 120.0

    def __post_init__(self) -> None:
        _seconds("Timeout.attempt", self.attempt, allow_none=False)
        _seconds("Timeout.connect", self.connect, allow_none=True)
        _seconds("Timeout.read", self.read, allow_none=True)
        _seconds("Timeout.deadline", self.deadline, allow_none=True)

    @classmethod
    def coerce(cls, value: float | Timeout) -> Timeout:
        """A ``Timeout`` from a ``Timeout`` or a number of seconds for each attempt."""
        if isinstance(value, Timeout):
            return value
        _seconds("timeout", value, allow_none=False)
        return cls(attempt=float(value), connect=min(10.0, float(value)))

    @property
    def attempt_total(self) -> float:
        """The most one attempt may take: ``attempt``, never beyond ``deadline``."""
        return self.attempt if self.deadline is None else min(self.attempt, self.deadline)


@dataclass(frozen=True)
class Limits:
    """Connection pool settings of the client's own aiohttp connector."""

    max_connections: int = 100
    max_connections_per_host: int = 0
    """0 means no limit per host beyond ``max_connections``."""
    dns_cache_ttl: int | None = 10
    keepalive_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_host"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"Limits.{name} must be an int >= 0, got {value!r}")
        ttl = self.dns_cache_ttl
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            raise ConfigurationError(f"Limits.dns_cache_ttl must be an int >= 0, got {ttl!r}")
        _seconds("Limits.keepalive_timeout", self.keepalive_timeout, allow_none=False)


Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried and how long to wait; composed into tenacity.

    Waits are capped exponential backoff with full jitter (``backoff_initial * 2**n``,
    at most ``backoff_max``); a ``Retry-After`` from the server replaces the backoff, up to
    ``retry_after_max``. ``retry_if`` decides; the default is the README's retry table.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    retry_if: Callable[[BaseException], bool] = is_retryable
    sleep: Sleep | None = field(default=None, compare=False)
    """Injectable for tests; defaults to ``asyncio.sleep``."""

    def __post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"max_retries must be an int >= 0, got {retries!r}")
        _seconds("RetryPolicy.backoff_initial", self.backoff_initial, allow_none=False)
        _seconds("RetryPolicy.backoff_max", self.backoff_max, allow_none=False)
        _seconds("RetryPolicy.retry_after_max", self.retry_after_max, allow_none=False)
        if not callable(self.retry_if):
            raise ConfigurationError("RetryPolicy.retry_if must be callable")


@dataclass(frozen=True)
class Settings:
    """Everything a client was configured with, validated once at construction."""

    api_key: str = field(repr=False)
    base_url: str
    timeout: Timeout
    retry: RetryPolicy
    limits: Limits
    default_headers: Mapping[str, str]
    max_response_size: int
    max_redirects: int
    proxy: Proxy | None = None
    """The proxy to reach ``base_url`` through: ``proxy=``, else the environment's."""
    trust_env: bool = True
    trust_store: TrustStore = field(default_factory=TrustStore)
    """``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as read at construction (with ``trust_env``)."""
    rate_limit: float | None = None
    """At most this many requests per second (retries included), or None for no limit."""


def settings(
    *,
    api_key: object,
    base_url: object,
    timeout: object,
    max_retries: object,
    retry: object,
    limits: object,
    default_headers: object,
    max_response_size: object,
    max_redirects: object,
    proxy: object = None,
    trust_env: object = True,
    rate_limit: object = None,
) -> Settings:
    """Validate a client's constructor arguments, filling gaps from the environment."""
    url = _base_url(base_url)
    use_env = _trust_env(trust_env)
    return Settings(
        api_key=_api_key(api_key),
        base_url=url,
        timeout=_timeout(timeout),
        retry=_retry(retry, max_retries),
        limits=_limits(limits),
        default_headers=_default_headers(default_headers),
        max_response_size=_count("max_response_size", max_response_size),
        max_redirects=_count("max_redirects", max_redirects),
        proxy=_proxy(proxy, url, use_env),
        trust_env=use_env,
        trust_store=trust_store_from_env(os.environ, trust_env=use_env),
        rate_limit=_rate_limit(rate_limit),
    )


def _api_key(value: object) -> str:
    key = value if value is not None else os.environ.get(API_KEY_ENV)
    if key is None or key == "":
        raise ConfigurationError(
            "no API key: pass api_key=... or set the environment variable "
            f"{API_KEY_ENV} (the key is on your postpress dashboard)"
        )
    if not isinstance(key, str):
        raise ConfigurationError(f"api_key must be a str, got {type(key).__name__}")
    if any(ch in key for ch in "\r\n\x00") or key != key.strip():
        raise ConfigurationError("api_key contains whitespace or control characters")
    return key


def _base_url(value: object) -> str:
    url = value if value is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not isinstance(url, str):
        raise ConfigurationError(f"base_url must be a str, got {type(url).__name__}")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ConfigurationError(
            f"base_url must not contain whitespace or control characters, got {url!r}"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
        URL(url)
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL like {DEFAULT_BASE_URL!r}, got {url!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            "base_url must not carry a query, a fragment or credentials: "
            f"{parts.scheme}://{parts.hostname}..."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        warnings.warn(
            f"base_url {parts.scheme}://{parts.hostname} is plain http: the API key would be "
            "sent unencrypted; use https (loopback hosts are exempt)",
            InsecureTransportWarning,
            stacklevel=_stacklevel_outside_package(),
        )
    return url.rstrip("/")


def _timeout(value: object) -> Timeout:
    if not isinstance(value, (Timeout, int, float)) or isinstance(value, bool):
        raise ConfigurationError(
            f"timeout must be seconds or a pp.Timeout, got {type(value).__name__}"
        )
    return Timeout.coerce(value)


def _retry(value: object, max_retries: object) -> RetryPolicy:
    policy = value if value is not None else RetryPolicy()
    if not isinstance(policy, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy, got {type(policy).__name__}")
    if isinstance(max_retries, NotGiven):
        return policy
    return dataclasses.replace(policy, max_retries=max_retries)  # type: ignore[arg-type]


def _limits(value: object) -> Limits:
    if value is None:
        return Limits()
    if not isinstance(value, Limits):
        raise ConfigurationError(f"limits must be a pp.Limits, got {type(value).__name__}")
    return value


def _default_headers(value: object) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"default_headers must be a mapping, got {type(value).__name__}")
    headers = dict(value)
    for name, text in headers.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ConfigurationError("default_headers must map str to str")
        if any(ch in name + text for ch in "\r\n\x00"):
            raise ConfigurationError(f"default header {name!r} contains a line break")
        if name.lower() == "x-api-key":
            raise ConfigurationError("pass the key as api_key, not in default_headers")
    return headers


def _rate_limit(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"rate_limit must be requests per second (a number) or None, got {value!r}"
        )
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"rate_limit must be > 0 requests per second, got {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be an int >= 0, got {value!r}")
    return value


def _trust_env(value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"trust_env must be True or False, got {value!r}")
    return value


def _proxy(value: object, base_url: str, trust_env: bool) -> Proxy | None:
    chosen = proxy_for(base_url, proxy=value, trust_env=trust_env, environ=os.environ)
    if chosen is not None:
        require_socks(chosen)
    return chosen
