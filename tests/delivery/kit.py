"""Small parts for the outbox worker's unit tests: a scripted channel, rows of one stream, and
a real SQLite store whose outbox calls fail on demand with the driver's real error."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError

from detector.channels.base import Delivery, Envelope
from detector.clock import Clock
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.store import Change, OutboxRow, Store
from detector.store.outbox import OutboxResult

MESSAGE = {"locale": "en", "subject": "s", "text": "t", "html": "h", "sms": "m"}


def disk_full() -> OperationalError:
    return OperationalError(
        "UPDATE outbox ...", {}, sqlite3.OperationalError("database or disk is full")
    )


class Scripted:
    """A channel that answers from a script (then accepts), optionally holding sends until
    the test lets them go; `calls` is every envelope it was given, in order."""

    kind = "webhook"
    max_batch = 0

    def __init__(self, name: str = "hook", concurrency: int = 4) -> None:
        self.name = name
        self.concurrency = concurrency
        self.script: deque[Delivery] = deque()
        self.calls: list[Envelope] = []
        self.accepted: list[Envelope] = []
        self.hold: asyncio.Event | None = None  # set: sends wait until it is set

    def wants(self, event: str) -> bool:
        return True

    async def send(self, envelope: Envelope) -> Delivery:
        self.calls.append(envelope)
        if self.hold is not None:
            await self.hold.wait()
        result = self.script.popleft() if self.script else Delivery(True, "accepted")
        if result.ok:
            self.accepted.append(envelope)
        return result

    def notices(self) -> list[str]:
        return [e.notice_id for e in self.calls]

    async def close(self) -> None:
        return None


def row(
    seq: int,
    now: float,
    *,
    owner: str = "inc-1",
    channel: str = "hook",
    group: str = "",
    stale_at: float | None = None,
    created_at: float | None = None,
    next_attempt_at: float | None = None,
    stream: bool = True,
) -> OutboxRow:
    """Notice `seq` of `owner` for one stream of `channel` (stream=False: a v1 row)."""
    notice_id = f"{owner}.{seq}"
    made = now if created_at is None else created_at
    return OutboxRow(
        id=f"{notice_id}/{channel}/{group or 0}",
        notice_id=notice_id,
        channel=channel,
        event="incident.updated",
        message=dict(MESSAGE),
        payload={"notice_id": notice_id},
        recipients=[],
        created_at=made,
        next_attempt_at=made if next_attempt_at is None else next_attempt_at,
        stream=f"{owner}/{channel}/{group}" if stream else None,
        sequence=seq,
        stale_at=stale_at,
    )


class FlakyStore(Store):
    """A real store whose outbox calls fail while told to: `records` (a write carrying
    results), `claims` (a write claiming rows) or `reads` (loading pending rows). Each is a
    count of calls still to fail; -1 fails until set back to 0."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.records = self.claims = self.reads = 0
        self.failures: list[str] = []  # which kind failed, in order
        self.writes = 0  # write_outbox calls that went through

    def _due(self, kind: str) -> bool:
        left = getattr(self, kind)
        if left == 0:
            return False
        if left > 0:
            setattr(self, kind, left - 1)
        self.failures.append(kind)
        return True

    async def write_outbox(
        self, results: Sequence[OutboxResult], claim: Sequence[str], lease_until: float | None
    ) -> set[str]:
        if (results and self._due("records")) or (claim and self._due("claims")):
            raise disk_full()
        self.writes += 1
        return await super().write_outbox(results, claim, lease_until)

    async def pending_outbox(self, channel: str) -> list[OutboxRow]:
        if self._due("reads"):
            raise disk_full()
        return await super().pending_outbox(channel)


async def open_store(tmp: Path, cls: type[Store] = Store) -> Store:
    store = cls(f"sqlite:///{tmp / 'outbox.db'}")
    await store.open()
    return store


async def publish(store: Store, worker: OutboxWorker | None, *rows: OutboxRow) -> None:
    """What the engine does: commit the rows, then hand them to the worker."""
    await store.commit(Change(outbox=list(rows)), rows[0].created_at)
    if worker is not None:
        worker.enqueue(list(rows))
        worker.wake()


async def states(store: Store) -> dict[str, str]:
    return {r.notice_id: r.state for r in await store.outbox_rows()}


def counted(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def worker_for(
    store: Store,
    channel: Scripted,
    clock: Clock,
    *,
    base_backoff: float = 0.01,
    max_backoff: float = 0.05,
    give_up_after: float = 86400.0,
    poll: float = 0.01,
) -> OutboxWorker:
    """A worker with short waits: the tests' clocks or a few milliseconds decide them."""
    return OutboxWorker(
        store,
        [channel],
        Metrics(),
        clock,
        base_backoff=base_backoff,
        max_backoff=max_backoff,
        give_up_after=give_up_after,
        poll=poll,
    )
