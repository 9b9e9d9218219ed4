"""Structured logging with secrets scrubbed before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET = re.compile(r"cw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
_SECRET_KEYS = {"authorization", "x-api-key", "x_api_key", "token", "password", "secret"}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET.sub("cw_[REDACTED]", value)
    if isinstance(value, dict):
        return {
            k: "[REDACTED]" if str(k).lower() in _SECRET_KEYS else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: API keys and credential fields never reach a log line."""
    return {
        k: "[REDACTED]" if k.lower() in _SECRET_KEYS else _scrub(v) for k, v in event_dict.items()
    }


def configure(level: str = "info") -> None:
    """Configure structlog for the process (JSON lines to stderr, never stdout)."""
    logging.basicConfig(format="%(message)s", level=level.upper(), stream=sys.stderr)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrub_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(name)
