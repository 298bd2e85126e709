"""The engine: verdicts → incidents → notices, one decision at a time, each committed before
memory changes. The parts live beside it: `lifecycle` (what a change means), `actions`
(people's), `maintenance`, `publishing` (facts → notices → outbox); `memory` is what it knows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from detector.aio import wait_event
from detector.channels.base import Channel
from detector.config.models import Config, Subscriber
from detector.health import describe
from detector.incidents.actions import ActionsMixin
from detector.incidents.lifecycle import LifecycleMixin
from detector.incidents.maintenance import MaintenanceMixin
from detector.incidents.memory import (
    EVIDENCE_KEEP,
    Deadlines,
    Decision,
    Memory,
    level_of,
)
from detector.incidents.publishing import PublishingMixin
from detector.state import (
    Level,
    ProbeEvent,
    ProbeState,
    step_probe,
)
from detector.store import (
    STORE_ERRORS,
    Fenced,
)
from probes.base import Result

__all__ = ["EVIDENCE_KEEP", "Deadlines", "Decision", "Engine", "Memory", "level_of"]


class Engine(LifecycleMixin, ActionsMixin, MaintenanceMixin, PublishingMixin):
    """Results in, notices out: the hot path, the decision loop, the clock's ticks, reloads."""

    async def reconfigure(
        self, config: Config, channels: list[Channel], subscribers: list[Subscriber]
    ) -> None:
        """SIGHUP as a diff: every probe that is still there keeps its verdict, streak and
        evidence; open incidents go on. A component removed while in an incident leaves it,
        and an incident left with no component is resolved, with a notice."""
        async with self.lock:
            before = set(self.verdict_names())
            alerts = {f"alerts:{c.id}" for c in config.components if c.alerts is not None}
            kept = before & ({p.name for p in config.all_probes()} | alerts)
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
            self.states = {
                n: self.states[n] if n in kept else ProbeState() for n in self.verdict_names()
            }
            self.evidence = {n: ev for n, ev in self.evidence.items() if n in kept}
            self.bad_since = {n: t for n, t in self.bad_since.items() if n in kept}
            self.checked_at = {n: t for n, t in self.checked_at.items() if n in kept}
            self.control_checked_at = {
                n: t for n, t in self.control_checked_at.items() if n in kept
            }
            async with self._txn() as change:  # new settings may change what is due or said
                now = self.clock.now()
                for cid in sorted(
                    {c for i in self.open_incidents() for c in i.component_ids if self._known(c)}
                ):
                    self._evaluate(cid, now, change)

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
        self.export_schedule()

    def on_alerts(self, alerts: list[dict[str, Any]]) -> list[str]:
        """Alertmanager's word (webhook payload v4): a firing alert whose labels match a
        component's matchers is a confirmed failing verdict (Prometheus' `for:` confirmed it);
        once none of its matching alerts fires, the component has recovered. Repeats and group
        updates change nothing. Labels and annotations go to the evidence (operators only).
        Returns the components the alerts matched."""
        now, mono = self.clock.now(), self.clock.monotonic()
        matched: list[str] = []
        for cid, (name, source) in self.alert_sources.items():
            firing = self.firing.setdefault(cid, {})
            mine = [a for a in alerts if source.matches(a.get("labels") or {})]
            if not mine:
                continue
            matched.append(cid)
            for alert in mine:
                key = str(alert.get("fingerprint") or sorted((alert.get("labels") or {}).items()))
                if alert.get("status") == "firing":
                    if key not in firing:
                        firing[key] = _started(alert.get("startsAt"), now)
                        self._alert_evidence(name, alert, now, ok=False)
                elif firing.pop(key, None) is not None:
                    self._alert_evidence(name, alert, now, ok=True)
            state = self.states[name]
            self.checked_at[name] = mono
            if firing and state.confirmed != Level.FAIL:
                start = min(firing.values())
                self.states[name] = ProbeState(
                    confirmed=Level.FAIL, first_bad_at=start, severity=source.severity
                )
                self.bad_since[name] = mono
                self.queue.put_nowait(
                    Decision(name, ProbeEvent("confirmed", Level.FAIL, start), now)
                )
            elif not firing and state.confirmed != Level.OK:
                self.states[name] = ProbeState()
                self.queue.put_nowait(
                    Decision(name, ProbeEvent("recovered", Level.OK, state.first_bad_at), now)
                )
        return matched

    def on_verdict(
        self, name: str, new: ProbeState, evidence: list[tuple[float, bool, str]], at: float
    ) -> None:
        """Several instances: the vantages' combined verdict on a probe changed (`cluster.
        logic.combine`). Stepped like a probe of our own: a confirmation, a change or a
        recovery is a decision; a streak starting or ending is one too, for settling."""
        old = self.states[name]
        if new == old:
            return
        self.states[name] = new
        mono = self.clock.monotonic()
        self.checked_at[name] = mono
        if old.confirmed == Level.OK and old.bad_streak == 0:
            self.bad_since[name] = mono
        for entry in evidence:
            self._remember(name, entry)
        event: ProbeEvent | None = None
        if old.confirmed == Level.OK and new.confirmed != Level.OK:
            event = ProbeEvent("confirmed", new.confirmed, new.first_bad_at)
        elif old.confirmed != Level.OK and new.confirmed == Level.OK:
            event = ProbeEvent("recovered", Level.OK, old.first_bad_at)
        elif old.confirmed != Level.OK and (
            new.confirmed != old.confirmed or new.severity != old.severity
        ):
            event = ProbeEvent("changed", new.confirmed, old.first_bad_at)
        self.queue.put_nowait(Decision(name, event, at, streak=event is None))

    async def operator_event(
        self,
        event: str,
        *,
        notice_id: str | None = None,
        exclude: str | None = None,
        **data: Any,
    ) -> None:
        """Tell operators something no customer hears (a dead notice, an overdue report),
        committed like any decision so it is delivered after a crash too."""
        async with self.lock, self._txn() as change:
            self._internal_notice(
                event, self.clock.now(), change, notice_id=notice_id, exclude=exclude, **data
            )

    def _alert_evidence(self, name: str, alert: dict[str, Any], at: float, ok: bool) -> None:
        labels = alert.get("labels") or {}
        notes = alert.get("annotations") or {}
        what = labels.get("alertname", "alert")
        said = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        summary = notes.get("summary") or notes.get("description") or ""
        detail = f"{what} {'resolved' if ok else 'firing'}: {said}" + (
            f" — {summary}" if summary else ""
        )
        self._remember(name, (at, ok, detail[:300]))

    def _remember(self, name: str, entry: tuple[float, bool, str]) -> None:
        """Keep a probe's last checks as evidence; a run of good checks keeps only its latest
        ("fine until 10:02:11, then failed, failed..."): 20,000 healthy probes would otherwise
        hold six results each, about 16 MB that nobody reads."""
        ev = self.evidence.get(name)
        if ev is None:
            self.evidence[name] = [entry]
            return
        if entry[1] and ev[-1][1]:
            ev[-1] = entry
            return
        ev.append(entry)
        if len(ev) > EVIDENCE_KEEP:
            del ev[0]

    def on_result(self, name: str, result: Result, at: float) -> bool:
        """Step the probe's verdict; return True while it wants fast re-checks."""
        state = self.states[name]
        level = level_of(result)
        settings = self.settings[name]
        new, event = step_probe(
            state,
            level,
            at,
            settings.failures_to_confirm,
            settings.successes_to_recover,
            result.severity,
        )
        self.states[name] = new
        self.checked_at[name] = self.clock.monotonic()
        component = self.component_of[name]  # None: a control
        siblings = self.probe_names.get(component) if component is not None else None
        if siblings and new.bad_streak == 1 and state.bad_streak == 0:
            # the others of the component are checked now, so their streaks run in phase;
            # only those not already in trouble (one re-checked early would run ahead)
            self.request_checks(
                [
                    s
                    for s in siblings
                    if s != name
                    and self.states[s].confirmed == Level.OK
                    and self.states[s].bad_streak == 0
                ]
            )
        elif siblings and new.good_streak == 1 and state.good_streak == 0:
            self.request_checks(
                [
                    s
                    for s in siblings
                    if s != name
                    and self.states[s].confirmed != Level.OK
                    and self.states[s].good_streak == 0
                ]
            )
        if state.bad_streak == 0 and new.bad_streak == 1:
            self.bad_since[name] = self.clock.monotonic()
            if new.confirmed == Level.OK:  # a suspect streak begins: remember its start
                self.queue.put_nowait(Decision(name, None, at, streak=True))
        elif state.bad_streak > 0 and new.bad_streak == 0 and event is None:
            self.queue.put_nowait(Decision(name, None, at, streak=True))  # a false alarm
        elif state.good_streak > 0 and new.good_streak == 0 and event is None:
            self.queue.put_nowait(Decision(name, None, at, streak=True))  # not back after all
        elif event is None and self.mem.settling and self.component_of[name] is not None:
            # a change waits to be said until every probe has spoken: this one just did
            self.queue.put_nowait(Decision(name, None, at, streak=True))
        self._remember(name, (at, result.ok, result.detail))
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
                except Fenced:  # no longer the leader: the cluster node stops this loop
                    await asyncio.sleep(wait)
                    wait = min(self.retry_cap, wait * 2)
                except STORE_ERRORS as e:
                    self.health.failed("store", describe(e))
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

    async def tick(self) -> float:
        """Publish what is due; return seconds until the next thing is due."""
        async with self.lock:
            return await self._tick()

    async def _tick(self) -> float:
        nxt = float("inf")
        async with self._txn() as change:
            nxt = self._tick_in(change)
        return max(0.0, nxt - self.clock.monotonic())

    async def run_ticks(self, cap: float = 1.0) -> None:
        backoff = 0.05
        while True:
            try:
                wait = await self.tick()
                backoff = 0.05
            except Fenced:  # no longer the leader: the cluster node stops this loop
                wait, backoff = backoff, min(self.retry_cap, backoff * 2)
            except STORE_ERRORS as e:  # nothing changed; what was due is due again
                self.health.failed("store", describe(e))
                wait, backoff = backoff, min(self.retry_cap, backoff * 2)
            except Exception:
                self.log.exception("tick failed")
                wait = cap
            self.tick_wake.clear()
            await wait_event(self.tick_wake, min(cap, wait))


def _started(value: Any, default: float) -> float:
    """An alert's startsAt (RFC 3339) as epoch seconds; the time we heard of it if absent."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return default
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default
