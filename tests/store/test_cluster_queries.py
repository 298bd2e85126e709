"""The cluster's queries on a real PostgreSQL (`detector.store.cluster`): members and their
heartbeats, the leader lease and its epochs, the fence on the leader's writes, each vantage's
verdicts, and the fingerprint followers reload by. Skipped without a server (see
tests/store/backends.py).

Every time here is the database's: the only waits are the two that let a 0.3 s lease run out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from detector.store import (
    Change,
    Fenced,
    IncidentRow,
    MaintenanceRow,
    NoticeRow,
    Store,
    StoreUnavailable,
    Verdict,
)
from tests.store.backends import postgres_database

NOW = 1_800_000_000.0
SHORT = 0.3  # a lease that runs out in the test
EXPIRED = 0.5  # how long to wait for it to
LONG = 60.0  # a lease that does not


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_database() as u:
        yield u


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    """This member's store, opened (the newest schema) on a database of its own."""
    s = Store(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def other(store: Store, url: str) -> AsyncIterator[Store]:
    """Another instance's store on the same database (the schema is there already)."""
    s = Store(url)
    try:
        yield s
    finally:
        await s.close()


async def beat(store: Store, member: str, vantage: str = "eu-west", **over: Any) -> float:
    values: dict[str, Any] = {
        "member": member,
        "vantage": vantage,
        "host": f"host-{member}",
        "pid": 4242,
        "listen": f"http://10.0.0.{len(member)}:9478",
        "started_at": NOW,
        "blind": False,
        "probes_owned": 12,
    }
    values.update(over)
    return await store.heartbeat(**values)


def incident(iid: str = "inc-1", **over: Any) -> IncidentRow:
    row = IncidentRow(
        id=iid,
        component_ids=["api"],
        title="API",
        status="investigating",
        severity="major_outage",
        started_at=NOW - 60,
        detected_at=NOW,
    )
    for k, v in over.items():
        setattr(row, k, v)
    return row


def notice(iid: str = "inc-1", seq: int = 1) -> NoticeRow:
    return NoticeRow(
        id=f"{iid}.{seq}",
        incident_id=iid,
        sequence=seq,
        event="incident.opened",
        kind="opened",
        status="investigating",
        severity="major_outage",
        published_at=NOW,
        next_update_at=NOW + 900,
        subject="API: major outage",
        text="You cannot reach the API.",
        facts={},
    )


def verdict(probe: str, level: int = 2, **over: Any) -> Verdict:
    values: dict[str, Any] = {
        "vantage": "eu-west",
        "probe": probe,
        "level": level,
        "suspect": False,
        "first_bad_at": NOW - 30 if level else None,
        "severity": None,
        "detail": "connection refused",
        "at": NOW,
    }
    values.update(over)
    return Verdict(**values)


async def sql(store: Store, statement: str, **params: Any) -> None:
    """Test set-up the code under test has no call for (ageing a heartbeat)."""
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


# --- members --------------------------------------------------------------------------------


async def test_heartbeat_registers_a_member_that_reads_back(store: Store) -> None:
    db_now = await beat(store, "m1", listen="http://10.1.2.3:9478", pid=31337)
    assert abs(db_now - time.time()) < 300  # the database's clock, in epoch seconds
    [m] = await store.members()
    assert (m.member, m.vantage, m.host, m.pid, m.listen) == (
        "m1",
        "eu-west",
        "host-m1",
        31337,
        "http://10.1.2.3:9478",
    )
    assert (m.started_at, m.blind, m.probes_owned) == (NOW, False, 12)
    assert m.heartbeat_at == pytest.approx(db_now, abs=0.5)
    assert 0.0 <= m.age < 10.0


async def test_a_later_heartbeat_updates_what_changes(store: Store) -> None:
    first = await beat(store, "m1")
    second = await beat(store, "m1", blind=True, probes_owned=3, started_at=NOW + 99)
    assert second >= first
    [m] = await store.members()
    assert (m.blind, m.probes_owned) == (True, 3)
    assert m.heartbeat_at == pytest.approx(second, abs=0.5)
    assert m.started_at == NOW  # a member started once


async def test_members_are_listed_by_vantage_then_member(store: Store) -> None:
    await beat(store, "b", vantage="us-east")
    await beat(store, "c", vantage="eu-west")
    await beat(store, "a", vantage="us-east")
    members = await store.members()
    assert [(m.vantage, m.member) for m in members] == [
        ("eu-west", "c"),
        ("us-east", "a"),
        ("us-east", "b"),
    ]


async def test_an_aged_heartbeat_shows_its_age(store: Store) -> None:
    await beat(store, "old")
    await beat(store, "new")
    await sql(
        store, "UPDATE cluster_members SET heartbeat_at = heartbeat_at - 600 WHERE member = 'old'"
    )
    ages = {m.member: m.age for m in await store.members()}
    assert 600.0 <= ages["old"] < 610.0
    assert 0.0 <= ages["new"] < 10.0


# --- the lease ------------------------------------------------------------------------------


async def test_a_fresh_store_has_no_leader(store: Store) -> None:
    lease = await store.lease()
    assert (lease.holder, lease.epoch) == (None, 0)
    assert lease.remaining < 0


async def test_the_first_to_ask_leads_at_epoch_one_and_others_wait(store: Store) -> None:
    assert await store.take_lease("a", LONG) == 1
    assert await store.take_lease("b", LONG) is None
    assert await store.take_lease("c", LONG) is None
    lease = await store.lease()
    assert (lease.holder, lease.epoch) == ("a", 1)
    assert 0 < lease.remaining <= LONG


async def test_renew_works_for_the_holder_at_its_epoch_only(store: Store) -> None:
    epoch = await store.take_lease("a", LONG)
    assert epoch == 1
    before = await store.lease()
    assert await store.renew_lease("a", epoch, LONG) is True
    after = await store.lease()
    assert after.expires_at >= before.expires_at
    assert (after.holder, after.epoch) == ("a", 1)  # a renewal is no new epoch
    assert await store.renew_lease("b", epoch, LONG) is False
    assert await store.renew_lease("a", epoch + 1, LONG) is False
    assert await store.renew_lease("a", 0, LONG) is False
    assert (await store.lease()).holder == "a"


async def test_nobody_can_renew_a_lease_never_taken(store: Store) -> None:
    assert await store.renew_lease("a", 0, LONG) is False
    assert await store.renew_lease("a", 1, LONG) is False


async def test_a_lease_that_ran_out_passes_to_another_at_the_next_epoch(
    store: Store, other: Store
) -> None:
    assert await store.take_lease("a", SHORT) == 1
    store.fence = ("a", 1)
    await store.commit(Change(incidents=[incident("before")]), NOW)  # held: written
    await asyncio.sleep(EXPIRED)  # the database's clock runs the lease out
    assert (await store.lease()).remaining < 0
    # out of time: no renewal, and nothing written, even before anyone else takes over
    assert await store.renew_lease("a", 1, LONG) is False
    with pytest.raises(Fenced):
        await store.commit(Change(incidents=[incident("late")]), NOW)
    assert await other.take_lease("b", LONG) == 2
    lease = await store.lease()
    assert (lease.holder, lease.epoch) == ("b", 2)
    assert await store.renew_lease("a", 1, LONG) is False
    with pytest.raises(Fenced):
        await store.update_incident("before", title="written by a leader that lost it")
    other.fence = ("b", 2)
    await other.update_incident("before", title="the new leader's")
    assert await store.incident("late") is None
    got = await store.incident("before")
    assert got is not None and got.title == "the new leader's"


async def test_a_leader_may_take_its_own_lease_again_once_it_ran_out(store: Store) -> None:
    assert await store.take_lease("a", SHORT) == 1
    await asyncio.sleep(EXPIRED)
    assert await store.take_lease("a", LONG) == 2  # a new term: a new epoch
    assert await store.renew_lease("a", 1, LONG) is False
    assert await store.renew_lease("a", 2, LONG) is True


# --- the fence on the leader's writes -------------------------------------------------------


async def test_the_holder_s_fenced_writes_go_through(store: Store) -> None:
    epoch = await store.take_lease("a", LONG)
    assert epoch is not None
    store.fence = ("a", epoch)
    await store.commit(Change(incidents=[incident()], notices=[notice()]), NOW)
    await store.update_incident("inc-1", cause="a bad deploy")
    got = await store.incident("inc-1")
    assert got is not None and got.cause == "a bad deploy"
    assert [n.id for n in (await store.notices(["inc-1"]))["inc-1"]] == ["inc-1.1"]


async def test_without_a_fence_writes_are_not_checked(store: Store) -> None:
    assert store.fence is None  # one instance alone: nobody to be fenced from
    await store.commit(Change(incidents=[incident()]), NOW)
    await store.take_lease("someone-else", LONG)
    await store.update_incident("inc-1", cause="still ours to write")
    got = await store.incident("inc-1")
    assert got is not None and got.cause == "still ours to write"


async def test_a_follower_s_epoch_zero_is_fenced(store: Store) -> None:
    store.fence = ("a", 0)
    with pytest.raises(Fenced):
        await store.commit(Change(incidents=[incident()]), NOW)
    # even while it holds the lease at another epoch, or nobody holds it
    assert await store.take_lease("a", LONG) == 1
    with pytest.raises(Fenced):
        await store.commit(Change(incidents=[incident()]), NOW)
    with pytest.raises(Fenced):
        await store.update_incident("inc-1", cause="x")
    store.fence = None
    assert await store.incident("inc-1") is None  # refused writes left nothing


async def test_a_fence_at_a_stale_epoch_is_refused(store: Store) -> None:
    assert await store.take_lease("a", LONG) == 1
    await store.leave("a")
    assert await store.take_lease("a", LONG) == 2  # the same member, a new term
    store.fence = ("a", 1)
    with pytest.raises(Fenced):
        await store.commit(Change(incidents=[incident()]), NOW)
    store.fence = ("a", 2)
    await store.commit(Change(incidents=[incident()]), NOW)


async def test_a_fenced_write_is_refused_once_another_took_over(store: Store, other: Store) -> None:
    assert await store.take_lease("a", LONG) == 1
    store.fence = ("a", 1)
    await store.commit(Change(incidents=[incident()]), NOW)
    await store.leave("a")
    assert await other.take_lease("b", LONG) == 2
    with pytest.raises(Fenced):
        await store.commit(Change(notices=[notice()]), NOW)
    with pytest.raises(Fenced):
        await store.update_incident("inc-1", status="resolved")
    assert (await store.notices(["inc-1"]))["inc-1"] == []
    got = await store.incident("inc-1")
    assert got is not None and got.status == "investigating"


def test_fenced_is_a_store_error_callers_already_handle() -> None:
    assert issubclass(Fenced, StoreUnavailable)


async def test_unfenced_writes_work_for_anyone(store: Store) -> None:
    store.fence = ("follower", 0)  # holds no lease
    await store.add_history([("api-a", int(NOW // 60) * 60, 2, 1, 0, 0.02)])
    await store.put_verdicts("eu-west", [verdict("api-a")])
    await beat(store, "follower")
    assert await store.take_lease("follower", LONG) == 1
    assert await store.renew_lease("follower", 1, LONG) is True
    await store.leave("follower")
    await store.forget_members(LONG)
    assert [r.probe for r in await store.history(int(NOW) - 3600)] == ["api-a"]


# --- leave ----------------------------------------------------------------------------------


async def test_leave_hands_the_lease_over_at_once(store: Store, other: Store) -> None:
    await beat(store, "a")
    await beat(other, "b")
    assert await store.take_lease("a", LONG) == 1
    assert await other.take_lease("b", LONG) is None
    await store.leave("a")
    assert [m.member for m in await store.members()] == ["b"]
    assert (await store.lease()).holder is None
    assert await other.take_lease("b", LONG) == 2  # not in LONG seconds: now
    assert await store.renew_lease("a", 1, LONG) is False


async def test_leave_of_a_member_not_leading_keeps_the_leader(store: Store) -> None:
    await beat(store, "a")
    await beat(store, "b")
    assert await store.take_lease("a", LONG) == 1
    await store.leave("b")
    assert [m.member for m in await store.members()] == ["a"]
    lease = await store.lease()
    assert (lease.holder, lease.epoch) == ("a", 1)
    assert await store.renew_lease("a", 1, LONG) is True


# --- verdicts -------------------------------------------------------------------------------


async def test_verdicts_round_trip(store: Store) -> None:
    rows = [
        verdict("api-a", 2, severity="partial_outage"),
        verdict("api-b", 0, suspect=True, first_bad_at=NOW - 5),
        verdict("web", 0),
    ]
    await store.put_verdicts("eu-west", rows)
    got, _ = await store.verdicts()
    assert sorted(got, key=lambda r: r.probe) == rows


async def test_a_newer_verdict_replaces_the_older(store: Store) -> None:
    await store.put_verdicts("eu-west", [verdict("api-a", 0, suspect=True)])
    await store.put_verdicts("eu-west", [verdict("api-a", 2, at=NOW + 4)])
    got, _ = await store.verdicts()
    assert got == [verdict("api-a", 2, at=NOW + 4)]


async def test_no_verdicts_is_no_write(store: Store) -> None:
    await store.put_verdicts("eu-west", [])
    got, db_now = await store.verdicts()
    assert got == []
    assert abs(db_now - time.time()) < 300


async def test_a_long_detail_is_cut(store: Store) -> None:
    await store.put_verdicts("eu-west", [verdict("api-a", detail="x" * 1000)])
    [got], _ = await store.verdicts()
    assert got.detail == "x" * 300


async def test_verdicts_since_returns_only_those_changed_after(store: Store) -> None:
    await store.put_verdicts("eu-west", [verdict("api-a"), verdict("api-b")])
    await store.put_verdicts("us-east", [verdict("api-a", vantage="us-east")])
    everything, since = await store.verdicts()
    assert len(everything) == 3
    nothing, again = await store.verdicts(since=since)
    assert nothing == []
    assert again >= since
    await store.put_verdicts("eu-west", [verdict("api-b", 0)])
    changed, later = await store.verdicts(since=again)
    assert changed == [verdict("api-b", 0)]
    assert later >= again
    # the old cursor sees the change too, and only it
    assert (await store.verdicts(since=since))[0] == [verdict("api-b", 0)]


async def test_verdicts_of_one_vantage(store: Store) -> None:
    await store.put_verdicts("eu-west", [verdict("api-a"), verdict("web", 1)])
    await store.put_verdicts("us-east", [verdict("api-a", 0, vantage="us-east")])
    eu, _ = await store.verdicts(vantage="eu-west")
    assert sorted(r.probe for r in eu) == ["api-a", "web"]
    assert {r.vantage for r in eu} == {"eu-west"}
    us, since = await store.verdicts(vantage="us-east")
    assert us == [verdict("api-a", 0, vantage="us-east")]
    none, _ = await store.verdicts(vantage="nowhere")
    assert none == []
    # both filters at once
    await store.put_verdicts("eu-west", [verdict("web", 2)])
    await store.put_verdicts("us-east", [verdict("web", 2, vantage="us-east")])
    got, _ = await store.verdicts(since=since, vantage="eu-west")
    assert got == [verdict("web", 2)]


# --- forget_members -------------------------------------------------------------------------


async def test_forget_members_drops_the_silent_and_their_vantage_s_verdicts(
    store: Store,
) -> None:
    await beat(store, "eu-1", vantage="eu-west")
    await beat(store, "us-1", vantage="us-east")
    await beat(store, "ap-1", vantage="ap-south")
    await beat(store, "ap-2", vantage="ap-south")
    for v in ("eu-west", "us-east", "ap-south", "gone-long-ago"):
        await store.put_verdicts(v, [verdict("api-a", vantage=v)])
    # silent for ten minutes: us-1, and one of ap-south's two
    await sql(
        store,
        "UPDATE cluster_members SET heartbeat_at = heartbeat_at - 600 "
        "WHERE member IN ('us-1', 'ap-1')",
    )
    await store.forget_members(300)
    assert [m.member for m in await store.members()] == ["ap-2", "eu-1"]
    got, _ = await store.verdicts()
    # a vantage with a member left keeps its verdicts
    assert sorted(r.vantage for r in got) == ["ap-south", "eu-west"]


async def test_forget_members_keeps_those_heard_from_lately(store: Store) -> None:
    await beat(store, "eu-1")
    await store.put_verdicts("eu-west", [verdict("api-a")])
    await store.forget_members(300)
    assert [m.member for m in await store.members()] == ["eu-1"]
    assert len((await store.verdicts())[0]) == 1


async def test_forget_members_with_no_member_left_drops_every_verdict(store: Store) -> None:
    await store.put_verdicts("eu-west", [verdict("api-a")])
    await store.forget_members(300)
    assert (await store.verdicts())[0] == []


# --- fingerprint ----------------------------------------------------------------------------


async def test_fingerprint_is_stable_while_nothing_shown_changes(store: Store) -> None:
    first = await store.fingerprint()
    assert await store.fingerprint() == first
    # the cluster's own traffic is nothing a page shows
    await beat(store, "m1")
    await store.put_verdicts("eu-west", [verdict("api-a")])
    await store.take_lease("m1", LONG)
    await store.add_history([("api-a", int(NOW // 60) * 60, 1, 1, 0, 0.01)])
    assert await store.fingerprint() == first


async def test_fingerprint_changes_with_every_commit_a_page_shows(store: Store) -> None:
    seen = [await store.fingerprint()]

    async def changed() -> None:
        fp = await store.fingerprint()
        assert fp not in seen, seen
        seen.append(fp)

    await store.commit(Change(incidents=[incident()]), NOW)  # an incident opens
    await changed()
    await store.commit(Change(notices=[notice()]), NOW)  # its first notice
    await changed()
    await store.commit(Change(notices=[notice(seq=2)]), NOW + 60)
    await changed()
    await store.commit(Change(probe_states={"api-a": (2, NOW - 60, None)}), NOW + 60)
    await changed()
    await store.commit(Change(probe_states={"api-a": (0, None, None)}), NOW + 120)
    await changed()
    window = MaintenanceRow(
        id="m1", component_ids=["api"], title="Upgrade", starts_at=NOW, ends_at=NOW + 3600
    )
    await store.commit(Change(maintenance=[window]), NOW)
    await changed()
    window.announced = 1
    await store.commit(Change(maintenance=[window]), NOW)
    await changed()
    await store.commit(Change(incidents=[incident(resolved_at=NOW + 600)]), NOW + 600)
    await changed()
    await store.update_incident("inc-1", postmortem_published_at=NOW + 7200)
    await changed()
