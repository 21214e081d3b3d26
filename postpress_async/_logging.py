"""The ``postpress_async`` logger, switched on by ``POSTPRESS_LOG=debug|info``.

What is logged: at DEBUG, each response (method, path and query, status, elapsed time) and
each same-origin redirect; at INFO, each retry (wait, attempt, error class and message).
Headers are never logged, so the API key cannot appear.
"""

from __future__ import annotations

import logging
import os
from typing import Final

__all__ = ["LOG_ENV", "configure_from_env", "logger"]

LOG_ENV: Final = "POSTPRESS_LOG"
logger = logging.getLogger("postpress_async")
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}
_configured = False


def configure_from_env() -> None:
    """Apply ``POSTPRESS_LOG`` once per process: a stderr handler at that level."""
    global _configured
    if _configured:
        return
    value = os.environ.get(LOG_ENV, "").strip().lower()
    level = _LEVELS.get(value)
    if value and level is None:  # checked again by every client until it is fixed
        from ._errors import ConfigurationError

        raise ConfigurationError(f"{LOG_ENV} must be 'debug' or 'info', got {value!r}")
    _configured = True
    if level is None:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
