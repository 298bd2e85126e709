"""This instance's own checks, stepped into verdicts and written when they change.

With several instances no single one decides: each steps the probes it runs (the same
`step_probe` as alone) and writes its verdict on a probe to the store only when it changes
(confirmed, suspect, recovered), batched. The leader combines the vantages' verdicts by
quorum (`logic.combine`). While this instance's controls fail, its own network is suspect:
it writes no trouble (what it sees may be its own), only recoveries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from detector.config.models import Config
from detector.incidents.memory import level_of
from detector.state import Level, ProbeState, step_probe
from detector.store import Verdict
from probes.base import Result

FRESH = ProbeState()


def _key(s: ProbeState) -> tuple[Level, bool, float | None, str | None]:
    return s.confirmed, s.suspect, s.first_bad_at, s.severity


class Vantage:
    def __init__(
        self, config: Config, name: str, request_checks: Callable[[list[str]], None]
    ) -> None:
        self.name = name
        self.request_checks = request_checks
        self.states: dict[str, ProbeState] = {}
        self.pending: dict[str, Verdict] = {}  # probe → its newest verdict not yet written
        # trouble seen while our own network is in doubt: probe → (detail, at), written once
        # the controls pass
        self.held: dict[str, tuple[str, float]] = {}
        self.blind = False
        self.doubt = False
        self.wake = asyncio.Event()
        self.index(config)

    def index(self, config: Config) -> None:
        self.settings = {p.name: p.detection(config.detection) for p in config.all_probes()}
        self.controls = {p.name for p in config.controls}
        self.siblings: dict[str, list[str]] = {}
        for c in config.components:
            names = [p.name for p in c.probes]
            for n in names:
                self.siblings[n] = names

    def seed(self, rows: Iterable[Verdict], names: Iterable[str]) -> None:
        """Start the probes `names` (just taken over, or at start) from what this vantage
        last wrote about them, so a verdict goes on instead of starting over."""
        by = {r.probe: r for r in rows if r.vantage == self.name}
        for name in names:
            r = by.get(name)
            if r is None or r.level == Level.OK:
                self.states[name] = FRESH
            else:
                self.states[name] = ProbeState(
                    confirmed=Level(r.level), first_bad_at=r.first_bad_at, severity=r.severity
                )

    def on_result(self, name: str, result: Result, at: float) -> bool:
        """Step the probe; return True while it wants fast re-checks."""
        state = self.states.get(name, FRESH)
        s = self.settings[name]
        new, _ = step_probe(
            state,
            level_of(result),
            at,
            s.failures_to_confirm,
            s.successes_to_recover,
            result.severity,
        )
        self.states[name] = new
        if new is state:
            return new.suspect
        if name in self.controls:
            self._controls_changed(at)
            return new.suspect
        siblings = self.siblings.get(name, ())
        if new.bad_streak == 1 and state.bad_streak == 0:
            # the others are checked now, so the component's streaks run in phase; and the
            # controls, to doubt ourselves before anyone else
            self.request_checks(
                [
                    n
                    for n in siblings
                    if n != name
                    and (st := self.states.get(n, FRESH)).confirmed == Level.OK
                    and st.bad_streak == 0
                ]
                + sorted(self.controls)
            )
        elif new.good_streak == 1 and state.good_streak == 0:
            self.request_checks(
                [
                    n
                    for n in siblings
                    if n != name
                    and (st := self.states.get(n, FRESH)).confirmed != Level.OK
                    and st.good_streak == 0
                ]
            )
        if _key(new) != _key(state):
            self._put(name, new, result.detail, at)
        return new.suspect

    def _controls_changed(self, at: float) -> None:
        """`blind` (shown in the heartbeat): a control confirmed failing. `doubt`: one failing
        at all, confirmed or on its way; trouble seen meanwhile is held, not written, and
        written once every control passes (what still stands by then)."""
        states = [self.states.get(c, FRESH) for c in self.controls]
        self.blind = any(st.confirmed == Level.FAIL for st in states)
        self.doubt = any(st.confirmed != Level.OK or st.bad_streak > 0 for st in states)
        if not self.doubt and self.held:
            held, self.held = self.held, {}
            for n, (detail, when) in sorted(held.items()):
                self._put(n, self.states.get(n, FRESH), detail, when)

    def _put(self, name: str, st: ProbeState, detail: str, at: float) -> None:
        if self.doubt and (st.confirmed != Level.OK or st.suspect):
            self.held[name] = (detail, at)
            return
        self.pending[name] = Verdict(
            self.name, name, int(st.confirmed), st.suspect, st.first_bad_at, st.severity, detail, at
        )
        self.wake.set()

    def take(self) -> list[Verdict]:
        rows, self.pending = list(self.pending.values()), {}
        return rows

    def put_back(self, rows: list[Verdict]) -> None:
        """A write failed: keep them, unless a newer verdict of the same probe came since."""
        for r in rows:
            self.pending.setdefault(r.probe, r)
        self.wake.set()
