"""Results → verdicts → incidents → notices in the outbox.

`on_result` is the hot path: pure state stepping, no I/O. Anything that must be written
(a verdict, an incident change, a notice) goes through one decision queue, handled by one task,
each decision committed in one transaction with the rows it implies. The update schedule is the
`next_update_at` column; `tick` reads the in-memory copy of the open incidents, which is loaded
from the store at start, so a restart resumes exactly.

Compute, commit, then swap: every decision, tick and person's action works on a copy of the
engine's memory (`Memory`) and the copy replaces the memory only after its rows are committed.
A failed commit leaves memory as it was; the decision is replayed with backoff (the verdicts
that caused it are still there), a tick simply comes again, a person gets a 503.

Waiting runs on the monotonic clock (cadence, `stable_for`, holds): the wall-clock times stored
on incidents are for telling; `Deadlines` keeps their monotonic twins.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from detector import logs
from detector.aio import wait_event
from detector.channels.base import Channel
from detector.clock import Clock, deadline
from detector.config.models import SEVERITY_RANK, Component, Config, ProbeConfig, Subscriber
from detector.health import Health
from detector.incidents import payload as payloads
from detector.metrics import Metrics
from detector.notices import fanout
from detector.notices.compose import compose
from detector.notices.model import Message, NoticeFacts
from detector.state import (
    IncidentEvent,
    IncidentState,
    Level,
    ProbeEvent,
    ProbeState,
    component_severity,
    step_incident,
    step_probe,
    tick_incident,
    trouble_started,
    worst,
)
from detector.store import (
    STORE_ERRORS,
    Change,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    OutboxRow,
    Store,
)
from probes.base import Result

EVIDENCE_KEEP = 6


@dataclass(frozen=True, slots=True)
class Decision:
    """A probe result worth a decision: its verdict changed, or a control spoke, or a suspect
    streak began or ended (`streak`: only its start is written, so `started_at` survives)."""

    probe: str
    event: ProbeEvent | None
    at: float
    streak: bool = False


@dataclass(slots=True)
class Deadlines:
    """An incident's waits on the monotonic clock (the wall-clock twins live on the row)."""

    next_update: float | None = None
    recovered: float | None = None
    held_until: float | None = None
    opened: float | None = None  # when it was confirmed: components may join until group_within


@dataclass(slots=True)
class Memory:
    """What the engine knows of incidents; replaced whole after a commit, never edited live."""

    open: dict[str, IncidentRow] = field(default_factory=dict)  # component → open incident
    manual: dict[str, IncidentRow] = field(default_factory=dict)
    maintenance: list[MaintenanceRow] = field(default_factory=list)
    deferred: set[str] = field(default_factory=set)  # components waiting for the controls
    controls_down: bool = False
    deadlines: dict[str, Deadlines] = field(default_factory=dict)  # incident id → waits
    # a change not yet said, waiting one re-check round to settle: incident or component id →
    # monotonic time it will be said (at the latest)
    settling: dict[str, float] = field(default_factory=dict)

    def copy(self) -> Memory:
        rows: dict[str, IncidentRow] = {}

        def dup(inc: IncidentRow) -> IncidentRow:
            if inc.id not in rows:  # one incident may stand for several components
                rows[inc.id] = replace(inc, component_ids=list(inc.component_ids))
            return rows[inc.id]

        return Memory(
            open={cid: dup(i) for cid, i in self.open.items()},
            manual={iid: dup(i) for iid, i in self.manual.items()},
            maintenance=[replace(m) for m in self.maintenance],
            deferred=set(self.deferred),
            controls_down=self.controls_down,
            deadlines={k: replace(v) for k, v in self.deadlines.items()},
            settling=dict(self.settling),
        )


# the working copy of the task that is deciding; every other task reads the committed memory
_WORKING: contextvars.ContextVar[Memory | None] = contextvars.ContextVar("working", default=None)


def level_of(result: Result) -> Level:
    if not result.ok:
        return Level.FAIL
    return Level.SOFT if result.soft_fail else Level.OK


class Engine:
    def __init__(
        self,
        config: Config,
        store: Store,
        channels: list[Channel],
        subscribers: list[Subscriber],
        metrics: Metrics,
        clock: Clock,
        *,
        wake_outbox: Callable[[], None] = lambda: None,
        request_controls: Callable[[], None] = lambda: None,
        request_checks: Callable[[list[str]], None] = lambda names: None,
        enqueue: Callable[[list[OutboxRow]], None] = lambda rows: None,
        health: Health | None = None,
        retry_cap: float = 30.0,
    ) -> None:
        self.config = config
        self.store = store
        self.channels = channels
        self.subscribers = subscribers
        self.metrics = metrics
        self.clock = clock
        self.wake_outbox = wake_outbox
        self.request_controls = request_controls
        self.request_checks = request_checks
        self.enqueue = enqueue
        self.health = health or Health(metrics)
        self.retry_cap = retry_cap
        self.log = logs.get("detector.incidents")
        self._index(config)
        self.states: dict[str, ProbeState] = {name: ProbeState() for name in self.probes}
        self.evidence: dict[str, deque[tuple[float, bool, str]]] = {}
        self.control_checked_at: dict[str, float] = {}  # monotonic
        self.bad_since: dict[str, float] = {}  # probe → monotonic time of its streak's start
        self._memory = Memory()
        self.queue: asyncio.Queue[Decision] = asyncio.Queue()
        self.tick_wake = asyncio.Event()
        self.lock = asyncio.Lock()  # decisions, ticks and people's actions, one at a time

    def _index(self, config: Config) -> None:
        """Per-probe lookups the hot path needs, built once per configuration."""
        self.probes: dict[str, ProbeConfig] = {p.name: p for p in config.all_probes()}
        self.settings = {p.name: p.detection(config.detection) for p in config.all_probes()}
        self.component_of: dict[str, str | None] = {p.name: None for p in config.controls}
        # a probe's siblings are re-checked when it first fails or first passes again, so the
        # component's probes are in phase and its severity settles in one re-check round
        self.siblings: dict[str, list[str]] = {}
        for c in config.components:
            for p in c.probes:
                self.component_of[p.name] = c.id
                self.siblings[p.name] = [q.name for q in c.probes if q.name != p.name]

    async def reconfigure(
        self, config: Config, channels: list[Channel], subscribers: list[Subscriber]
    ) -> None:
        """SIGHUP as a diff: every probe that is still there keeps its verdict, streak and
        evidence; open incidents go on. A component removed while in an incident leaves it,
        and an incident left with no component is resolved, with a notice."""
        async with self.lock:
            kept = set(self.probes) & {p.name for p in config.all_probes()}
            removed = {c.id for c in self.config.components} - {c.id for c in config.components}
            async with self._txn() as change:
                now = self.clock.now()
                for inc in self.open_incidents():
                    gone = [c for c in inc.component_ids if c in removed]
                    if not gone:
                        continue
                    if len(gone) == len(inc.component_ids) and not inc.manual:
                        self._resolve(inc, now, change)  # said while the names are known
                        continue
                    inc.component_ids = [c for c in inc.component_ids if c not in removed]
                    for c in gone:
                        self.open.pop(c, None)
                    change.incidents.append(replace(inc))
            self.config, self.channels, self.subscribers = config, channels, subscribers
            self._index(config)
            self.states = {n: self.states[n] if n in kept else ProbeState() for n in self.probes}
            self.evidence = {n: ev for n, ev in self.evidence.items() if n in kept}
            self.bad_since = {n: t for n, t in self.bad_since.items() if n in kept}
            self.control_checked_at = {
                n: t for n, t in self.control_checked_at.items() if n in kept}
            async with self._txn() as change:  # new settings may change what is due or said
                now = self.clock.now()
                for cid in sorted({c for i in self.open_incidents() for c in i.component_ids
                                   if self._known(c)}):
                    self._evaluate(cid, now, change)

    # --- memory: the committed one, or this task's working copy ------------------------------

    @property
    def mem(self) -> Memory:
        return _WORKING.get() or self._memory

    @property
    def open(self) -> dict[str, IncidentRow]:
        return self.mem.open

    @property
    def manual(self) -> dict[str, IncidentRow]:
        return self.mem.manual

    @property
    def maintenance(self) -> list[MaintenanceRow]:
        return self.mem.maintenance

    @property
    def deferred(self) -> set[str]:
        return self.mem.deferred

    @property
    def controls_down(self) -> bool:
        return self.mem.controls_down

    @controls_down.setter
    def controls_down(self, value: bool) -> None:
        self.mem.controls_down = value

    def deadlines(self, inc: IncidentRow) -> Deadlines:
        d = self.mem.deadlines.get(inc.id)
        if d is None:
            d = self.mem.deadlines[inc.id] = Deadlines()
        return d

    def _mono(self, wall: float) -> float:
        """The monotonic twin of a wall-clock time that is being set now."""
        return deadline(self.clock, wall)

    @asynccontextmanager
    async def _txn(self) -> AsyncIterator[Change]:
        """Work on a copy; commit what it implies; swap it in only if the commit held."""
        work = self._memory.copy()
        token = _WORKING.set(work)
        change = Change()
        try:
            yield change
            if not change.empty():
                await self.store.commit(change, self.clock.now())
        finally:
            _WORKING.reset(token)
        self._memory = work
        self.health.ok("store")
        for after in change.after:
            after()
        self.metrics.incidents_open.set(len(self.open_incidents()))
        if change.empty():
            return
        self.tick_wake.set()
        if change.outbox:
            self.enqueue(change.outbox)
            self.wake_outbox()

    # --- start ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Resume from the store: verdicts and open incidents, so a restart changes nothing."""
        now = self.clock.now()
        for name, (level, first_bad_at, severity) in (await self.store.probe_states()).items():
            if name not in self.states:
                continue
            if level:
                self.states[name] = ProbeState(
                    confirmed=Level(level), first_bad_at=first_bad_at, severity=severity
                )
            elif first_bad_at is not None and now - first_bad_at <= self._streak_keep(name):
                # a suspect streak cut short by a restart: its start is the outage's start
                self.states[name] = ProbeState(bad_streak=1, first_bad_at=first_bad_at)
                self.bad_since[name] = self._mono(first_bad_at)
        mem = self._memory
        for inc in await self.store.open_incidents():
            if inc.manual:
                mem.manual[inc.id] = inc
            else:
                for cid in inc.component_ids:
                    mem.open[cid] = inc
            mem.deadlines[inc.id] = Deadlines(
                next_update=None if inc.next_update_at is None else self._mono(inc.next_update_at),
                recovered=None if inc.recovered_at is None else self._mono(inc.recovered_at),
                held_until=None if inc.held_until is None else self._mono(inc.held_until),
                opened=self._mono(inc.detected_at),
            )
        mem.maintenance = await self.store.maintenance_rows(ending_after=now - 86400)
        for c in self.config.components:
            self.metrics.set_component(c.id, self.severity(c.id))
        self.metrics.incidents_open.set(len(self.open_incidents()))

    def _streak_keep(self, name: str) -> float:
        """How old a stored streak start may be and still belong to the streak it began: a
        streak confirms within a few checks, so an older one is from before a long stop."""
        st = self.settings[name]
        return 3 * st.interval + st.failures_to_confirm * st.recheck_interval

    def open_incidents(self) -> list[IncidentRow]:
        seen = {i.id: i for i in self.open.values()}
        seen.update(self.manual)
        return sorted(seen.values(), key=lambda i: i.started_at)

    def severity(self, component_id: str) -> str:
        c = self.config.component(component_id)
        return component_severity([self.states[p.name] for p in c.probes], c.severity_when_down)

    # --- hot path -------------------------------------------------------------------------

    def on_result(self, name: str, result: Result, at: float) -> bool:
        """Step the probe's verdict; return True while it wants fast re-checks."""
        state = self.states[name]
        level = level_of(result)
        settings = self.settings[name]
        new, event = step_probe(
            state, level, at, settings.failures_to_confirm, settings.successes_to_recover,
            result.severity,
        )
        self.states[name] = new
        if (new.bad_streak == 1 and state.bad_streak == 0) or (
            new.good_streak == 1 and state.good_streak == 0
        ):
            siblings = self.siblings.get(name)
            if siblings:
                self.request_checks(siblings)
        if state.bad_streak == 0 and new.bad_streak == 1:
            self.bad_since[name] = self.clock.monotonic()
            if new.confirmed == Level.OK:  # a suspect streak begins: remember its start
                self.queue.put_nowait(Decision(name, None, at, streak=True))
        elif state.bad_streak > 0 and new.bad_streak == 0 and event is None:
            self.queue.put_nowait(Decision(name, None, at, streak=True))  # a false alarm
        ev = self.evidence.get(name)
        if ev is None:
            ev = self.evidence[name] = deque(maxlen=EVIDENCE_KEEP)
        ev.append((at, result.ok, result.detail))
        component = self.component_of[name]
        if component is None:
            self.control_checked_at[name] = self.clock.monotonic()
            if event is not None or self.deferred:
                self.queue.put_nowait(Decision(name, event, at))
        else:
            if state.bad_streak == 0 and new.bad_streak == 1 and self.config.controls:
                self.request_controls()  # doubt ourselves before anyone else
            if event is not None:
                self.queue.put_nowait(Decision(name, event, at))
        return new.suspect

    # --- decisions ------------------------------------------------------------------------

    async def run_decisions(self) -> None:
        """One decision at a time, in order. A decision whose commit fails is replayed with
        backoff until the store takes it: probing goes on meanwhile and nothing is lost."""
        while True:
            decision = await self.queue.get()
            wait = 0.05
            while True:
                try:
                    async with self.lock:
                        await self._decide(decision)
                    break
                except STORE_ERRORS as e:
                    self.health.failed("store", _reason(e))
                    await asyncio.sleep(wait)
                    wait = min(self.retry_cap, wait * 2)
                except Exception:
                    self.log.exception("decision failed", probe=decision.probe)
                    break

    async def drain(self) -> None:
        """Handle every queued decision now (tests and shutdown)."""
        while not self.queue.empty():
            async with self.lock:
                await self._decide(self.queue.get_nowait())

    async def _decide(self, d: Decision) -> None:
        async with self._txn() as change:
            self._decide_in(d, change)

    def _decide_in(self, d: Decision, change: Change) -> None:
        now = self.clock.now()
        if d.streak:
            st = self.states[d.probe]
            if st.confirmed == Level.OK:  # not yet confirmed: only the start is worth keeping
                change.probe_states[d.probe] = (0, st.first_bad_at, None)
            return
        if d.event is not None:
            st = self.states[d.probe]
            change.probe_states[d.probe] = (int(st.confirmed), st.first_bad_at, st.severity)
            self.log.info("probe verdict", probe=d.probe, verdict=d.event.kind,
                          level=d.event.level.name)
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
            change.after.append(lambda: self.log.error(
                "controls failing: the detector's own network is suspect; "
                "no customer outage will be declared until they pass"))
        else:
            change.after.append(
                lambda: self.log.warning("controls pass again; evaluating components"))
            self.deferred.update(c.id for c in self.config.components)
        self._internal_notice("detector.degraded", now, change, degraded=down)

    def _evaluate(self, cid: str, now: float, change: Change, settled: bool = False) -> None:
        """A component's verdict changed: open, join, or step the incident it is part of."""
        severity = self.severity(cid)
        self.metrics.set_component(cid, severity)
        inc = self.open.get(cid)
        if inc is not None:
            self._evaluate_incident(inc, now, change, settled)
            return
        if severity == "operational":
            self.mem.settling.pop(f"c:{cid}", None)
            return
        if self.in_maintenance(cid, now):
            return  # planned work: announced beforehand, opens no incident
        if self._doubt([cid]):
            return
        if not settled and not self._final([cid]):
            self._settle(f"c:{cid}", [cid], change)
            return
        self.mem.settling.pop(f"c:{cid}", None)
        target = self._join_target(cid)
        if target is not None:
            self._join(target, cid, now, change)
            return
        component = self.config.component(cid)
        start = trouble_started([self.states[p.name] for p in component.probes])
        state, event = step_incident(IncidentState(), severity, now)
        if event is not None:
            self._apply(cid, None, state, event, now, start, change)

    def _evaluate_incident(
        self, inc: IncidentRow, now: float, change: Change, settled: bool = False
    ) -> None:
        severity = self._incident_severity(inc, now)
        state = self._incident_state(inc)
        current = state.severity if state.phase == "open" else "operational"
        if SEVERITY_RANK[severity] > SEVERITY_RANK[current] and self._doubt(inc.component_ids):
            return
        new_state, event = step_incident(state, severity, now)
        if event is None:
            self.mem.settling.pop(f"i:{inc.id}", None)
            return
        if not settled and inc.held_until is None and not self._final(inc.component_ids):
            self._settle(f"i:{inc.id}", inc.component_ids, change)
            return
        self.mem.settling.pop(f"i:{inc.id}", None)
        self._apply(inc.component_ids[0], inc, new_state, event, now, None, change)

    def _incident_severity(self, inc: IncidentRow, now: float) -> str:
        """The worst of its components' severities; a component under planned work counts
        as working (its trouble is announced as maintenance, not as this outage)."""
        return worst([
            self.severity(cid) for cid in inc.component_ids
            if self._known(cid) and not self.in_maintenance(cid, now)
        ])

    def _doubt(self, component_ids: list[str]) -> bool:
        """Trouble that began while our own network is suspect waits for the controls."""
        starts = [self.bad_since[p.name] for cid in component_ids if self._known(cid)
                  for p in self.config.component(cid).probes
                  if self.states[p.name].confirmed != Level.OK and p.name in self.bad_since]
        if not self._controls_doubt(min(starts, default=self.clock.monotonic())):
            return False
        self.deferred.update(c for c in component_ids if self._known(c))
        self.request_controls()
        return True

    def _final(self, component_ids: list[str]) -> bool:
        """Nothing can change soon: every probe confirmed failing, or every probe passing with
        no streak under way. Anything between waits one re-check round before it is said."""
        states = [self.states[p.name] for cid in component_ids if self._known(cid)
                  for p in self.config.component(cid).probes]
        if all(st.confirmed == Level.FAIL for st in states):
            return True
        return all(st.confirmed == Level.OK and st.bad_streak == 0 for st in states)

    def _settle(self, key: str, component_ids: list[str], change: Change) -> None:
        if key in self.mem.settling:
            return
        window = max((self.settings[p.name].recheck_interval for cid in component_ids
                      if self._known(cid) for p in self.config.component(cid).probes),
                     default=self.config.detection.recheck_interval)
        self.mem.settling[key] = self.clock.monotonic() + window
        change.after.append(self.tick_wake.set)

    def _join_target(self, cid: str) -> IncidentRow | None:
        """An open automatic incident confirmed within `group_within`: one outage, one story."""
        mono = self.clock.monotonic()
        within = self.config.detection.group_within
        found = [
            inc for inc in {i.id: i for i in self.open.values()}.values()
            if not inc.manual and (opened := self.deadlines(inc).opened) is not None
            and mono - opened <= within
        ]
        return max(found, key=lambda i: i.detected_at, default=None)

    def _join(self, inc: IncidentRow, cid: str, now: float, change: Change) -> None:
        """A component joins an open incident: said as one update naming what it now affects."""
        component = self.config.component(cid)
        inc.component_ids.append(cid)
        self.open[cid] = inc
        inc.title = ", ".join(self.config.component(c).name for c in inc.component_ids
                              if self._known(c))
        if inc.vendor is None:
            inc.vendor = component.vendor
        start = trouble_started([self.states[p.name] for p in component.probes])
        if start is not None and start < inc.started_at:
            inc.started_at = start
        previous = inc.severity
        state = self._incident_state(inc)
        new_state, event = step_incident(state, self._incident_severity(inc, now), now)
        if event is not None and event.kind != "monitoring":
            inc.severity = new_state.severity
            if inc.status == "monitoring":
                inc.status = self._automatic_status(inc)
                inc.recovered_at = self.deadlines(inc).recovered = None
        iid = inc.id
        change.after.append(lambda: self.log.warning(
            "incident now also affects a component", incident_id=iid, component=cid))
        if inc.held_until is not None:  # not yet told: the first notice will name it
            change.incidents.append(replace(inc))
            return
        extra: dict[str, Any] = {"added_components": [component.name]}
        if previous != inc.severity:
            extra["previous_severity"] = previous
        self.publish(inc, "expanded", "incident.updated", now, change, extra=extra)

    def _automatic_status(self, inc: IncidentRow) -> str:
        """What an automatic change leaves as status: a person's word if they gave one."""
        if inc.status_by_person and inc.status in ("investigating", "identified"):
            return inc.status
        return "identified" if inc.cause else "investigating"

    def _incident_state(self, inc: IncidentRow | None) -> IncidentState:
        """The pure machine's view of an incident, its times on the monotonic clock."""
        if inc is None:
            return IncidentState()
        phase = "monitoring" if inc.status == "monitoring" else "open"
        return IncidentState(phase, inc.severity, self.deadlines(inc).recovered)

    def _apply(
        self,
        cid: str,
        inc: IncidentRow | None,
        state: IncidentState,
        event: IncidentEvent,
        now: float,
        start: float | None,
        change: Change,
    ) -> None:
        if event.kind == "opened":
            component = self.config.component(cid)
            inc = IncidentRow(
                id=f"{cid}-{secrets.token_hex(4)}",
                component_ids=[cid],
                title=component.name,
                status="investigating",
                severity=event.severity,
                vendor=component.vendor,
                started_at=start or now,
                detected_at=now,
            )
            self.open[cid] = inc
            self.deadlines(inc).opened = self.clock.monotonic()
            change.after.append(self.metrics.incidents.inc)
            change.after.append(lambda: self.log.warning(
                "incident opened", incident_id=inc.id, severity=event.severity))
            hold = self.config.notify.hold
            if hold > 0:
                inc.held_until = now + hold
                self.deadlines(inc).held_until = self.clock.monotonic() + hold
                change.incidents.append(replace(inc))
                self._internal_notice(
                    "incident.pending", now, change, incident=payloads.incident_json(inc),
                    publish_at=payloads.iso(inc.held_until),
                )
                return
            self.publish(inc, "opened", "incident.opened", now, change)
            return
        assert inc is not None
        if inc.held_until is not None:  # not yet told: follow along quietly
            if event.kind == "monitoring":
                inc.status, inc.resolved_at = "resolved", now
                change.after.append(lambda: self.log.warning(
                    "held incident recovered before publication", incident_id=inc.id))
                for c in inc.component_ids:
                    if self.open.get(c) is inc:
                        del self.open[c]
            else:
                inc.severity = state.severity
            change.incidents.append(replace(inc))
            return
        if event.kind == "monitoring":
            inc.status, inc.status_by_person = "monitoring", False
            inc.recovered_at = now
            self.deadlines(inc).recovered = self.clock.monotonic()
            inc.report_by = now + self.config.service.report_within
        elif event.kind == "recurred":
            inc.status = self._automatic_status(inc)
            inc.severity = state.severity
            inc.recovered_at = None
            self.deadlines(inc).recovered = None
        else:  # severity_changed: the status stays what it was (a person's word sticks)
            inc.severity = state.severity
            inc.recovered_at = None
            self.deadlines(inc).recovered = None
        kind, inc_id, sev = event.kind, inc.id, inc.severity
        change.after.append(
            lambda: self.log.warning("incident " + kind, incident_id=inc_id, severity=sev))
        extra = {"previous_severity": event.previous} if event.previous else {}
        self.publish(inc, event.kind, "incident.updated", now, change, extra=extra)

    # --- time -----------------------------------------------------------------------------

    async def tick(self) -> float:
        """Publish what is due; return seconds until the next thing is due."""
        async with self.lock:
            return await self._tick()

    async def _tick(self) -> float:
        nxt = float("inf")
        async with self._txn() as change:
            nxt = self._tick_in(change)
        return max(0.0, nxt - self.clock.monotonic())

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
                    self.publish(inc, "opened", "incident.opened", now, change)
                else:
                    nxt = min(nxt, dl.held_until)
                    continue
            stable_for = self._stable_for(inc)
            _, event = tick_incident(self._incident_state(inc), mono, stable_for)
            if event is not None and event.kind == "resolved" and not inc.manual:
                self._resolve(inc, now, change)
                continue
            if dl.next_update is not None:
                if mono >= dl.next_update:
                    self.publish(inc, "update", "incident.updated", now, change)
                if dl.next_update is not None:
                    nxt = min(nxt, dl.next_update)
            if inc.status == "monitoring" and dl.recovered is not None:
                nxt = min(nxt, dl.recovered + stable_for)
        return nxt

    async def run_ticks(self, cap: float = 1.0) -> None:
        backoff = 0.05
        while True:
            try:
                wait = await self.tick()
                backoff = 0.05
            except STORE_ERRORS as e:  # nothing changed; what was due is due again
                self.health.failed("store", _reason(e))
                wait, backoff = backoff, min(self.retry_cap, backoff * 2)
            except Exception:
                self.log.exception("tick failed")
                wait = cap
            self.tick_wake.clear()
            await wait_event(self.tick_wake, min(cap, wait))

    def _stable_for(self, inc: IncidentRow) -> float:
        values = [
            self.settings[p.name].stable_for
            for cid in inc.component_ids
            for p in self.config.component(cid).probes
        ]
        return max(values, default=self.config.detection.stable_for)

    def _resolve(
        self, inc: IncidentRow, now: float, change: Change, message: str | None = None
    ) -> None:
        inc.status = "resolved"
        inc.resolved_at = now
        if inc.report_by is None:
            inc.report_by = now + self.config.service.report_within
        change.after.append(lambda: self.log.info("incident resolved", incident_id=inc.id))
        self.publish(inc, "resolved", "incident.resolved", now, change, message=message)
        for cid in inc.component_ids:
            if self.open.get(cid) is inc:
                del self.open[cid]
        self.manual.pop(inc.id, None)
        self.mem.deadlines.pop(inc.id, None)

    # --- people's actions (admin API, CLI) --------------------------------------------------

    def find_open(self, incident_id: str) -> IncidentRow:
        for inc in self.open_incidents():
            if inc.id == incident_id:
                return inc
        raise KeyError(incident_id)

    async def human_update(
        self, incident_id: str, message: str, status: str | None = None
    ) -> NoticeRow:
        """A person's words, published to customers like any notice."""
        async with self.lock, self._txn() as change:
            now = self.clock.now()
            inc = self.find_open(incident_id)
            if status is not None:
                inc.status_by_person = True  # it stays through automatic changes
            if status is not None and status != inc.status:
                inc.status = status
                if status == "monitoring" and inc.recovered_at is None:
                    inc.recovered_at = now
                    self.deadlines(inc).recovered = self.clock.monotonic()
                    inc.report_by = now + self.config.service.report_within
                elif status != "monitoring":
                    inc.recovered_at = self.deadlines(inc).recovered = None
            return self.publish(inc, "human", "incident.updated", now, change, message=message)

    async def set_cause(
        self, incident_id: str, cause: str, actions: str | None = None, publish: bool = True
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
                    if inc.status == "investigating":
                        inc.status, inc.status_by_person = "identified", True
                    self.publish(inc, "identified", "incident.updated", now, change)
                else:
                    change.incidents.append(replace(inc))
            return inc

    async def resolve(self, incident_id: str, message: str | None = None) -> NoticeRow:
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            self._resolve(inc, self.clock.now(), change, message=message)
        return change.notices[-1]

    async def open_manual(
        self, title: str, component_ids: list[str], severity: str, message: str | None = None
    ) -> IncidentRow:
        """An incident for what probes cannot see, opened by a person."""
        async with self.lock, self._txn() as change:
            now = self.clock.now()
            inc = IncidentRow(
                id=f"manual-{secrets.token_hex(4)}", component_ids=component_ids, title=title,
                status="investigating", severity=severity, manual=True,
                vendor=next((self.config.component(c).vendor for c in component_ids
                             if self._known(c) and self.config.component(c).vendor), None),
                started_at=now, detected_at=now,
            )
            self.manual[inc.id] = inc
            change.after.append(self.metrics.incidents.inc)
            self.publish(inc, "opened", "incident.opened", now, change, message=message)
        return inc

    async def publish_held(self, incident_id: str) -> NoticeRow:
        """An operator says: tell customers now, do not wait for the hold to end."""
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            if inc.held_until is None:
                raise ValueError("this incident's first notice is already published")
            inc.held_until = self.deadlines(inc).held_until = None
            return self.publish(inc, "opened", "incident.opened", self.clock.now(), change)

    async def veto(self, incident_id: str) -> IncidentRow:
        """An operator says: false alarm, tell nobody. Kept on record, never published."""
        async with self.lock, self._txn() as change:
            inc = self.find_open(incident_id)
            if inc.held_until is None:
                raise ValueError("too late to veto: customers were already told")
            inc.vetoed, inc.status, inc.resolved_at = True, "resolved", self.clock.now()
            for cid in inc.component_ids:
                if self.open.get(cid) is inc:
                    del self.open[cid]
            self.mem.deadlines.pop(inc.id, None)
            change.incidents.append(replace(inc))
            change.after.append(
                lambda: self.log.warning("held incident vetoed", incident_id=inc.id))
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
                return self.publish(inc, "postmortem", "postmortem.published", now, change)

    def in_maintenance(self, component_id: str, now: float) -> bool:
        return any(
            m.starts_at <= now < m.ends_at and component_id in m.component_ids
            for m in self.maintenance
        )

    async def schedule_maintenance(
        self, title: str, component_ids: list[str], starts_at: float, ends_at: float,
        message: str | None = None,
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
                    id=f"maint-{secrets.token_hex(4)}", component_ids=component_ids,
                    title=title, starts_at=starts_at, ends_at=ends_at, message=message,
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
            1: ("maintenance_scheduled", "maintenance.scheduled"),
            2: ("maintenance_started", "maintenance.started"),
            3: ("maintenance_ended", "maintenance.ended"),
            4: ("maintenance_cancelled", "maintenance.ended"),  # called off before it began
        }[stage]
        m.announced = min(stage, 3)
        comps = [self.config.component(c) for c in m.component_ids if self._known(c)]
        facts = NoticeFacts(
            event=event, kind=kind, incident_id=m.id, sequence=stage, title=m.title,
            status="maintenance", severity="operational",
            components=[c.name for c in comps], impacts=self._impacts(comps), vendor=None,
            impact_translations=[c.impact_translations() for c in comps],
            started_at=m.starts_at, published_at=now, next_update_at=None, message=m.message,
            extra={"starts_at": m.starts_at, "ends_at": m.ends_at}, **self._service_facts(),
        )
        body = payloads.maintenance(f"{m.id}.{stage}", m, facts, self._default(facts))
        self._emit(f"{m.id}.{stage}", m.id, stage, facts, m.component_ids, [], body, change)
        change.maintenance.append(replace(m))

    # --- notices --------------------------------------------------------------------------

    def next_update(self, inc: IncidentRow, now: float) -> float | None:
        """When this incident's next update will come; None once resolved."""
        dl = self.deadlines(inc)
        if inc.status == "resolved":
            dl.next_update = None
            return None
        mono = self.clock.monotonic()
        nxt = mono + self.config.cadence.for_severity(inc.severity)
        if inc.status == "monitoring" and dl.recovered is not None:
            nxt = min(nxt, dl.recovered + self._stable_for(inc))
        dl.next_update = nxt
        return now + (nxt - mono)

    def facts(
        self, inc: IncidentRow, kind: str, event: str, now: float, **extra: Any
    ) -> NoticeFacts:
        comps = [self.config.component(c) for c in inc.component_ids if self._known(c)]
        return NoticeFacts(
            event=event,
            kind=kind,
            incident_id=inc.id,
            sequence=inc.sequence,
            title=inc.title,
            status=inc.status,
            severity=inc.severity,
            components=[c.name for c in comps],
            impacts=self._impacts(comps),
            impact_translations=[c.impact_translations() for c in comps],
            vendor=inc.vendor,
            started_at=inc.started_at,
            published_at=now,
            next_update_at=inc.next_update_at,
            report_by=inc.report_by if inc.status in ("monitoring", "resolved") else None,
            cause=inc.cause,
            **self._service_facts(),
            **extra,
        )

    def _impacts(self, comps: list[Component]) -> list[str]:
        return [c.impact_in(self.config.service.locale) for c in comps]

    def _service_facts(self) -> dict[str, Any]:
        svc = self.config.service
        return {
            "service_name": svc.name,
            "status_page_url": str(svc.status_page_url) if svc.status_page_url else None,
            "contact_name": svc.contact.name,
            "contact_email": svc.contact.email,
            "contact_phone": svc.contact.phone,
        }

    def _default(self, facts: NoticeFacts) -> Message:
        return compose(facts, self.config.service.locale, self.config.service.timezone)

    def _known(self, cid: str) -> bool:
        return any(c.id == cid for c in self.config.components)

    def publish(
        self, inc: IncidentRow, kind: str, event: str, now: float, change: Change,
        message: str | None = None, extra: dict[str, Any] | None = None,
    ) -> NoticeRow:
        """A notice: the incident's next sequence, its next-update time, its outbox rows."""
        inc.sequence += 1
        inc.next_update_at = self.next_update(inc, now)
        facts = self.facts(inc, kind, event, now, message=message, extra=extra or {})
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
            notice_id=notice_id, facts=facts, payload=body, default_message=default,
            component_ids=component_ids, config=self.config, channels=self.channels,
            subscribers=self.subscribers, now=facts.published_at,
        )
        notice = NoticeRow(
            id=notice_id, incident_id=owner_id, sequence=sequence, event=facts.event,
            kind=facts.kind, status=facts.status, severity=facts.severity,
            published_at=facts.published_at, next_update_at=facts.next_update_at,
            subject=default.subject, text=default.text, facts=payloads.facts_dict(facts),
            evidence=evidence, recipients=sum(len(r.recipients) for r in rows),
        )
        change.notices.append(notice)
        change.outbox.extend(rows)
        return notice

    def _internal_notice(self, event: str, now: float, change: Change, **data: Any) -> None:
        notice_id = f"detector.{int(now * 1000)}.{secrets.token_hex(2)}"
        body = payloads.internal(event, notice_id, now, self.config, self._all_evidence(), data)
        for ch in self.channels:
            if ch.kind == "webhook" and ch.wants(event):
                change.outbox.append(fanout.row(
                    notice_id, ch, event, payloads.blank_message(event), body, [], 0, now
                ))

    def _evidence(self, inc: IncidentRow) -> list[dict[str, Any]]:
        out = []
        for cid in inc.component_ids:
            if self._known(cid):
                for p in self.config.component(cid).probes:
                    out += payloads.evidence_rows(p.name, self.evidence.get(p.name, ()))
        return out

    def _all_evidence(self) -> list[dict[str, Any]]:
        out = []
        for name, ev in self.evidence.items():
            out += payloads.evidence_rows(name, list(ev)[-2:])
        return out


def _reason(e: BaseException) -> str:
    """One line for /readyz and the log: the driver's words, without a traceback."""
    text = str(getattr(e, "orig", None) or e).splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
