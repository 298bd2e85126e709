"""One instance among several: heartbeats, the leader lease, probes shared out, verdicts
combined. The daemon gives it hooks to start and stop leading (the engine's loops and the
outbox run only on the leader); everything else runs on every instance.

Three loops:
- heartbeat (every lease/3): say we are alive; the leader renews its lease, a follower takes
  a lease that ran out. The leader's own deadline is the monotonic time it asked for the
  lease plus the lease: before the database's, so it stops sending before anyone else may
  start. Losing the lease, or not reaching the store until the deadline, is stepping down.
- poll (a fraction of a second): members and verdicts changed since the last look. A change
  of this vantage's live members moves probes (rendezvous hashing); a vantage re-checking a
  probe asks this one to check it too; the leader combines the verdicts by quorum and feeds
  the engine; a follower reloads its copy of the incidents when the store changed.
- flush: this vantage's changed verdicts, written as they come, batched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from detector import logs
from detector.clock import Clock
from detector.cluster import logic
from detector.cluster.vantage import Vantage
from detector.config.models import Cluster, Config
from detector.health import Health, describe
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.scheduler import Scheduler
from detector.state import Level
from detector.store import STORE_ERRORS, Member, Store, Verdict

TROUBLE: tuple[type[BaseException], ...] = (*STORE_ERRORS, TimeoutError)
OVERLAP = 5.0  # seconds of verdicts read again each poll: a commit can land after its stamp


def vantage_name(cluster: Cluster) -> str:
    return os.environ.get("DETECTOR_VANTAGE") or cluster.vantage or socket.gethostname()


class Node:
    def __init__(
        self,
        config: Config,
        store: Store,
        engine: Engine,
        scheduler: Scheduler,
        metrics: Metrics,
        health: Health,
        clock: Clock,
        *,
        advertise: str,
        lead: Callable[[], Awaitable[None]],
        follow: Callable[[], Awaitable[None]],
    ) -> None:
        assert config.cluster is not None
        self.config = config
        self.store = store
        self.engine = engine
        self.scheduler = scheduler
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.advertise = advertise
        self._lead_hook, self._follow_hook = lead, follow
        self.lease = config.cluster.lease
        self.poll_every = min(0.5, self.lease / 5)
        self.member = secrets.token_hex(8)
        self.vantage_name = vantage_name(config.cluster)
        self.vantage = Vantage(config, self.vantage_name, self.scheduler.check_now)
        self.started_at = time.time()
        self.leading = False
        self.epoch = 0
        self.deadline = float("-inf")  # monotonic: our lease ends here at the latest
        self.peers: list[str] = [self.member]  # live members of our vantage, us included
        self.owned: set[str] = set()
        self._gained: set[str] = set()  # taken over, to start from this vantage's record
        self.live: list[Member] = []
        self.vantages: set[str] = {self.vantage_name}
        self.leader: str | None = None
        # probe → vantage → its verdict, for those not simply fine
        self.view: dict[str, dict[str, Verdict]] = {}
        self.since: float | None = None
        self.fingerprint: tuple[Any, ...] | None = None
        self.log = logs.get("detector.cluster").bind(member=self.member, vantage=self.vantage_name)
        store.fence = (self.member, 0)
        metrics.leader.set(0)

    # --- what the daemon calls --------------------------------------------------------------

    def may_send(self) -> bool:
        """The outbox asks before every send: a leader past its deadline sends nothing."""
        return self.leading and self.clock.monotonic() < self.deadline

    def probes(self) -> list[Any]:
        """What this instance's scheduler runs: its share of the probes, and every control."""
        return [p for p in self.config.all_probes() if p.name in self.owned] + list(
            self.config.controls
        )

    async def start(self) -> None:
        """Join: a first heartbeat, this vantage's share of the probes, its last verdicts."""
        await self._heartbeat()
        await self._members()
        self._rebalance(spread=None)
        rows, _ = await self.store.verdicts(vantage=self.vantage_name)
        self.vantage.seed(rows, [p.name for p in self.config.all_probes()])
        self.log.info("joined", members=len(self.live), probes_owned=len(self.owned))

    async def run(self) -> None:
        await asyncio.gather(self._heartbeats(), self._polls(), self._flushes())

    async def leave(self) -> None:
        """A clean stop: write what we hold, let the lease go, drop out."""
        if self.leading:
            await self._step_down("stopping")
        with contextlib.suppress(*STORE_ERRORS):
            await self.store.put_verdicts(self.vantage_name, self.vantage.take())
        with contextlib.suppress(*STORE_ERRORS):
            await self.store.leave(self.member)

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self.vantage.index(config)
        self._rebalance(spread=None, force=True)

    # --- heartbeat and lease ----------------------------------------------------------------

    async def _heartbeat(self) -> None:
        await self.store.heartbeat(
            member=self.member,
            vantage=self.vantage_name,
            host=socket.gethostname(),
            pid=os.getpid(),
            listen=self.advertise,
            started_at=self.started_at,
            blind=self.vantage.blind,
            probes_owned=len(self.owned),
        )

    async def _heartbeats(self) -> None:
        every = self.lease / 3
        while True:
            t0 = self.clock.monotonic()
            try:
                async with asyncio.timeout(every):
                    await self._heartbeat()
                    if self.leading:
                        if await self.store.renew_lease(self.member, self.epoch, self.lease):
                            self.deadline = t0 + self.lease
                        else:
                            await self._step_down("the lease ran out or passed to another")
                    else:
                        epoch = await self.store.take_lease(self.member, self.lease)
                        if epoch is not None:
                            self.deadline = t0 + self.lease
                            await self._lead(epoch)
                self.health.ok("cluster")
            except TROUBLE as e:
                self.health.failed("cluster", describe(e))
                if self.leading and self.clock.monotonic() >= self.deadline:
                    await self._step_down("the store cannot be reached to renew the lease")
            except Exception:
                self.log.exception("heartbeat failed")
            await asyncio.sleep(max(0.0, every - (self.clock.monotonic() - t0)))

    async def _lead(self, epoch: int) -> None:
        """Rebuild everything from the store, then take up the engine's loops and delivery."""
        self.epoch = epoch
        self.store.fence = (self.member, epoch)
        try:
            async with self.engine.lock:
                self.engine.reset()
                await self.engine.load()
            rows, now = await self.store.verdicts()
            self.view = {}
            self._take_in(rows)
            self.since = now
            self.leading = True
            self._combine(set(self.view) | self._troubled())
            self.metrics.leader.set(1)
            await self._lead_hook()
        except BaseException:
            self.leading = False
            self.store.fence = (self.member, 0)
            self.metrics.leader.set(0)
            raise
        self.log.warning("leading", epoch=epoch)

    async def _step_down(self, why: str) -> None:
        self.leading = False
        self.store.fence = (self.member, 0)
        self.metrics.leader.set(0)
        self.fingerprint = None  # reload the copy from what the store holds
        await self._follow_hook()
        self.log.warning("no longer leading", epoch=self.epoch, reason=why)

    # --- members, verdicts, the leader's view -----------------------------------------------

    async def _members(self) -> None:
        members = await self.store.members()
        lease = await self.store.lease()
        self.leader = lease.holder if lease.remaining > 0 else None
        self.live = [m for m in members if m.age < self.lease or m.member == self.member]
        self.vantages = {m.vantage for m in self.live} | {self.vantage_name}
        self.metrics.members_live.set(len(self.live))
        self.metrics.vantages_live.set(len(self.vantages))

    def _rebalance(self, spread: float | None, force: bool = False) -> None:
        peers = sorted(
            {m.member for m in self.live if m.vantage == self.vantage_name} | {self.member}
        )
        if peers == self.peers and not force and self.owned:
            return
        before = self.owned
        self.peers = peers
        self.owned = logic.owned(self.member, peers, (p.name for p in self.config.all_probes()))
        self.metrics.probes_owned.set(len(self.owned))
        self.scheduler.reconfigure(self.probes(), self.config.detection, spread=spread)
        gained = self.owned - before
        if before and (gained or before - self.owned):
            self.log.info(
                "probes rebalanced",
                members=len(peers),
                probes_owned=len(self.owned),
                gained=len(gained),
                given=len(before - self.owned),
            )
        if gained and before:
            self._gained = gained

    async def _polls(self) -> None:
        while True:
            await asyncio.sleep(self.poll_every)
            try:
                await self._poll()
                self.health.ok("cluster:poll")
            except STORE_ERRORS as e:
                self.health.failed("cluster:poll", describe(e))
            except Exception:
                self.log.exception("cluster poll failed")

    async def _poll(self) -> None:
        before = self.vantages
        await self._members()
        self._rebalance(spread=min(self.lease / 4, 2.0))
        if self._gained:  # taken over: start from this vantage's record of them
            gained, self._gained = self._gained, set()
            rows, _ = await self.store.verdicts(vantage=self.vantage_name)
            self.vantage.seed(rows, gained)
        since = None if self.since is None else self.since - OVERLAP
        rows, now = await self.store.verdicts(since=since)
        self.since = now
        changed = self._take_in(rows)
        self._echo(rows)
        if self.leading:
            if self.vantages != before:
                changed |= set(self.view) | self._troubled()
            self._combine(changed)
        else:
            await self._mirror()

    def _take_in(self, rows: list[Verdict]) -> set[str]:
        changed: set[str] = set()
        for r in rows:
            seen = self.view.get(r.probe)
            if r.level == Level.OK and not r.suspect:
                if seen is not None and seen.pop(r.vantage, None) is not None:
                    changed.add(r.probe)
                    if not seen:
                        del self.view[r.probe]
                continue
            if seen is None:
                seen = self.view[r.probe] = {}
            if seen.get(r.vantage) != r:
                seen[r.vantage] = r
                changed.add(r.probe)
        return changed

    def _echo(self, rows: list[Verdict]) -> None:
        """Another vantage is re-checking or failing a probe we run: check it now too, so
        the vantages' streaks run in phase and a quorum forms in one round of re-checks."""
        ask = [
            r.probe
            for r in rows
            if r.vantage != self.vantage_name
            and r.probe in self.owned
            and (r.suspect or r.level != Level.OK)
            and (st := self.vantage.states.get(r.probe)) is not None
            and st.confirmed == Level.OK
            and st.bad_streak == 0
        ]
        if ask:
            self.scheduler.check_now(ask)

    def _troubled(self) -> set[str]:
        """Probes the engine holds as not fine: a change of live vantages may recover them."""
        return {
            n
            for n, st in self.engine.states.items()
            if (st.confirmed != Level.OK or st.suspect) and n in self.engine.probes
        }

    def _combine(self, names: set[str]) -> None:
        """The leader's part: each probe's verdict by quorum of the live vantages."""
        if not names:
            return
        live = self.vantages
        wall = self.clock.now()
        for name in sorted(names):
            if name not in self.engine.probes or self.engine.component_of.get(name) is None:
                continue
            seen = self.view.get(name, {})
            views = [
                logic.View(v, Level(r.level), r.suspect, r.first_bad_at, r.severity)
                for v, r in seen.items()
                if v in live
            ]
            views += [logic.View(v, Level.OK) for v in live if v not in seen]
            need = logic.needed(self.engine.settings[name].quorum, len(live))
            new = logic.combine(self.engine.states[name], views, need)
            evidence = [
                (r.at, r.level == Level.OK, f"{v}: {r.detail}" if r.detail else f"{v}")
                for v, r in sorted(seen.items())
                if v in live
            ]
            self.engine.on_verdict(name, new, evidence, wall)

    async def _mirror(self) -> None:
        """A follower's copy of the incidents, rebuilt when the store changed: the status
        page, API and feed are the same on every instance."""
        fp = await self.store.fingerprint()
        if fp == self.fingerprint:
            return
        async with self.engine.lock:
            self.engine.reset()
            await self.engine.load()
        self.fingerprint = fp

    async def _flushes(self) -> None:
        while True:
            await self.vantage.wake.wait()
            self.vantage.wake.clear()
            rows = self.vantage.take()
            if not rows:
                continue
            try:
                await self.store.put_verdicts(self.vantage_name, rows)
                self.health.ok("cluster:verdicts")
            except STORE_ERRORS as e:
                self.vantage.put_back(rows)
                self.health.failed("cluster:verdicts", describe(e))
                await asyncio.sleep(1.0)
