"""The lifecycle: what a verdict, a control's word or the passing of time means for
incidents. No I/O: it works on the engine's working copy of its memory and fills a `Change`
that the engine commits (compute, commit, then swap)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from detector.domain import Event, Kind, Severity, Status
from detector.incidents import payload as payloads
from detector.incidents.base import EngineBase
from detector.incidents.memory import Decision
from detector.state import (
    IncidentEvent,
    IncidentState,
    Level,
    Phase,
    step_incident,
    tick_incident,
    trouble_started,
    worst,
)
from detector.store import (
    Change,
    IncidentRow,
)
from detector.text import Localized


class LifecycleMixin(EngineBase):
    def _decide_in(self, d: Decision, change: Change) -> None:
        now = self.clock.now()
        if d.streak:
            st = self.states[d.probe]
            if st.confirmed == Level.OK:  # not yet confirmed: only the start is worth keeping
                change.probe_states[d.probe] = (0, st.first_bad_at, None)
            self._revisit_settling(now, change)
            return
        if d.event is not None:
            st = self.states[d.probe]
            change.probe_states[d.probe] = (int(st.confirmed), st.first_bad_at, st.severity)
            self.log.info(
                "probe verdict", probe=d.probe, verdict=d.event.kind, level=d.event.level.name
            )
        component = self.component_of[d.probe]
        if component is None:  # a control
            self._controls_changed(now, change)
            # the controls' latest word is this check: nothing newer can be asked of them
            checked = self.control_checked_at.get(d.probe, self.clock.monotonic())
            components = sorted(self.deferred) if not self._controls_doubt(checked) else []
            self.deferred.difference_update(components)
        else:
            components = [component]
        for cid in components:
            self._evaluate(cid, now, change)

    def _controls_doubt(self, since: float) -> bool:
        """True while our own network is suspect, or the controls have not spoken since `since`."""
        if not self.config.controls:
            return False
        for c in self.config.controls:
            st = self.states[c.name]
            if st.confirmed != Level.OK or st.bad_streak > 0:
                return True
            if self.control_checked_at.get(c.name, float("-inf")) < since:
                return True
        return False

    def _controls_changed(self, now: float, change: Change) -> None:
        down = any(self.states[c.name].confirmed == Level.FAIL for c in self.config.controls)
        if down == self.controls_down:
            return
        self.controls_down = down
        change.after.append(lambda: self.metrics.control_ok.set(0 if down else 1))
        if down:
            change.after.append(
                lambda: self.log.error(
                    "controls failing: the detector's own network is suspect; "
                    "no customer outage will be declared until they pass"
                )
            )
        else:
            change.after.append(
                lambda: self.log.warning("controls pass again; evaluating components")
            )
            self.deferred.update(c.id for c in self.config.components)
        self._internal_notice(Event.DETECTOR_DEGRADED, now, change, degraded=down)

    def _evaluate(self, cid: str, now: float, change: Change, settled: bool = False) -> None:
        """A component's verdict changed: open, join, or step the incident it is part of."""
        severity = self.severity(cid)
        self.metrics.set_component(cid, severity)
        inc = self.open.get(cid)
        if inc is not None:
            self._evaluate_incident(inc, now, change, settled)
            return
        if not severity.down:
            self.mem.settling.pop(f"c:{cid}", None)
            return
        if self.in_maintenance(cid, now):
            return  # planned work: announced beforehand, opens no incident
        group = self._newly_down(now)  # everything down and not yet told: one story
        if cid not in group or self._doubt(group):
            return
        if not settled and not self._settled(group, opening=True):
            self._settle(f"c:{cid}", change)
            return
        for c in group:
            self.mem.settling.pop(f"c:{c}", None)
        target = self._join_target()
        if target is not None:
            self._join(target, group, now, change)
        else:
            self._open(group, now, change)

    def _newly_down(self, now: float) -> list[str]:
        return [
            c.id
            for c in self.config.components
            if c.id not in self.open
            and self.severity(c.id).down
            and not self.in_maintenance(c.id, now)
        ]

    def _evaluate_incident(
        self, inc: IncidentRow, now: float, change: Change, settled: bool = False
    ) -> None:
        severity = self._incident_severity(inc, now)
        state = self._incident_state(inc)
        current = state.severity if state.phase == Phase.OPEN else Severity.OPERATIONAL
        if Severity.of(severity) > current and self._doubt(inc.component_ids):
            return
        new_state, event = step_incident(state, severity, now)
        if event is None:
            self.mem.settling.pop(f"i:{inc.id}", None)
            return
        if (
            not settled
            and inc.held_until is None
            and not self._settled(inc.component_ids, opening=False)
        ):
            self._settle(f"i:{inc.id}", change)
            return
        self.mem.settling.pop(f"i:{inc.id}", None)
        self._apply(inc, new_state, event, now, change)

    def _incident_severity(self, inc: IncidentRow, now: float) -> str:
        """The worst of its components' severities; a component under planned work counts
        as working (its trouble is announced as maintenance, not as this outage)."""
        return worst(
            [
                self.severity(cid)
                for cid in inc.component_ids
                if self._known(cid) and not self.in_maintenance(cid, now)
            ]
        )

    def _doubt(self, component_ids: list[str]) -> bool:
        """Trouble that began while our own network is suspect waits for the controls."""
        starts = [
            self.bad_since[n]
            for cid in component_ids
            if self._known(cid)
            for n in self.members[cid]
            if self.states[n].confirmed != Level.OK and n in self.bad_since
        ]
        if not self._controls_doubt(min(starts, default=self.clock.monotonic())):
            return False
        self.deferred.update(c for c in component_ids if self._known(c))
        self.request_controls()
        return True

    def _settled(self, component_ids: list[str], *, opening: bool) -> bool:
        """Nothing is about to change what we would say: no probe of these components is in
        a streak (failing towards a verdict, or passing towards recovery); and, before an
        incident opens, no probe elsewhere is failing towards one that could join it."""
        for cid in component_ids:
            probes = self.config.component(cid).probes
            # the trouble's start: every probe must have been checked since (its siblings
            # were asked to check at once), so a healthy one is known healthy, not assumed
            began = min(
                (
                    self.bad_since[p.name]
                    for p in probes
                    if p.name in self.bad_since and self.states[p.name].confirmed != Level.OK
                ),
                default=None,
            )
            for p in probes:
                if self.states[p.name].suspect:
                    return False
                if (
                    opening
                    and began is not None
                    and not self.remote  # vantages re-check their own siblings
                    and self.checked_at.get(p.name, 0.0) < began
                ):
                    return False
        if opening:
            return not any(
                self.states[p.name].bad_streak > 0
                for c in self.config.components
                if c.id not in component_ids and c.id not in self.open
                for p in c.probes
            )
        return True

    def _settle(self, key: str, change: Change) -> None:
        """Say it once the streaks under way have ended, at the latest after one streak's
        worth of re-checks (`settle_bound`), so probes out of phase tell one story."""
        if key in self.mem.settling:
            return
        self.mem.settling[key] = self.clock.monotonic() + self.settle_bound
        change.after.append(self.tick_wake.set)

    def _revisit_settling(self, now: float, change: Change) -> None:
        """A streak ended without a verdict: what was waiting on it may be said now."""
        for key in list(self.mem.settling):
            kind, _, ident = key.partition(":")
            if kind == "i":
                inc = next((i for i in self.open_incidents() if i.id == ident), None)
                if inc is not None:
                    self._evaluate_incident(inc, now, change)
            elif self._known(ident):
                self._evaluate(ident, now, change)

    def _join_target(self) -> IncidentRow | None:
        """An open automatic incident confirmed within `group_within`: one outage, one story."""
        mono = self.clock.monotonic()
        within = self.config.detection.group_within
        found = [
            inc
            for inc in {i.id: i for i in self.open.values()}.values()
            if not inc.manual
            and (opened := self.deadlines(inc).opened) is not None
            and mono - opened <= within
        ]
        return max(found, key=lambda i: i.detected_at, default=None)

    def _open(self, group: list[str], now: float, change: Change) -> None:
        """One incident for every component that went down together."""
        comps = [self.config.component(c) for c in group]
        starts = [
            s
            for c in comps
            if (s := trouble_started([self.states[n] for n in self.members[c.id]])) is not None
        ]
        severity = worst(self.severity(c) for c in group)
        inc = IncidentRow(
            id=f"{group[0]}-{secrets.token_hex(4)}",
            component_ids=list(group),
            title=", ".join(c.name for c in comps),
            status=Status.INVESTIGATING,
            severity=severity,
            vendor=next((c.vendor for c in comps if c.vendor), None),
            started_at=min(starts, default=now),
            detected_at=now,
        )
        for c in group:
            self.open[c] = inc
        self.deadlines(inc).opened = self.clock.monotonic()
        change.after.append(self.metrics.incidents.inc)
        change.after.append(
            lambda: self.log.warning(
                "incident opened", incident_id=inc.id, severity=severity, components=group
            )
        )
        hold = self.config.notify.hold
        if hold > 0:
            inc.held_until = now + hold
            self.deadlines(inc).held_until = self.clock.monotonic() + hold
            change.incidents.append(replace(inc))
            self._internal_notice(
                Event.INCIDENT_PENDING,
                now,
                change,
                incident=payloads.incident_json(inc),
                publish_at=payloads.iso(inc.held_until),
            )
            return
        self.publish(inc, Kind.OPENED, Event.INCIDENT_OPENED, now, change)

    def _join(self, inc: IncidentRow, group: list[str], now: float, change: Change) -> None:
        """Components join an open incident: said as one update naming what it now affects."""
        names = []
        for cid in group:
            component = self.config.component(cid)
            inc.component_ids.append(cid)
            self.open[cid] = inc
            names.append(component.name)
            if inc.vendor is None:
                inc.vendor = component.vendor
            start = trouble_started([self.states[n] for n in self.members[cid]])
            if start is not None and start < inc.started_at:
                inc.started_at = start
        inc.title = ", ".join(
            self.config.component(c).name for c in inc.component_ids if self._known(c)
        )
        previous = inc.severity
        state = self._incident_state(inc)
        new_state, event = step_incident(state, self._incident_severity(inc, now), now)
        if event is not None and event.kind != Kind.MONITORING:
            inc.severity = new_state.severity
            if inc.status == Status.MONITORING:
                inc.status = self._automatic_status(inc)
                inc.recovered_at = self.deadlines(inc).recovered = None
        iid = inc.id
        change.after.append(
            lambda: self.log.warning("incident now also affects", incident_id=iid, components=group)
        )
        if inc.held_until is not None:  # not yet told: the first notice will name them
            change.incidents.append(replace(inc))
            return
        extra: dict[str, Any] = {"added_components": names}
        if previous != inc.severity:
            extra["previous_severity"] = previous
        self.publish(inc, Kind.EXPANDED, Event.INCIDENT_UPDATED, now, change, extra=extra)

    def _automatic_status(self, inc: IncidentRow) -> str:
        """What an automatic change leaves as status: a person's word if they gave one."""
        if inc.status_by_person and inc.status in (Status.INVESTIGATING, Status.IDENTIFIED):
            return inc.status
        return Status.IDENTIFIED if inc.cause else Status.INVESTIGATING

    def _incident_state(self, inc: IncidentRow | None) -> IncidentState:
        """The pure machine's view of an incident, its times on the monotonic clock."""
        if inc is None:
            return IncidentState()
        phase = Phase.MONITORING if inc.status == Status.MONITORING else Phase.OPEN
        return IncidentState(phase, inc.severity, self.deadlines(inc).recovered)

    def _apply(
        self,
        inc: IncidentRow,
        state: IncidentState,
        event: IncidentEvent,
        now: float,
        change: Change,
    ) -> None:
        if inc.held_until is not None:  # not yet told: follow along quietly
            if event.kind == Kind.MONITORING:
                inc.status, inc.resolved_at = Status.RESOLVED, now
                change.after.append(
                    lambda: self.log.warning(
                        "held incident recovered before publication", incident_id=inc.id
                    )
                )
                for c in inc.component_ids:
                    if self.open.get(c) is inc:
                        del self.open[c]
            else:
                inc.severity = state.severity
            change.incidents.append(replace(inc))
            return
        if event.kind == Kind.MONITORING:
            inc.status, inc.status_by_person = Status.MONITORING, False
            inc.recovered_at = now
            self.deadlines(inc).recovered = self.clock.monotonic()
            inc.report_by = now + self.config.service.report_within
        elif event.kind == Kind.RECURRED:
            inc.status = self._automatic_status(inc)
            inc.severity = state.severity
            inc.recovered_at = None
            self.deadlines(inc).recovered = None
        else:  # severity_changed: the status stays what it was (a person's word sticks)
            inc.severity = state.severity
            inc.recovered_at = None
            self.deadlines(inc).recovered = None
        kind, inc_id, sev = event.kind, inc.id, inc.severity
        # trouble is a warning; its end (monitoring) is good news, info
        say = self.log.info if kind == Kind.MONITORING else self.log.warning
        change.after.append(lambda: say("incident " + kind, incident_id=inc_id, severity=sev))
        extra = {"previous_severity": event.previous} if event.previous else {}
        self.publish(inc, event.kind, Event.INCIDENT_UPDATED, now, change, extra=extra)

    def _tick_in(self, change: Change) -> float:
        """What is due now; returns the monotonic time the next thing is due."""
        now, mono = self.clock.now(), self.clock.monotonic()
        nxt = self._tick_maintenance(now, change, float("inf"))
        for key, at in list(self.mem.settling.items()):
            if mono < at:
                nxt = min(nxt, at)
                continue
            del self.mem.settling[key]  # the round is over: say what holds now
            kind, _, ident = key.partition(":")
            if kind == "i":
                inc = next((i for i in self.open_incidents() if i.id == ident), None)
                if inc is not None:
                    self._evaluate_incident(inc, now, change, settled=True)
            elif self._known(ident):
                self._evaluate(ident, now, change, settled=True)
        for inc in self.open_incidents():
            dl = self.deadlines(inc)
            if inc.held_until is not None:
                if dl.held_until is None or mono >= dl.held_until:
                    inc.held_until = dl.held_until = None
                    self.publish(inc, Kind.OPENED, Event.INCIDENT_OPENED, now, change)
                else:
                    nxt = min(nxt, dl.held_until)
                    continue
            stable_for = self._stable_for(inc)
            _, event = tick_incident(self._incident_state(inc), mono, stable_for)
            if event is not None and event.kind == Kind.RESOLVED and not inc.manual:
                self._resolve(inc, now, change)
                continue
            if dl.next_update is not None:
                if mono >= dl.next_update:
                    self.publish(inc, Kind.UPDATE, Event.INCIDENT_UPDATED, now, change)
                if dl.next_update is not None:
                    nxt = min(nxt, dl.next_update)
            if inc.status == Status.MONITORING and dl.recovered is not None:
                nxt = min(nxt, dl.recovered + stable_for)
        return nxt

    def _resolve(
        self, inc: IncidentRow, now: float, change: Change, message: Localized | None = None
    ) -> None:
        inc.status = Status.RESOLVED
        inc.resolved_at = now
        if inc.report_by is None:
            inc.report_by = now + self.config.service.report_within
        change.after.append(lambda: self.log.info("incident resolved", incident_id=inc.id))
        self.publish(inc, Kind.RESOLVED, Event.INCIDENT_RESOLVED, now, change, message=message)
        for cid in inc.component_ids:
            if self.open.get(cid) is inc:
                del self.open[cid]
        self.manual.pop(inc.id, None)
        self.mem.deadlines.pop(inc.id, None)
