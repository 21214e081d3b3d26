"""What several test modules share: the API's tables, a fake sleep, and subprocess helpers.

The tables are copied from API.md rather than imported from the package, so that a test can
disagree with the code.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import postpress_async as pp
from postpress_async.testing import FakePostpress

# API.md's retry table: the retryable error ids.
RETRYABLE_IDS = frozenset(
    {
        "errors/unexpected_error",
        "errors/provider_error",
        "errors/no_client_session",
        "errors/no_channel",
        "errors/network_down",
        "errors/service_unavailable",
        "errors/request_timeout",
    }
)

CLASS_BY_STATUS: dict[int, type[pp.APIStatusError]] = {
    401: pp.AuthenticationError,
    403: pp.PermissionDeniedError,
    404: pp.NotFoundError,
    500: pp.InternalServerError,
    503: pp.ServiceUnavailableError,
    504: pp.GatewayTimeoutError,
}


class Sleeps:
    """A ``RetryPolicy.sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


HANG = 60.0
"""Seconds after which a subprocess counts as hung (a guard, not a timing assertion)."""


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any POSTPRESS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPRESS_")}
    env.update(settings)
    return env


def env_for(server: FakePostpress, **settings: str) -> dict[str, str]:
    """An environment that points the SDK at ``server``."""
    return clean_env(
        POSTPRESS_API_KEY=server.api_key, POSTPRESS_BASE_URL=server.base_url, **settings
    )


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = HANG,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion with text I/O captured; never raises on its exit code."""
    return subprocess.run(
        argv,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
