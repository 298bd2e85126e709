"""The outage state machines: table-driven scenarios plus exhaustive sweeps. No I/O, no sleeps."""

from __future__ import annotations

import itertools

import pytest

from detector.state import (
    IncidentState,
    Level,
    ProbeState,
    component_severity,
    step_incident,
    step_probe,
    tick_incident,
    worst,
)
from tests.clock import FakeClock

OK, SOFT, FAIL = Level.OK, Level.SOFT, Level.FAIL

# (check index, kind, level, first bad at) of each probe event
ProbeEvents = list[tuple[int, str, Level, float | None]]
# (time, kind, severity) of each incident event
IncidentEvents = list[tuple[float, str, str]]


def run_probe(
    levels: list[Level], n: int = 3, m: int = 3, step: float = 1.0
) -> tuple[ProbeState, ProbeEvents]:
    clock = FakeClock(1000.0)
    state = ProbeState()
    events: ProbeEvents = []
    for i, lvl in enumerate(levels):
        state, ev = step_probe(state, lvl, clock.now(), n, m)
        if ev:
            events.append((i, ev.kind, ev.level, ev.first_bad_at))
        clock.advance(step)
    return state, events


@pytest.mark.parametrize(
    ("name", "levels", "expected"),
    [
        ("all good", [OK] * 10, []),
        ("one blip", [OK, FAIL, OK, OK], []),
        ("two blips", [FAIL, FAIL, OK, FAIL, FAIL, OK], []),
        ("confirmed on third", [OK, FAIL, FAIL, FAIL], [(3, "confirmed", FAIL, 1001.0)]),
        ("start is first failure", [FAIL, FAIL, FAIL, FAIL], [(2, "confirmed", FAIL, 1000.0)]),
        ("slow confirms degraded", [SOFT, SOFT, SOFT], [(2, "confirmed", SOFT, 1000.0)]),
        ("mixed bad confirms at last level", [FAIL, SOFT, FAIL], [(2, "confirmed", FAIL, 1000.0)]),
        (
            "recovery needs three goods",
            [FAIL] * 3 + [OK, OK, OK],
            [(2, "confirmed", FAIL, 1000.0), (5, "recovered", OK, 1000.0)],
        ),
        (
            "good streak broken by failure",
            [FAIL] * 3 + [OK, OK, FAIL, OK, OK, OK],
            [(2, "confirmed", FAIL, 1000.0), (8, "recovered", OK, 1000.0)],
        ),
        (
            "worse while down",
            [SOFT] * 3 + [FAIL],
            [(2, "confirmed", SOFT, 1000.0), (3, "changed", FAIL, 1000.0)],
        ),
        (
            "better while down",
            [FAIL] * 3 + [SOFT, SOFT],
            [(2, "confirmed", FAIL, 1000.0), (3, "changed", SOFT, 1000.0)],
        ),
        (
            "second outage has its own start",
            [FAIL] * 3 + [OK] * 3 + [OK, FAIL, FAIL, FAIL],
            [
                (2, "confirmed", FAIL, 1000.0),
                (5, "recovered", OK, 1000.0),
                (9, "confirmed", FAIL, 1007.0),
            ],
        ),
    ],
)
def test_probe_scenarios(name: str, levels: list[Level], expected: ProbeEvents) -> None:
    _, events = run_probe(levels)
    assert events == expected, name


def reference(levels: list[Level], n: int, m: int) -> list[tuple[int, str]]:
    """An independent formulation: scan runs of bad and good checks."""
    out: list[tuple[int, str]] = []
    down = False
    run = 0
    current: Level | None = None
    for i, lvl in enumerate(levels):
        if not down:
            run = run + 1 if lvl != OK else 0
            if run == n:
                down, run, current = True, 0, lvl
                out.append((i, "confirmed"))
        else:
            if lvl == OK:
                run += 1
                if run == m:
                    down, run, current = False, 0, None
                    out.append((i, "recovered"))
            else:
                run = 0
                if lvl != current:
                    current = lvl
                    out.append((i, "changed"))
    return out


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 1), (3, 3), (2, 3)])
def test_probe_exhaustive_against_reference(n: int, m: int) -> None:
    """Every sequence of up to 8 checks over {OK, SOFT, FAIL}."""
    for length in range(1, 9):
        for seq in itertools.product((OK, SOFT, FAIL), repeat=length):
            _, events = run_probe(list(seq), n, m)
            assert [(i, k) for i, k, _, _ in events] == reference(list(seq), n, m), seq


def test_bursts_below_threshold_never_confirm() -> None:
    """200 checks failing in bursts of n-1 never confirm; a real outage after still does."""
    n = 3
    levels = ([FAIL] * (n - 1) + [OK]) * 67  # ≈ 200 checks
    state, events = run_probe(levels, n=n)
    assert events == []
    state, ev = step_probe(state, FAIL, 0.0, n, 3)
    state, ev2 = step_probe(state, FAIL, 1.0, n, 3)
    state, ev3 = step_probe(state, FAIL, 2.0, n, 3)
    assert ev is None and ev2 is None and ev3 is not None and ev3.kind == "confirmed"


def test_suspect_drives_fast_rechecks() -> None:
    s = ProbeState()
    assert not s.suspect
    s, _ = step_probe(s, FAIL, 0, 3, 3)
    assert s.suspect
    s, _ = step_probe(s, FAIL, 1, 3, 3)
    s, _ = step_probe(s, FAIL, 2, 3, 3)
    assert not s.suspect  # confirmed: back to the normal interval
    s, _ = step_probe(s, OK, 3, 3, 3)
    assert s.suspect  # recovering: re-check fast


def P(level: Level, severity: str | None = None) -> ProbeState:
    return ProbeState(confirmed=level, first_bad_at=1.0 if level else None, severity=severity)


@pytest.mark.parametrize(
    ("probes", "override", "expected"),
    [
        ([P(OK), P(OK)], None, "operational"),
        ([P(FAIL), P(FAIL)], None, "major_outage"),
        ([P(FAIL), P(OK)], None, "partial_outage"),
        ([P(FAIL), P(SOFT)], None, "partial_outage"),
        ([P(SOFT), P(OK)], None, "degraded"),
        ([P(FAIL), P(OK)], "major_outage", "major_outage"),
        ([P(SOFT), P(OK)], "major_outage", "degraded"),
        ([P(FAIL, "partial_outage")], None, "partial_outage"),
        ([P(FAIL, "major_outage"), P(OK)], None, "major_outage"),
        ([P(FAIL, "partial_outage"), P(FAIL)], None, "major_outage"),
        ([P(FAIL)], None, "major_outage"),
    ],
)
def test_component_severity(probes: list[ProbeState], override: str | None, expected: str) -> None:
    assert component_severity(probes, override) == expected


def test_component_severity_exhaustive_monotone() -> None:
    """More failing probes never make a component look better."""
    rank = {"operational": 0, "degraded": 1, "partial_outage": 2, "major_outage": 3}
    for k in range(1, 5):
        for combo in itertools.product((OK, SOFT, FAIL), repeat=k):
            base = component_severity([P(lvl) for lvl in combo])
            for i, lvl in enumerate(combo):
                if lvl != FAIL:
                    worse = list(combo)
                    worse[i] = FAIL
                    assert rank[component_severity([P(x) for x in worse])] >= rank[base]


def run_incident(
    timeline: list[tuple[float, str | None]], stable_for: float = 10.0
) -> tuple[IncidentState, IncidentEvents]:
    """timeline: (time, severity) for a severity change, (time, None) for a clock tick."""
    state = IncidentState()
    events: IncidentEvents = []
    for t, sev in timeline:
        if sev is None:
            state, ev = tick_incident(state, t, stable_for)
        else:
            state, ev = step_incident(state, sev, t)
        if ev:
            events.append((t, ev.kind, ev.severity))
    return state, events


@pytest.mark.parametrize(
    ("name", "timeline", "expected"),
    [
        ("nothing", [(0, "operational"), (5, None)], []),
        (
            "open, recover, resolve after stable_for",
            [(0, "major_outage"), (5, "operational"), (10, None), (15, None)],
            [
                (0, "opened", "major_outage"),
                (5, "monitoring", "major_outage"),
                (15, "resolved", "major_outage"),
            ],
        ),
        (
            "severity change while open",
            [(0, "partial_outage"), (3, "major_outage"), (4, "major_outage")],
            [(0, "opened", "partial_outage"), (3, "severity_changed", "major_outage")],
        ),
        (
            "recurrence during stable_for reopens the same incident",
            [
                (0, "major_outage"),
                (5, "operational"),
                (8, "major_outage"),
                (9, "operational"),
                (18, None),
                (19, None),
            ],
            [
                (0, "opened", "major_outage"),
                (5, "monitoring", "major_outage"),
                (8, "recurred", "major_outage"),
                (9, "monitoring", "major_outage"),
                (19, "resolved", "major_outage"),
            ],
        ),
        (
            "after resolution a new outage is a new incident",
            [(0, "degraded"), (1, "operational"), (11, None), (12, "degraded")],
            [
                (0, "opened", "degraded"),
                (1, "monitoring", "degraded"),
                (11, "resolved", "degraded"),
                (12, "opened", "degraded"),
            ],
        ),
        (
            "ticks do nothing while open",
            [(0, "major_outage"), (100, None)],
            [(0, "opened", "major_outage")],
        ),
    ],
)
def test_incident_scenarios(
    name: str, timeline: list[tuple[float, str | None]], expected: IncidentEvents
) -> None:
    _, events = run_incident(timeline)
    assert events == expected, name


def test_flapping_storm_is_one_incident() -> None:
    """A component flapping every few seconds for an hour: one incident, never a second open."""
    timeline: list[tuple[float, str | None]] = []
    for i in range(600):
        timeline.append((i * 6.0, "major_outage" if i % 2 == 0 else "operational"))
        timeline.append((i * 6.0 + 3, None))
    _, events = run_incident(timeline, stable_for=10.0)
    assert sum(1 for _, k, _ in events if k == "opened") == 1
    assert not any(k == "resolved" for _, k, _ in events)


def test_incident_exhaustive_invariants() -> None:
    """All severity sequences of length ≤ 6: opens and resolves alternate; resolve needs calm."""
    sevs = ["operational", "degraded", "partial_outage", "major_outage"]
    for length in range(1, 7):
        for seq in itertools.product(sevs, repeat=length):
            timeline: list[tuple[float, str | None]] = []
            for i, s in enumerate(seq):
                timeline.append((i * 10.0, s))
                timeline.append((i * 10.0 + 9, None))
            state, events = run_incident(timeline, stable_for=5.0)
            kinds = [k for _, k, _ in events]
            opened_or_resolved = [k for k in kinds if k in ("opened", "resolved")]
            assert all(a != b for a, b in itertools.pairwise(opened_or_resolved)), (seq, kinds)
            if opened_or_resolved:
                assert opened_or_resolved[0] == "opened"
            # the final phase agrees with the last severity
            if seq[-1] != "operational":
                assert state.phase == "open" and state.severity == seq[-1]


def test_worst() -> None:
    assert worst(["operational", "degraded", "major_outage", "partial_outage"]) == "major_outage"
    assert worst([]) == "operational"
