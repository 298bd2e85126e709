"""Typed, frozen configuration models (CONTRACT §3).

Every model forbids unknown keys so a typo is an error with its key path, not a silent default.
Durations are parsed from strings with a unit and held as float seconds. Probe and channel kinds
own their models (probes/*.py, detector/channels/*.py); the unions that choose among them are
assembled here from the two registries, so adding a kind does not touch this file.
"""

from __future__ import annotations

import operator
import re
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import (
    AnyHttpUrl,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

import probes as probe_kinds
from detector import channels as channel_kinds
from detector.channels.sendgrid import SendgridChannel as SendgridChannel
from detector.channels.twilio import TwilioChannel as TwilioChannel
from detector.channels.webhook import WebhookChannel as WebhookChannel
from detector.config.fields import (
    ChannelBase,
    Duration,
    Email,
    Model,
    PositiveDuration,
    Secret,
    e164,
)
from detector.text import Localized, is_language_tag, localized_fault, source_text, text_in

Severity = Literal["operational", "degraded", "partial_outage", "major_outage"]
Quorum = Annotated[int, Field(ge=1)] | Literal["majority"]


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
    # bearer token of POST /api/v1/alertmanager; absent: the receiver is off
    alertmanager_token: Secret | None = None
    # signs subscription links (confirm, unsubscribe, preferences); absent: a random key the
    # store keeps (detector.web.subscribe)
    subscription_secret: Secret | None = None

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


class Export(Model):
    """The running daemon keeps a static copy of the status page, feed and JSON in `dir`
    (relative: to the config file's folder), for hosting where an outage cannot reach it."""

    dir: str = Field(min_length=1)


# --- probes --------------------------------------------------------------------------------


_PROBE_KINDS = probe_kinds.seal()
PROBE_KINDS = tuple(kind.name for kind in _PROBE_KINDS)


class ProbeBase(DetectionOverrides):
    """A probe whatever its kind; ProbeConfig adds one optional key per registered kind."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")

    @model_validator(mode="after")
    def _one_kind(self) -> ProbeBase:
        given = self.model_fields_set  # a kind left out is None: only the keys given can count
        kinds = [k for k in PROBE_KINDS if k in given and getattr(self, k) is not None]
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
        own = {k: v for k in _OVERRIDES if (v := getattr(self, k)) is not None}
        return defaults.model_copy(update=own) if own else defaults


# the settings a probe may override (read at start for every probe, by the engine and scheduler)
_OVERRIDES = tuple(k for k in DetectionOverrides.model_fields if k in Detection.model_fields)


_CLASHES = [kind.name for kind in _PROBE_KINDS if kind.name in ProbeBase.model_fields]
if _CLASHES:  # the kind's key would silently replace a setting every probe has
    raise TypeError(f"probe kind named like a probe setting: {', '.join(_CLASHES)}")
if TYPE_CHECKING:
    ProbeConfig = ProbeBase
else:
    # the YAML shape `{name: ..., http: {...}}`: each kind's key, holding that kind's own spec
    ProbeConfig = create_model(
        "ProbeConfig",
        __base__=ProbeBase,
        __module__=__name__,
        **{kind.name: (kind.spec | None, None) for kind in _PROBE_KINDS},
    )


# --- components, subscribers, channels -----------------------------------------------------


_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


class Matcher(NamedTuple):
    """One Alertmanager label matcher: `name="value"`, `!=`, `=~` (regex) or `!~`."""

    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit


def parse_matcher(text: str) -> Matcher:
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f'not a matcher (write name="value", !=, =~ or !~): {text!r}')
    name, op, raw = m.groups()
    value = re.sub(r"\\(.)", r"\1", raw)
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression in {text!r}: {e.msg}") from None
    return Matcher(name, op, value)


class AlertSource(Model):
    """Alertmanager alerts that mean this component is down: a firing alert whose labels match
    every matcher is a confirmed failing verdict (Prometheus' `for:` already confirmed it)."""

    matchers: list[str] = Field(min_length=1)
    severity: Literal["degraded", "partial_outage", "major_outage"] = "major_outage"

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        for text in v:
            parse_matcher(text)
        return v

    @cached_property
    def parsed(self) -> list[Matcher]:
        """Parsed once: every Alertmanager notification is matched against them."""
        return [parse_matcher(t) for t in self.matchers]

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.parsed)


IMPACT_SEVERITIES = ("degraded", "partial_outage", "major_outage")  # mildest first
PerLanguage = dict[str, str]
# one sentence; one per language; or one per severity, each a sentence or one per language
Impact = str | dict[str, str | dict[str, str]]


def impact_problem(value: object) -> tuple[tuple[str, ...], str] | None:
    """(key path below `impact`, what is wrong) for an impact of the wrong shape."""
    if not isinstance(value, dict):
        return None if not isinstance(value, str) or value.strip() else ((), "must not be empty")
    if isinstance(value, str):
        return None if value.strip() else ((), "must not be empty")
    if not value:
        return (), "give a sentence, one per language, or one per severity"
    severities = [k for k in value if k in IMPACT_SEVERITIES]
    others = [str(k) for k in value if k not in IMPACT_SEVERITIES]
    if severities and others:
        return (others[0],), (
            f"not a severity ({', '.join(IMPACT_SEVERITIES)}): an impact given per severity "
            f"gives its languages inside each severity, e.g. {severities[0]}: {{{others[0]}: ...}}"
        )
    if not severities:
        for key, text in value.items():
            if not isinstance(key, str) or not is_language_tag(key):
                return (str(key),), (
                    "not a language or a severity (write a language such as en or fr, or one "
                    f"of {', '.join(IMPACT_SEVERITIES)})"
                )
            if isinstance(text, dict):
                return (key,), "expected a sentence (only a severity holds one per language)"
            if not isinstance(text, str):
                return (key,), "expected a sentence"
    for key, text in value.items():
        fault = localized_fault(text)
        if fault is not None:
            sub, why = fault
            return ((key, sub) if sub is not None else (key,)), why
    return None


def impact_variant(value: Impact, severity: str) -> Localized:
    """The impact for `severity`: per severity, the one given, else the closest more severe
    one, else the closest milder one (operational and unknown count as degraded)."""
    if isinstance(value, str) or not any(k in IMPACT_SEVERITIES for k in value):
        return value  # type: ignore[return-value]  # no severity keys: str values only
    at = IMPACT_SEVERITIES.index(severity) if severity in IMPACT_SEVERITIES else 0
    order = [*IMPACT_SEVERITIES[at:], *reversed(IMPACT_SEVERITIES[:at])]
    return next(value[s] for s in order if s in value)


class Component(Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    # plain words for customers: a sentence, one per language ({en: ..., fr: ...}), or one per
    # severity ({major_outage: ..., degraded: ...}), each a sentence or one per language
    impact: Impact
    vendor: str | None = None
    severity_when_down: Literal["degraded", "partial_outage", "major_outage"] | None = None
    probes: list[ProbeConfig] = Field(min_length=1)
    alerts: AlertSource | None = None  # Alertmanager alerts that count as this component down

    @field_validator("impact", mode="before")
    @classmethod
    def _impact(cls, v: object) -> object:
        """Before pydantic's union, which would name each branch it tried; anything but a
        mapping is left to it ("expected text or a mapping, got a number")."""
        found = impact_problem(v)
        if found is not None:
            sub, why = found
            raise PydanticCustomError("impact_shape", why, {"subloc": sub})
        return v

    @property
    def per_severity(self) -> bool:
        return isinstance(self.impact, dict) and any(k in IMPACT_SEVERITIES for k in self.impact)

    def impact_variants(self) -> dict[str | None, Localized]:
        """Each impact the config gives: by severity, or {None: the one impact}."""
        if not self.per_severity:
            return {None: impact_variant(self.impact, "major_outage")}
        assert isinstance(self.impact, dict)
        return {s: self.impact[s] for s in reversed(IMPACT_SEVERITIES) if s in self.impact}

    def impact_for(self, severity: str) -> Localized:
        """The impact customers read for an outage of `severity` (see `impact_variant`)."""
        return impact_variant(self.impact, severity)

    def impact_in(self, locale: str, severity: str = "major_outage") -> str:
        """For operators' own records (the post-mortem draft): the impact in `locale`, else
        its base language, else the first given. Customers' text uses `text_in`."""
        value = self.impact_for(severity)
        found = value if isinstance(value, str) else text_in(value, locale, locale)
        return found if found is not None else source_text(value, locale) or ""

    def impact_translations(self, severity: str = "major_outage") -> dict[str, str]:
        value = self.impact_for(severity)
        return dict(value) if isinstance(value, dict) else {}


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


_CHANNEL_KINDS = channel_kinds.seal()
if TYPE_CHECKING:
    Channel = ChannelBase
else:
    # one model per registered kind, picked by its `type:` (a tagged union)
    Channel = Annotated[
        reduce(operator.or_, (kind.config for kind in _CHANNEL_KINDS)),
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
    export: Export | None = None
    controls: list[ProbeConfig] = Field(default_factory=list)
    components: list[Component] = Field(min_length=1)
    subscribers: list[SubscriberEntry] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _instances(self) -> Config:
        """Several instances share a PostgreSQL store; alone (no `cluster`), this detector is
        one vantage, so no quorum above 1 can ever form."""
        postgres = self.storage.url.startswith(("postgresql://", "postgres://"))
        if self.cluster is not None and not postgres:
            raise PydanticCustomError(
                "cluster_needs_postgres",
                "several instances share one PostgreSQL store: set storage.url to "
                "postgresql://... or remove `cluster`",
                {"loc": ("cluster",)},
            )
        if self.cluster is not None:
            return self
        located: list[tuple[tuple[str | int, ...], Any]] = [(("detection",), self.detection)]
        located += [(("controls", i), p) for i, p in enumerate(self.controls)]
        located += [
            (("components", j, "probes", i), p)
            for j, c in enumerate(self.components)
            for i, p in enumerate(c.probes)
        ]
        for loc, where in located:
            q = where.quorum
            if isinstance(q, int) and q > 1:
                raise PydanticCustomError(
                    "quorum_impossible",
                    "{quorum} vantages cannot agree: without `cluster` this detector is one "
                    "vantage; use 1 or majority, or run several instances (`cluster`, "
                    "PostgreSQL)",
                    {"quorum": q, "loc": (*loc, "quorum")},
                )
        return self

    @model_validator(mode="after")
    def _unique(self) -> Config:
        """Names are keys in the store and the API; ctx["loc"] lets the loader name the key path."""
        seen: dict[str, tuple[str | int, ...]] = {}
        located = [(("controls", i), p) for i, p in enumerate(self.controls)] + [
            (("components", j, "probes", i), p)
            for j, c in enumerate(self.components)
            for i, p in enumerate(c.probes)
        ]
        for loc, probe in located:
            if probe.name in seen:
                first = seen[probe.name]
                where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in first)[1:]
                raise PydanticCustomError(
                    "duplicate_name",
                    "probe name '{name}' is already used by {first}; names must be unique",
                    {"name": probe.name, "first": where, "loc": (*loc, "name")},
                )
            seen[probe.name] = loc
        ids: dict[str, int] = {}
        for j, c in enumerate(self.components):
            if c.id in ids:
                raise PydanticCustomError(
                    "duplicate_id",
                    "component id '{id}' is already used by components[{first}]",
                    {"id": c.id, "first": ids[c.id], "loc": ("components", j, "id")},
                )
            ids[c.id] = j
            for severity, value in c.impact_variants().items():
                locale = self.service.locale
                if text_in(value, locale, locale) is None:
                    at = ("components", j, "impact", *([severity] if severity else []))
                    raise PydanticCustomError(
                        "impact_default",
                        "needs a sentence in the service's language '{locale}'",
                        {"locale": locale, "loc": at},
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
