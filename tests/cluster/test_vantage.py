"""One instance's own checks (`detector.cluster.vantage.Vantage`): stepped like a lone
detector's, written as verdicts only when they change, held back while its controls fail."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from detector.cluster.vantage import Vantage
from detector.config import Config, parse_config
from detector.state import Level, ProbeState
from detector.store import Verdict
from probes.base import Result

UP = Result(True, 0.01, "connected in 10 ms")
DOWN = Result(False, 0.01, "connection refused")
SLOW = Result(True, 1.2, "connected in 1.2 s > 800 ms", soft_fail=True)
VENDOR = Result(False, 0.01, "vendor says: partial outage", severity="partial_outage")

NAME = "eu-west"
CONTROLS = {"ctl"}
T0 = 1_800_000_000.0


def _tcp(name: str, port: int, **over: Any) -> dict[str, Any]:
    return {"name": name, "tcp": {"host": "127.0.0.1", "port": port}, **over}


def config(extra_api_probes: int = 0, controls: bool = True) -> Config:
    api = [_tcp("api-a", 1), _tcp("api-b", 2), _tcp("api-c", 3)]
    api += [_tcp(f"api-{i}", 100 + i) for i in range(extra_api_probes)]
    raw: dict[str, Any] = {
        "service": {"name": "Acme", "contact": {"name": "Jane", "email": "jane@acme.example"}},
        "detection": {
            "interval": "30s",
            "failures_to_confirm": 3,
            "recheck_interval": "2s",
            "successes_to_recover": 2,
        },
        "controls": [_tcp("ctl", 9)] if controls else [],
        "components": [
            {
                "id": "api",
                "name": "API",
                "impact": "You cannot reach the API.",
                "probes": api,
            },
            {
                "id": "web",
                "name": "Dashboard",
                "impact": "You cannot sign in.",
                "probes": [_tcp("web", 4)],
            },
            {
                "id": "jobs",
                "name": "Jobs",
                "impact": "Your jobs do not run.",
                "probes": [_tcp("jobs", 5, failures_to_confirm=1, successes_to_recover=1)],
            },
        ],
    }
    return parse_config(yaml.safe_dump(raw), env={})


class Asked:
    """The `request_checks` callback: every list of names it was given, in order."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, names: list[str]) -> None:
        self.calls.append(list(names))

    def names(self) -> list[str]:
        return [n for call in self.calls for n in call]

    def targets(self) -> list[str]:
        """The probes asked for, the controls left out (asked for their own reasons)."""
        return [n for n in self.names() if n not in CONTROLS]


@pytest.fixture
def asked() -> Asked:
    return Asked()


@pytest.fixture
def vantage(asked: Asked) -> Vantage:
    return Vantage(config(), NAME, asked)


def feed(
    v: Vantage, name: str, result: Result, times: int, start: float, every: float = 2.0
) -> float:
    """`times` results of one probe, `every` seconds apart; returns the time of the last."""
    at = start
    for i in range(times):
        at = start + i * every
        v.on_result(name, result, at)
    return at


def by_probe(rows: list[Verdict]) -> dict[str, Verdict]:
    got = {r.probe: r for r in rows}
    assert len(got) == len(rows), "one verdict per probe at most"
    return got


def confirm_down(v: Vantage, name: str = "api-a", start: float = T0) -> float:
    at = feed(v, name, DOWN, 3, start)
    assert v.states[name].confirmed == Level.FAIL
    v.take()
    v.wake.clear()
    return at


# --- verdicts written when they change ------------------------------------------------------


def test_healthy_checks_write_nothing(vantage: Vantage) -> None:
    feed(vantage, "api-a", UP, 5, T0)
    assert vantage.take() == []
    assert not vantage.wake.is_set()
    assert vantage.states.get("api-a", ProbeState()) == ProbeState()


def test_a_streak_start_writes_a_suspect_verdict(vantage: Vantage) -> None:
    assert vantage.on_result("api-a", DOWN, T0) is True  # wants fast re-checks
    assert vantage.wake.is_set()
    assert vantage.take() == [
        Verdict(NAME, "api-a", int(Level.OK), True, T0, None, DOWN.detail, T0)
    ]


def test_a_confirmation_writes_one_fail_verdict_from_the_first_failure(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    assert [r.suspect for r in vantage.take()] == [True]
    vantage.wake.clear()
    assert vantage.on_result("api-a", DOWN, T0 + 2) is True
    assert vantage.take() == []  # the streak goes on: nothing new to say
    assert not vantage.wake.is_set()
    assert vantage.on_result("api-a", DOWN, T0 + 4) is False  # confirmed: no more re-checks
    assert vantage.wake.is_set()
    assert vantage.take() == [
        Verdict(NAME, "api-a", int(Level.FAIL), False, T0, None, DOWN.detail, T0 + 4)
    ]


def test_a_confirmation_not_yet_written_replaces_its_streak(vantage: Vantage) -> None:
    feed(vantage, "api-a", DOWN, 3, T0)
    rows = vantage.take()
    assert len(rows) == 1
    assert (rows[0].level, rows[0].suspect, rows[0].first_bad_at) == (Level.FAIL, False, T0)


def test_repeated_identical_results_write_nothing_new(vantage: Vantage) -> None:
    at = confirm_down(vantage)
    feed(vantage, "api-a", DOWN, 10, at + 30, every=30)
    assert vantage.take() == []
    assert not vantage.wake.is_set()


def test_soft_trouble_is_confirmed_as_soft(vantage: Vantage) -> None:
    feed(vantage, "api-b", SLOW, 3, T0)
    rows = by_probe(vantage.take())
    assert (rows["api-b"].level, rows["api-b"].first_bad_at) == (Level.SOFT, T0)


def test_a_change_of_level_is_written(vantage: Vantage) -> None:
    at = confirm_down(vantage)
    vantage.on_result("api-a", SLOW, at + 30)
    rows = vantage.take()
    assert [(r.level, r.first_bad_at) for r in rows] == [(Level.SOFT, T0)]


def test_a_probe_s_own_severity_is_written(vantage: Vantage) -> None:
    feed(vantage, "api-a", VENDOR, 3, T0)
    assert [r.severity for r in vantage.take()] == ["partial_outage"]
    vantage.on_result("api-a", DOWN, T0 + 60)  # the vendor no longer says: a change
    assert [(r.level, r.severity) for r in vantage.take()] == [(Level.FAIL, None)]


def test_recovery_writes_a_streak_then_level_zero(vantage: Vantage) -> None:
    at = confirm_down(vantage)
    assert vantage.on_result("api-a", UP, at + 30) is True  # re-checking towards recovery
    rows = vantage.take()
    assert [(r.level, r.suspect, r.first_bad_at) for r in rows] == [(Level.FAIL, True, T0)]
    assert vantage.on_result("api-a", UP, at + 32) is False
    assert vantage.take() == [
        Verdict(NAME, "api-a", int(Level.OK), False, None, None, UP.detail, at + 32)
    ]


def test_a_recovery_that_fails_again_is_written_as_failing(vantage: Vantage) -> None:
    at = confirm_down(vantage)
    vantage.on_result("api-a", UP, at + 30)
    vantage.take()
    vantage.on_result("api-a", DOWN, at + 32)
    assert [(r.level, r.suspect, r.first_bad_at) for r in vantage.take()] == [
        (Level.FAIL, False, T0)
    ]


def test_a_false_alarm_is_withdrawn(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    vantage.take()
    assert vantage.on_result("api-a", UP, T0 + 2) is False
    assert vantage.take() == [
        Verdict(NAME, "api-a", int(Level.OK), False, None, None, UP.detail, T0 + 2)
    ]


def test_a_probe_s_own_failures_to_confirm_are_honoured(vantage: Vantage) -> None:
    vantage.on_result("jobs", DOWN, T0)  # failures_to_confirm: 1
    assert [(r.level, r.suspect) for r in vantage.take()] == [(Level.FAIL, False)]
    vantage.on_result("jobs", UP, T0 + 30)  # successes_to_recover: 1
    assert [(r.level, r.suspect) for r in vantage.take()] == [(Level.OK, False)]


def test_verdicts_of_several_probes_are_batched_until_taken(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    vantage.on_result("web", DOWN, T0 + 1)
    vantage.on_result("api-a", DOWN, T0 + 2)
    rows = by_probe(vantage.take())
    assert set(rows) == {"api-a", "web"}
    assert all(r.vantage == NAME for r in rows.values())
    assert vantage.take() == []


# --- siblings re-checked ---------------------------------------------------------------------


def test_siblings_are_asked_to_recheck_when_one_starts_failing(
    vantage: Vantage, asked: Asked
) -> None:
    vantage.on_result("api-a", DOWN, T0)
    assert asked.targets() == ["api-b", "api-c"]
    vantage.on_result("api-a", DOWN, T0 + 2)  # the streak goes on: asked once
    vantage.on_result("api-a", DOWN, T0 + 4)
    assert asked.targets() == ["api-b", "api-c"]


def test_siblings_already_in_trouble_are_not_asked(vantage: Vantage, asked: Asked) -> None:
    confirm_down(vantage, "api-b")  # failing: re-checked on its own schedule
    vantage.on_result("api-c", DOWN, T0 + 10)  # in a streak: re-checked already
    asked.calls.clear()
    vantage.on_result("api-a", DOWN, T0 + 11)
    assert asked.targets() == []


def test_probes_of_other_components_are_not_asked(vantage: Vantage, asked: Asked) -> None:
    vantage.on_result("web", DOWN, T0)  # alone in its component: nobody to ask
    assert asked.targets() == []
    vantage.on_result("api-a", DOWN, T0)
    assert asked.targets() == ["api-b", "api-c"]


def test_failing_controls_ask_nothing(vantage: Vantage, asked: Asked) -> None:
    feed(vantage, "ctl", DOWN, 3, T0)
    assert asked.names() == []


def test_siblings_still_failing_are_asked_when_one_first_passes_again(
    vantage: Vantage, asked: Asked
) -> None:
    """As alone (`Engine.on_result`): the component's probes recover in phase, so its
    severity settles in one round of re-checks instead of one probe at a time."""
    for name in ("api-a", "api-b", "api-c"):
        confirm_down(vantage, name)
    asked.calls.clear()
    vantage.on_result("api-a", UP, T0 + 60)
    assert asked.targets() == ["api-b", "api-c"]
    vantage.on_result("api-a", UP, T0 + 62)  # recovered: asked once
    assert asked.targets() == ["api-b", "api-c"]


def test_a_probe_starting_to_fail_asks_for_the_controls_too(vantage: Vantage, asked: Asked) -> None:
    """As alone (`Engine.on_result`: "doubt ourselves before anyone else"): the controls'
    streak runs in phase with the probe's, so this vantage knows it is blind before the
    probe is confirmed, not an interval later."""
    vantage.on_result("web", DOWN, T0)
    assert "ctl" in asked.names()


# --- blind while the controls fail ----------------------------------------------------------


def blind(v: Vantage, start: float = T0) -> float:
    at = feed(v, "ctl", DOWN, 3, start)
    assert v.blind
    return at


def see_again(v: Vantage, start: float) -> float:
    at = feed(v, "ctl", UP, 2, start)
    assert not v.blind
    return at


def test_controls_failing_make_it_blind_and_passing_again_not(vantage: Vantage) -> None:
    assert not vantage.blind
    at = blind(vantage)
    vantage.on_result("ctl", UP, at + 2)
    assert vantage.blind  # recovering is not recovered
    see_again(vantage, at + 2)
    assert vantage.take() == []  # a control's own verdict is never written


def test_trouble_seen_while_blind_is_held_not_written(vantage: Vantage) -> None:
    at = blind(vantage)
    vantage.on_result("api-a", DOWN, at + 1)
    assert vantage.take() == []  # not even the streak
    feed(vantage, "api-a", DOWN, 2, at + 3)
    assert vantage.states["api-a"].confirmed == Level.FAIL  # stepped all the same
    assert vantage.take() == []
    assert set(vantage.held) == {"api-a"}
    assert not vantage.pending


@pytest.mark.parametrize("first", ["control", "probe"])
def test_own_network_down_writes_no_trouble_whichever_check_lands_first(
    vantage: Vantage, first: str
) -> None:
    """Our network dies: the control and the probe fail together, round after round (the
    control re-checked with the probe). Which of the two results lands first in a round is
    chance; either way the probe's confirmation is no customer's trouble until the controls
    have passed again (as alone: `_controls_doubt` holds a verdict while a control is failing
    towards a verdict of its own, not only once it has one)."""
    order = ["ctl", "web"] if first == "control" else ["web", "ctl"]
    written: list[Verdict] = []
    for i in range(4):
        for name in order:
            vantage.on_result(name, DOWN, T0 + 2 * i)
        written += vantage.take()
    assert vantage.blind
    assert [r for r in written if r.level != Level.OK] == []
    see_again(vantage, T0 + 20)
    rows = by_probe(vantage.take())
    assert (rows["web"].level, rows["web"].first_bad_at) == (Level.FAIL, T0)


def test_held_trouble_is_written_once_the_controls_pass_again(vantage: Vantage) -> None:
    at = blind(vantage)
    feed(vantage, "api-a", DOWN, 3, at + 1)
    vantage.on_result("web", DOWN, at + 2)
    vantage.wake.clear()
    at = see_again(vantage, at + 20)
    assert vantage.wake.is_set()
    rows = by_probe(vantage.take())
    assert set(rows) == {"api-a", "web"}
    assert (rows["api-a"].level, rows["api-a"].suspect) == (Level.FAIL, False)
    assert rows["api-a"].first_bad_at == T0 + 4 + 1  # its first failure, not the flush
    assert (rows["web"].level, rows["web"].suspect) == (Level.OK, True)
    assert all(r.vantage == NAME for r in rows.values())
    assert vantage.held == {}
    # written once: more of the same writes nothing
    vantage.on_result("api-a", DOWN, at + 30)
    assert vantage.take() == []


def test_recoveries_are_written_while_blind(vantage: Vantage) -> None:
    at = confirm_down(vantage)
    at = blind(vantage, at + 1)
    feed(vantage, "api-a", UP, 2, at + 1)
    rows = vantage.take()
    assert [(r.probe, r.level, r.suspect) for r in rows] == [("api-a", Level.OK, False)]


def test_a_streak_withdrawn_while_blind_is_written(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    vantage.take()
    at = blind(vantage, T0 + 1)
    vantage.on_result("api-a", UP, at + 1)
    assert [(r.level, r.suspect) for r in vantage.take()] == [(Level.OK, False)]


def test_a_held_trouble_that_ended_while_blind_is_written_as_fine(vantage: Vantage) -> None:
    at = blind(vantage)
    feed(vantage, "api-a", DOWN, 3, at + 1)
    feed(vantage, "api-a", UP, 2, at + 10)
    see_again(vantage, at + 20)
    rows = by_probe(vantage.take())
    assert (rows["api-a"].level, rows["api-a"].suspect) == (Level.OK, False)
    assert rows["api-a"].first_bad_at is None


# --- seed -----------------------------------------------------------------------------------


def _row(vantage: str, probe: str, level: Level, suspect: bool = False, **kw: Any) -> Verdict:
    start = None if level == Level.OK and not suspect else T0 - 600
    return Verdict(
        vantage,
        probe,
        int(level),
        suspect,
        kw.get("first_bad_at", start),
        kw.get("severity"),
        "seen before",
        T0 - 60,
    )


def test_seed_restores_this_vantage_s_verdicts_only(vantage: Vantage) -> None:
    rows = [
        _row(NAME, "api-a", Level.FAIL, severity="partial_outage"),
        _row(NAME, "api-b", Level.SOFT),
        _row(NAME, "api-c", Level.OK, suspect=True),  # a streak: starts over
        _row("us-east", "web", Level.FAIL),  # another vantage's word is not ours
        _row("us-east", "api-a", Level.OK),
    ]
    vantage.seed(rows, ["api-a", "api-b", "api-c", "web", "jobs"])
    assert vantage.states == {
        "api-a": ProbeState(confirmed=Level.FAIL, first_bad_at=T0 - 600, severity="partial_outage"),
        "api-b": ProbeState(confirmed=Level.SOFT, first_bad_at=T0 - 600),
        "api-c": ProbeState(),
        "web": ProbeState(),
        "jobs": ProbeState(),
    }
    assert vantage.take() == []  # restoring is not saying anything new


def test_seed_touches_only_the_probes_named(vantage: Vantage) -> None:
    confirm_down(vantage, "web")
    vantage.seed([_row(NAME, "api-a", Level.FAIL)], ["api-a"])
    assert vantage.states["web"].confirmed == Level.FAIL
    assert vantage.states["api-a"].confirmed == Level.FAIL


def test_seed_forgets_a_probe_taken_over_that_this_vantage_saw_fine(vantage: Vantage) -> None:
    confirm_down(vantage, "api-a")  # what this member thought before it gave the probe away
    vantage.seed([_row(NAME, "api-a", Level.OK)], ["api-a"])
    assert vantage.states["api-a"] == ProbeState()
    vantage.seed([], ["api-a"])
    assert vantage.states["api-a"] == ProbeState()


def test_a_seeded_trouble_goes_on_instead_of_starting_over(vantage: Vantage) -> None:
    vantage.seed([_row(NAME, "api-a", Level.FAIL)], ["api-a"])
    vantage.on_result("api-a", DOWN, T0)
    assert vantage.take() == []  # the same verdict as written before
    feed(vantage, "api-a", UP, 2, T0 + 30)
    rows = vantage.take()
    assert [(r.level, r.suspect) for r in rows] == [(Level.OK, False)]


# --- take / put_back ------------------------------------------------------------------------


def test_take_empties_pending(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    assert len(vantage.take()) == 1
    assert vantage.take() == []
    assert vantage.pending == {}


def test_put_back_keeps_rows_that_failed_to_write(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    vantage.on_result("web", DOWN, T0)
    rows = vantage.take()
    vantage.wake.clear()
    vantage.put_back(rows)
    assert vantage.wake.is_set()
    assert sorted(vantage.take(), key=lambda r: r.probe) == sorted(rows, key=lambda r: r.probe)


def test_put_back_keeps_a_newer_verdict_of_the_same_probe(vantage: Vantage) -> None:
    vantage.on_result("api-a", DOWN, T0)
    vantage.on_result("web", DOWN, T0)
    old = vantage.take()
    feed(vantage, "api-a", DOWN, 2, T0 + 2)  # confirmed meanwhile
    vantage.put_back(old)
    rows = by_probe(vantage.take())
    assert (rows["api-a"].level, rows["api-a"].suspect) == (Level.FAIL, False)
    assert (rows["web"].level, rows["web"].suspect) == (Level.OK, True)  # the old one is back


# --- index (a new configuration) ------------------------------------------------------------


def test_index_takes_up_a_new_configuration(vantage: Vantage, asked: Asked) -> None:
    vantage.index(config(extra_api_probes=1, controls=False))
    vantage.on_result("api-0", DOWN, T0)
    assert asked.calls == [["api-a", "api-b", "api-c"]]
    assert vantage.controls == set()
