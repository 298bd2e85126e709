"""Publishing: facts → notices → outbox rows, written with the decision that made them.
The next-update time is promised here, on the monotonic clock, and told in wall time."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from detector.channels import is_operator
from detector.config.models import Component
from detector.domain import Status
from detector.incidents import payload as payloads
from detector.incidents.base import EngineBase
from detector.notices import fanout
from detector.notices.compose import compose
from detector.notices.model import Message, NoticeFacts
from detector.state import Level
from detector.store import (
    Change,
    IncidentRow,
    NoticeRow,
)
from detector.text import Localized, split_localized, text_in


class PublishingMixin(EngineBase):
    def next_update(self, inc: IncidentRow, now: float) -> float | None:
        """When this incident's next update will come; None once resolved."""
        dl = self.deadlines(inc)
        if inc.status == Status.RESOLVED:
            dl.next_update = None
            return None
        mono = self.clock.monotonic()
        nxt = mono + self.config.cadence.for_severity(inc.severity)
        if inc.status == Status.MONITORING and dl.recovered is not None:
            nxt = min(nxt, dl.recovered + self._stable_for(inc))
        dl.next_update = nxt
        return now + (nxt - mono)

    def facts(
        self,
        inc: IncidentRow,
        kind: str,
        event: str,
        now: float,
        message: Localized | None = None,
        **extra: Any,
    ) -> NoticeFacts:
        comps = [self.config.component(c) for c in inc.component_ids if self._known(c)]
        source = self.config.service.locale
        cause, cause_translations = split_localized(inc.cause, source)
        words, message_translations = split_localized(message, source)
        return NoticeFacts(
            event=event,
            kind=kind,
            incident_id=inc.id,
            sequence=inc.sequence,
            title=inc.title,
            status=inc.status,
            severity=inc.severity,
            components=[c.name for c in comps],
            impacts=self._impacts(comps, inc.severity),
            impact_translations=[c.impact_translations(inc.severity) for c in comps],
            vendor=self._vendor_at_fault(inc),
            started_at=inc.started_at,
            published_at=now,
            next_update_at=inc.next_update_at,
            report_by=inc.report_by if inc.status in (Status.MONITORING, Status.RESOLVED) else None,
            cause=cause,
            cause_translations=cause_translations,
            message=words,
            message_translations=message_translations,
            **self._service_facts(),
            **extra,
        )

    def _vendor_at_fault(self, inc: IncidentRow) -> str | None:
        """The vendor a notice may name: only while that vendor's own word (a `statuspage`
        probe of a component of this incident that has the vendor) fails too. Our own checks
        failing on a component that depends on a vendor prove nothing about the vendor."""
        if inc.vendor is None:
            return None
        for cid in inc.component_ids:
            if not self._known(cid):
                continue
            c = self.config.component(cid)
            if c.vendor != inc.vendor:
                continue
            for p in c.probes:
                if p.kind == "statuspage" and self.states[p.name].confirmed != Level.OK:
                    return inc.vendor
        return None

    def _impacts(self, comps: list[Component], severity: str) -> list[str]:
        """Each component's impact for `severity` in the service's language ("" if none)."""
        source = self.config.service.locale
        return [text_in(c.impact_for(severity), source, source) or "" for c in comps]

    def _service_facts(self) -> dict[str, Any]:
        svc = self.config.service
        return {
            "service_name": svc.name,
            "status_page_url": str(svc.status_page_url) if svc.status_page_url else None,
            "contact_name": svc.contact.name,
            "contact_email": svc.contact.email,
            "contact_phone": svc.contact.phone,
            "source_locale": svc.locale,
        }

    def _default(self, facts: NoticeFacts) -> Message:
        return compose(facts, self.config.service.locale, self.config.service.timezone)

    def publish(
        self,
        inc: IncidentRow,
        kind: str,
        event: str,
        now: float,
        change: Change,
        message: Localized | None = None,
        extra: dict[str, Any] | None = None,
    ) -> NoticeRow:
        """A notice: the incident's next sequence, its next-update time, its outbox rows."""
        inc.sequence += 1
        inc.next_update_at = self.next_update(inc, now)
        extra = dict(extra or {})
        if inc.recovered_at is not None and inc.status in (Status.MONITORING, Status.RESOLVED):
            # the outage lasted until the probes recovered, not until we declared it over:
            # the notice, the post-mortem and the page tell one duration
            extra.setdefault("recovered_at", inc.recovered_at)
        facts = self.facts(inc, kind, event, now, message=message, extra=extra)
        notice_id = f"{inc.id}.{inc.sequence}"
        evidence = self._evidence(inc)
        body = payloads.webhook(notice_id, inc, facts, self._default(facts), evidence)
        change.incidents.append(replace(inc))
        return self._emit(
            notice_id, inc.id, inc.sequence, facts, inc.component_ids, evidence, body, change
        )

    def _emit(
        self,
        notice_id: str,
        owner_id: str,
        sequence: int,
        facts: NoticeFacts,
        component_ids: list[str],
        evidence: list[dict[str, Any]],
        body: dict[str, Any],
        change: Change,
    ) -> NoticeRow:
        """The notice row and its outbox rows, written with the decision that made them."""
        default = self._default(facts)
        rows = fanout.plan(
            notice_id=notice_id,
            facts=facts,
            payload=body,
            default_message=default,
            component_ids=component_ids,
            config=self.config,
            channels=self.channels,
            subscribers=self.subscribers,
            now=facts.published_at,
        )
        notice = NoticeRow(
            id=notice_id,
            incident_id=owner_id,
            sequence=sequence,
            event=facts.event,
            kind=facts.kind,
            status=facts.status,
            severity=facts.severity,
            published_at=facts.published_at,
            next_update_at=facts.next_update_at,
            subject=default.subject,
            text=default.text,
            facts=payloads.facts_dict(facts),
            evidence=evidence,
            recipients=sum(len(r.recipients) for r in rows),
        )
        change.notices.append(notice)
        change.outbox.extend(rows)
        return notice

    def _internal_notice(
        self,
        event: str,
        now: float,
        change: Change,
        notice_id: str | None = None,
        exclude: str | None = None,
        **data: Any,
    ) -> None:
        """An operators' event: to every operators' channel that wants it (never customers'),
        but not to `exclude` (the channel a dead notice came from)."""
        notice_id = notice_id or f"detector.{int(now * 1000)}.{secrets.token_hex(2)}"
        body = payloads.internal(event, notice_id, now, self.config, self._all_evidence(), data)
        for ch in self.channels:
            if is_operator(ch) and ch.wants(event) and ch.name != exclude:
                change.outbox.append(
                    fanout.row(
                        notice_id, ch, event, payloads.blank_message(event), body, [], 0, now
                    )
                )

    def _evidence(self, inc: IncidentRow) -> list[dict[str, Any]]:
        out = []
        for cid in inc.component_ids:
            if self._known(cid):
                for name in self.members[cid]:  # probes, and Alertmanager alerts
                    out += payloads.evidence_rows(name, self.evidence.get(name, ()))
        return out

    def _all_evidence(self) -> list[dict[str, Any]]:
        out = []
        for name, ev in self.evidence.items():
            out += payloads.evidence_rows(name, list(ev)[-2:])
        return out
