"""Issue 8: claim, send, record, with a store that fails.

A result that cannot be recorded is held and recorded later: the provider sees the row once
(the resend storm of issue 8 came from freeing such rows). A claim that fails sends nothing.
A failed read, or any failure inside a delivery loop, ends no loop and shows in the health
that /readyz reports. A restart lets the dead process's claims go and resumes its retries.

A real SQLite store whose outbox calls fail with SQLite's own "disk full" error; real time,
backoffs of 10–50 ms.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from detector.channels.base import Delivery
from detector.clock import SystemClock
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

STORE = "store:outbox"


async def flaky(tmp: Path) -> FlakyStore:
    store = await open_store(tmp, FlakyStore)
    assert isinstance(store, FlakyStore)
    return store


def all_sent(store: FlakyStore, n: int) -> Any:
    async def check() -> bool:
        got = await states(store)
        return len(got) == n and set(got.values()) == {"sent"}

    return check


async def test_an_unrecorded_result_is_held_and_the_row_never_sent_again(tmp_path: Path) -> None:
    store, clock, hook = await flaky(tmp_path), SystemClock(), Scripted()
    worker = worker_for(store, hook, clock)
    store.records = -1  # from the first result on, the disk is full
    worker.start()
    try:
        await publish(store, worker, row(1, clock.now()))
        await until(lambda: store.failures.count("records") >= 5, 5, "several failed records")
        await publish(store, worker, row(1, clock.now(), owner="inc-2"))
        await until(lambda: store.failures.count("records") >= 10, 5, "more failed records")
        assert hook.notices() == ["inc-1.1"]  # once; and nothing new while results wait
        assert STORE in worker.health.problems
        assert set((await states(store)).values()) == {"pending"}
        store.records = 0  # space again
        await until(all_sent(store, 2), 5, "both rows recorded as sent")
        await until(lambda: STORE not in worker.health.problems, 5, "the store healthy again")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1", "inc-2.1"]  # each exactly once
    assert counted(worker.metrics, "detector_store_errors_total", op="outbox") >= 10


async def test_a_failed_claim_sends_nothing_until_a_claim_holds(tmp_path: Path) -> None:
    store, clock, hook = await flaky(tmp_path), SystemClock(), Scripted()
    worker = worker_for(store, hook, clock)
    store.claims = -1
    worker.start()
    try:
        await publish(store, worker, row(1, clock.now()))
        await until(lambda: store.failures.count("claims") >= 5, 5, "several failed claims")
        assert hook.calls == []
        assert STORE in worker.health.problems
        store.claims = 0
        await until(all_sent(store, 1), 5, "the row sent and recorded")
        await until(lambda: STORE not in worker.health.problems, 5, "the store healthy again")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1"]


async def test_a_failing_read_ends_no_loop_and_shows_on_health(tmp_path: Path) -> None:
    store, clock, hook = await flaky(tmp_path), SystemClock(), Scripted()
    await publish(store, None, row(1, clock.now()))  # written before this process started
    worker = worker_for(store, hook, clock)
    store.reads = -1
    worker.start()
    try:
        await until(lambda: store.failures.count("reads") >= 5, 5, "several failed reads")
        assert STORE in worker.health.problems and hook.calls == []
        # rows handed over from memory still go out while the store cannot be read
        await publish(store, worker, row(1, clock.now(), owner="inc-2"))
        await until(lambda: hook.notices() == ["inc-2.1"], 5, "the handed-over row")
        store.reads = 0
        await until(all_sent(store, 2), 5, "the stored row read, sent and recorded")
        await until(lambda: STORE not in worker.health.problems, 5, "the store healthy again")
    finally:
        await worker.stop(1)
        await store.close()
    assert sorted(hook.notices()) == ["inc-1.1", "inc-2.1"]


async def test_a_delivery_loop_that_fails_is_restarted_and_shows_on_health(
    tmp_path: Path,
) -> None:
    store, clock, hook = await flaky(tmp_path), SystemClock(), Scripted()
    worker = worker_for(store, hook, clock)
    look = worker._look
    calls = itertools.count()

    def broken(lane: Any) -> None:  # a bug that bites three times
        if next(calls) < 3:
            raise RuntimeError("bug in the delivery loop")
        look(lane)

    worker._look = broken  # type: ignore[method-assign]
    seen: list[str] = []
    failed = worker.health.failed

    def spy(key: str, reason: str) -> None:
        seen.append(key)
        failed(key, reason)

    worker.health.failed = spy  # type: ignore[method-assign]
    worker.start()
    try:
        await publish(store, worker, row(1, clock.now()))
        await until(all_sent(store, 1), 5, "the row delivered once the loop runs again")
        await until(lambda: "delivery:hook" not in worker.health.problems, 5, "ready again")
    finally:
        await worker.stop(1)
        await store.close()
    assert seen.count("delivery:hook") == 3
    assert worker.crashes["hook"] == 3
    assert hook.notices() == ["inc-1.1"]


async def test_a_restart_lets_old_claims_go_and_resumes_stored_retries(tmp_path: Path) -> None:
    store, clock, hook = await flaky(tmp_path), FakeClock(), Scripted()
    now = clock.now()
    claimed = row(1, now)
    claimed.claimed_until = now + 60  # the process that claimed it is gone
    # a v1 row (no stream) that the old code parked until year 9999 on a Retry-After date
    parked = row(1, now, owner="inc-2", stream=False, next_attempt_at=253402300799.0)
    parked.attempts = 3
    await publish(store, None, claimed, parked)
    worker = worker_for(store, hook, clock, base_backoff=1, max_backoff=30)
    worker.start()
    try:
        await until(lambda: hook.notices() == ["inc-1.1"], 5, "the claimed row, at once")
        clock.advance(30)
        await until(lambda: hook.notices() == ["inc-1.1", "inc-2.1"], 5, "the parked row")
        await until(all_sent(store, 2), 5, "both on record")
    finally:
        await worker.stop(1)
        await store.close()
    assert all(r.claimed_until is None for r in await store.outbox_rows())


async def test_give_up_counts_from_the_rows_creation(tmp_path: Path) -> None:
    store, clock, hook = await flaky(tmp_path), FakeClock(), Scripted()
    hook.script.append(Delivery(False, "HTTP 500"))
    await publish(store, None, row(1, clock.now() - 7200))  # written two hours ago
    worker = worker_for(store, hook, clock, give_up_after=3600)
    worker.start()
    try:

        async def dead() -> bool:
            return (await states(store)) == {"inc-1.1": "dead"}

        await until(dead, 5, "the old row given up after one more try")
    finally:
        await worker.stop(1)
        await store.close()
    assert hook.notices() == ["inc-1.1"]
    labels = {"channel": "hook", "event": "incident.updated"}
    assert counted(worker.metrics, "detector_notices_total", outcome="dead", **labels) == 1
    assert counted(worker.metrics, "detector_notices_total", outcome="retry", **labels) == 0


async def test_results_are_recorded_in_batches_not_a_transaction_per_row(
    tmp_path: Path,
) -> None:
    store, clock, sms = await flaky(tmp_path), SystemClock(), Scripted("sms", concurrency=20)
    now = clock.now()
    rows = [row(1, now, owner=f"inc-{i}", channel="sms") for i in range(400)]
    await publish(store, None, *rows)
    worker = worker_for(store, sms, clock)
    worker.start()
    try:
        await until(all_sent(store, 400), 20, "every row sent and recorded")
    finally:
        await worker.stop(1)
        await store.close()
    assert len(sms.calls) == 400
    assert store.writes <= 400 // 4, store.writes  # claims and records ride together
