"""structlog JSON logs; a processor redacts every configured secret before output."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_secrets: set[str] = set()
SECRET_KEYS = {
    "api_key", "auth_token", "secret", "admin_token", "token", "password", "authorization"
}


def register_secrets(values: Iterable[str]) -> None:
    """Values to scrub from any log line, whatever key they hide under."""
    _secrets.update(v for v in values if v and len(v) >= 4)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in SECRET_KEYS:
            event[key] = "[redacted]"
        elif isinstance(value, str) and _secrets:
            for secret in _secrets:
                if secret in value:
                    value = value.replace(secret, "[redacted]")
            event[key] = value
    return event


class _Stderr:
    """Looks up sys.stderr at each write, so a replaced or closed stream is never kept."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "info", stream: Any = None) -> None:
    logging.basicConfig(format="%(message)s", stream=stream or _Stderr(), level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or _Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


def get(name: str = "detector", **bound: Any) -> Any:
    return structlog.get_logger(name).bind(**bound)
