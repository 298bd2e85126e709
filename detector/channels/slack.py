"""Slack incoming webhook: the operators' own events, as a message in their channel.

An operators' channel (slack, teams, pagerduty) hears the detector's own events by default —
`incident.pending` (a confirmed outage whose first customer notice is held) and
`detector.degraded` (its control checks fail, or pass again) — and customer notices only when
its `events` names them. It gets the whole payload (notices.fanout gives operators' channels
the webhook body), so it can say which incident, how bad, and what the probes saw.

This module also holds what the three share (teams and pagerduty import it): the default event
filter, the webhook-URL rule, `describe` (an event → one `Note`, whatever the format) and the
JSON POST with its outcome.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr, field_validator

from detector import logs
from detector.channels.base import Delivery, Envelope, logged, redacted
from detector.channels.sendgrid import parse_retry_after
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret
from detector.domain import INTERNAL_EVENTS, Event

if TYPE_CHECKING:
    from detector.channels.teams import TeamsChannel

# --- what every operators' channel shares -------------------------------------------------------

# What an operators' channel hears when its config gives no `events`.
OPERATOR_EVENTS = INTERNAL_EVENTS


def operator_wants(cfg: ChannelBase, event: str) -> bool:
    """The operators' events unless `events` is given; then exactly those."""
    return event in OPERATOR_EVENTS if cfg.events is None else event in cfg.events


def check_hook_url(value: SecretStr, provider: str) -> SecretStr:
    """An incoming-webhook URL (itself the credential, so held as a secret): absolute http(s)
    with a host. The error never repeats the value."""
    try:
        parts = urlsplit(value.get_secret_value().strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"not a {provider} incoming webhook URL (https://...)")
    return value


def hook_url(url: str, api_base: object | None) -> str:
    """Where to POST: the webhook URL, or with `api_base` (a proxy, a local double) that base
    followed by the URL's path and query, so the hook's own path still names it."""
    url = url.strip()
    if api_base is None:
        return url
    parts = urlsplit(url)
    return str(api_base).rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def hook_secrets(url: str) -> tuple[str, ...]:
    """What of a webhook URL must never be logged: all of it, and each long path segment or
    query value on its own (the tokens: Slack's path, a Teams workflow's `sig`)."""
    parts = urlsplit(url.strip())
    pieces = parts.path.split("/") + [
        v for _, _, v in (q.partition("=") for q in parts.query.split("&"))
    ]
    return (url.strip(), *(p for p in pieces if len(p) >= 16))


# PagerDuty's words for how bad, used by every format (a colour, an emoji, a severity)
SEVERITY_OF_INCIDENT = {
    "major_outage": "critical",
    "partial_outage": "error",
    "degraded": "warning",
}


@dataclass(frozen=True, slots=True)
class Note:
    """What an operators' channel says about one event, before any format."""

    title: str  # one line
    text: str  # a few sentences, plain
    severity: str  # critical | error | warning | info
    key: str  # the condition it is about: the same from its start to its end
    ends: bool  # this event ends that condition (controls pass again, incident resolved)
    facts: list[tuple[str, str]] = field(default_factory=list)
    link: str | None = None  # the status page
    source: str = "outage-detector"  # the service the detector watches, by name


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _incident_facts(inc: Mapping[str, Any]) -> list[tuple[str, str]]:
    facts = [
        ("Incident", _str(inc.get("id"))),
        ("Severity", _str(inc.get("severity")).replace("_", " ")),
        ("Status", _str(inc.get("status"))),
        ("Components", ", ".join(_str(c) for c in inc.get("components") or [])),
        ("Vendor", _str(inc.get("vendor"))),
        ("Started", _str(inc.get("started_at"))),
        ("Detected", _str(inc.get("detected_at"))),
        ("Resolved", _str(inc.get("resolved_at"))),
    ]
    return [(k, v) for k, v in facts if v]


def _failing(payload: Mapping[str, Any], limit: int = 5) -> list[tuple[str, str]]:
    """The latest failed checks in the evidence, newest first: what operators look at first."""
    rows = [
        r for r in payload.get("evidence") or [] if isinstance(r, dict) and r.get("ok") is False
    ]
    rows.sort(key=lambda r: _str(r.get("at")), reverse=True)
    seen: set[str] = set()
    out = []
    for r in rows:
        probe = _str(r.get("probe"))
        if probe in seen:
            continue
        seen.add(probe)
        out.append((probe, f"{_str(r.get('detail'))} at {_str(r.get('at'))}".strip()))
        if len(out) == limit:
            break
    return out


def _link(payload: Mapping[str, Any]) -> str | None:
    url = payload.get("status_page_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")) and url.isprintable():
        if not any(c in url for c in " <>|\"'"):
            return url
    return None


def describe(envelope: Envelope) -> Note:
    """One event in operators' words. The operators' events say what the detector did and what
    a person may do; a customer notice (when `events` asks for it) is shown as customers got
    it, with its incident's facts."""
    p = envelope.payload
    m = envelope.message
    event = envelope.event
    service = _str(p.get("service")) or "outage-detector"
    link = _link(p)
    raw_inc = p.get("incident")
    inc: Mapping[str, Any] = raw_inc if isinstance(raw_inc, dict) else {}
    inc_id = _str(inc.get("id"))
    # keys name what they are about without the service's name, which customer payloads lack:
    # an incident's pending, opened and resolved notices share one
    inc_key = f"outage-detector/incident/{inc_id or envelope.notice_id}"
    severity = SEVERITY_OF_INCIDENT.get(_str(inc.get("severity")), "error")

    if event == Event.DETECTOR_DEGRADED:
        key = f"outage-detector/{service}/detector.degraded"
        if p.get("degraded", True) is False:
            return Note(
                f"{service}: the detector's own checks pass again",
                "Its control checks pass, so it is judging the components again: an outage "
                "will be confirmed and announced as usual.",
                "info",
                key,
                ends=True,
                link=link,
                source=service,
            )
        return Note(
            f"{service}: the detector cannot trust its own network",
            "Its control checks fail, so it declares no customer outage until they pass "
            "again: while this lasts, customers are not told about outages by it. Check the "
            "detector's own connectivity (DNS, egress, proxy).",
            "error",
            key,
            ends=False,
            facts=_failing(p),
            link=link,
            source=service,
        )

    if event == Event.INCIDENT_PENDING:
        title = _str(inc.get("title")) or inc_id or "a component"
        when = _str(p.get("publish_at")) or _str(inc.get("held_until")) or "the end of the hold"
        text = (
            f"An outage of {title} is confirmed. Its first customer notice is held and goes out "
            f"at {when}, unless someone publishes it now or vetoes it"
        )
        if inc_id:
            text += (
                f" (admin API: POST /api/v1/admin/incidents/{inc_id}/publish, or .../veto if "
                "it is not a real outage)"
            )
        return Note(
            f"{service}: outage confirmed on {title}; first customer notice held",
            text + ".",
            severity,
            inc_key,
            ends=False,
            facts=[*_incident_facts(inc), ("Held until", when), *_failing(p, 3)],
            link=link,
            source=service,
        )

    if inc:  # a customer notice about an incident, as customers read it
        return Note(
            m.subject or f"{service}: {event}",
            m.text,
            "info" if event in (Event.INCIDENT_RESOLVED, Event.POSTMORTEM_PUBLISHED) else severity,
            inc_key,
            ends=event == Event.INCIDENT_RESOLVED,
            facts=_incident_facts(inc),
            link=link,
            source=service,
        )

    raw_maint = p.get("maintenance")
    if isinstance(raw_maint, dict):
        maint_id = _str(raw_maint.get("id"))
        return Note(
            m.subject or f"{service}: {event}",
            m.text,
            "info",
            f"outage-detector/maintenance/{maint_id or envelope.notice_id}",
            ends=event == Event.MAINTENANCE_ENDED,
            facts=[
                (k, v)
                for k, v in (
                    ("Maintenance", maint_id),
                    ("Components", ", ".join(_str(c) for c in raw_maint.get("components") or [])),
                    ("Starts", _str(raw_maint.get("starts_at"))),
                    ("Ends", _str(raw_maint.get("ends_at"))),
                )
                if v
            ],
            link=link,
            source=service,
        )

    # an event this module has no words for (a newer operators' event): said as it came
    skip = {"event", "notice_id", "service", "published_at", "evidence", "status_page_url"}
    facts = [
        (k, _str(v))
        for k, v in p.items()
        if k not in skip and isinstance(v, str | int | float | bool) and _str(v)
    ]
    return Note(
        m.subject if m.subject and m.subject != event else f"{service}: {event}",
        m.text if m.text != event else "",
        "warning",
        f"outage-detector/{service}/{event}",
        ends=False,
        facts=facts[:10],
        link=link,
        source=service,
    )


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    text: str
    retry_after: float | None  # from Retry-After, seconds


class JsonPoster:
    """JSON POSTs over one reused aiohttp session, each within a time limit."""

    def __init__(self, provider: str, timeout: float, clock: Clock) -> None:
        self.provider = provider
        self.timeout = timeout
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Reply | Delivery:
        """The provider's reply, or the failed Delivery when there was none."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        sent = {
            "Content-Type": "application/json",
            "User-Agent": "outage-detector",
            **(headers or {}),
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session.post(url, data=data, headers=sent) as resp:
                    text = await resp.text(errors="replace")
                    wait = parse_retry_after(resp.headers.get("Retry-After"), self._clock.now())
                    return Reply(resp.status, text, wait)
        except TimeoutError:
            return Delivery(False, f"{self.provider} did not answer within {self.timeout:g}s")
        except (aiohttp.ClientError, OSError) as e:
            return Delivery(False, f"{self.provider} unreachable: {type(e).__name__}")

    def outcome(self, reply: Reply, words: str, accepted: str = "") -> Delivery:
        """2xx accepted; 429 later (as asked); 408 and 5xx retried; any other 4xx permanent."""
        if 200 <= reply.status < 300:
            return Delivery(True, accepted or f"accepted by {self.provider}: HTTP {reply.status}")
        detail = f"{self.provider} HTTP {reply.status}: {cut(words.strip(), 200) or 'no message'}"
        if reply.status == 429:
            return Delivery(False, detail, retry_after=reply.retry_after)
        if reply.status >= 500 or reply.status == 408:
            return Delivery(False, detail)
        return Delivery(False, detail, permanent=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- Slack --------------------------------------------------------------------------------------


class SlackChannel(ChannelBase):
    type: Literal["slack"]
    url: Secret  # https://hooks.slack.com/services/T…/B…/…: the URL is the credential

    @field_validator("url")
    @classmethod
    def _url(cls, v: SecretStr) -> SecretStr:
        return check_hook_url(v, "Slack")


# Slack's limits (Block Kit): a header's text, a section's text, a field, fields per section
HEADER_MAX, SECTION_MAX, FIELD_MAX, FIELDS_MAX = 150, 3000, 2000, 10


def mrkdwn(text: str) -> str:
    """Slack reads &, < and > as markup in every mrkdwn text: escaped, they are shown."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class HookChannel:
    """What an incoming-webhook channel for operators shares (Slack, Teams): the hook URL is
    the credential, it hears operators' events, one JSON POST per event."""

    kind = ""
    provider = ""  # in logs and delivery details
    max_batch = 0
    concurrency = 2

    def __init__(
        self,
        cfg: SlackChannel | TeamsChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        secret = cfg.url.get_secret_value()
        self.url = hook_url(secret, cfg.api_base)
        self._http = JsonPoster(self.provider, timeout, clock or SystemClock())
        self._log = logs.get(f"detector.channels.{self.kind}", channel=name)
        self._secrets = hook_secrets(secret)
        logs.register_secrets(self._secrets)

    def wants(self, event: str) -> bool:
        return operator_wants(self.cfg, event)

    def build(self, envelope: Envelope) -> dict[str, Any]:
        raise NotImplementedError

    def accepted(self, reply: Reply) -> Delivery:
        raise NotImplementedError

    async def send(self, envelope: Envelope) -> Delivery:
        reply = await self._http.post(self.url, self.build(envelope))
        delivery = self.accepted(reply) if isinstance(reply, Reply) else reply
        return logged(self._log, self.kind, envelope, redacted(delivery, *self._secrets))

    async def close(self) -> None:
        await self._http.close()


class Slack(HookChannel):
    kind = "slack"
    provider = "Slack"

    def build(self, envelope: Envelope) -> dict[str, Any]:
        """`text` (the notification, and what clients without blocks show) and Block Kit
        blocks: a header, the words, the facts, and where it came from."""
        note = describe(envelope)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": cut(note.title, HEADER_MAX)}}
        ]
        if note.text.strip():
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": cut(mrkdwn(note.text.strip()), SECTION_MAX)},
                }
            )
        if note.facts:
            fields = [
                {"type": "mrkdwn", "text": cut(f"*{mrkdwn(k)}*\n{mrkdwn(v)}", FIELD_MAX)}
                for k, v in note.facts[:FIELDS_MAX]
            ]
            blocks.append({"type": "section", "fields": fields})
        context = f"{mrkdwn(envelope.event)} · notice {mrkdwn(envelope.notice_id)}"
        if note.link:
            context += f" · <{note.link}|status page>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        return {"text": cut(mrkdwn(note.title), SECTION_MAX), "blocks": blocks}

    def accepted(self, reply: Reply) -> Delivery:
        # Slack answers in one word: "ok", or what is wrong ("invalid_blocks", "no_service")
        return self._http.outcome(reply, reply.text, "accepted by Slack")
