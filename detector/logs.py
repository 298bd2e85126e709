"""One log pipeline: structlog JSON on stderr, for our loggers and every stdlib one alike.

Our structlog loggers hand each event to the stdlib `logging` tree (stdlib.LoggerFactory and
ProcessorFormatter.wrap_for_formatter); `configure()` puts one handler on the root logger that
renders every record — ours, aiohttp's, asyncio's, aiosqlite's, the provider SDKs' — through the
same processors. The last of them scrub every registered secret in each form it travels in:
raw, URL-encoded, JSON-escaped, base64 (also inside a longer base64 run, such as a Basic-auth
`user:secret` pair), and any `Authorization: Basic …` / `Bearer …` value.

The structlog side is set once, at import, and loggers are never cached: a logger made at import
time, before `configure()`, goes through exactly the chain configured later.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, MutableMapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

import structlog

PLACEHOLDER = "[redacted]"
MIN_SECRET = 4  # shorter values would redact ordinary words
SECRET_KEYS = {
    "api_key",
    "auth_token",
    "secret",
    "admin_token",
    "token",
    "password",
    "authorization",
    "proxy-authorization",
}
# keys structlog and ProcessorFormatter use for their own objects: never rewritten
_INTERNAL = {"exc_info", "stack_info", "positional_args"}

_secrets: set[str] = set()
_version = 0  # bumped on every new secret, so cached patterns are rebuilt


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _b64_runs(data: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """What base64 of `data` looks like wherever it sits in a longer encoded run.

    A byte string starting at offset 0, 1 or 2 (mod 3) is encoded by the same characters once
    its first and last partial 3-byte groups are left out; those middles appear in any run that
    holds the data, e.g. base64("AC…sid:" + token) holds one of the token's.
    """
    runs = set()
    for shift in range(3):
        total = shift + len(data)
        encoded = encode(b"\0" * shift + data).decode()
        run = encoded[4 if shift else 0 : 4 * (total // 3)]
        if len(run) >= 8:
            runs.add(run)
    return runs


def encoded_forms(secret: str) -> set[str]:
    """The secret as it can appear in text: raw, URL-encoded, escaped, base64."""
    data = secret.encode()
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms |= {_lower_escapes(f) for f in forms}
    forms |= {json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        full = encode(data).decode()
        forms |= {full, full.rstrip("=")}
        forms |= _b64_runs(data, encode)
    # as it reads inside an already-rendered JSON line (quotes, backslashes, non-ASCII escaped)
    forms |= {json.dumps(f)[1:-1] for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_SECRET}


def basic_auth(user: str, secret: str) -> str:
    """base64(user:secret), what an `Authorization: Basic` header carries (Twilio's SDK)."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def register_secrets(values: Iterable[str]) -> None:
    """Values to scrub from any log line, whatever key they hide under, in any encoded form."""
    global _version
    new = {v for v in values if v and len(v) >= MIN_SECRET} - _secrets
    if new:
        _secrets.update(new)
        _version += 1


@lru_cache(maxsize=256)
def _forms_of(secret: str) -> frozenset[str]:
    return frozenset(encoded_forms(secret))


@lru_cache(maxsize=64)
def _pattern(version: int, extra: frozenset[str]) -> tuple[re.Pattern[str] | None, int]:
    """One alternation of every form, longest first (so a whole form wins over its prefix),
    and the longest form's length. `version` is only the cache key: the registry's state."""
    forms: set[str] = set()
    for secret in _secrets | extra:
        forms |= _forms_of(secret)
    if not forms:
        return None, 0
    ordered = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(f) for f in ordered)), len(ordered[0])


# Credentials that were never registered, recognised by where they stand.
_TOKEN_CHARS = r"[A-Za-z0-9\-._~+/]+=*"
_SCHEME_TOKEN = re.compile(r"(?i)\b(basic|bearer)(\s+)(" + _TOKEN_CHARS + ")")
_AUTH_VALUE = re.compile(
    r"""(?i)(\b(?:proxy-)?authorization\b\\?["']?\s*[:=]\s*\\?["']?)([^\s"',;}\]\\]+)"""
)
_MAX_TOKEN = 512  # how far a header credential is assumed to run, for cutting text safely


def _credential(token: str, after_scheme: bool) -> bool:
    """Looks like a credential rather than a word ("Basic authentication", "bearer token")."""
    if len(token) < 8:
        return False
    if any(c.isdigit() or c in "+/=._~-" for c in token):
        return True
    return after_scheme and any(c.isupper() for c in token[1:])


def _scrub_headers(text: str) -> str:
    def scheme(m: re.Match[str]) -> str:
        if not _credential(m.group(3), after_scheme=True):
            return m.group()
        return f"{m.group(1)}{m.group(2)}{PLACEHOLDER}"

    def value(m: re.Match[str]) -> str:
        if not _credential(m.group(2), after_scheme=False):
            return m.group()
        return m.group(1) + PLACEHOLDER

    low = text.lower()
    if "basic" in low or "bearer" in low:
        text = _SCHEME_TOKEN.sub(scheme, text)
    if "authorization" in low:
        text = _AUTH_VALUE.sub(value, text)
    return text


def scrub(text: str, limit: int | None = None, also: Iterable[str] = ()) -> str:
    """`text` with every registered secret (and those in `also`) replaced, in all their forms.

    With `limit`, the result is cut to that many characters — after scrubbing, and from a window
    long enough that no secret cut in half at its end can move into the part that is kept.
    """
    extra = frozenset(v for v in also if v and len(v) >= MIN_SECRET)
    pattern, longest = _pattern(_version, extra)
    if limit is not None:
        # each replacement leaves at least len(PLACEHOLDER) characters, so what ends up in the
        # first `limit` output characters came from at most this much input
        reach = max(longest, _MAX_TOKEN)
        text = text[: limit + (limit // len(PLACEHOLDER) + 2) * reach]
    if pattern is not None:
        text = pattern.sub(PLACEHOLDER, text)
    text = _scrub_headers(text)
    return text if limit is None else text[:limit]


def _clean(key: object, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in SECRET_KEYS and value is not None:
        return PLACEHOLDER
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(None, v) for v in value]
    return value


def redact_event(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Processor: secret-named keys hidden, every string value (nested too) scrubbed."""
    for key, value in list(event.items()):
        if key in _INTERNAL or key.startswith("_"):
            continue
        event[key] = _clean(key, value)
    return event


def _scrub_line(_logger: Any, _name: str, line: Any) -> Any:
    """Processor after the renderer: whatever an object's repr let through, on the final line."""
    return scrub(line) if isinstance(line, str) else line


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)

# structlog's own events: filtered by the stdlib logger's level, then handed to the stdlib tree
_STRUCTLOG_CHAIN: list[Any] = [
    structlog.stdlib.filter_by_level,
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.PositionalArgumentsFormatter(),
    _TIMESTAMP,
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    redact_event,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]
# records from plain `logging` loggers get the same fields before the shared tail
_FOREIGN_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    _TIMESTAMP,
]


FORMATS = ("json", "console")


def formatter(fmt: str = "json") -> logging.Formatter:
    """The formatter of every record, redacted: one JSON line each (for machines), or a
    readable line for a person at a terminal (`console`)."""
    if fmt == "console":
        render: list[Any] = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_event,
            structlog.dev.ConsoleRenderer(colors=False),
            _scrub_line,
        ]
    else:
        render = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event,
            structlog.processors.JSONRenderer(),
            _scrub_line,
        ]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_FOREIGN_CHAIN, processors=render)


def default_format(stream: Any = None) -> str:
    """JSON unless a person is watching: a terminal gets the readable form."""
    target = stream or sys.stderr
    try:
        return "console" if target.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def _configure_structlog() -> None:
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        context_class=dict,
        # a cached logger would keep whatever configuration was current at its first use
        cache_logger_on_first_use=False,
    )


class _Stderr:
    """Looks up sys.stderr at each write, so a replaced or closed stream is never kept."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Handler(logging.StreamHandler[Any]):
    """Ours on the root logger: replaced, not stacked, when configure() runs again."""


def configure(level: str = "info", stream: Any = None, fmt: str | None = None) -> None:
    """Every logger, structlog or stdlib, at `level` and above, on `stream`: JSON lines, or
    the console form (`fmt`; by default console only on a terminal)."""
    _configure_structlog()
    reset()
    root = logging.getLogger()
    handler = _Handler(stream or _Stderr())
    handler.setFormatter(formatter(fmt or default_format(stream)))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn() too, through the same chain


def reset() -> None:
    """Undo configure(): our root handler removed, warnings no longer captured."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    logging.captureWarnings(False)


def get(name: str = "detector", **bound: Any) -> structlog.stdlib.BoundLogger:
    """A lazy logger: it is assembled at each use from the configuration of that moment."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **bound)
    return logger


_configure_structlog()
