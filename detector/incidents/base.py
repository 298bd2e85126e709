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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from detector import logs
from detector.channels.base import Channel
from detector.clock import Clock, deadline
from detector.config.models import AlertSource, Component, Config, ProbeConfig, Subscriber
from detector.domain import Severity
from detector.health import Health
from detector.incidents.memory import _WORKING, Deadlines, Decision, Memory
from detector.metrics import Metrics
from detector.notices.model import Message, NoticeFacts
from detector.state import (
    ProbeState,
    component_severity,
)
from detector.store import (
    Change,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    OutboxRow,
    Store,
)
from detector.text import Localized


class EngineBase:
    """State and plumbing every part of the engine shares; the parts are mixins of it."""

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
        fresh = ProbeState()  # frozen: every probe that has not spoken shares one
        self.states: dict[str, ProbeState] = dict.fromkeys(self.verdict_names(), fresh)
        # the last EVIDENCE_KEEP checks of each probe, oldest first; a list, not a deque: an
        # empty deque is ~600 bytes, and there is one per probe
        self.evidence: dict[str, list[tuple[float, bool, str]]] = {}
        self.control_checked_at: dict[str, float] = {}  # monotonic
        self.bad_since: dict[str, float] = {}  # probe → monotonic time of its streak's start
        self.checked_at: dict[str, float] = {}  # probe → monotonic time of its last result
        # component → fingerprint → start of each matching Alertmanager alert now firing
        self.firing: dict[str, dict[str, float]] = {}
        self._memory = Memory()
        self.version = 0  # committed changes so far: what the public pages are rendered from
        self.queue: asyncio.Queue[Decision] = asyncio.Queue()
        self.tick_wake = asyncio.Event()
        self.lock = asyncio.Lock()  # decisions, ticks and people's actions, one at a time
        # several instances: verdicts come combined from every vantage (`on_verdict`), not
        # from this process's checks
        self.remote = False

    def reset(self) -> None:
        """Forget everything, to be rebuilt from the store by `load` (a new leader, or a
        follower's copy of what the leader committed)."""
        fresh = ProbeState()
        self.states = dict.fromkeys(self.verdict_names(), fresh)
        self.evidence = {}
        self.control_checked_at = {}
        self.bad_since = {}
        self.checked_at = {}
        self.firing = {}
        self._memory = Memory()
        self.queue = asyncio.Queue()
        self.version += 1

    def _index(self, config: Config) -> None:
        """Per-probe lookups the hot path needs, built once per configuration."""
        self.probes: dict[str, ProbeConfig] = {p.name: p for p in config.all_probes()}
        self.settings = {p.name: p.detection(config.detection) for p in config.all_probes()}
        self.component_of: dict[str, str | None] = {p.name: None for p in config.controls}
        # a probe's siblings are re-checked when it first fails or first passes again, so the
        # component's probes are in phase and its severity settles in one re-check round: one
        # list per component (a list per probe of the others was 18 MB at 100 probes each)
        self.probe_names: dict[str, list[str]] = {}
        # what speaks for each component: its probes, and its Alertmanager alerts if it has any
        self.members: dict[str, list[str]] = {}
        self.alert_sources: dict[str, tuple[str, AlertSource]] = {}
        for c in config.components:
            for p in c.probes:
                self.component_of[p.name] = c.id
            self.probe_names[c.id] = [p.name for p in c.probes]
            self.members[c.id] = list(self.probe_names[c.id])
            if c.alerts is not None:
                name = f"alerts:{c.id}"
                self.component_of[name] = c.id
                self.members[c.id].append(name)
                self.alert_sources[c.id] = (name, c.alerts)
        # the longest a change waits for streaks under way to end before it is said: one
        # streak's worth of re-checks, and one more round
        self.settle_bound = max(
            (
                (max(st.failures_to_confirm, st.successes_to_recover) + 1) * st.recheck_interval
                for name, st in self.settings.items()
                if self.component_of.get(name) is not None
            ),
            default=config.detection.recheck_interval,
        )

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

    def export_schedule(self) -> None:
        """Open incidents and the update each has promised, for the 'update overdue' alert."""
        incidents = self.open_incidents()
        self.metrics.incidents_open.set(len(incidents))
        gauge = self.metrics.incident_next_update
        gauge.clear()
        for inc in incidents:
            if inc.next_update_at is not None and inc.held_until is None:
                gauge.labels(inc.id).set(inc.next_update_at)

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
        self.export_schedule()
        if change.empty():
            return
        self.version += 1
        self.tick_wake.set()
        if change.outbox:
            self.enqueue(change.outbox)
            self.wake_outbox()

    def _streak_keep(self, name: str) -> float:
        """How old a stored streak start may be and still belong to the streak it began: a
        streak confirms within a few checks, so an older one is from before a long stop."""
        st = self.settings[name]
        return 3 * st.interval + st.failures_to_confirm * st.recheck_interval

    def open_incidents(self) -> list[IncidentRow]:
        seen = {i.id: i for i in self.open.values()}
        seen.update(self.manual)
        return sorted(seen.values(), key=lambda i: i.started_at)

    def verdict_names(self) -> list[str]:
        """Every source of a verdict: probes, and each component's Alertmanager alerts."""
        return [*self.probes, *(name for name, _ in self.alert_sources.values())]

    def severity(self, component_id: str) -> Severity:
        c = self.config.component(component_id)
        states = [self.states[n] for n in self.members[component_id]]
        return component_severity(states, c.severity_when_down)

    def _stable_for(self, inc: IncidentRow) -> float:
        values = [
            self.settings[p.name].stable_for
            for cid in inc.component_ids
            for p in self.config.component(cid).probes
        ]
        return max(values, default=self.config.detection.stable_for)

    def find_open(self, incident_id: str) -> IncidentRow:
        for inc in self.open_incidents():
            if inc.id == incident_id:
                return inc
        raise KeyError(incident_id)

    def _known(self, cid: str) -> bool:
        return any(c.id == cid for c in self.config.components)

    # --- implemented by the mixins (lifecycle, maintenance, publishing) ----------------

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
        raise NotImplementedError  # in its mixin

    def _internal_notice(self, event: str, now: float, change: Change, **data: Any) -> None:
        raise NotImplementedError  # in its mixin

    def in_maintenance(self, component_id: str, now: float) -> bool:
        raise NotImplementedError  # in its mixin

    def _tick_maintenance(self, now: float, change: Change, nxt: float) -> float:
        raise NotImplementedError  # in its mixin

    def _resolve(
        self, inc: IncidentRow, now: float, change: Change, message: Localized | None = None
    ) -> None:
        raise NotImplementedError  # in its mixin

    def _evaluate(self, cid: str, now: float, change: Change, settled: bool = False) -> None:
        raise NotImplementedError  # in its mixin

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
        raise NotImplementedError  # in its mixin

    def _impacts(self, comps: list[Component], severity: str) -> list[str]:
        raise NotImplementedError  # in its mixin

    def _service_facts(self) -> dict[str, Any]:
        raise NotImplementedError  # in its mixin

    def _default(self, facts: NoticeFacts) -> Message:
        raise NotImplementedError  # in its mixin

    def _tick_in(self, change: Change) -> float:
        raise NotImplementedError  # in its mixin

    def _decide_in(self, d: Decision, change: Change) -> None:
        raise NotImplementedError  # in its mixin
