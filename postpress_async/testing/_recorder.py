"""What the fake server received: ``RecordedRequest``, request ids and the in-flight count."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RecordedRequest", "Recorder"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    raw_path: str
    """The request target as sent: percent-encoding and query string included."""
    chat_id: str | None
    """The decoded id, or None when the path is not ``{prefix}/chats/{one segment}``."""
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Case-insensitive: ``headers["x-api-key"]`` works."""
    time: float
    """``time.monotonic()`` when the request arrived."""
    request_id: str


class Recorder:
    """Counts requests, keeps them when ``record`` is on, and tracks how many are in flight."""

    def __init__(self, *, record: bool) -> None:
        self.record = record
        self.requests: list[RecordedRequest] = []
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        prefix = f"req_{secrets.token_hex(4)}"
        self._request_ids = (f"{prefix}{n:08d}" for n in itertools.count(1))

    def arrive(
        self,
        method: str,
        raw_path: str,
        chat_id: str | None,
        query: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> str:
        """Count (and keep) one request; its new request id."""
        arrived, request_id = time.monotonic(), next(self._request_ids)
        self.count += 1
        if self.record:
            recorded = RecordedRequest(
                method, raw_path, chat_id, dict(query), headers, arrived, request_id
            )
            self.requests.append(recorded)
        return request_id

    def enter(self) -> None:
        """A handler started."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """A handler finished, or was cancelled."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Forget kept requests and the count; the peak restarts from what is in flight now."""
        self.requests.clear()
        self.count = 0
        self.max_in_flight = self.in_flight
