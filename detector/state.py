"""The outage state machines: pure functions of (state, input, now) → (state, events).

No I/O, no clock reads. Three layers:
- a probe confirms trouble after consecutive bad checks and recovery after consecutive good ones;
- a component's severity is derived from its probes' confirmed levels;
- a component's incident opens, changes severity, recovers (monitoring), recurs and resolves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum

from detector.domain import Kind, Severity


class Level(IntEnum):
    OK = 0
    SOFT = 1  # answering, but outside a soft expectation: degraded
    FAIL = 2


# --- probe -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeState:
    confirmed: Level = Level.OK  # the level we stand behind
    bad_streak: int = 0  # consecutive bad checks while confirmed is OK
    good_streak: int = 0  # consecutive good checks while confirmed is not OK
    first_bad_at: float | None = None  # first failed check of this trouble: the outage start
    severity: str | None = None  # a failing probe's own severity view (vendor status)

    @property
    def suspect(self) -> bool:
        """Between the first bad check and a verdict: the scheduler re-checks fast."""
        return (self.confirmed == Level.OK and self.bad_streak > 0) or (
            self.confirmed != Level.OK and self.good_streak > 0
        )


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    kind: str  # "confirmed" | "changed" | "recovered"
    level: Level
    first_bad_at: float | None


def step_probe(
    state: ProbeState,
    level: Level,
    now: float,
    failures_to_confirm: int,
    successes_to_recover: int,
    severity: str | None = None,
) -> tuple[ProbeState, ProbeEvent | None]:
    if state.confirmed == Level.OK:
        if level == Level.OK:
            return (state if state.bad_streak == 0 else ProbeState()), None
        streak = state.bad_streak + 1
        first = state.first_bad_at if state.first_bad_at is not None else now
        if streak >= failures_to_confirm:
            new = ProbeState(confirmed=level, first_bad_at=first, severity=severity)
            return new, ProbeEvent("confirmed", level, first)
        return replace(state, bad_streak=streak, first_bad_at=first), None
    if level == Level.OK:
        streak = state.good_streak + 1
        if streak >= successes_to_recover:
            return ProbeState(), ProbeEvent("recovered", Level.OK, state.first_bad_at)
        return replace(state, good_streak=streak), None
    if level != state.confirmed or severity != state.severity:
        new = replace(state, confirmed=level, good_streak=0, severity=severity)
        return new, ProbeEvent("changed", level, state.first_bad_at)
    return (state if state.good_streak == 0 else replace(state, good_streak=0)), None


# --- component -------------------------------------------------------------------------------


def worst(severities: Iterable[str]) -> Severity:
    return Severity.worst(severities)


def component_severity(probes: list[ProbeState], severity_when_down: str | None = None) -> Severity:
    """All probes confirmed failing → major; some → partial; only soft trouble → degraded.

    A failing probe that carries its own severity (a vendor's status) speaks for itself when every
    failing probe does; `severity_when_down` marks components where one probe down means down.
    """
    failing = [p for p in probes if p.confirmed == Level.FAIL]
    if failing:
        if severity_when_down:
            return Severity(severity_when_down)
        hints = [p.severity for p in failing if p.severity]
        if hints and len(hints) == len(failing):
            return worst(hints)
        return Severity.MAJOR_OUTAGE if len(failing) == len(probes) else Severity.PARTIAL_OUTAGE
    if any(p.confirmed == Level.SOFT for p in probes):
        return Severity.DEGRADED
    return Severity.OPERATIONAL


def trouble_started(probes: list[ProbeState]) -> float | None:
    starts = [p.first_bad_at for p in probes if p.confirmed != Level.OK and p.first_bad_at]
    return min(starts) if starts else None


# --- incident --------------------------------------------------------------------------------


class Phase(StrEnum):
    """Where the incident machine is: nothing, trouble, or watching a recovery."""

    NONE = "none"
    OPEN = "open"
    MONITORING = "monitoring"


@dataclass(frozen=True, slots=True)
class IncidentState:
    phase: Phase = Phase.NONE
    severity: str = Severity.OPERATIONAL
    recovered_at: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    kind: Kind  # opened | severity_changed | monitoring | recurred | resolved
    severity: str
    previous: str | None = None


def step_incident(
    state: IncidentState, severity: str, now: float
) -> tuple[IncidentState, IncidentEvent | None]:
    """React to a change in a component's derived severity."""
    down = Severity.of(severity).down
    if state.phase == Phase.NONE:
        if down:
            return IncidentState(Phase.OPEN, severity), IncidentEvent(Kind.OPENED, severity)
        return state, None
    if state.phase == Phase.OPEN:
        if not down:
            new = IncidentState(Phase.MONITORING, state.severity, recovered_at=now)
            return new, IncidentEvent(Kind.MONITORING, state.severity)
        if severity != state.severity:
            new = IncidentState(Phase.OPEN, severity)
            return new, IncidentEvent(Kind.SEVERITY_CHANGED, severity, state.severity)
        return state, None
    # monitoring: a recurrence reopens the same incident, no new one (no flapping storm)
    if down:
        event = IncidentEvent(Kind.RECURRED, severity, state.severity)
        return IncidentState(Phase.OPEN, severity), event
    return state, None


def tick_incident(
    state: IncidentState, now: float, stable_for: float
) -> tuple[IncidentState, IncidentEvent | None]:
    """Time passing: a recovered incident that stayed stable for `stable_for` is resolved."""
    if (
        state.phase == Phase.MONITORING
        and state.recovered_at is not None
        and now >= state.recovered_at + stable_for
    ):
        return IncidentState(), IncidentEvent(Kind.RESOLVED, state.severity)
    return state, None
