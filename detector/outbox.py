"""The outbox worker: rows written by decisions are delivered here, each channel on its own.

A row is marked sent only after the provider accepted it; failures are retried with exponential
backoff and jitter (or the provider's Retry-After); after `give_up_after` a row is marked dead
and counted, never silently dropped. One slow or failing channel never holds up another.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from detector import logs
from detector.aio import wait_event
from detector.channels.base import Channel, Envelope, Recipient
from detector.clock import Clock
from detector.metrics import Metrics
from detector.notices.model import Message
from detector.store import OutboxRow, Store

Accepted = Callable[[OutboxRow, float], Awaitable[None]]


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter-ish exponential backoff: between half and all of base·2^(n-1), capped."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * rng.uniform(0.5, 1.0)


def envelope(row: OutboxRow) -> Envelope:
    return Envelope(
        id=row.id,
        notice_id=row.notice_id,
        event=row.event,
        message=Message(**row.message),
        payload=row.payload,
        recipients=[Recipient(**r) for r in row.recipients],
    )


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        channels: list[Channel],
        metrics: Metrics,
        clock: Clock,
        *,
        give_up_after: float = 86400.0,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        poll: float = 1.0,
        on_accepted: Accepted | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.metrics = metrics
        self.clock = clock
        self.give_up_after = give_up_after
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll = poll
        self.on_accepted = on_accepted
        self._wake = {ch.name: asyncio.Event() for ch in channels}
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self.log = logs.get("detector.outbox")

    def wake(self) -> None:
        for ev in self._wake.values():
            ev.set()

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._loop(ch)) for ch in self.channels]

    async def stop(self, drain: float = 10.0) -> None:
        """Stop taking new rows; give sends in flight up to `drain` seconds to finish."""
        self._stopping = True
        self.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain
        while self._inflight and loop.time() < deadline:
            await asyncio.wait(set(self._inflight), timeout=deadline - loop.time())
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def _loop(self, ch: Channel) -> None:
        sem = asyncio.Semaphore(ch.concurrency)
        busy: set[str] = set()
        # rows finished while a read was under way: that read may predate their commit
        finished: set[str] = set()
        wake = self._wake[ch.name]
        while not self._stopping:
            wake.clear()
            finished.clear()
            try:
                rows = await self.store.due_outbox(ch.name, self.clock.now(), ch.concurrency * 4)
            except Exception as e:  # the store may blip; the rows are still there next time
                self.log.warning("outbox read failed", channel=ch.name, error=str(e))
                rows = []
            started = 0
            for row in rows:
                if row.id in busy or row.id in finished or self._stopping:
                    continue
                await sem.acquire()
                if self._stopping:  # stop() came while we waited for a slot: start nothing new
                    sem.release()
                    break
                busy.add(row.id)
                task = asyncio.create_task(self._deliver(ch, row, sem, busy, finished))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                started += 1
            if started:
                continue
            nxt = await self.store.next_outbox_at(ch.name)
            wait = self.poll if nxt is None else max(0.0, min(self.poll, nxt - self.clock.now()))
            if busy and wait == 0.0:
                wait = 0.05  # everything due is already in flight
            await wait_event(wake, wait)

    async def _deliver(
        self,
        ch: Channel,
        row: OutboxRow,
        sem: asyncio.Semaphore,
        busy: set[str],
        finished: set[str],
    ) -> None:
        try:
            try:
                result = await ch.send(envelope(row))
            except Exception as e:  # a channel bug is a failed attempt, not a lost notice
                from detector.channels.base import Delivery

                result = Delivery(False, f"channel error: {type(e).__name__}")
            now = self.clock.now()
            attempts = row.attempts + 1
            log = self.log.bind(notice_id=row.notice_id, channel=ch.name, attempt=attempts)
            if result.ok:
                await self.store.mark_sent(row.id, now, attempts)
                self.metrics.notices.labels(ch.name, row.event, "sent").inc()
                for r in result.rejected:
                    self.metrics.notices.labels(ch.name, row.event, "rejected").inc()
                    log.warning("recipient rejected", recipient=r.name)
                log.info("notice delivered", detail=result.detail)
                if self.on_accepted is not None:
                    await self.on_accepted(row, now)
                return
            too_old = now - row.created_at >= self.give_up_after
            if result.permanent or too_old:
                await self.store.mark_dead(row.id, attempts, result.detail)
                self.metrics.notices.labels(ch.name, row.event, "dead").inc()
                log.error("notice dead", detail=result.detail, permanent=result.permanent)
                return
            delay = backoff(attempts, self.base_backoff, self.max_backoff, self._rng)
            if result.retry_after is not None:
                delay = max(delay, result.retry_after)
            await self.store.mark_retry(row.id, attempts, now + delay, result.detail)
            self.metrics.notices.labels(ch.name, row.event, "retry").inc()
            log.warning("notice retry", detail=result.detail, retry_in=round(delay, 3))
        finally:
            finished.add(row.id)
            busy.discard(row.id)
            sem.release()
            self._wake[ch.name].set()
