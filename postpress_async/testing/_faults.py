"""Injected failures: ``Fault``, its validation, its reply, and the registry requests take from.

Which fault a request meets: of the faults registered for its chat id and those registered for
any id, the one registered first. The registry keeps one queue per chat id and one queue for
"any id", each in registration order, so that fault is the older of two queue heads: O(1) per
request however many faults wait. A fault leaves its queue when its ``times`` are used up; a
``times=None`` fault stays at its queue's head, so later faults in that queue never apply.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from .. import _fake_data as _fake
from .._constants import ErrorType

__all__ = ["Fault", "FaultRegistry", "fault_reply", "new_fault"]


@dataclass(slots=True)
class Fault:
    """An injected failure; ``remaining`` counts down as requests use it (None: forever)."""

    chat_id: str | None
    remaining: int | None
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    retry_after: str | None = None
    latency: float | None = None
    drop: bool = False
    truncate: bool = False
    redirect_to: str | None = None
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] | None = None
    hits: int = 0
    """How many requests this fault has answered."""


def new_fault(
    chat_id: str | None,
    *,
    error: ErrorType | str | None,
    status: int | None,
    times: int | None,
    retry_after: float | str | _dt.datetime | None,
    latency: float | None,
    drop: bool,
    truncate: bool,
    redirect_to: str | None,
    body: bytes | str | None,
    content_type: str,
    headers: Mapping[str, str] | None,
    detail: str | None,
) -> Fault:
    """A checked ``Fault`` from ``FakePostpress.fail``'s arguments (documented there)."""
    if times is not None and times < 1:
        raise ValueError("times must be at least 1, or None for forever")
    if drop and truncate:
        raise ValueError("drop and truncate exclude each other")
    error_id = None if error is None else str(error)
    if error_id is not None and status is None:
        status = _fake.documented_status(error_id)
        if status is None:
            raise ValueError(f"{error_id!r} is not a documented error id: give a status")
    if body is not None and status is None:
        raise ValueError("a custom body needs a status (or an error)")
    if redirect_to is not None and status is None:
        status = 307
    if status is None and latency is None and not (drop or truncate or headers or retry_after):
        raise ValueError("nothing to inject: give error, status, drop, truncate, latency, ...")
    return Fault(
        chat_id=chat_id,
        remaining=times,
        status=status,
        error=error_id,
        detail=detail,
        retry_after=_fake.retry_after_value(retry_after),
        latency=latency,
        drop=drop,
        truncate=truncate,
        redirect_to=redirect_to,
        body=body.encode() if isinstance(body, str) else body,
        content_type=content_type,
        headers=dict(headers) if headers else None,
    )


def fault_reply(fault: Fault, request_id: str) -> _fake.Reply:
    """The response of a fault that has a status: its body, redirect, envelope or plain text."""
    status = fault.status
    assert status is not None
    if fault.body is not None:
        headers = {"Content-Type": fault.content_type, "X-Request-Id": request_id}
        return status, headers, fault.body
    if fault.redirect_to is not None:
        return status, {"Location": fault.redirect_to, "X-Request-Id": request_id}, b""
    if fault.error is not None:
        return _fake.envelope(status, fault.error, fault.detail, request_id)
    text = f"{status} {_fake.phrase(status)}\n".encode()
    return status, {"Content-Type": "text/plain", "X-Request-Id": request_id}, text


_Queue = deque[tuple[int, Fault]]  # (registration number, fault), oldest first


class FaultRegistry:
    """Pending faults: a queue per chat id and a queue for any id; thread-safe."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Queue] = {}
        self._any: _Queue = deque()
        self._numbers = itertools.count()
        self._pending = 0
        self._lock = threading.Lock()  # fail() may run in another thread than the server

    def __len__(self) -> int:
        return self._pending

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` behind those registered before it."""
        with self._lock:
            if fault.chat_id is None:
                queue = self._any
            else:
                queue = self._by_id.setdefault(fault.chat_id, deque())
            queue.append((next(self._numbers), fault))
            self._pending += 1

    def take(self, chat_id: str | None) -> Fault | None:
        """The fault that answers a request for ``chat_id`` (None: no chat path), used once."""
        with self._lock:
            own = None if chat_id is None else self._by_id.get(chat_id)
            anyone = self._any
            if own and not (anyone and anyone[0][0] < own[0][0]):
                queue = own
            elif anyone:
                queue = anyone
            else:
                return None
            fault = queue[0][1]
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                    self._pending -= 1
                    if not queue and queue is own and chat_id is not None:
                        del self._by_id[chat_id]
            return fault

    def pending(self) -> list[Fault]:
        """Faults not yet used up, in the order they were registered."""
        with self._lock:
            queues = [self._any, *self._by_id.values()]
            return [fault for _, fault in sorted(itertools.chain(*queues), key=_number)]

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._by_id.clear()
            self._any.clear()
            self._pending = 0


def _number(entry: tuple[int, Fault]) -> int:
    return entry[0]
