"""The soak's plan: which ids meet which fault, and the report that checks every result.

About 10% of the ids meet one or two retryable faults and must end as chats; about 2% fail
for good and must be reported once, with their ``.type``, never retried. ``soak_runner.py``
runs a plan through the async and the blocking client.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import postpress_async as pp
from postpress_async.testing import FakePostpress

E = pp.ErrorType
PROXY_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

RETRYABLE_FAULTS: dict[str, dict[str, Any]] = {
    "unexpected_error": {"error": E.UNEXPECTED_ERROR},
    "provider_error": {"error": E.PROVIDER_ERROR, "retry_after": 0},
    "no_client_session": {"error": E.NO_CLIENT_SESSION},
    "no_channel": {"error": E.NO_CHANNEL, "retry_after": 0},
    "network_down": {"error": E.NETWORK_DOWN},
    "service_unavailable": {"error": E.SERVICE_UNAVAILABLE, "retry_after": 0},
    "request_timeout": {"error": E.REQUEST_TIMEOUT},
    "429": {"status": 429, "retry_after": 0},
    "429 without Retry-After": {"status": 429},
    "502 HTML": {"status": 502, "body": PROXY_502},
    "dropped connection": {"drop": True},
    "short body": {"truncate": True},
}
"""Faults the SDK must retry: each retryable id of API.md, plus connection failures."""

PERMANENT_FAULTS: dict[str, tuple[dict[str, Any] | None, type[pp.APIStatusError], str]] = {
    "unknown id": (None, pp.NotFoundError, E.RESOURCE_NOT_FOUND),
    "no_handler": ({"error": E.NO_HANDLER}, pp.ServiceUnavailableError, E.NO_HANDLER),
    "authentication_intent_error": (
        {"error": E.AUTHENTICATION_INTENT_ERROR},
        pp.InternalServerError,
        E.AUTHENTICATION_INTENT_ERROR,
    ),
    "account_restricted": (
        {"error": E.ACCOUNT_RESTRICTED},
        pp.PermissionDeniedError,
        E.ACCOUNT_RESTRICTED,
    ),
    "insufficient_permissions": (
        {"error": E.INSUFFICIENT_PERMISSIONS, "retry_after": 0},
        pp.PermissionDeniedError,
        E.INSUFFICIENT_PERMISSIONS,
    ),
    "expired_credentials": (
        {"error": E.EXPIRED_CREDENTIALS},
        pp.AuthenticationError,
        E.EXPIRED_CREDENTIALS,
    ),
}
"""Faults the SDK must not retry: the class and ``.type`` each must be reported with."""


@dataclass
class Planned:
    """What one id of the soak is set up to do."""

    kind: str
    """"ok", a key of RETRYABLE_FAULTS, or a key of PERMANENT_FAULTS."""
    times: int = 0
    """How many requests the fault answers before the id is served normally."""
    fault_kwargs: dict[str, Any] | None = None
    error_class: type[pp.APIStatusError] | None = None
    error_type: str = ""
    fault: Any = None
    """The ``Fault`` that FakePostpress returned, once registered."""

    @property
    def hits(self) -> int:
        """Requests this id must cost: one, plus one per retried failure."""
        return self.times + 1 if self.error_class is None else 1


class SoakPlan:
    """``n`` ids: ~10% with 1-2 retryable faults, ~2% that fail for good, the rest served.

    Faults are registered as ``retrieve_many`` reads each id (the source is lazy), so the
    server's fault queue stays as short as the requests in flight, however large ``n`` is.
    """

    def __init__(self, server: FakePostpress, n: int, *, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.server = server
        self.ids: list[str] = []
        self.planned: dict[str, Planned] = {}
        served = iter(server.add_chats(n, seed=seed))
        retryable = sorted(RETRYABLE_FAULTS)
        permanent = sorted(PERMANENT_FAULTS)
        for index in range(n):
            chat_id = next(served)
            draw = rng.random()
            if draw < 0.02:
                kind = rng.choice(permanent)
                fault_kwargs, error_class, error_type = PERMANENT_FAULTS[kind]
                if fault_kwargs is None:
                    chat_id = f"chat_unknown_{seed}_{index}"
                plan = Planned(kind, 1, fault_kwargs, error_class, error_type)
            elif draw < 0.12:
                kind = rng.choice(retryable)
                plan = Planned(kind, rng.choice((1, 2)), RETRYABLE_FAULTS[kind])
            else:
                plan = Planned("ok")
            self.ids.append(chat_id)
            self.planned[chat_id] = plan

    def arm(self, chat_id: str) -> str:
        """Register ``chat_id``'s fault (if any) on the server; returns the id."""
        plan = self.planned[chat_id]
        if plan.fault_kwargs is not None:
            plan.fault = self.server.fail(chat_id, times=plan.times, **plan.fault_kwargs)
        return chat_id

    def lazy_ids(self, share: Sequence[str] | None = None) -> Any:
        """A generator of ``share`` (default: all ids) arming each fault as it is read."""
        return (self.arm(chat_id) for chat_id in (self.ids if share is None else share))

    async def async_ids(self) -> Any:
        """The ids as an async iterable, arming each fault as it is read."""
        for chat_id in self.ids:
            yield self.arm(chat_id)

    @property
    def expected_hits(self) -> int:
        return sum(plan.hits for plan in self.planned.values())


@dataclass
class SoakReport:
    """The numbers of one soak run, and every rule it broke."""

    label: str
    n: int
    elapsed: float = 0.0
    results: int = 0
    chats: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Permanent errors reported, by ``.type``."""
    retried_ids: int = 0
    requests: int = 0
    expected_requests: int = 0
    max_in_flight: int = 0
    resources: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Name -> (before, after)."""
    violations: list[str] = field(default_factory=list)

    def violate(self, message: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(message)

    def summary(self) -> str:
        lines = [
            f"{self.label}: {self.n} ids in {self.elapsed:.1f} s "
            f"({self.requests / max(self.elapsed, 1e-9):.0f} requests/s)",
            f"  results {self.results}, chats {self.chats}, ids retried {self.retried_ids}, "
            f"requests {self.requests} (expected {self.expected_requests}), "
            f"max in flight {self.max_in_flight}",
            "  permanent errors: "
            + (", ".join(f"{t} x{c}" for t, c in sorted(self.errors.items())) or "none"),
        ]
        for name, (before, after) in self.resources.items():
            lines.append(f"  {name}: {before} before, {after} after")
        lines.append(
            "  violations: none"
            if not self.violations
            else "  VIOLATIONS:\n" + "\n".join(f"    - {v}" for v in self.violations)
        )
        return "\n".join(lines)


def check_result(plan: SoakPlan, result: pp.ChatResult, report: SoakReport) -> None:
    """One result against what its id was set up to do."""
    planned = plan.planned.get(result.chat_id)
    if planned is None:
        report.violate(f"a result for an id never asked for: {result.chat_id!r}")
        return
    report.results += 1
    if planned.error_class is None:
        if result.error is not None:
            report.violate(f"{result.chat_id} ({planned.kind}): {result.error!r}")
        elif result.chat is None or result.chat.id != result.chat_id:
            report.violate(f"{result.chat_id}: got the wrong chat")
        else:
            report.chats += 1
            report.retried_ids += planned.times > 0
        return
    error = result.error
    if type(error) is not planned.error_class:
        report.violate(
            f"{result.chat_id} ({planned.kind}): expected {planned.error_class.__name__}, "
            f"got {error!r}"
        )
    elif error.type != planned.error_type:
        report.violate(f"{result.chat_id}: .type {error.type!r}, not {planned.error_type!r}")
    elif error.attempts != 1:
        report.violate(f"{result.chat_id} ({planned.kind}): retried, {error.attempts} attempts")
    else:
        report.errors[planned.error_type] = report.errors.get(planned.error_type, 0) + 1


def check_totals(plan: SoakPlan, seen: dict[str, int], report: SoakReport) -> None:
    """Every id accounted for exactly once; every fault used exactly as often as planned."""
    missing = [chat_id for chat_id in plan.ids if chat_id not in seen]
    if missing:
        report.violate(f"{len(missing)} ids got no result, e.g. {missing[:3]}")
    doubles = [chat_id for chat_id, count in seen.items() if count > 1]
    if doubles:
        report.violate(f"{len(doubles)} ids got more than one result, e.g. {doubles[:3]}")
    for chat_id, planned in plan.planned.items():
        if planned.fault is not None and planned.fault.hits != planned.times:
            report.violate(
                f"{chat_id} ({planned.kind}): its fault answered {planned.fault.hits} "
                f"requests, planned {planned.times}"
            )
    report.requests = plan.server.request_count
    report.expected_requests = plan.expected_hits
    report.max_in_flight = plan.server.max_in_flight
    # Each id costs at least its planned hits; equal totals mean no id was retried needlessly.
    if report.requests != report.expected_requests:
        report.violate(
            f"the server saw {report.requests} requests, planned {report.expected_requests}"
        )
