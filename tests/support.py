"""What several test modules share: the API's tables written out by hand, and a fake sleep.

The tables are copied from API.md rather than imported from the package, so that a test can
disagree with the code.
"""

from __future__ import annotations

import postpress_async as pp

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
