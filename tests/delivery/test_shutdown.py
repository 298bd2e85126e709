"""Graceful shutdown, piece by piece: what `detector run` relies on to exit 0 after SIGTERM
with every send it began finished and on record.

Found by test_daemon's SIGTERM test, which fails now and then with exit -9 (the daemon never
stopped) and otherwise with a send abandoned mid-flight; these tests pin each cause down
deterministically.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from detector.channels.base import Delivery, Envelope
from detector.clock import SystemClock
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.scheduler import Scheduler
from detector.store import Change, OutboxRow, Store
from tests.delivery.stack import Stack, build_config
from tests.e2e.harness import until

ENDS_WITHIN = 1.5  # the loops wake at least once a second; a cancelled one must be gone by then


async def ended(task: asyncio.Task[None]) -> bool:
    done, _ = await asyncio.wait([task], timeout=ENDS_WITHIN)
    if not done:
        task.cancel()  # so the test itself does not leave it running
    return bool(done)


async def test_scheduler_run_ends_when_cancelled_as_it_wakes(tmp_path: Path) -> None:
    """Python 3.11's `asyncio.wait_for` returns normally when the awaited event fires in the
    same loop turn as the cancel: the cancel is lost, `Scheduler.run` loops on, and
    `Daemon.stop()` waits for it forever. A finished check sets `_wake`, so under load this is
    the common case, not a corner."""
    config = build_config(tmp_path, [], [])
    scheduler = Scheduler([], config.detection, _never, Metrics(), SystemClock())
    task = asyncio.create_task(scheduler.run())
    await until(lambda: scheduler.running, 1, "the scheduler to run")
    await asyncio.sleep(0.01)
    scheduler._wake.set()  # what a check finishing does
    task.cancel()
    assert await ended(task), "Scheduler.run() swallowed its cancellation"


async def test_engine_ticks_end_when_cancelled_as_they_wake(tmp_path: Path) -> None:
    config = build_config(tmp_path, [], [])
    stack = await Stack.start(config, tmp_path, SystemClock())
    try:
        task = asyncio.create_task(stack.engine.run_ticks())
        await asyncio.sleep(0.05)
        stack.engine.tick_wake.set()  # what every committed decision does
        task.cancel()
        assert await ended(task), "Engine.run_ticks() swallowed its cancellation"
    finally:
        await stack.close()


class Gate:
    """A channel whose n-th send finishes only when the test opens gate n."""

    name = "gate"
    kind = "webhook"
    max_batch = 0
    concurrency = 1

    def __init__(self) -> None:
        self.gates = [asyncio.Event() for _ in range(4)]
        self.started = 0
        self.finished = 0

    def wants(self, event: str) -> bool:
        return True

    async def send(self, envelope: Envelope) -> Delivery:
        n = self.started
        self.started += 1
        await self.gates[n].wait()
        self.finished += 1
        return Delivery(True, "accepted")

    async def close(self) -> None:
        return None


def row(i: int, now: float) -> OutboxRow:
    return OutboxRow(
        id=f"n.1/gate/{i}",
        notice_id="n.1",
        channel="gate",
        event="incident.opened",
        message={"locale": "en", "subject": "s", "text": "t", "html": "h", "sms": "m"},
        payload={},
        recipients=[],
        created_at=now,
        next_attempt_at=now,
    )


async def test_outbox_stop_starts_nothing_new_and_waits_for_what_it_started(
    tmp_path: Path,
) -> None:
    """stop() waits for the sends in flight when it is called; but a channel loop blocked on
    its concurrency slot takes the next row as soon as a slot frees, without looking at
    `_stopping` again. That send is in no one's wait set: the daemon closes the channel and
    the store under it, the provider may deliver it, the row stays pending, and the next start
    sends it again."""
    store = Store(f"sqlite:///{tmp_path / 'outbox.db'}")
    await store.open()
    clock = SystemClock()
    now = clock.now()
    await store.commit(Change(outbox=[row(0, now), row(1, now), row(2, now)]), now)
    gate = Gate()
    worker = OutboxWorker(store, [gate], Metrics(), clock)
    worker.start()
    try:
        await until(lambda: gate.started == 1, 5, "the first send")  # its loop now waits a slot
        stopping = asyncio.create_task(worker.stop(drain=5))
        await asyncio.sleep(0.05)
        gate.gates[0].set()  # the send in flight at stop() finishes...
        await asyncio.wait_for(stopping, 5)
        # ...and nothing else was begun, or at least nothing is left running
        assert gate.started == gate.finished, "stop() returned with a send still in flight"
        assert gate.started == 1, "a send was begun after stop()"
        states = {r.id: r.state for r in await store.outbox_rows()}
        assert states == {"n.1/gate/0": "sent", "n.1/gate/1": "pending", "n.1/gate/2": "pending"}
    finally:
        for g in gate.gates:
            g.set()
        await worker.stop(0.5)
        await store.close()


async def _never(probe: object) -> bool:
    raise AssertionError("no probe should run")
