"""Typed, frozen configuration models (CONTRACT §3).

Every model forbids unknown keys so a typo is an error with its key path, not a silent default.
Durations are parsed from strings with a unit and held as float seconds.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

Severity = Literal["operational", "degraded", "partial_outage", "major_outage"]
SEVERITY_RANK: dict[str, int] = {
    "operational": 0,
    "degraded": 1,
    "partial_outage": 2,
    "major_outage": 3,
}
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
)


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
Quorum = Annotated[int, Field(ge=1)] | Literal["majority"]
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(v: str) -> str:
    if not _EMAIL_RE.fullmatch(v):
        raise ValueError(f"not an e-mail address: {v!r}")
    return v


Email = Annotated[str, AfterValidator(_email)]


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


_NAMED_ADDRESS_RE = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>\s*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _sender_email(v: str) -> str:
    """A sender address, bare or with a display name: 'Acme Status <status@acme.example>'."""
    m = _NAMED_ADDRESS_RE.fullmatch(v)
    if m is None:
        return _email(v)
    if _CONTROL_RE.search(m.group("name")):
        raise ValueError("the sender name must not contain control characters (CR, LF, NUL...)")
    _email(m.group("address"))
    return v


_MESSAGING_SERVICE_RE = re.compile(r"MG[0-9a-fA-F]{32}")
_SHORT_CODE_RE = re.compile(r"\d{5,6}")
_ALPHANUMERIC_SENDER_RE = re.compile(r"(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 +&_-]{1,11}")


def _twilio_sender(v: str) -> str:
    """What Twilio takes as `From`: an E.164 number, a messaging service SID, a short code or an
    alphanumeric sender ID. Anything else fails every SMS, so it is refused here."""
    if v.lstrip().startswith("+"):
        return e164(v)
    if any(r.fullmatch(v) for r in
           (_MESSAGING_SERVICE_RE, _SHORT_CODE_RE, _ALPHANUMERIC_SENDER_RE)):
        return v
    raise ValueError(
        f"not a Twilio sender: {v!r} (use an E.164 number such as +15550100, a messaging service "
        "SID: MG and 32 hex digits, a short code of 5-6 digits, or an alphanumeric sender ID "
        "of up to 11 letters, digits and spaces)"
    )


# HTTP header names are tokens (RFC 9110 §5.1); a CR, LF or NUL in a value would make every
# request fail, and a healthy target would be declared down.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(_TOKEN)


def _header_name(v: str) -> str:
    if not _TOKEN_RE.fullmatch(v):
        raise ValueError(
            "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        )
    return v


def _header_value(v: str) -> str:
    if "\r" in v or "\n" in v or "\x00" in v:
        raise ValueError("header value must not contain CR, LF or NUL")
    return v


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]
Headers = Annotated[
    dict[HeaderName, HeaderValue],
    WithJsonSchema({
        "type": "object",
        "propertyNames": {"pattern": f"^{_TOKEN}$"},
        "additionalProperties": {"type": "string", "pattern": r"^[^\r\n\x00]*$"},
    }),
]


def check_timezone(v: str) -> str:
    """Any failure of ZoneInfo (OSError for 'Europe', ValueError for 'zone.tab') is a user error."""
    from zoneinfo import ZoneInfo, available_timezones

    try:
        ZoneInfo(v)
    except Exception:
        import difflib

        close = difflib.get_close_matches(v, sorted(available_timezones()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (use an IANA name like Europe/Warsaw)"
        raise ValueError(f"unknown time zone {v!r}{hint}") from None
    return v


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- service -------------------------------------------------------------------------------


class Contact(Model):
    name: str = Field(min_length=1)
    email: Email | None = None
    phone: str | None = None


    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.phone:
            raise ValueError("a contact needs an email or a phone, so customers can reach a person")
        return self


class Service(Model):
    name: str = Field(min_length=1)
    status_page_url: AnyHttpUrl | None = None
    timezone: str = "UTC"
    locale: str = "en"
    contact: Contact
    report_within: Duration = 5 * 86400.0

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)


class Server(Model):
    listen: str = "127.0.0.1:9478"
    admin_token: Secret | None = None  # absent: the admin API is off; empty: an error

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"not host:port: {v!r}")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Storage(Model):
    url: str = "sqlite:///detector.db"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("sqlite:///") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("use sqlite:///PATH or postgresql://...")
        return v


class Cluster(Model):
    vantage: str | None = None
    lease: PositiveDuration = 10.0


class DetectionOverrides(Model):
    """Per-probe overrides of `detection`; None means 'inherit'."""

    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    failures_to_confirm: int | None = Field(default=None, ge=1)
    recheck_interval: PositiveDuration | None = None
    successes_to_recover: int | None = Field(default=None, ge=1)
    stable_for: Duration | None = None
    quorum: Quorum | None = None


class Detection(Model):
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0
    failures_to_confirm: int = Field(default=3, ge=1)
    recheck_interval: PositiveDuration = 2.0
    successes_to_recover: int = Field(default=3, ge=1)
    stable_for: Duration = 300.0
    quorum: Quorum = "majority"
    # a component confirmed down this soon after an open incident began joins that incident
    group_within: Duration = 120.0


class Cadence(Model):
    major_outage: PositiveDuration = 900.0
    partial_outage: PositiveDuration = 1800.0
    degraded: PositiveDuration = 3600.0

    def for_severity(self, severity: str) -> float:
        return float(getattr(self, severity, self.degraded))


class Notify(Model):
    hold: Duration = 0.0
    give_up_after: PositiveDuration = 86400.0  # an undeliverable notice is marked dead then


# --- probes --------------------------------------------------------------------------------


class HttpExpect(Model):
    status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    body_regex: str | None = None
    json_: dict[str, Any] | None = Field(default=None, alias="json")
    headers: Headers | None = None
    max_latency: PositiveDuration | None = None

    @field_validator("status")
    @classmethod
    def _codes(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if not 100 <= c <= 599]
        if bad or not v:
            raise ValueError(f"HTTP status codes are 100-599, got {bad or v}")
        return v

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except (re.error, OverflowError, RecursionError) as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v


class HttpSpec(Model):
    url: AnyHttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = None
    expect: HttpExpect = Field(default_factory=HttpExpect)
    follow_redirects: bool = True
    verify_tls: bool = True
    proxy: AnyHttpUrl | None = None


class TcpSpec(Model):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


class TlsSpec(Model):
    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None
    min_days_left: int = Field(default=14, ge=0)
    ca_file: str | None = None


def parse_resolver(value: str) -> tuple[str, int]:
    """'1.1.1.1', '127.0.0.1:5353', '::1', '[::1]:5353' → (address, port); ValueError if not."""
    import ipaddress

    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not an IP address or address:port: {value!r}")
        port = rest[1:] or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(
            f"a resolver is an IP address, optionally with :port, got {value!r}"
        ) from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"not a port number in {value!r}")
    return address, int(port)


class DnsSpec(Model):
    name: str = Field(min_length=1)
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT"] = "A"
    resolver: str | None = None  # "127.0.0.1" or "127.0.0.1:5353"
    expect: list[str] | None = None  # each must appear among the answers

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, v: str | None) -> str | None:
        if v is not None:
            parse_resolver(v)
        return v


class StatuspageSpec(Model):
    url: AnyHttpUrl
    components: list[str] | None = None  # only these vendor components count


PROBE_KINDS = ("http", "tcp", "tls", "dns", "statuspage")


class ProbeConfig(DetectionOverrides):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    http: HttpSpec | None = None
    tcp: TcpSpec | None = None
    tls: TlsSpec | None = None
    dns: DnsSpec | None = None
    statuspage: StatuspageSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ProbeConfig:
        kinds = [k for k in PROBE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a probe has exactly one kind ({', '.join(PROBE_KINDS)}), found "
                f"{', '.join(kinds) or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in PROBE_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> Model:
        spec: Model = getattr(self, self.kind)
        return spec

    def detection(self, defaults: Detection) -> Detection:
        """The effective detection settings: this probe's overrides over the defaults."""
        own = {k: v for k, v in self.model_dump(include=set(Detection.model_fields)).items()
               if v is not None}
        return defaults.model_copy(update=own) if own else defaults


# --- components, subscribers, channels -----------------------------------------------------


class Component(Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    # plain words for customers; a mapping of language → sentence speaks each subscriber's language
    impact: str | dict[str, str] = Field(min_length=1)
    vendor: str | None = None
    severity_when_down: Literal["degraded", "partial_outage", "major_outage"] | None = None
    probes: list[ProbeConfig] = Field(min_length=1)

    @field_validator("impact")
    @classmethod
    def _impact(cls, v: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(v, dict) and not all(k.strip() and t.strip() for k, t in v.items()):
            raise ValueError("each language needs a sentence")
        return v

    def impact_in(self, locale: str) -> str:
        """The impact sentence in `locale`, else its base language, else the first given."""
        if isinstance(self.impact, str):
            return self.impact
        base = locale.replace("-", "_").split("_")[0]
        return self.impact.get(locale) or self.impact.get(base) or next(iter(self.impact.values()))

    def impact_translations(self) -> dict[str, str]:
        return dict(self.impact) if isinstance(self.impact, dict) else {}


class Subscriber(Model):
    name: str = Field(min_length=1)
    email: Email | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    components: list[str] | None = None  # None: all


    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return v if v is None else e164(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return v if v is None else check_timezone(v)

    @model_validator(mode="after")
    def _reachable(self) -> Subscriber:
        if not self.email and not self.phone:
            raise ValueError("a subscriber needs an email or a phone")
        return self


class SubscriberFile(Model):
    file: str = Field(min_length=1)


def _subscriber_kind(v: Any) -> str:
    """Pick the branch by the `file` key so one typo gives one error, not one per branch."""
    if isinstance(v, SubscriberFile) or (isinstance(v, dict) and "file" in v):
        return "file"
    return "inline"


SubscriberEntry = Annotated[
    Annotated[Subscriber, Tag("inline")] | Annotated[SubscriberFile, Tag("file")],
    Discriminator(_subscriber_kind),
]


class ChannelBase(Model):
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


class WebhookChannel(ChannelBase):
    type: Literal["webhook"]
    url: AnyHttpUrl
    secret: Secret | None = None  # absent: payloads are not signed; empty: an error


class SendgridChannel(ChannelBase):
    type: Literal["sendgrid"]
    api_key: Secret
    from_: Annotated[str, AfterValidator(_sender_email)] = Field(alias="from")


class TwilioChannel(ChannelBase):
    type: Literal["twilio"]
    account_sid: str = Field(min_length=1)
    auth_token: Secret
    from_: Annotated[str, AfterValidator(_twilio_sender)] = Field(alias="from")


class ConsoleChannel(ChannelBase):
    """Prints customer notices to stdout; what `detector demo` uses."""

    type: Literal["console"]


Channel = Annotated[
    WebhookChannel | SendgridChannel | TwilioChannel | ConsoleChannel,
    Field(discriminator="type"),
]


class Config(Model):
    service: Service
    server: Server = Field(default_factory=Server)
    storage: Storage = Field(default_factory=Storage)
    cluster: Cluster | None = None
    detection: Detection = Field(default_factory=Detection)
    cadence: Cadence = Field(default_factory=Cadence)
    notify: Notify = Field(default_factory=Notify)
    controls: list[ProbeConfig] = Field(default_factory=list)
    components: list[Component] = Field(min_length=1)
    subscribers: list[SubscriberEntry] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Config:
        """Names are keys in the store and the API; ctx["loc"] lets the loader name the key path."""
        seen: dict[str, str] = {}
        located = [(("controls", i), p) for i, p in enumerate(self.controls)] + [
            (("components", j, "probes", i), p)
            for j, c in enumerate(self.components)
            for i, p in enumerate(c.probes)
        ]
        for loc, probe in located:
            where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc)[1:]
            if probe.name in seen:
                raise PydanticCustomError(
                    "duplicate_name",
                    "probe name '{name}' is already used by {first}; names must be unique",
                    {"name": probe.name, "first": seen[probe.name], "loc": (*loc, "name")},
                )
            seen[probe.name] = where
        ids: dict[str, int] = {}
        for j, c in enumerate(self.components):
            if c.id in ids:
                raise PydanticCustomError(
                    "duplicate_id",
                    "component id '{id}' is already used by components[{first}]",
                    {"id": c.id, "first": ids[c.id], "loc": ("components", j, "id")},
                )
            ids[c.id] = j
            if isinstance(c.impact, dict) and self.service.locale not in c.impact:
                raise PydanticCustomError(
                    "impact_default",
                    "needs a sentence in the service's language '{locale}'",
                    {"locale": self.service.locale, "loc": ("components", j, "impact")},
                )
        return self

    def all_probes(self) -> list[ProbeConfig]:
        return [*self.controls, *(p for c in self.components for p in c.probes)]

    @cached_property
    def _components_by_id(self) -> dict[str, Component]:
        return {c.id: c for c in self.components}

    def component(self, component_id: str) -> Component:
        """O(1): the engine and the status API look components up per component."""
        return self._components_by_id[component_id]

    def inline_subscribers(self) -> list[Subscriber]:
        return [s for s in self.subscribers if isinstance(s, Subscriber)]
