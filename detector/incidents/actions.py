"""People's actions (admin API, CLI): each computed on a copy, committed, then applied;
a failed commit changes nothing and the person gets a 503."""

from __future__ import annotations

import secrets
from dataclasses import replace

from detector.domain import Event, Kind, Status
from detector.incidents.base import EngineBase
from detector.store import (
    IncidentRow,
    NoticeRow,
)
from detector.text import Localized


class ActionsMixin(EngineBase):
    async def human_update(
        self, incident_id: str, message: Localized, status: str | None = None
    ) -> NoticeRow:
        """A person's words, published to customers like any notice."""
        async with self.lock, self._txn() as change:
            now = self.clock.now()
            inc = self.find_open(incident_id)
            if status is not None:
                inc.status_by_person = True  # it stays through automatic changes
            if status is not None and status != inc.status:
                inc.status = status
                if status == Status.MONITORING and inc.recovered_at is None:
                    inc.recovered_at = now
                    self.deadlines(inc).recovered = self.clock.monotonic()
                    inc.report_by = now + self.config.service.report_within
                elif status != Status.MONITORING:
                    inc.recovered_at = self.deadlines(inc).recovered = None
            return self.publish(
                inc, Kind.HUMAN, Event.INCIDENT_UPDATED, now, change, message=message
            )

    async def set_cause(
        self,
        incident_id: str,
        cause: Localized,
        actions: Localized | None = None,
        publish: bool = True,
    ) -> IncidentRow:
        """A person names the cause: `identified`, said to customers at once."""
        async with self.lock:
            stored = None
            try:
                self.find_open(incident_id)
            except KeyError:
                stored = await self.store.incident(incident_id)
                if stored is None:
                    raise
            async with self._txn() as change:
                now = self.clock.now()
                inc = stored or self.find_open(incident_id)
                inc.cause = cause
                if actions is not None:
                    inc.actions = actions
                if inc.resolved_at is None and publish:
                    if inc.status == Status.INVESTIGATING:
                        inc.status, inc.status_by_person = Status.IDENTIFIED, True
                    self.publish(inc, Kind.IDENTIFIED, Event.INCIDENT_UPDATED, now, change)
                else:
                    change.incidents.append(replace(inc))
            return inc

    async def resolve(self, incident_id: str, message: Localized | None = None) -> NoticeRow:
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            self._resolve(inc, self.clock.now(), change, message=message)
        return change.notices[-1]

    async def open_manual(
        self,
        title: str,
        component_ids: list[str],
        severity: str,
        message: Localized | None = None,
    ) -> IncidentRow:
        """An incident for what probes cannot see, opened by a person."""
        async with self.lock, self._txn() as change:
            now = self.clock.now()
            inc = IncidentRow(
                id=f"manual-{secrets.token_hex(4)}",
                component_ids=component_ids,
                title=title,
                status=Status.INVESTIGATING,
                severity=severity,
                manual=True,
                vendor=next(
                    (
                        self.config.component(c).vendor
                        for c in component_ids
                        if self._known(c) and self.config.component(c).vendor
                    ),
                    None,
                ),
                started_at=now,
                detected_at=now,
            )
            self.manual[inc.id] = inc
            change.after.append(self.metrics.incidents.inc)
            self.publish(inc, Kind.OPENED, Event.INCIDENT_OPENED, now, change, message=message)
        return inc

    async def publish_held(self, incident_id: str) -> NoticeRow:
        """An operator says: tell customers now, do not wait for the hold to end."""
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            if inc.held_until is None:
                raise ValueError("this incident's first notice is already published")
            inc.held_until = self.deadlines(inc).held_until = None
            return self.publish(inc, Kind.OPENED, Event.INCIDENT_OPENED, self.clock.now(), change)

    async def veto(self, incident_id: str) -> IncidentRow:
        """An operator says: false alarm, tell nobody. Kept on record, never published."""
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            if inc.held_until is None:
                raise ValueError("too late to veto: customers were already told")
            inc.vetoed, inc.status, inc.resolved_at = True, Status.RESOLVED, self.clock.now()
            for cid in inc.component_ids:
                if self.open.get(cid) is inc:
                    del self.open[cid]
            self.mem.deadlines.pop(inc.id, None)
            change.incidents.append(replace(inc))
            change.after.append(
                lambda: self.log.warning("held incident vetoed", incident_id=inc.id)
            )
        return inc

    async def publish_postmortem(self, incident_id: str) -> NoticeRow:
        async with self.lock:
            inc = await self.store.incident(incident_id)
            if inc is None:
                raise KeyError(incident_id)
            if inc.resolved_at is None or inc.vetoed:
                raise ValueError("resolve the incident before publishing its post-mortem")
            async with self._txn() as change:
                now = self.clock.now()
                inc.postmortem_published_at = now
                return self.publish(inc, Kind.POSTMORTEM, Event.POSTMORTEM_PUBLISHED, now, change)
