"""PagerDuty Events API v2: the operators' own events as alerts that open and close.

A condition opens an alert (`trigger`) and its end closes it (`resolve`) under one dedup_key:
the detector doubting its own network (`detector.degraded`) is triggered, and resolved when its
controls pass again (`degraded: false`); a confirmed outage whose first notice is held
(`incident.pending`) is triggered under the incident's key, so a channel that also gets
`incident.opened`/`incident.updated` adds to that same alert and `incident.resolved` closes it.
Without `incident.resolved` in `events`, a person resolves that alert in PagerDuty.

Maintenance and post-mortem events are not alerts: a pagerduty channel's `events` may not name
them (`detector check` says so). What it hears by default, and the words, are shared with Slack
and Teams (see channels.slack).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import SecretStr, field_validator

from detector import logs
from detector.channels.base import Delivery, Envelope, logged, redacted
from detector.channels.slack import JsonPoster, Reply, cut, describe, operator_wants
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret
from detector.domain import Event

DEFAULT_API_BASE = "https://events.pagerduty.com"
NOT_ALERTS = frozenset(
    {
        Event.MAINTENANCE_SCHEDULED,
        Event.MAINTENANCE_STARTED,
        Event.MAINTENANCE_ENDED,
        Event.POSTMORTEM_PUBLISHED,
    }
)
SUMMARY_MAX = 1024  # PagerDuty's limit for payload.summary
DEDUP_MAX = 255


class PagerdutyChannel(ChannelBase):
    type: Literal["pagerduty"]
    routing_key: Secret  # the integration key of an Events API v2 integration or ruleset

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().strip()) != 32:
            raise ValueError("a PagerDuty routing key is 32 characters (the integration key)")
        return v

    @field_validator("events")
    @classmethod
    def _alerts_only(cls, v: list[str] | None) -> list[str] | None:
        bad = [e for e in v or [] if e in NOT_ALERTS]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not an alert: pagerduty takes incident.* and detector events "
                "(send maintenance and post-mortems to slack or teams)"
            )
        return v


class PagerDuty:
    kind = "pagerduty"
    max_batch = 0
    concurrency = 2

    def __init__(
        self,
        cfg: PagerdutyChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.url = str(cfg.api_base or DEFAULT_API_BASE).rstrip("/") + "/v2/enqueue"
        self._key = cfg.routing_key.get_secret_value().strip()
        self._http = JsonPoster("PagerDuty", timeout, clock or SystemClock())
        self._log = logs.get("detector.channels.pagerduty", channel=name)
        logs.register_secrets([self._key])

    def wants(self, event: str) -> bool:
        return event not in NOT_ALERTS and operator_wants(self.cfg, event)

    def build(self, envelope: Envelope) -> dict[str, Any]:
        """A `trigger` with the payload PagerDuty requires (summary, source, severity), or the
        `resolve` that ends the condition under the same dedup_key."""
        note = describe(envelope)
        dedup_key = cut(note.key, DEDUP_MAX)
        if note.ends:
            return {"routing_key": self._key, "event_action": "resolve", "dedup_key": dedup_key}
        details: dict[str, Any] = {"event": envelope.event, "notice_id": envelope.notice_id}
        if note.text.strip():
            details["text"] = note.text.strip()
        details.update({k: v for k, v in note.facts})
        payload: dict[str, Any] = {
            "summary": cut(" ".join(note.title.split()), SUMMARY_MAX),
            "source": note.source,
            "severity": note.severity,
            "component": ", ".join(
                str(c) for c in (envelope.payload.get("incident") or {}).get("components") or []
            )
            or None,
            "group": "outage-detector",
            "class": envelope.event,
            "custom_details": details,
        }
        published = envelope.payload.get("published_at") or (
            envelope.payload.get("notice") or {}
        ).get("published_at")
        if isinstance(published, str) and published:
            payload["timestamp"] = published
        body: dict[str, Any] = {
            "routing_key": self._key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {k: v for k, v in payload.items() if v is not None},
            "client": "outage-detector",
        }
        if note.link:
            body["client_url"] = note.link
            body["links"] = [{"href": note.link, "text": "Status page"}]
        return body

    async def send(self, envelope: Envelope) -> Delivery:
        body = self.build(envelope)
        reply = await self._http.post(self.url, body)
        if isinstance(reply, Reply):
            delivery = self._http.outcome(
                reply,
                self._words(reply.text),
                f"PagerDuty accepted the {body['event_action']} of {body['dedup_key']}",
            )
        else:
            delivery = reply
        return logged(self._log, "pagerduty", envelope, redacted(delivery, self._key))

    @staticmethod
    def _words(text: str) -> str:
        """`{"status": "invalid event", "message": "...", "errors": ["..."]}` in one line."""
        try:
            answer = json.loads(text)
        except ValueError:
            return text
        if not isinstance(answer, dict):
            return text
        errors = answer.get("errors")
        parts = [str(answer.get("message") or answer.get("status") or "")]
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        return "; ".join(p for p in parts if p)

    async def close(self) -> None:
        await self._http.close()
