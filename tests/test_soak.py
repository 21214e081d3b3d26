"""The soak: ``retrieve_many`` over 10,000 ids with faults, async and from 4 threads.

About 10% of the ids meet one or two retryable faults (every retryable error id of API.md,
429 with and without ``Retry-After: 0``, a 502 proxy page, dropped and short responses) and
must end as chats; about 2% fail for good (an unknown id, ``no_handler``,
``authentication_intent_error``, 401 and 403 ids) and must be reported once, with their
``.type``, never retried. Random 0-5 ms latency. Afterwards file descriptors, tasks, threads
and RSS are back near where they started. ``scripts/soak.py`` runs the same at 50,000 ids.
"""

from __future__ import annotations

import dataclasses

import pytest
from soak_runner import SOAK_RETRY, soak_async, soak_threads

import postpress_async as pp

SOAK_IDS = 10_000

pytestmark = pytest.mark.slow


def assert_faults_were_injected(report_errors: dict[str, int], retried: int, n: int) -> None:
    """Guard against a soak that passes because it injected nothing."""
    assert retried > 0.05 * n
    assert sum(report_errors.values()) > 0.01 * n
    assert len(report_errors) == 6  # every kind of permanent error came up


async def test_soak_async_client() -> None:
    report = await soak_async(SOAK_IDS)
    assert report.violations == [], report.summary()
    assert report.results == SOAK_IDS
    assert report.requests == report.expected_requests
    assert_faults_were_injected(report.errors, report.retried_ids, SOAK_IDS)


def test_soak_blocking_client_from_four_threads() -> None:
    report = soak_threads(SOAK_IDS, threads=4)
    assert report.violations == [], report.summary()
    assert report.results == SOAK_IDS
    assert_faults_were_injected(report.errors, report.retried_ids, SOAK_IDS)


async def test_the_soak_notices_retries_of_permanent_errors() -> None:
    # The soak's own check: a policy that retries everything must be caught.
    def retry_everything(exc: BaseException) -> bool:
        return isinstance(exc, pp.PostpressError)

    careless = dataclasses.replace(SOAK_RETRY, retry_if=retry_everything)
    report = await soak_async(500, retry=careless, seed=3)
    assert any("retried" in v or "requests, planned" in v for v in report.violations)
