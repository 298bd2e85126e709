"""Issue 13: heads are claimed ahead, a few slots' worth per transaction, so most writes only
record; what `concurrency` bounds stays the same: sends in flight plus sends not yet on record.

A claimed row that has not started is not in flight: a newer row of its stream supersedes it.
Real SQLite store, real time (a few milliseconds), no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from detector.clock import SystemClock
from detector.outbox import CLAIM_AHEAD
from detector.store.outbox import OutboxResult
from tests.clock import FakeClock
from tests.delivery.kit import (
    FlakyStore,
    Scripted,
    counted,
    open_store,
    publish,
    row,
    states,
    worker_for,
)
from tests.e2e.harness import until


async def test_a_claimed_row_not_yet_started_is_superseded_by_a_newer_one(
    tmp_path: Path,
) -> None:
    store, clock, hook = await open_store(tmp_path), FakeClock(), Scripted(concurrency=1)
    hook.hold = asyncio.Event()
    worker = worker_for(store, hook, clock)
    worker.start()
    try:
        now = clock.now()
        # one transaction claims both; one slot: inc-1.1 goes, inc-2.1 waits its turn
        await publish(store, worker, row(1, now), row(1, now, owner="inc-2"))
        await until(lambda: hook.notices() == ["inc-1.1"], 5, "the first row in flight")
        claimed = {r.notice_id for r in await store.outbox_rows() if r.claimed_until}
        assert claimed == {"inc-1.1", "inc-2.1"}
        await publish(store, worker, row(2, now, owner="inc-2"))
        hook.hold.set()
        await until(lambda: len(hook.accepted) == 2, 5, "the first row, then the newest")

        async def settled() -> bool:
            return "pending" not in (await states(store)).values()

        await until(settled, 5, "every row on record")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1", "inc-2.2"]  # inc-2.1 never sent
    assert await states(store) == {"inc-1.1": "sent", "inc-2.1": "superseded", "inc-2.2": "sent"}
    assert all(r.claimed_until is None for r in await store.outbox_rows())
    assert counted(worker.metrics, "detector_notices_superseded_total", channel="hook") == 1


async def test_sends_not_on_record_hold_their_slots_however_many_are_claimed(
    tmp_path: Path,
) -> None:
    """Rows claimed ahead do not widen what a crash could resend: with the results unwritable,
    no more than `concurrency` rows are ever sent, and each goes once when the store is back."""
    store = await open_store(tmp_path, FlakyStore)
    assert isinstance(store, FlakyStore)
    clock, sms = SystemClock(), Scripted("sms", concurrency=2)
    rows = [row(1, clock.now(), owner=f"inc-{i}", channel="sms") for i in range(6)]
    await publish(store, None, *rows)
    store.records = -1  # the first claim goes through; no result can be written
    worker = worker_for(store, sms, clock)
    worker.start()
    try:
        await until(lambda: store.failures.count("records") >= 5, 5, "several failed records")
        claimed = [r for r in await store.outbox_rows() if r.claimed_until]
        assert len(claimed) == 6 <= CLAIM_AHEAD * sms.concurrency  # all claimed at once
        assert len(sms.calls) == sms.concurrency  # but only two sent, unrecorded
        store.records = 0

        async def all_sent() -> bool:
            got = await states(store)
            return len(got) == 6 and set(got.values()) == {"sent"}

        await until(all_sent, 5, "every row sent and recorded")
    finally:
        await worker.stop(1)
        await store.close()
    assert sorted(sms.notices()) == sorted(r.notice_id for r in rows)  # each exactly once


async def test_claims_ride_in_few_transactions(tmp_path: Path) -> None:
    """400 rows, 20 at a time: the claims (the costly part of a write) come in batches of up
    to CLAIM_AHEAD × concurrency, not one batch per freed slot."""

    class Counting(FlakyStore):
        claim_writes = 0

        async def write_outbox(
            self,
            results: Sequence[OutboxResult],
            claim: Sequence[str],
            lease_until: float | None,
        ) -> set[str]:
            if claim:
                self.claim_writes += 1
            return await super().write_outbox(results, claim, lease_until)

    store = await open_store(tmp_path, Counting)
    assert isinstance(store, Counting)
    clock, sms = SystemClock(), Scripted("sms", concurrency=20)
    rows = [row(1, clock.now(), owner=f"inc-{i}", channel="sms") for i in range(400)]
    await publish(store, None, *rows)
    worker = worker_for(store, sms, clock)
    worker.start()
    try:

        async def all_sent() -> bool:
            got = await states(store)
            return len(got) == 400 and set(got.values()) == {"sent"}

        await until(all_sent, 20, "every row sent and recorded")
    finally:
        await worker.stop(1)
        await store.close()
    assert len(sms.calls) == 400
    # the first claim takes CLAIM_AHEAD × 20; each refill, once fewer than 20 wait, at least
    # (CLAIM_AHEAD - 2) × 20 + 1 (at most 19 queued and 20 in flight): 9 here, where claiming
    # per freed slot took one for every batch of sends (20 or more)
    assert store.claim_writes <= 1 + 320 // ((CLAIM_AHEAD - 2) * 20 + 1) + 1, store.claim_writes
