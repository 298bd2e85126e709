"""Planned work: announced when scheduled, when it starts and when it ends (or is called
off); while it runs, its components' trouble opens no incident."""

from __future__ import annotations

import secrets
from dataclasses import replace

from detector.domain import Event, Kind, Severity
from detector.incidents import payload as payloads
from detector.incidents.base import EngineBase
from detector.notices.model import NoticeFacts
from detector.store import (
    Change,
    MaintenanceRow,
)
from detector.text import Localized, split_localized


class MaintenanceMixin(EngineBase):
    def in_maintenance(self, component_id: str, now: float) -> bool:
        return any(
            m.starts_at <= now < m.ends_at and component_id in m.component_ids
            for m in self.maintenance
        )

    async def schedule_maintenance(
        self,
        title: str,
        component_ids: list[str],
        starts_at: float,
        ends_at: float,
        message: Localized | None = None,
    ) -> MaintenanceRow:
        """Planned work: announced to subscribers now, at its start and at its end."""
        unknown = [c for c in component_ids if not self._known(c)]
        if unknown:
            raise ValueError(f"components: unknown component {unknown[0]!r}")
        if not component_ids:
            raise ValueError("components: name at least one component")
        if ends_at <= starts_at:
            raise ValueError("ends_at: must be after starts_at")
        async with self.lock:
            now = self.clock.now()
            if ends_at <= now:
                raise ValueError("ends_at: must be in the future")
            async with self._txn() as change:
                m = MaintenanceRow(
                    id=f"maint-{secrets.token_hex(4)}",
                    component_ids=component_ids,
                    title=title,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    message=message,
                )
                self.maintenance.append(m)
                self._announce(m, 1, now, change)
            return m

    async def cancel_maintenance(self, maintenance_id: str) -> MaintenanceRow:
        """A person calls planned work off: before it starts, subscribers hear it is cancelled;
        once under way, it ends now (and trouble that outlasts it becomes an outage)."""
        async with self.lock, self._txn() as change:
            now = self.clock.now()
            m = next((m for m in self.maintenance if m.id == maintenance_id), None)
            if m is None:
                raise KeyError(maintenance_id)
            if m.announced >= 3 or m.ends_at <= now:
                raise ValueError("this maintenance is already over")
            started = m.starts_at <= now
            m.ends_at = now
            if not started:
                m.starts_at = now
            self._announce(m, 3 if started else 4, now, change)
            self.maintenance.remove(m)
            for cid in m.component_ids:
                if self._known(cid):
                    self._evaluate(cid, now, change)
        return m

    def _tick_maintenance(self, now: float, change: Change, nxt: float) -> float:
        for m in list(self.maintenance):
            if m.announced < 2 and now >= m.starts_at:
                self._announce(m, 2, now, change)
            if m.announced < 3 and now >= m.ends_at:
                self._announce(m, 3, now, change)
                self.maintenance.remove(m)
                for cid in m.component_ids:  # trouble that outlasts the work is an outage
                    if self._known(cid):
                        self._evaluate(cid, now, change)
            for t in (m.starts_at, m.ends_at):
                if t > now:  # calendar times people gave: they follow the wall clock
                    nxt = min(nxt, self._mono(t))
        return nxt

    def _announce(self, m: MaintenanceRow, stage: int, now: float, change: Change) -> None:
        kind, event = {
            1: (Kind.MAINTENANCE_SCHEDULED, Event.MAINTENANCE_SCHEDULED),
            2: (Kind.MAINTENANCE_STARTED, Event.MAINTENANCE_STARTED),
            3: (Kind.MAINTENANCE_ENDED, Event.MAINTENANCE_ENDED),
            4: (Kind.MAINTENANCE_CANCELLED, Event.MAINTENANCE_ENDED),  # called off before it began
        }[stage]
        m.announced = min(stage, 3)
        comps = [self.config.component(c) for c in m.component_ids if self._known(c)]
        # planned work: what customers cannot do while it runs, as in an outage
        during = Severity.MAJOR_OUTAGE
        message, translations = split_localized(m.message, self.config.service.locale)
        facts = NoticeFacts(
            event=event,
            kind=kind,
            incident_id=m.id,
            sequence=stage,
            title=m.title,
            status="maintenance",
            severity=Severity.OPERATIONAL,
            components=[c.name for c in comps],
            impacts=self._impacts(comps, during),
            vendor=None,
            impact_translations=[c.impact_translations(during) for c in comps],
            started_at=m.starts_at,
            published_at=now,
            next_update_at=None,
            message=message,
            message_translations=translations,
            extra={"starts_at": m.starts_at, "ends_at": m.ends_at},
            **self._service_facts(),
        )
        body = payloads.maintenance(f"{m.id}.{stage}", m, facts, self._default(facts))
        self._emit(f"{m.id}.{stage}", m.id, stage, facts, m.component_ids, [], body, change)
        change.maintenance.append(replace(m))
