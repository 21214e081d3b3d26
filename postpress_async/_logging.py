"""The ``postpress_async`` logger, and ``POSTPRESS_LOG``, which switches it on from outside.

What is logged: at DEBUG, each response (method, path and query, status, elapsed time) and
each same-origin redirect; at INFO, each retry (wait, attempt, error class and message).
Headers are never logged, so the API key cannot appear; neither is any chat or message text.

An application that configures logging itself needs nothing from here: the SDK adds no
handler and sets no level unless ``POSTPRESS_LOG`` is set. ``POSTPRESS_LOG`` (read when the
first client is created) takes a standard level name in any case; it sets the logger's level
and adds a stderr handler that prints a record only when no other handler on the way to the
root would (so ``logging.basicConfig`` and ``POSTPRESS_LOG=debug`` print each line once).
Any other value is ignored with one warning.
"""

from __future__ import annotations

import logging
import os
from typing import Final

__all__ = ["LOG_ENV", "configure_from_env", "level_from_env", "logger"]

LOG_ENV: Final = "POSTPRESS_LOG"
logger = logging.getLogger("postpress_async")
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_SHOWN_VALUE_LIMIT: Final = 40
_configured = False


class FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that stays silent when another handler will print the record."""

    def handle(self, record: logging.LogRecord) -> bool:
        if _printed_elsewhere(record, self):
            return False
        return super().handle(record)


def _printed_elsewhere(record: logging.LogRecord, ours: logging.Handler) -> bool:
    """Whether a handler other than ``ours`` on the record's way up takes its level."""
    current: logging.Logger | None = logging.getLogger(record.name)
    while current is not None:
        for handler in current.handlers:
            if handler is not ours and record.levelno >= handler.level:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def level_from_env(value: str) -> int | None:
    """The level a ``POSTPRESS_LOG`` value names, or None for a value that names none."""
    return _LEVELS.get(value.strip().lower())


def configure_from_env() -> None:
    """Apply ``POSTPRESS_LOG`` once per process; never raises."""
    global _configured
    if _configured:
        return
    _configured = True
    value = os.environ.get(LOG_ENV, "")
    if not value.strip():
        return
    level = level_from_env(value)
    if level is None:
        shown = value if len(value) <= _SHOWN_VALUE_LIMIT else value[:_SHOWN_VALUE_LIMIT] + "…"
        logger.warning(
            "%s=%r is not a log level (debug, info, warning, error or critical); ignored",
            LOG_ENV,
            shown,
        )
        return
    handler = FallbackHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
