"""Wires the one data path together: scheduler → probe → metrics/history → engine → outbox.

Also the web server and housekeeping. `Daemon.serve()` runs until `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from detector import channels as channel_kinds
from detector import logs
from detector.channels.base import Channel
from detector.channels.links import Links, attach
from detector.clock import Clock, SystemClock
from detector.cluster.node import Node
from detector.config.models import Config, ProbeConfig, Subscriber
from detector.health import Health, describe
from detector.history import History
from detector.incidents import payload as payloads
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.notices import compose
from detector.outbox import OutboxWorker
from detector.scheduler import Scheduler
from detector.store import STORE_ERRORS, OutboxRow, Store
from detector.web.app import Services, create_app
from detector.web.subscribe import Audience, links_for
from probes.base import ProbeContext
from probes.runner import make_session, run_check


def subscribers_of(config: Config, base_dir: Path) -> list[Subscriber]:
    from detector.config.subscribers import load_subscribers

    return load_subscribers(config, base_dir)


def tune_gc() -> None:
    """Collect young objects less often: at thousands of checks a second the default (every
    700 allocations) made full passes that stalled the loop for hundreds of milliseconds
    (p99 scheduler lag 0.5 s at 20,000 probes; 5 ms with these thresholds)."""
    gc.set_threshold(50_000, 20, 100)


def secrets_of(config: Config) -> list[str]:
    """What logs must never show: every secret in the config (each SecretStr, found by walking
    it, plus the storage password and credential probe headers), and each Basic-auth pair a
    provider sees (Twilio: base64 of account_sid:auth_token). `logs` derives the encoded forms."""
    from detector.config.models import TwilioChannel
    from detector.config.secrets import secret_values

    pairs = [
        logs.basic_auth(ch.account_sid, ch.auth_token.get_secret_value())
        for ch in config.channels
        if isinstance(ch, TwilioChannel)
    ]
    return [*secret_values(config), *pairs]


def engine_config(config: Config) -> Config:
    """With several instances each vantage weighs its own controls (a blind vantage writes no
    trouble), so the leader's engine has none of its own to wait for."""
    if config.cluster is None:
        return config
    return config.model_copy(update={"controls": []})


def advertise(config: Config) -> str:
    """Where other instances reach this one (people's actions go to the leader):
    DETECTOR_ADVERTISE, or this host's address and the port it serves."""
    given = os.environ.get("DETECTOR_ADVERTISE")
    if given:
        return given.rstrip("/")
    host = config.server.host
    if host in ("", "0.0.0.0", "::"):
        try:
            host = socket.gethostbyname(socket.gethostname())
        except OSError:
            host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}"


class Daemon:
    def __init__(
        self,
        config: Config,
        base_dir: Path = Path("."),
        clock: Clock | None = None,
        *,
        outbox_base_backoff: float = 1.0,
        history_flush: float = 10.0,
    ) -> None:
        self.config = config
        self.base_dir = base_dir
        self.clock = clock or SystemClock()
        self.outbox_base_backoff = outbox_base_backoff
        self.history_flush = history_flush
        self.log = logs.get("detector")
        self.metrics = Metrics()
        self.health = Health(self.metrics)
        self.debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._observed: set[str] = set()
        self.stopped = asyncio.Event()
        self._side: set[asyncio.Task[None]] = set()  # operators' events under way
        self._told: set[str] = set()  # overdue reports already told
        self.node: Node | None = None  # several instances: this one's part (PostgreSQL)
        self._leader_tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        config = self.config
        logs.register_secrets(secrets_of(config))
        self.store = Store(config.storage.url)
        migrated = await self.store.open()
        if migrated.before != migrated.after and (migrated.before or migrated.legacy):
            self.log.info("store schema upgraded", change=migrated.describe())
        self.links: Links = await links_for(config, self.store)
        self.channels = self._channels(config)
        subscribers = subscribers_of(config, self.base_dir)
        compose.warm(
            [config.service.locale, *(s.locale for s in subscribers if s.locale)],
            config.service.timezone,
        )
        self.outbox = self._outbox(config, self.channels)
        self.engine = Engine(
            engine_config(config),
            self.store,
            self.channels,
            subscribers,
            self.metrics,
            self.clock,
            wake_outbox=self.outbox.wake,
            request_controls=self._recheck_controls,
            request_checks=lambda names: self.scheduler.check_now(names),
            health=self.health,
            enqueue=self.outbox.enqueue,
        )
        await self.engine.load()
        # what customers chose (detector.web.subscribe), before any notice is decided
        self.audience = Audience(self.store, self.engine, subscribers)
        await self.audience.refresh()
        self.engine.remote = config.cluster is not None
        self.session = make_session()
        self.ctx = ProbeContext(session=self.session, timeout=config.detection.timeout)
        self.history = History(self.store)
        self.scheduler = Scheduler(
            config.all_probes(), config.detection, self._check, self.metrics, self.clock
        )
        self.labels = self._labels()
        if config.cluster is not None:
            self.node = Node(
                config,
                self.store,
                self.engine,
                self.scheduler,
                self.metrics,
                self.health,
                self.clock,
                advertise=advertise(config),
                lead=self._lead,
                follow=self._follow,
            )
            await self.node.start()  # before the first checks: only its share runs here
        else:
            self.metrics.probes_owned.set(len(config.all_probes()))
        self.services = Services(
            config,
            self.store,
            self.engine,
            self.metrics,
            self.scheduler,
            health=self.health,
            leader_url=None if self.node is None else self._leader_url,
            audience=self.audience,
        )
        self._runner = web.AppRunner(create_app(self.services), access_log=None)
        await self._runner.setup()
        # a crowd arrives during an outage: at 500 new connections/s aiohttp's default backlog
        # (128) overflows in a 250 ms stall, and a dropped SYN costs a visitor a second or more
        site = web.TCPSite(self._runner, config.server.host, config.server.port, backlog=1024)
        await site.start()
        if self.node is None:
            self.outbox.start()
        # the config and everything built from it live as long as the process: keep them out
        # of the cyclic collector's full passes, which would otherwise walk them again and again
        gc.collect()
        gc.freeze()
        tune_gc()
        self.scheduler.start_all()
        self._tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self._housekeeping()),
            asyncio.create_task(self.audience.run()),  # changes made on other instances
        ]
        if self.node is None:  # alone: always the leader
            self._tasks += self._leader_loops()
        else:  # several: the node takes up the leader's loops when it gets the lease
            self._tasks.append(asyncio.create_task(self.node.run()))
        if config.export is not None:  # a static copy of the public face, kept current
            from detector.web.export import Exporter

            self.exporter = Exporter(self.services, self.base_dir)
            self.exporter.hook(self.store)  # woken by each commit; stopped with the tasks
            self._tasks.append(asyncio.create_task(self.exporter.run()))
        # calendar work on APScheduler; probes keep their own heap (measured: a job per probe
        # would cost far more at 20,000 probes, and checks must wait on the monotonic clock)
        self.calendar = AsyncIOScheduler(timezone="UTC")
        self.calendar.add_job(
            self._rollup,
            "cron",
            minute=7,
            id="rollup",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
            next_run_time=datetime.now(UTC),
        )
        self.calendar.start()
        self.log.info(
            "detector started",
            listen=config.server.listen,
            probes=len(config.all_probes()),
            open_incidents=len(self.engine.open_incidents()),
        )

    def _leader_loops(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.engine.run_decisions()),
            asyncio.create_task(self.engine.run_ticks()),
        ]

    def leading(self) -> bool:
        return self.node is None or self.node.leading

    async def _lead(self) -> None:
        """The lease is ours: the engine was rebuilt from the store; deliver and decide."""
        self.outbox = self._outbox(self.config, self.channels)
        self.engine.wake_outbox, self.engine.enqueue = self.outbox.wake, self.outbox.enqueue
        self.outbox.start()
        self._leader_tasks = self._leader_loops()

    async def _follow(self) -> None:
        """The lease is gone: stop deciding and sending at once."""
        tasks, self._leader_tasks = self._leader_tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.outbox.abort()
        self.engine.wake_outbox, self.engine.enqueue = (lambda: None), (lambda rows: None)

    def _leader_url(self) -> str | None:
        """None while this instance leads; else the leader's address ("" when none is known),
        where people's actions are sent on."""
        node = self.node
        if node is None or node.leading:
            return None
        return next((m.listen for m in node.live if m.member == node.leader), "")

    def _channels(self, config: Config) -> list[Channel]:
        """The configured channels; e-mail ones carry each recipient's unsubscribe link."""
        channels = channel_kinds.build(config)
        attach(channels, self.links)
        return channels

    def _outbox(self, config: Config, channels: list[Channel]) -> OutboxWorker:
        return OutboxWorker(
            self.store,
            channels,
            self.metrics,
            self.clock,
            base_backoff=self.outbox_base_backoff,
            on_accepted=self._accepted,
            give_up_after=config.notify.give_up_after,
            health=self.health,
            on_dead=self._dead,
            may_send=self.leading if self.node is None else self.node.may_send,
        )

    def _labels(self) -> dict[str, tuple[str, str]]:
        """Per-check constants, looked up once: (component label, kind) of every probe."""
        return {
            name: (component or "control", self.engine.probes[name].kind)
            for name, component in self.engine.component_of.items()
            if name in self.engine.probes
        }

    async def reload(self, config: Config) -> bool:
        """SIGHUP as a diff: probes, incidents, streaks and metric counters go on; what changed
        is applied. Returns False when only a restart can apply it (another store or
        address): the caller then stops this daemon and starts a new one."""
        old = self.config
        if config.storage.url != old.storage.url or config.server.listen != old.server.listen:
            return False
        logs.register_secrets(secrets_of(config))
        subscribers = subscribers_of(config, self.base_dir)
        self.links = await links_for(config, self.store)
        attach(self.channels, self.links)
        channels = self.channels
        if config.channels != old.channels and not self.leading():
            self.channels = self._channels(config)  # the next lease starts them
        elif config.channels != old.channels:
            await self.outbox.stop()
            for ch in self.channels:
                with contextlib.suppress(Exception):
                    await ch.close()
            channels = self.channels = self._channels(config)
            self.outbox = self._outbox(config, channels)
            self.engine.wake_outbox, self.engine.enqueue = self.outbox.wake, self.outbox.enqueue
            self.outbox.start()
        compose.warm(
            [config.service.locale, *(s.locale for s in subscribers if s.locale)],
            config.service.timezone,
        )
        await self.engine.reconfigure(
            engine_config(config), self.channels, self.audience.reseed(subscribers)
        )
        await self.audience.apply()  # a change read while reconfiguring is not undone
        if self.node is not None:
            self.node.reconfigure(config)
        else:
            self.scheduler.reconfigure(config.all_probes(), config.detection)
        self.labels = self._labels()
        self.ctx = ProbeContext(session=self.session, timeout=config.detection.timeout)
        self.config = self.services.config = config
        for c in config.components:
            self.metrics.set_component(c.id, self.engine.severity(c.id))
        self.log.info("configuration reloaded", probes=len(config.all_probes()))
        return True

    async def _check(self, probe: ProbeConfig) -> bool:
        det = self.scheduler.settings[probe.name]
        result = await run_check(probe, self.ctx, det.timeout)
        now = self.clock.now()
        component, kind = self.labels[probe.name]
        self.metrics.observe_check(
            probe.name, component, kind, result.ok, result.soft_fail, result.duration
        )
        self.history.add(probe.name, now, result.ok, result.soft_fail, result.duration)
        if self.debug:  # looked up once: at thousands of checks a second a call costs
            self.log.debug(
                "check",
                probe=probe.name,
                ok=result.ok,
                soft=result.soft_fail,
                detail=result.detail,
                duration=round(result.duration, 4),
            )
        if self.node is not None:
            return self.node.vantage.on_result(probe.name, result, now)
        return self.engine.on_result(probe.name, result, now)

    def _recheck_controls(self) -> None:
        self.scheduler.check_now(c.name for c in self.config.controls)

    async def _accepted(self, row: OutboxRow, now: float) -> None:
        """time_to_notice: first failed check → first notice of the incident accepted."""
        incident_id, _, seq = row.notice_id.rpartition(".")
        if seq != "1" or row.event != "incident.opened" or incident_id in self._observed:
            return
        self._observed.add(incident_id)
        inc = await self.store.incident(incident_id)
        if inc is not None:
            self.metrics.time_to_notice.observe(max(0.0, now - inc.started_at))
            self.log.info(
                "first notice accepted",
                incident_id=incident_id,
                time_to_notice=round(now - inc.started_at, 3),
            )

    async def _housekeeping(self) -> None:
        """History, roll-ups and a look at the store file, on the monotonic clock. A failing
        store is reported once through `health`; the history waits in memory meanwhile."""
        while True:
            await asyncio.sleep(min(self.history_flush, 2.0))
            try:
                self.store.check_file()
            except STORE_ERRORS as e:
                self.health.failed("store:file", str(e))
                continue
            self.health.ok("store:file")
            try:
                counts = await self.store.outbox_counts()
                self.metrics.outbox_pending.set(counts.get("pending", 0))
                overdue = await self.store.reports_overdue(self.clock.now())
                self.metrics.reports_overdue.set(overdue)
                if overdue and self.leading():
                    await self._tell_overdue()
                if self.history.pending and self._due_flush():
                    await self.history.flush()
                self.health.ok("store:housekeeping")
            except STORE_ERRORS as e:
                self.health.failed("store:housekeeping", describe(e))
            except Exception:
                self.log.exception("housekeeping failed")

    _last_flush = float("-inf")

    def _dead(self, row: OutboxRow) -> None:
        """A channel gave up on a notice: operators hear it on their other channels."""
        # its own stream: two dead notices are two facts, neither supersedes the other
        notice_id = "dead-" + hashlib.sha1(row.id.encode()).hexdigest()[:16] + ".1"
        dead = {
            "notice_id": row.notice_id,
            "channel": row.channel,
            "event": row.event,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "created_at": payloads.iso(row.created_at),
        }
        task = asyncio.create_task(
            self.engine.operator_event(
                "notice.dead", notice_id=notice_id, exclude=row.channel, dead=dead
            )
        )
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _tell_overdue(self) -> None:
        """Each incident whose promised report is late is told to operators once."""
        for inc in await self.store.overdue_reports(self.clock.now()):
            notice_id = f"report-overdue.{inc.id}"
            if notice_id in self._told or await self.store.outbox_rows(notice_id):
                self._told.add(notice_id)
                continue
            await self.engine.operator_event(
                "report.overdue",
                notice_id=notice_id,
                incident=payloads.incident_json(inc),
                report_by=payloads.iso(inc.report_by or 0.0),
            )
            self._told.add(notice_id)

    async def _rollup(self) -> None:
        """Hourly, on the calendar: fold minute history into hours and drop what is past
        keeping. A store that cannot take it now is tried again next hour."""
        if not self.leading():
            return
        try:
            await self.store.rollup_history(self.clock.now())
            if self.node is not None:  # instances gone for a day are gone for good
                await self.store.forget_members(older_than=86400.0)
        except STORE_ERRORS as e:
            self.health.failed("store:rollup", describe(e))
        else:
            self.health.ok("store:rollup")

    def _due_flush(self) -> bool:
        now = self.clock.monotonic()
        if now - self._last_flush >= self.history_flush:
            self._last_flush = now
            return True
        return False

    async def abort(self) -> None:
        """Close what a failed start opened, so nothing is left dangling or warned about."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
        for name in ("session",):
            res = getattr(self, name, None)
            if res is not None:
                with contextlib.suppress(Exception):
                    await res.close()
        for ch in getattr(self, "channels", []):
            with contextlib.suppress(Exception):
                await ch.close()
        store = getattr(self, "store", None)
        if store is not None:
            with contextlib.suppress(Exception):
                await store.close()

    async def stop(self, drain: float = 10.0) -> None:
        """Graceful: stop checking, write what was decided, finish sends in flight."""
        await self.scheduler.stop()
        for t in self._leader_tasks:
            t.cancel()
        await asyncio.gather(*self._leader_tasks, return_exceptions=True)
        if getattr(self, "calendar", None) is not None and self.calendar.running:
            self.calendar.shutdown(wait=False)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.engine.drain()
        if self.node is None or self.node.leading:
            await self.outbox.stop(drain)
        with contextlib.suppress(Exception):
            await self.history.flush()
        if self.node is not None:
            with contextlib.suppress(Exception):
                await self.node.leave()
        if self._runner is not None:
            await self._runner.cleanup()
        for ch in self.channels:
            with contextlib.suppress(Exception):
                await ch.close()
        await self.session.close()
        await self.store.close()
        self.log.info("detector stopped")
        self.stopped.set()
