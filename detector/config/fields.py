"""Field types every config model shares: the one module probes and channels import for config.

Each probe kind (probes/) and channel kind (detector/channels/) owns its config model, and
detector.config.models assembles the config from their registries. So this module imports
nothing from probes, channels or models: it is the bottom of that one-way chain.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
)

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

EVENTS = (
    "incident.opened",
    "incident.updated",
    "incident.resolved",
    "postmortem.published",
    "incident.pending",
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.ended",
    "detector.degraded",
    "notice.dead",
    "report.overdue",
)


class Model(BaseModel):
    """Unknown keys are errors (a typo gets its key path, not a silent default); frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_duration(value: Any) -> float:
    """Accept '250ms', '10s', '15m', '2h', '5d'; bare numbers are refused so units are explicit."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration is a string with a unit, e.g. '30s', '250ms', '15m'")
    m = _DURATION_RE.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (use a number and ms, s, m, h or d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)$"}),
]
PositiveDuration = Annotated[Duration, Field(gt=0)]
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_email(v: str) -> str:
    """The one e-mail rule, shared by every field that holds an address."""
    if not _EMAIL_RE.fullmatch(v):
        raise ValueError(f"not an e-mail address: {v!r}")
    return v


Email = Annotated[str, AfterValidator(check_email)]


def _secret(v: SecretStr) -> SecretStr:
    """An empty secret (often a `${VAR}` set to "") would be a guessable credential or a
    channel that fails every send: refused, whatever field it is in."""
    if not v.get_secret_value().strip():
        raise ValueError("must not be empty")
    return v


# Every secret field is a Secret: tests/config checks that no plain SecretStr slips in.
Secret = Annotated[SecretStr, AfterValidator(_secret)]


def e164(v: str) -> str:
    """'+48 22 555 0100' → '+48225550100'; ValueError unless it is an E.164 number."""
    digits = re.sub(r"[\s().-]", "", v)
    if not re.fullmatch(r"\+[1-9]\d{6,14}", digits):
        raise ValueError(f"not an E.164 phone number (+ and 7-15 digits): {v!r}")
    return digits


# HTTP header names are tokens (RFC 9110 §5.1); a CR, LF or NUL in a value would make every
# request fail, and a healthy target would be declared down.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(_TOKEN)


def _header_name(v: str) -> str:
    if not _TOKEN_RE.fullmatch(v):
        raise ValueError("not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    return v


def _header_value(v: str) -> str:
    if "\r" in v or "\n" in v or "\x00" in v:
        raise ValueError("header value must not contain CR, LF or NUL")
    return v


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]
Headers = Annotated[
    dict[HeaderName, HeaderValue],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": f"^{_TOKEN}$"},
            "additionalProperties": {"type": "string", "pattern": r"^[^\r\n\x00]*$"},
        }
    ),
]


class ChannelBase(Model):
    """What every channel kind's config has; each kind adds `type: Literal["its name"]`, the
    tag by which the config's channel union picks it."""

    if TYPE_CHECKING:
        # declared for type checkers only: a runtime field here would come first in every
        # channel's keys and change the order of its error messages and schema
        type: str

    api_base: AnyHttpUrl | None = None
    events: list[str] | None = None  # None: all

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        bad = [e for e in v or [] if e not in EVENTS]
        if bad:
            raise ValueError(f"unknown event {bad[0]!r}; known: {', '.join(EVENTS)}")
        return v

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events
