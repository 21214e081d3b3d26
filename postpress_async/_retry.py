"""Retries: the whole decision, from the first attempt to the last, lives here.

``with_retries`` runs the first attempt bare, so a successful call never pays for tenacity.
When it fails and the policy says retry, tenacity takes over with that failure as its attempt 1
(backoff, the attempt count and ``Retry-After`` come out exactly as if tenacity had made it).
The policy's ``retry_if`` is asked exactly once per failed attempt: for the first one here,
for the later ones by tenacity.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._config import RetryPolicy, Timeout
from ._errors import APITimeoutError, PostpressError
from ._logging import logger
from ._redact import one_line

__all__ = ["Attempt", "AttemptObserver", "with_retries"]


T = TypeVar("T")
R = TypeVar("R")
Attempt = Callable[[float | None], Awaitable[T]]
"""One attempt; its argument is the call's deadline on ``time.monotonic()`` (None: none).

The attempt keeps to it itself: its waits (rate limit, connection slot), its request and its
redirects all end by then.
"""


class stop_at_deadline(stop_base):
    """Stop when the next wait would end at or after the deadline."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return time.monotonic() + upcoming >= self.deadline_at


class wait_retry_after(wait_base):
    """Wait what the server's ``Retry-After`` asked (up to ``cap``), else the fallback."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            return min(float(retry_after), self.cap)
        return self.fallback(retry_state)


class retry_judged_first(retry_base):
    """Retry what ``retry_if`` accepts; attempt 1 was judged before tenacity was entered."""

    def __init__(self, retry_if: Callable[[BaseException], bool]) -> None:
        self.retry_if = retry_if

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        if retry_state.attempt_number == 1:
            return True
        error = outcome.exception()
        return error is not None and self.retry_if(error)


def _log_retry(retry_state: RetryCallState) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    # The message may quote the server (an error id, a request id): one line, bounded, so
    # that no server can end this record and forge the next.
    logger.info(
        "retrying in %.2fs after attempt %d: %s: %s",
        retry_state.upcoming_sleep,
        retry_state.attempt_number,
        type(error).__name__,
        one_line(str(error)),
    )


def _retrying(policy: RetryPolicy, deadline_at: float | None) -> AsyncRetrying:
    """The tenacity controller for one call under ``policy``."""
    stop: stop_base = stop_after_attempt(policy.max_retries + 1)
    if deadline_at is not None:
        stop = stop | stop_at_deadline(deadline_at)
    return AsyncRetrying(
        stop=stop,
        wait=wait_retry_after(
            wait_random_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max),
            cap=policy.retry_after_max,
        ),
        retry=retry_judged_first(policy.retry_if),
        sleep=policy.sleep or asyncio.sleep,
        before_sleep=_log_retry,
        reraise=True,
    )


class AttemptObserver(Protocol):
    """Told about every failed attempt of a call (a batch passes one down); never on success.

    ``before_retry`` is awaited before each retry: a batch makes its retries queue again for
    a place in flight, so that they back off together with the rest of the batch. It returns
    False if no place came before ``deadline_at`` (the call's deadline; None: none).
    """

    def attempt_failed(self, exc: Exception) -> None: ...

    async def before_retry(self, deadline_at: float | None) -> bool: ...


async def with_retries(
    attempt: Attempt[R],
    parse: Callable[[R], T],
    policy: RetryPolicy,
    timeout: Timeout,
    observer: AttemptObserver | None = None,
) -> T:
    """Run ``attempt`` and retry its failures as ``policy`` says, within ``timeout.deadline``;
    ``parse`` the result of the attempt that succeeded (parsing is never retried).

    The deadline's clock starts here, once per call; every attempt is given the same moment
    to end by. Every ``PostpressError`` raised after retries carries ``.attempts``.
    ``observer`` hears of each failed attempt as it happens, retries included. The parse is
    applied here so that a call is this one coroutine over its attempt's: the client adds no
    frame of its own.
    """
    deadline = timeout.deadline
    deadline_at = None if deadline is None else time.monotonic() + deadline
    try:
        result = await attempt(deadline_at)
    except Exception as exc:
        if observer is not None:
            observer.attempt_failed(exc)
        if policy.max_retries == 0 or not policy.retry_if(exc):
            raise
        first_failure = exc  # tenacity is entered only here, never on the happy path
    else:
        return parse(result)
    result = await _retry_after_failure(
        attempt, first_failure, policy, deadline, deadline_at, observer
    )
    return parse(result)


async def _retry_after_failure(
    attempt: Attempt[T],
    first_failure: Exception,
    policy: RetryPolicy,
    deadline: float | None,
    deadline_at: float | None,
    observer: AttemptObserver | None,
) -> T:
    pending: Exception | None = first_failure
    attempts = 1

    async def next_attempt() -> T:
        nonlocal pending, attempts
        if pending is not None:  # tenacity's attempt 1 is the one already made
            failure, pending = pending, None
            raise failure
        attempts += 1
        if observer is not None and not await observer.before_retry(deadline_at):
            raise APITimeoutError(
                f"timed out: the call reached its overall Timeout.deadline={deadline:g}s while "
                f"waiting for a place in the batch (retry {attempts - 1})",
                limit="deadline",
                seconds=deadline,
            )
        try:
            return await attempt(deadline_at)
        except Exception as exc:
            if observer is not None:
                observer.attempt_failed(exc)
            if isinstance(exc, APITimeoutError) and exc.limit == "deadline":
                exc.args = (f"{exc.args[0]} (retry {attempts - 1})", *exc.args[1:])
            raise

    try:
        return await _retrying(policy, deadline_at)(next_attempt)
    except PostpressError as exc:
        exc.attempts = attempts
        raise
