"""The outbox worker: rows written by decisions are delivered here, each channel on its own.

Memory first. The worker loads a channel's pending rows once at start (and again on a periodic
reconcile, and after the store comes back); the engine hands it the rows it commits
(`enqueue`). Delivery never waits on a store read, and a store that fails never ends a loop.
A caller that never hands rows over (a test's engine without `enqueue`) is served by reading
the store on every `wake()` and every `poll` seconds instead. These store look-ups keep the
event loop's own (monotonic) time, so they go on under a test's fake clock.

Per stream, in order. A stream ("<owner>/<channel>/<recipient group>", see notices.fanout) has
at most one row in flight. A newer row supersedes every older one not delivered and not in
flight: those are recorded `superseded`, counted and never sent, so a customer never gets
"opened" after "resolved". A row whose promised next update (`stale_at`, wall clock) has passed
is not sent: it waits for its successor, which the engine publishes at that time.

Claim, send, record. Heads are claimed ahead, a few slots' worth at a time, in the
transaction that records the results held so far; a failed claim sends nothing. A claimed row
starts only while the channel's sends in flight plus the sends whose outcome is not yet on
record stay under its `concurrency`: a slot is free again once the send that held it is
recorded, so a crash resends at most `concurrency` rows, claimed ahead or not. Results are held
in memory and written in one transaction per batch (a record alone is cheap: the costly claims
ride along only when the claimed queue runs low); if that fails they stay held and are written
when the store is back, and their rows are never sent again by this process. Only a crash
between send and record can resend (same notice_id: the contract's at-least-once). A claimed
row that has not started when a newer row of its stream arrives is superseded like any other.

Waiting is on the monotonic clock: backoff per stream, exponential with jitter, capped at
`max_backoff`; a Retry-After is kept but capped the same way and never past the row's give-up
time. A row older than `give_up_after` is dead: counted and logged, never dropped silently.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from detector import logs
from detector.aio import wait_event
from detector.channels.base import Channel, Delivery, Envelope, Recipient
from detector.clock import Clock, deadline
from detector.domain import Event
from detector.health import Health
from detector.metrics import Metrics
from detector.notices.model import Message
from detector.store import OutboxRow, Store
from detector.store.outbox import OutboxResult

Accepted = Callable[[OutboxRow, float], Awaitable[None]]
STORE_KEY = "store:outbox"
NEVER = float("-inf")
# Rows claimed ahead, in flight or queued, as a multiple of a channel's concurrency. A claim
# costs more than a record (an UPDATE and a SELECT over the ids), so it is done in batches;
# the queue is topped up when it holds less than one `concurrency` of rows.
CLAIM_AHEAD = 4


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter-ish exponential backoff: between half and all of base·2^(n-1), capped."""
    delay: float = min(cap, base * (2 ** min(max(0, attempts - 1), 60)))
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


def _reason(e: BaseException) -> str:
    """One short line: the driver's error rather than SQLAlchemy's wrapper and SQL text."""
    orig = getattr(e, "orig", None)
    if isinstance(orig, BaseException):
        e = orig
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}"[:200] if text else type(e).__name__


@dataclass(slots=True, eq=False)
class _Item:
    row: OutboxRow
    give_up: float  # monotonic


def _order(it: _Item) -> tuple[int, float, str]:
    return it.row.sequence, it.row.created_at, it.row.id


@dataclass(slots=True, eq=False)
class _Stream:
    key: str
    items: dict[str, _Item] = field(default_factory=dict)  # waiting, by row id
    inflight: _Item | None = None  # claimed or being sent
    floor: int | None = None  # highest sequence delivered or given up: nothing at or below goes
    failures: int = 0  # consecutive failed attempts: the backoff exponent
    not_before: float = NEVER  # monotonic: what the backoff or the provider asked
    timer: float | None = None  # the wake-up already queued for it


@dataclass(slots=True, eq=False)
class _Lane:
    """One channel's delivery state. It lives outside the loop, so a restarted loop goes on
    where the failed one stopped."""

    ch: Channel
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    rows: dict[str, _Item] = field(default_factory=dict)  # waiting or in flight, by id
    streams: dict[str, _Stream] = field(default_factory=dict)
    dirty: dict[str, None] = field(default_factory=dict)  # streams to look at again, in order
    ready: dict[str, None] = field(default_factory=dict)  # streams whose head may go now
    timers: list[tuple[float, int, str]] = field(default_factory=list)  # monotonic heap
    results: dict[str, OutboxResult] = field(default_factory=dict)  # unrecorded, by row id
    busy: int = 0  # streams with a row claimed or in flight
    queue: deque[tuple[_Stream, _Item]] = field(default_factory=deque)  # claimed, not started
    sending: int = 0  # sends in flight
    unrecorded: set[str] = field(default_factory=set)  # sent rows whose outcome is not written
    reload: bool = True
    released: bool = False  # the previous process's claims are let go (once, at start)
    look_at: float = NEVER  # event-loop time of the next reconcile with the store
    # monotonic backoffs after store failures, apart: a failing read must not stop the
    # writes that send what memory holds, nor a failing write the reads
    read_after: float = NEVER
    read_failures: int = 0
    write_after: float = NEVER
    write_failures: int = 0
    loop_failures: int = 0
    down: str | None = None  # why the loop last failed, while it has not run since


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
        lease: float = 60.0,
        reconcile: float = 30.0,
        on_accepted: Accepted | None = None,
        on_dead: Callable[[OutboxRow], None] | None = None,
        health: Health | None = None,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.may_send = may_send  # several instances: False once this one may not lead
        self.channels = channels
        self.metrics = metrics
        self.clock = clock
        self.give_up_after = give_up_after
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll = poll
        self.lease = lease
        self.reconcile = reconcile
        self.on_accepted = on_accepted
        self.on_dead = on_dead
        self.health = health if health is not None else Health(metrics)
        self.crashes: Counter[str] = Counter()  # delivery loop restarts, per channel
        self._lanes = {ch.name: _Lane(ch) for ch in channels}
        self._fed = False  # the engine hands rows over: a wake needs no store read
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._store_bad: dict[tuple[str, str], str] = {}  # (channel, read|write) → why
        self._rng = random.Random()
        self._tie = itertools.count()
        self.log = logs.get("detector.outbox")

    # --- what the daemon and the engine call ----------------------------------------------

    def wake(self) -> None:
        """New rows were committed. Until the engine hands rows over (`enqueue`), they are
        read from the store; after that, a wake only wakes."""
        for lane in self._lanes.values():
            if not self._fed:
                lane.reload = True
            lane.wake.set()

    def enqueue(self, rows: Iterable[OutboxRow]) -> None:
        """Rows just committed: delivered from memory, no store read (duplicates ignored)."""
        if not self._fed:  # from now on the store is only reconciled, every `reconcile` s
            self._fed = True
            at = asyncio.get_running_loop().time() + self.reconcile
            for each in self._lanes.values():
                if not each.reload:  # loaded already, on the unfed `poll` cadence until now
                    each.look_at = max(each.look_at, at)
        give_up = self.clock.monotonic() + self.give_up_after  # created now, in this process
        for row in rows:
            lane = self._lanes.get(row.channel)
            if lane is None or row.state != "pending":
                continue
            self._add(lane, replace(row), give_up)
            lane.wake.set()

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._supervise(lane)) for lane in self._lanes.values()]

    async def stop(self, drain: float = 10.0) -> None:
        """Stop taking rows; give sends in flight up to `drain` seconds to finish; then write
        the results held (best effort: what is not written may be sent again next start)."""
        self._stopping = True
        for lane in self._lanes.values():
            lane.wake.set()
        loop = asyncio.get_running_loop()
        end = loop.time() + drain
        while self._inflight and loop.time() < end:
            await asyncio.wait(set(self._inflight), timeout=end - loop.time())
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for lane in self._lanes.values():
            self._unclaim(lane, list(lane.queue))  # claimed, not started: pending on record,
            lane.queue.clear()  # sent after the next start (which lets their claims go)
            results = list(lane.results.values())
            if not results:
                continue
            try:
                await self.store.write_outbox(results, [], None)
            except Exception as e:
                self.log.error(
                    "delivery results not recorded at stop; those rows may be sent "
                    "again at the next start",
                    channel=lane.ch.name,
                    rows=len(results),
                    reason=_reason(e),
                )
                continue
            self._recorded(lane, results)

    async def abort(self) -> None:
        """No longer the leader: stop now, sends in flight included (their rows stay pending
        on record, for the new leader), and write nothing: the lease is gone."""
        self._stopping = True
        tasks = [*self._loops, *self._inflight]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.health.clear("delivery:")
        self.health.ok(STORE_KEY)

    # --- the loops --------------------------------------------------------------------------

    async def _supervise(self, lane: _Lane) -> None:
        """Keep the channel's loop running: a failure is logged once, shown on /readyz, and
        the loop starts again after a backoff; its state (rows, results) is kept."""
        key = f"delivery:{lane.ch.name}"
        while not self._stopping:
            try:
                await self._run(lane)
                return
            except Exception as e:
                lane.loop_failures += 1
                self.crashes[lane.ch.name] += 1
                reason = _reason(e)
                if lane.down != reason:
                    self.log.exception(
                        "delivery loop failed; restarting it", channel=lane.ch.name, reason=reason
                    )
                    lane.down = reason
                self.health.failed(key, reason)
                lane.dirty.update(dict.fromkeys(lane.streams))  # whatever it was looking at
                cap = min(self.max_backoff, 30.0)
                await asyncio.sleep(backoff(lane.loop_failures, self.base_backoff, cap, self._rng))

    async def _run(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            lane.wake.clear()
            if loop.time() >= lane.look_at:
                lane.reload = True
            if lane.reload and self.clock.monotonic() >= lane.read_after:
                await self._load(lane)
            self._look(lane)
            can_write = self.clock.monotonic() >= lane.write_after
            heads = self._take(lane) if can_write and not self._stopping else []
            if can_write and (heads or lane.results):
                await self._write(lane, heads)
            self._start(lane)
            self._running(lane)
            self.metrics.outbox_pending.set(sum(len(x.rows) for x in self._lanes.values()))
            await wait_event(lane.wake, self._timeout(lane))

    def _running(self, lane: _Lane) -> None:
        if lane.down is not None:
            lane.down = None
            lane.loop_failures = 0
            self.health.ok(f"delivery:{lane.ch.name}")

    def _timeout(self, lane: _Lane) -> float:
        if lane.dirty:
            return 0.0
        mono = self.clock.monotonic()
        look_in = 0.0 if lane.reload else lane.look_at - asyncio.get_running_loop().time()
        t = min(self.poll, max(lane.read_after - mono, look_in))
        if lane.timers:
            t = min(t, lane.timers[0][0] - mono)
        if lane.results:
            t = min(t, lane.write_after - mono)
        return max(0.0, t)

    # --- the store: read, then claim and record ---------------------------------------------

    async def _load(self, lane: _Lane) -> None:
        name = lane.ch.name
        try:
            if not lane.released:
                await self.store.release_outbox_claims(name)
                lane.released = True
            rows = await self.store.pending_outbox(name)
        except Exception as e:  # whatever the store raises, the loop goes on without it
            self._store_failed(lane, "read", e)
            return
        self._store_ok(lane, "read")
        lane.reload = False
        every = self.reconcile if self._fed else self.poll
        lane.look_at = asyncio.get_running_loop().time() + every
        for row in rows:  # rows in memory or with a result held are ours already
            self._add(lane, row, deadline(self.clock, row.created_at + self.give_up_after))

    async def _write(self, lane: _Lane, heads: list[tuple[_Stream, _Item]]) -> None:
        """Record the results held and claim `heads`, in one transaction; then send."""
        results = list(lane.results.values())
        ids = [it.row.id for _, it in heads]
        try:
            claimed = await self.store.write_outbox(
                results, ids, self.clock.now() + self.lease if ids else None
            )
        except Exception as e:  # nothing claimed, nothing recorded: all kept for the next try
            self._unclaim(lane, heads)
            self._store_failed(lane, "write", e)
            return
        self._store_ok(lane, "write")
        self._recorded(lane, results)
        for st, it in heads:
            if it.row.id not in claimed:  # no longer pending in the store: not ours to send
                lane.rows.pop(it.row.id, None)
                st.inflight = None
                lane.busy -= 1
                lane.dirty[st.key] = None
            elif self._stopping:
                self._unclaim(lane, [(st, it)])
            else:
                lane.queue.append((st, it))

    def _recorded(self, lane: _Lane, results: list[OutboxResult]) -> None:
        """`results` are on record: forget them, and free the slots of the sends they close."""
        for r in results:
            if lane.results.get(r.id) is r:  # a newer result of that row waits its turn
                del lane.results[r.id]
                lane.unrecorded.discard(r.id)

    def _start(self, lane: _Lane) -> None:
        """Start claimed rows while the sends in flight and those not yet on record leave a
        slot: that sum, not the sends in flight alone, is what `concurrency` bounds. Nothing
        starts while results wait on a store that fails writes (the loop retries those writes,
        and the first that holds lets the queue go on)."""
        if self._stopping or (lane.write_failures and lane.results):
            return
        wall = self.clock.now()
        gone: list[tuple[str, str]] = []
        while lane.queue and lane.sending + len(lane.unrecorded) < lane.ch.concurrency:
            st, it = lane.queue.popleft()
            newest = max(st.items.values(), key=_order, default=None)
            if newest is not None and _order(newest) > _order(it):
                st.inflight = None  # a newer row came while it waited: that one goes instead
                lane.busy -= 1
                self._supersede(lane, st, it, newest.row.notice_id, gone)
                lane.dirty[st.key] = None
                continue
            if it.row.stale_at is not None and it.row.stale_at <= wall:
                self._unclaim(lane, [(st, it)])  # its next update is due: looked at again
                continue
            lane.sending += 1
            task = asyncio.create_task(self._send(lane, st, it))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if gone:
            self.log.info(
                "claimed notices superseded by newer ones before they were sent",
                channel=lane.ch.name,
                rows=len(gone),
                notices=sorted({old for old, _ in gone})[:10],
                by=sorted({new for _, new in gone})[:10],
            )

    def _store_failed(self, lane: _Lane, op: str, e: BaseException) -> None:
        """Back off this kind of store call (monotonic) and say so, once, on /readyz."""
        failures = (lane.read_failures if op == "read" else lane.write_failures) + 1
        after = self.clock.monotonic() + backoff(
            failures, self.base_backoff, min(self.max_backoff, 30.0), self._rng
        )
        if op == "read":
            lane.read_failures, lane.read_after = failures, after
        else:
            lane.write_failures, lane.write_after = failures, after
        reason = _reason(e)
        self._store_bad[lane.ch.name, op] = reason
        self.health.failed(STORE_KEY, reason)

    def _store_ok(self, lane: _Lane, op: str) -> None:
        if op == "read":
            lane.read_failures, lane.read_after = 0, NEVER
        elif lane.write_failures:
            lane.write_failures, lane.write_after = 0, NEVER
            lane.reload = True  # back after a failure: see what happened meanwhile
        if self._store_bad.pop((lane.ch.name, op), None) is not None and not self._store_bad:
            self.health.ok(STORE_KEY)

    # --- memory: streams, heads, supersession -------------------------------------------------

    def _add(self, lane: _Lane, row: OutboxRow, give_up: float) -> None:
        if row.id in lane.rows or row.id in lane.results:
            return
        key = row.stream or f"legacy:{row.id}"
        st = lane.streams.get(key)
        if st is None:
            st = lane.streams[key] = _Stream(key)
        it = _Item(row, give_up)
        lane.rows[row.id] = it
        st.items[row.id] = it
        wait = row.next_attempt_at - self.clock.now()  # a retry a previous process scheduled
        if wait > 0:
            st.not_before = max(st.not_before, self.clock.monotonic() + min(wait, self.max_backoff))
            st.failures = max(st.failures, row.attempts)
        lane.dirty[key] = None

    def _look(self, lane: _Lane) -> None:
        """Look again at every stream something happened to: supersede, give up, or queue."""
        mono = self.clock.monotonic()
        while lane.timers and lane.timers[0][0] <= mono:
            at, _, key = heapq.heappop(lane.timers)
            st = lane.streams.get(key)
            if st is not None:
                if st.timer == at:
                    st.timer = None
                lane.dirty[key] = None
        gone: list[tuple[str, str]] = []
        keys = list(lane.dirty)
        lane.dirty.clear()
        for key in keys:
            st = lane.streams.get(key)
            if st is not None:
                self._evaluate(lane, st, mono, self.clock.now(), gone)
        if gone:
            self.log.info(
                "notices superseded by newer ones",
                channel=lane.ch.name,
                rows=len(gone),
                notices=sorted({old for old, _ in gone})[:10],
                by=sorted({new for _, new in gone})[:10],
            )

    def _evaluate(
        self, lane: _Lane, st: _Stream, mono: float, wall: float, gone: list[tuple[str, str]]
    ) -> None:
        lane.ready.pop(st.key, None)
        if st.inflight is not None:
            return  # looked at again when it lands
        if not st.items:
            del lane.streams[st.key]
            return
        ordered = sorted(st.items.values(), key=_order)
        head = ordered[-1]
        for old in ordered[:-1]:
            self._supersede(lane, st, old, head.row.notice_id, gone)
        if st.floor is not None and head.row.sequence <= st.floor:
            self._supersede(lane, st, head, "a newer notice already delivered", gone)
            del lane.streams[st.key]
            return
        if head.row.stale_at is not None and head.row.stale_at <= wall:
            if mono >= head.give_up:
                self._die(lane, st, head, "its next update was due and no newer notice came")
                del lane.streams[st.key]
            else:  # the engine publishes the next notice now, which supersedes this one
                self._timer(lane, st, head.give_up)
            return
        if st.not_before > mono:
            self._timer(lane, st, st.not_before)
            return
        lane.ready[st.key] = None

    def _timer(self, lane: _Lane, st: _Stream, at: float) -> None:
        if st.timer != at:
            st.timer = at
            heapq.heappush(lane.timers, (at, next(self._tie), st.key))

    def _take(self, lane: _Lane) -> list[tuple[_Stream, _Item]]:
        """The heads to claim now, oldest-ready first: none while the claimed queue holds a
        `concurrency` of rows, else up to CLAIM_AHEAD times that, claimed or in flight."""
        out: list[tuple[_Stream, _Item]] = []
        if len(lane.queue) >= lane.ch.concurrency:
            return out
        free = CLAIM_AHEAD * lane.ch.concurrency - lane.busy
        mono, wall = self.clock.monotonic(), self.clock.now()
        while free > 0 and lane.ready:
            key = next(iter(lane.ready))
            del lane.ready[key]
            st = lane.streams.get(key)
            if st is None or st.inflight is not None or not st.items:
                continue
            head = max(st.items.values(), key=_order)
            stale = head.row.stale_at is not None and head.row.stale_at <= wall
            if stale or len(st.items) > 1 or st.not_before > mono:
                lane.dirty[key] = None  # something changed since it was queued
                continue
            del st.items[head.row.id]
            st.inflight = head
            lane.busy += 1
            free -= 1
            out.append((st, head))
        return out

    def _unclaim(self, lane: _Lane, heads: list[tuple[_Stream, _Item]]) -> None:
        for st, it in heads:
            st.inflight = None
            st.items[it.row.id] = it
            lane.busy -= 1
            lane.dirty[st.key] = None

    def _supersede(
        self, lane: _Lane, st: _Stream, it: _Item, by: str, gone: list[tuple[str, str]]
    ) -> None:
        row = it.row
        st.items.pop(row.id, None)
        lane.rows.pop(row.id, None)
        row.last_error = f"superseded by {by}"
        self._record(lane, row, "superseded")
        self.metrics.notices_superseded.labels(lane.ch.name).inc()
        gone.append((row.notice_id, by))

    def _die(
        self, lane: _Lane, st: _Stream, it: _Item, detail: str, permanent: bool = False
    ) -> None:
        row = it.row
        st.items.pop(row.id, None)
        lane.rows.pop(row.id, None)
        st.floor = row.sequence if st.floor is None else max(st.floor, row.sequence)
        row.last_error = detail
        self._record(lane, row, "dead")
        self.metrics.notices.labels(lane.ch.name, row.event, "dead").inc()
        self.log.error(
            "notice dead",
            notice_id=row.notice_id,
            channel=lane.ch.name,
            attempt=row.attempts,
            detail=detail,
            permanent=permanent,
        )
        if self.on_dead is not None and row.event != Event.NOTICE_DEAD:
            self.on_dead(row)  # operators hear of it on their other channels

    def _record(
        self, lane: _Lane, row: OutboxRow, state: str, sent_at: float | None = None
    ) -> None:
        lane.results[row.id] = OutboxResult(
            row.id,
            state,
            row.attempts,
            row.next_attempt_at,
            sent_at,
            None if state == "sent" else row.last_error,
        )

    # --- one send -------------------------------------------------------------------------------

    async def _send(self, lane: _Lane, st: _Stream, it: _Item) -> None:
        row = it.row
        try:
            try:
                env = envelope(row)
            except (TypeError, ValueError, KeyError) as e:  # a row no channel could send
                result = Delivery(False, f"unreadable row: {_reason(e)}", permanent=True)
            else:
                if not self.may_send():  # the lease ran out: not ours to send any more
                    lane.sending -= 1
                    self._unclaim(lane, [(st, it)])
                    return
                try:
                    result = await lane.ch.send(env)
                except Exception as e:  # a channel bug is a failed attempt, not a lost notice
                    result = Delivery(False, f"channel error: {type(e).__name__}")
        except asyncio.CancelledError:  # outcome unknown: kept, and sent at the next start
            lane.sending -= 1
            self._unclaim(lane, [(st, it)])
            lane.wake.set()
            raise
        wall = self.clock.now()
        if self._settle(lane, st, it, result, wall) and self.on_accepted is not None:
            try:
                await self.on_accepted(row, wall)
            except Exception:
                self.log.exception("on_accepted failed", notice_id=row.notice_id)

    def _settle(self, lane: _Lane, st: _Stream, it: _Item, result: Delivery, wall: float) -> bool:
        """The send's outcome, in memory: recorded later with the next batch. True if sent."""
        mono = self.clock.monotonic()
        row, name = it.row, lane.ch.name
        row.attempts += 1
        st.inflight = None
        lane.busy -= 1
        lane.sending -= 1
        lane.unrecorded.add(row.id)  # its slot is free again once this outcome is written
        lane.dirty[st.key] = None
        lane.wake.set()
        log = self.log.bind(notice_id=row.notice_id, channel=name, attempt=row.attempts)
        if result.ok:
            lane.rows.pop(row.id, None)
            st.floor = row.sequence if st.floor is None else max(st.floor, row.sequence)
            st.failures = 0
            self._record(lane, row, "sent", sent_at=wall)
            self.metrics.notices.labels(name, row.event, "sent").inc()
            for r in result.rejected:
                self.metrics.notices.labels(name, row.event, "rejected").inc()
                log.warning("recipient rejected", recipient=r.name)
            log.info("notice delivered", detail=result.detail)
            return True
        if result.permanent or mono >= it.give_up:
            self._die(lane, st, it, result.detail, permanent=result.permanent)
            return False
        st.failures += 1
        delay = backoff(st.failures, self.base_backoff, self.max_backoff, self._rng)
        if result.retry_after is not None:  # kept, within reason: a date in 9999 parks nothing
            delay = max(delay, min(result.retry_after, self.max_backoff))
        delay = max(0.0, min(delay, it.give_up - mono))
        st.not_before = max(st.not_before, mono + delay)
        row.next_attempt_at = wall + delay
        row.last_error = result.detail
        st.items[row.id] = it
        self._record(lane, row, "pending")
        self.metrics.notices.labels(name, row.event, "retry").inc()
        log.warning("notice retry", detail=result.detail, retry_in=round(delay, 3))
        return False
