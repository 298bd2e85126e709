"""The cluster's pure decisions (`detector.cluster.logic`): who runs which probe (rendezvous
hashing), how many vantages must agree, and what they agree on (`combine`), the last checked
over every combination of up to three vantages' levels and re-check flags and the states a
probe can be in before."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from detector.cluster.logic import View, combine, needed, owned, owner
from detector.state import Level, ProbeState

PROBES = [f"probe-{i:04d}" for i in range(1000)]
MEMBERS = ["3f9a0c1d2e4b5a67", "8c21d0e9f7a6b534", "a0b1c2d3e4f50617", "5e4d3c2b1a098f7e"]


# --- owner / owned: rendezvous hashing ------------------------------------------------------


def test_owner_is_deterministic_and_ignores_member_order() -> None:
    for probe in PROBES[:200]:
        first = owner(MEMBERS, probe)
        assert first in MEMBERS
        assert owner(MEMBERS, probe) == first
        assert owner(list(reversed(MEMBERS)), probe) == first
        assert owner(sorted(MEMBERS), probe) == first


def test_owner_with_one_member_is_that_member() -> None:
    assert {owner(["only"], p) for p in PROBES} == {"only"}


def test_owned_covers_every_probe_exactly_once() -> None:
    for n in range(1, len(MEMBERS) + 1):
        members = MEMBERS[:n]
        shares = [owned(m, members, PROBES) for m in members]
        assert sum(len(s) for s in shares) == len(PROBES)  # no probe run twice
        assert set().union(*shares) == set(PROBES)  # none left out


def test_owned_agrees_with_owner() -> None:
    for me in MEMBERS:
        mine = owned(me, MEMBERS, PROBES)
        assert mine == {p for p in PROBES if owner(MEMBERS, p) == me}


def test_owned_counts_me_among_members_even_when_not_listed() -> None:
    others = MEMBERS[1:]
    assert owned(MEMBERS[0], others, PROBES) == owned(MEMBERS[0], MEMBERS, PROBES)


def test_owned_ignores_duplicate_members() -> None:
    doubled = MEMBERS + MEMBERS[:2]
    for me in MEMBERS:
        assert owned(me, doubled, PROBES) == owned(me, MEMBERS, PROBES)


def test_owned_with_one_member_returns_all() -> None:
    assert owned("solo", ["solo"], PROBES) == set(PROBES)
    assert owned("solo", [], PROBES) == set(PROBES)  # alone: its own list may be empty
    assert owned("solo", [], iter(PROBES)) == set(PROBES)  # any iterable of names
    assert owned("solo", ["solo"], []) == set()


def test_two_members_split_a_thousand_probes_evenly() -> None:
    a, b = MEMBERS[:2]
    share_a = owned(a, [a, b], PROBES)
    share_b = owned(b, [a, b], PROBES)
    assert 400 <= len(share_a) <= 600
    assert len(share_a) + len(share_b) == len(PROBES)
    assert not share_a & share_b


def test_a_member_leaving_moves_only_its_probes() -> None:
    before = {p: owner(MEMBERS, p) for p in PROBES}
    gone = MEMBERS[2]
    rest = [m for m in MEMBERS if m != gone]
    after = {p: owner(rest, p) for p in PROBES}
    moved = {p for p in PROBES if before[p] != after[p]}
    assert moved == {p for p in PROBES if before[p] == gone}
    # what the one that left held is spread over the others, not dumped on one
    assert len({after[p] for p in moved}) == len(rest)


def test_a_member_joining_takes_about_one_nth_and_only_from_others() -> None:
    newcomer = "ffee00112233aabb"
    joined = [*MEMBERS, newcomer]
    before = {p: owner(MEMBERS, p) for p in PROBES}
    after = {p: owner(joined, p) for p in PROBES}
    moved = {p for p in PROBES if before[p] != after[p]}
    assert all(after[p] == newcomer for p in moved)  # only towards the newcomer
    assert moved == {p for p in PROBES if after[p] == newcomer}
    expected = len(PROBES) / len(joined)  # 200
    assert 0.6 * expected <= len(moved) <= 1.4 * expected
    # taken from every old member, about evenly
    taken_from = Counter(before[p] for p in moved)
    assert set(taken_from) == set(MEMBERS)


# --- needed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("live", "need"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_majority_of_live_vantages(live: int, need: int) -> None:
    assert needed("majority", live) == need


@pytest.mark.parametrize("live", [0, 1, 2, 3, 5, 9])
@pytest.mark.parametrize("quorum", [1, 2, 3])
def test_a_number_is_taken_as_configured(quorum: int, live: int) -> None:
    assert needed(quorum, live) == quorum


def test_majority_of_none_is_still_one() -> None:
    assert needed("majority", 0) == 1


# --- combine: the rules, over every combination ---------------------------------------------

LEVELS = (Level.OK, Level.SOFT, Level.FAIL)
# each vantage's first failed check: the earliest is not the first vantage's
STARTS = (130.0, 110.0, 120.0)
ONGOING_START = 500.0  # later than any vantage's: "kept" cannot pass for "earliest"

PREVIOUS = {
    "fine": ProbeState(),
    "streak": ProbeState(bad_streak=1, first_bad_at=105.0),
    "soft": ProbeState(confirmed=Level.SOFT, first_bad_at=ONGOING_START),
    "failing": ProbeState(
        confirmed=Level.FAIL, first_bad_at=ONGOING_START, severity="partial_outage"
    ),
    "recovering": ProbeState(
        confirmed=Level.FAIL, good_streak=1, first_bad_at=ONGOING_START, severity="major_outage"
    ),
    "failing-unknown-start": ProbeState(confirmed=Level.FAIL),
}


def _view(i: int, level: Level, suspect: bool) -> View:
    # a vantage fine and not re-checking has no trouble start; any other has one
    start = STARTS[i] if (level != Level.OK or suspect) else None
    return View(f"v{i}", level, suspect, start)


def _cases() -> list[tuple[str, tuple[View, ...], int]]:
    cases = []
    for n in range(4):
        for levels, flags in itertools.product(
            itertools.product(LEVELS, repeat=n), itertools.product((False, True), repeat=n)
        ):
            views = tuple(
                _view(i, lv, s) for i, (lv, s) in enumerate(zip(levels, flags, strict=True))
            )
            for prev, need in itertools.product(PREVIOUS, range(4)):
                cases.append((prev, views, need))
    return cases


CASES = _cases()


def _expected_level(previous: ProbeState, views: tuple[View, ...], need: int) -> Level:
    need = max(1, need)
    if sum(v.level == Level.FAIL for v in views) >= need:
        return Level.FAIL
    if sum(v.level != Level.OK for v in views) >= need:
        return Level.SOFT
    # fewer vantages alive than the quorum: all of them saying it works is recovery
    if views and sum(v.level == Level.OK for v in views) >= min(need, len(views)):
        return Level.OK
    return previous.confirmed  # no quorum either way: as it was


def _witnesses(level: Level, views: tuple[View, ...], need: int) -> list[View]:
    """Those whose word made the verdict: empty when it was kept for want of a quorum."""
    failing = [v for v in views if v.level == Level.FAIL]
    bad = [v for v in views if v.level != Level.OK]
    if level == Level.FAIL and len(failing) >= max(1, need):
        return failing
    if level == Level.SOFT and len(bad) >= max(1, need):
        return bad
    return []


def test_the_case_table_is_complete() -> None:
    # 0..3 vantages × 3 levels × 2 flags each, × previous states × need 0..3
    assert len(CASES) == (1 + 6 + 36 + 216) * len(PREVIOUS) * 4


def test_combine_follows_its_rules_in_every_case() -> None:
    checked = Counter[str]()
    for prev_name, views, need in CASES:
        previous = PREVIOUS[prev_name]
        got = combine(previous, views, need)
        why = f"previous={prev_name} need={need} views={views} → {got}"
        level = _expected_level(previous, views, need)
        assert got.confirmed == level, why
        # a state the probe machine could be in: never both streaks at once
        assert not (got.bad_streak and got.good_streak), why
        if level == Level.OK:
            assert got.good_streak == 0 and got.severity is None, why
            towards = [v for v in views if v.level == Level.OK and v.suspect]
            if towards:  # some vantage re-checks towards trouble: a streak, not a verdict
                assert got.bad_streak == 1 and got.suspect, why
                assert got.first_bad_at == min(v.first_bad_at or 0 for v in towards), why
                checked["ok-streak"] += 1
            else:  # fine, and nothing else: trouble seen below quorum holds nothing up
                assert got == ProbeState(), why
                assert not got.suspect, why
                checked["ok"] += 1
            continue
        assert got.bad_streak == 0, why
        witnesses = _witnesses(level, views, need)
        if previous.confirmed == Level.OK:  # a new trouble: its earliest witness's start
            assert witnesses, why
            assert got.first_bad_at == min(v.first_bad_at or 0 for v in witnesses), why
            checked["new"] += 1
        elif previous.first_bad_at is not None:  # the same trouble goes on: its start stays
            assert got.first_bad_at == previous.first_bad_at, why
            checked["ongoing"] += 1
        elif witnesses:  # going on, its start unknown: the witnesses say it
            assert got.first_bad_at == min(v.first_bad_at or 0 for v in witnesses), why
            checked["ongoing-unknown"] += 1
        else:
            assert got.first_bad_at is None, why
        if not witnesses:  # kept for want of a quorum: the severity too
            assert got.severity == previous.severity, why
            checked["kept"] += 1
        else:  # said by the witnesses (none here gives one)
            assert got.severity is None, why
        # a vantage re-checking a trouble (towards recovery) makes the verdict a streak
        back = any(v.suspect and v.level != Level.OK for v in views)
        assert got.good_streak == (1 if back else 0), why
        assert got.suspect == back, why
        checked["back" if back else "steady"] += 1
    # every branch was reached, many times over
    for branch in (
        "ok",
        "ok-streak",
        "new",
        "ongoing",
        "ongoing-unknown",
        "kept",
        "back",
        "steady",
    ):
        assert checked[branch] >= 10, (branch, checked)


def test_combine_does_not_depend_on_the_order_of_views() -> None:
    for prev_name, views, need in CASES:
        if len(views) < 2:
            continue
        previous = PREVIOUS[prev_name]
        want = combine(previous, views, need)
        for order in itertools.permutations(views):
            assert combine(previous, order, need) == want, (prev_name, views, need)


def test_need_below_one_counts_as_one() -> None:
    for prev_name, views, _ in CASES:
        previous = PREVIOUS[prev_name]
        assert combine(previous, views, 0) == combine(previous, views, 1)
        assert combine(previous, views, -3) == combine(previous, views, 1)


# --- combine: the rules one at a time, as stories -------------------------------------------


def test_fail_when_need_vantages_fail() -> None:
    views = [View("a", Level.FAIL, first_bad_at=30.0), View("b", Level.FAIL, first_bad_at=20.0)]
    views.append(View("c", Level.OK))
    got = combine(ProbeState(), views, 2)
    assert got == ProbeState(confirmed=Level.FAIL, first_bad_at=20.0)


def test_soft_when_need_see_trouble_but_fewer_fail() -> None:
    views = [
        View("a", Level.FAIL, first_bad_at=30.0),
        View("b", Level.SOFT, first_bad_at=25.0),
        View("c", Level.OK),
    ]
    got = combine(ProbeState(), views, 2)
    assert got == ProbeState(confirmed=Level.SOFT, first_bad_at=25.0)


def test_ok_when_need_say_ok() -> None:
    previous = ProbeState(confirmed=Level.FAIL, first_bad_at=10.0, severity="major_outage")
    views = [View("a", Level.OK), View("b", Level.OK), View("c", Level.FAIL, first_bad_at=10.0)]
    assert combine(previous, views, 2) == ProbeState()


@pytest.mark.parametrize("was", [Level.OK, Level.SOFT, Level.FAIL])
def test_no_quorum_either_way_keeps_the_previous_level(was: Level) -> None:
    previous = ProbeState(confirmed=was, first_bad_at=None if was == Level.OK else 10.0)
    # quorum 2 of 2 live, the two disagree
    views = [View("a", Level.OK), View("b", Level.FAIL, first_bad_at=40.0)]
    got = combine(previous, views, 2)
    assert got.confirmed == was
    assert got.first_bad_at == previous.first_bad_at


def test_a_vantage_failing_alone_below_quorum_is_no_streak() -> None:
    views = [View("a", Level.FAIL, first_bad_at=40.0), View("b", Level.OK), View("c", Level.OK)]
    got = combine(ProbeState(), views, 2)
    assert got == ProbeState()
    assert not got.suspect
    # nor when it is re-checking its own trouble
    views[0] = View("a", Level.FAIL, suspect=True, first_bad_at=40.0)
    assert combine(ProbeState(), views, 2) == ProbeState()


def test_a_vantage_rechecking_towards_trouble_makes_a_streak() -> None:
    views = [
        View("a", Level.OK, suspect=True, first_bad_at=40.0),
        View("b", Level.OK, suspect=True, first_bad_at=35.0),
        View("c", Level.OK),
    ]
    got = combine(ProbeState(), views, 2)
    assert got == ProbeState(bad_streak=1, first_bad_at=35.0)
    assert got.suspect


def test_a_suspect_ok_vantage_without_a_start_still_makes_a_streak() -> None:
    got = combine(ProbeState(), [View("a", Level.OK, suspect=True)], 1)
    assert got == ProbeState(bad_streak=1)
    assert got.suspect


def test_a_vantage_rechecking_towards_recovery_holds_a_bad_verdict() -> None:
    previous = ProbeState(confirmed=Level.FAIL, first_bad_at=10.0)
    views = [
        View("a", Level.FAIL, suspect=True, first_bad_at=10.0),
        View("b", Level.FAIL, first_bad_at=12.0),
        View("c", Level.OK),
    ]
    got = combine(previous, views, 2)
    assert got == ProbeState(confirmed=Level.FAIL, first_bad_at=10.0, good_streak=1)
    assert got.suspect


def test_a_trouble_that_goes_on_keeps_its_start_through_a_change_of_level() -> None:
    previous = ProbeState(confirmed=Level.SOFT, first_bad_at=100.0)
    views = [View("a", Level.FAIL, first_bad_at=50.0), View("b", Level.FAIL, first_bad_at=60.0)]
    got = combine(previous, views, 2)
    assert got.confirmed == Level.FAIL
    assert got.first_bad_at == 100.0


def test_a_new_trouble_after_a_streak_starts_at_its_witnesses_earliest() -> None:
    previous = ProbeState(bad_streak=1, first_bad_at=45.0)
    views = [View("a", Level.FAIL, first_bad_at=50.0), View("b", Level.FAIL, first_bad_at=47.0)]
    assert combine(previous, views, 2).first_bad_at == 47.0


def test_a_new_trouble_whose_witnesses_give_no_start_has_none() -> None:
    views = [View("a", Level.FAIL), View("b", Level.FAIL)]
    assert combine(ProbeState(), views, 2) == ProbeState(confirmed=Level.FAIL)


def test_severity_comes_from_a_witness_that_gives_one() -> None:
    views = [
        View("a", Level.FAIL, first_bad_at=1.0),
        View("b", Level.FAIL, first_bad_at=2.0, severity="partial_outage"),
    ]
    assert combine(ProbeState(), views, 2).severity == "partial_outage"


def test_severity_is_the_worst_the_witnesses_give() -> None:
    views = [
        View("a", Level.FAIL, first_bad_at=1.0, severity="degraded"),
        View("b", Level.FAIL, first_bad_at=2.0, severity="major_outage"),
        View("c", Level.FAIL, first_bad_at=3.0, severity="partial_outage"),
    ]
    assert combine(ProbeState(), views, 2).severity == "major_outage"


def test_an_outage_recovers_when_fewer_vantages_live_than_the_quorum_all_agree() -> None:
    down = ProbeState(confirmed=Level.FAIL, first_bad_at=1.0)
    assert combine(down, [View("a", Level.OK)], 2) == ProbeState()
    assert combine(down, [], 2) == down  # nobody left to say
    # but fewer than the quorum never confirm an outage
    assert combine(ProbeState(), [View("a", Level.FAIL, first_bad_at=1.0)], 2) == ProbeState()


def test_severity_of_a_vantage_that_is_no_witness_is_not_taken() -> None:
    views = [
        View("a", Level.FAIL, first_bad_at=1.0),
        View("b", Level.FAIL, first_bad_at=2.0),
        View("c", Level.SOFT, first_bad_at=3.0, severity="degraded_performance"),
    ]
    assert combine(ProbeState(), views, 2).severity is None


def test_severity_is_kept_while_the_level_is_kept() -> None:
    previous = ProbeState(confirmed=Level.FAIL, first_bad_at=1.0, severity="major_outage")
    views = [View("a", Level.OK), View("b", Level.FAIL, first_bad_at=1.0, severity="x")]
    got = combine(previous, views, 2)
    assert got == previous


def test_severity_is_dropped_on_recovery() -> None:
    previous = ProbeState(confirmed=Level.FAIL, first_bad_at=1.0, severity="major_outage")
    assert combine(previous, [View("a", Level.OK)], 1) == ProbeState()


def test_no_views_keep_what_was_except_streaks() -> None:
    failing = ProbeState(confirmed=Level.FAIL, first_bad_at=1.0, severity="major_outage")
    assert combine(failing, [], 1) == failing
    assert combine(ProbeState(), [], 1) == ProbeState()
    # a streak with no vantage re-checking any more is over
    assert combine(ProbeState(bad_streak=2, first_bad_at=1.0), [], 1) == ProbeState()
    # and so is a recovery streak
    recovering = ProbeState(confirmed=Level.FAIL, good_streak=1, first_bad_at=1.0)
    assert combine(recovering, [], 1) == ProbeState(confirmed=Level.FAIL, first_bad_at=1.0)
