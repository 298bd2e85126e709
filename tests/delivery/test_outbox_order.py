"""Issue 8: per stream, in order, newest wins; retries wait on the monotonic clock, capped.

A stream is one owner's notices for one channel and one group of recipients. The worker sends
its rows in sequence, one at a time; a newer row supersedes older ones not yet delivered (never
sent, counted); a row past its promised next update is never sent. Fake clock throughout: a
test moves time, the worker (polling every 10 ms) follows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from detector.channels.base import Delivery
from detector.channels.sendgrid import parse_retry_after
from tests.clock import FakeClock
from tests.delivery.kit import (
    Scripted,
    counted,
    open_store,
    publish,
    row,
    states,
    worker_for,
)
from tests.doubles import FAR_FUTURE
from tests.e2e.harness import until

SUPERSEDED = "detector_notices_superseded_total"
NOTICES = "detector_notices_total"


def accepted(ch: Scripted) -> list[str]:
    return [e.notice_id for e in ch.accepted]


async def test_newer_notice_supersedes_undelivered_ones_and_inherits_the_wait(
    tmp_path: Path,
) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    hook.script.append(Delivery(False, "HTTP 500"))
    worker = worker_for(store, hook, clock, base_backoff=10, max_backoff=60)
    worker.start()
    try:
        now = clock.now()
        await publish(store, worker, row(1, now))
        await until(lambda: len(hook.calls) == 1, 5, "the first attempt, which fails")
        # two newer notices while the first waits out its backoff; another incident's too
        await publish(store, worker, row(2, now), row(3, now), row(1, now, owner="inc-2"))
        await until(lambda: accepted(hook) == ["inc-2.1"], 5, "the other incident's notice")
        assert hook.notices() == ["inc-1.1", "inc-2.1"]  # inc-1 still waits: the provider failed
        clock.advance(60)
        await until(lambda: accepted(hook) == ["inc-2.1", "inc-1.3"], 5, "the newest notice")

        async def recorded() -> bool:
            return (await states(store)).get("inc-1.3") == "sent"

        await until(recorded, 5, "the newest one recorded as sent")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1", "inc-2.1", "inc-1.3"]  # 2 never sent, nor 1 again
    assert await states(store) == {
        "inc-1.1": "superseded",
        "inc-1.2": "superseded",
        "inc-1.3": "sent",
        "inc-2.1": "sent",
    }
    assert counted(worker.metrics, SUPERSEDED, channel="hook") == 2
    assert (
        counted(worker.metrics, NOTICES, channel="hook", event="incident.updated", outcome="retry")
        == 1
    )


async def test_a_notice_in_flight_is_not_superseded_and_goes_first(tmp_path: Path) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    hook.hold = asyncio.Event()
    worker = worker_for(store, hook, clock)
    worker.start()
    try:
        now = clock.now()
        await publish(store, worker, row(1, now))
        await until(lambda: len(hook.calls) == 1, 5, "the first notice in flight")
        await publish(store, worker, row(2, now), row(3, now))
        hook.hold.set()
        await until(lambda: len(hook.accepted) == 2, 5, "the in-flight notice, then the newest")

        async def settled() -> bool:
            return "pending" not in (await states(store)).values()

        await until(settled, 5, "every row on record")
    finally:
        await worker.stop(1)
        await store.close()
    assert accepted(hook) == ["inc-1.1", "inc-1.3"]
    assert await states(store) == {"inc-1.1": "sent", "inc-1.2": "superseded", "inc-1.3": "sent"}
    assert counted(worker.metrics, SUPERSEDED, channel="hook") == 1


async def test_a_notice_past_its_next_update_is_never_sent_but_its_successor_is(
    tmp_path: Path,
) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    hook.script.append(Delivery(False, "HTTP 503"))
    worker = worker_for(store, hook, clock, base_backoff=10, max_backoff=10)
    worker.start()
    try:
        now = clock.now()
        await publish(store, worker, row(1, now, stale_at=now + 30))  # "next update by +30 s"
        await until(lambda: len(hook.calls) == 1, 5, "the first attempt, which fails")
        clock.advance(60)  # the retry is due, but so was the next update: this one is stale
        await publish(store, worker, row(1, clock.now(), owner="inc-2"))
        await until(lambda: accepted(hook) == ["inc-2.1"], 5, "a later notice of another stream")
        assert hook.notices() == ["inc-1.1", "inc-2.1"]  # the stale one waits, unsent
        assert (await states(store))["inc-1.1"] == "pending"
        await publish(store, worker, row(2, clock.now(), stale_at=clock.now() + 30))
        await until(lambda: accepted(hook) == ["inc-2.1", "inc-1.2"], 5, "its successor")

        async def superseded() -> bool:
            return (await states(store))["inc-1.1"] == "superseded"

        await until(superseded, 5, "the stale notice superseded")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1", "inc-2.1", "inc-1.2"]
    assert counted(worker.metrics, SUPERSEDED, channel="hook") == 1


async def test_a_stale_notice_with_no_successor_is_dead_at_give_up(tmp_path: Path) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    worker = worker_for(store, hook, clock, give_up_after=300)
    worker.start()
    try:
        now = clock.now()
        clock.step_wall(120)  # published with a promise that has already passed (wall clock)
        await publish(store, worker, row(1, now, stale_at=now + 60))
        await publish(store, worker, row(1, now, owner="inc-2"))
        await until(lambda: accepted(hook) == ["inc-2.1"], 5, "the fresh notice")
        clock.advance(300)

        async def dead() -> bool:
            return (await states(store))["inc-1.1"] == "dead"

        await until(dead, 5, "the stale notice given up")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-2.1"]
    assert (
        counted(worker.metrics, NOTICES, channel="hook", event="incident.updated", outcome="dead")
        == 1
    )


async def test_retry_after_in_year_9999_waits_no_longer_than_max_backoff(
    tmp_path: Path,
) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    wait = parse_retry_after(FAR_FUTURE, clock.now())
    assert wait is not None and wait > 200 * 365 * 86400  # as the provider said it
    hook.script.append(Delivery(False, "HTTP 429", retry_after=wait))
    worker = worker_for(store, hook, clock, base_backoff=1, max_backoff=30)
    worker.start()
    try:
        await publish(store, worker, row(1, clock.now()))

        async def retry_on_record() -> bool:
            return [r.attempts for r in await store.outbox_rows()] == [1]

        await until(retry_on_record, 5, "the 429 on record")
        [stored] = await store.outbox_rows()
        assert stored.state == "pending"
        assert stored.next_attempt_at <= clock.now() + 30  # what a restart would wait, too
        clock.advance(30)
        await until(lambda: len(hook.accepted) == 1, 5, "the retry, after max_backoff")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1", "inc-1.1"]


async def test_a_retry_waits_on_the_monotonic_clock_whatever_the_wall_clock_does(
    tmp_path: Path,
) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted()
    hook.script.append(Delivery(False, "HTTP 502"))
    worker = worker_for(store, hook, clock, base_backoff=20, max_backoff=20)
    worker.start()
    try:
        await publish(store, worker, row(1, clock.now()))
        await until(lambda: len(hook.calls) == 1, 5, "the first attempt, which fails")
        clock.step_wall(3600)  # an NTP step forward: the retry is not due any sooner
        await publish(store, worker, row(1, clock.now(), owner="inc-2"))
        await until(lambda: accepted(hook) == ["inc-2.1"], 5, "another stream's notice")
        assert hook.notices() == ["inc-1.1", "inc-2.1"]
        clock.step_wall(-7200)  # and a step back does not hold it up
        clock.advance(20)
        await until(lambda: accepted(hook) == ["inc-2.1", "inc-1.1"], 5, "the retry")
    finally:
        await worker.stop(1)
        await store.close()


async def test_streams_of_one_channel_share_its_slots_but_not_their_order(
    tmp_path: Path,
) -> None:
    """Each group of recipients is its own stream: a failing batch holds up no other."""
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted(concurrency=2)
    hook.script.extend([Delivery(False, "HTTP 500")])
    worker = worker_for(store, hook, clock, base_backoff=10, max_backoff=10)
    worker.start()
    try:
        now = clock.now()
        rows = [row(1, now, group=f"en|UTC|{i}") for i in range(5)]
        await publish(store, worker, *rows)
        await until(lambda: len(hook.accepted) == 4, 5, "four batches, past the failed one")
        clock.advance(10)
        await until(lambda: len(hook.accepted) == 5, 5, "the failed batch, retried")
    finally:
        await worker.stop(1)
        await store.close()
    assert sorted(e.id for e in hook.accepted) == sorted(r.id for r in rows)
