"""Shared parts of the delivery tests: the service's config, subscribers, and an in-process
stack (real Store on SQLite + Engine + OutboxWorker + real channels against local doubles).

Configs carry secrets as `${NAME}`, as an operator's would; `ENV` holds the doubles' values.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from detector import channels as channel_kinds
from detector.channels.base import Channel
from detector.clock import Clock
from detector.config import parse_config
from detector.config.models import Config, Subscriber
from detector.config.subscribers import load_subscribers
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.store import OutboxRow, Store
from probes.base import Result
from tests.doubles.sendgrid_double import DEFAULT_KEY
from tests.doubles.twilio_double import DEFAULT_SID, DEFAULT_TOKEN
from tests.e2e.harness import SECRET
from tests.notices.factory import IMPACTS

ENV = {
    "SENDGRID_API_KEY": DEFAULT_KEY,
    "TWILIO_ACCOUNT_SID": DEFAULT_SID,
    "TWILIO_AUTH_TOKEN": DEFAULT_TOKEN,
    "WEBHOOK_SECRET": SECRET,
}
SERVICE = {
    "name": "Acme Cloud",
    "status_page_url": "https://status.acme.example/",
    "timezone": "Europe/Warsaw",
    "locale": "en",
    "contact": {
        "name": "Jane Doe, Head of Operations",
        "email": "ops@acme.example",
        "phone": "+48 22 555 0100",
    },
    "report_within": "5d",
}
CONTACT = "Jane Doe, Head of Operations"
STATUS_PAGE = "https://status.acme.example/"
IMPACT = IMPACTS["en"]
# What a probe knows and a customer must never read (CONTRACT §7.3).
API_HOST, API_PORT, DB_HOST, DB_PORT = "api.internal.acme.example", 8443, "db.internal.acme", 5432
TECHNICAL = (
    API_HOST,
    str(API_PORT),
    DB_HOST,
    str(DB_PORT),
    "127.0.0.1",
    "503",
    "api-health",
    "web-login",
    "HTTP ",
)
DOWN = Result(False, 0.041, f"HTTP 503 from {API_HOST}:{API_PORT} in 41 ms")
COMPONENTS: list[dict[str, Any]] = [
    {
        "id": "api",
        "name": "Public API",
        "impact": IMPACTS,
        "probes": [
            {
                "name": "api-health",
                "http": {
                    "url": f"https://{API_HOST}:{API_PORT}/healthz",
                    "expect": {"status": [200]},
                },
            }
        ],
    },
    {
        "id": "web",
        "name": "Dashboard",
        "impact": {
            "en": "You cannot sign in to the dashboard.",
            "pl": "Nie mogą Państwo zalogować się do panelu.",
            "fr": "Vous ne pouvez pas vous connecter au tableau de bord.",
            "ar": "لا يمكنكم تسجيل الدخول إلى لوحة التحكم.",
            "id": "Anda tidak dapat masuk ke dasbor.",
        },
        "probes": [{"name": "web-login", "tcp": {"host": DB_HOST, "port": DB_PORT}}],
    },
]


def channel_configs(
    *, sendgrid: str | None = None, twilio: str | None = None, webhook: str | None = None
) -> list[dict[str, Any]]:
    """Channel entries pointed at local doubles by `api_base` (webhook: its url)."""
    out: list[dict[str, Any]] = []
    if webhook is not None:
        out.append({"type": "webhook", "url": webhook, "secret": "${WEBHOOK_SECRET}"})
    if sendgrid is not None:
        out.append(
            {
                "type": "sendgrid",
                "api_key": "${SENDGRID_API_KEY}",
                "from": "status@acme.example",
                "api_base": sendgrid,
            }
        )
    if twilio is not None:
        out.append(
            {
                "type": "twilio",
                "account_sid": "${TWILIO_ACCOUNT_SID}",
                "auth_token": "${TWILIO_AUTH_TOKEN}",
                "from": "+15550100",
                "api_base": twilio,
            }
        )
    return out


def build_config(
    tmp: Path, channels: list[dict[str, Any]], subscribers: list[dict[str, Any]], **over: Any
) -> Config:
    raw: dict[str, Any] = {
        "service": SERVICE,
        "storage": {"url": f"sqlite:///{tmp / 'delivery.db'}"},
        "detection": {
            "interval": "10s",
            "failures_to_confirm": 3,
            "recheck_interval": "1s",
            "successes_to_recover": 2,
            "stable_for": "5m",
        },
        "cadence": {"major_outage": "15m", "partial_outage": "30m", "degraded": "60m"},
        "components": COMPONENTS,
        "subscribers": subscribers,
        "channels": channels,
        **over,
    }
    return parse_config(yaml.safe_dump(raw, allow_unicode=True), env=ENV)


def crowd(
    n: int,
    *,
    email: bool = True,
    phone: bool = True,
    locales: Sequence[str] = ("en",),
    zones: Sequence[str] = ("",),
    start: int = 0,
) -> list[dict[str, str]]:
    """n distinct subscribers, spread over locales × zones (each pair is one outbox group)."""
    pairs = itertools.cycle(itertools.product(locales, zones))
    out = []
    for i, (locale, zone) in zip(range(start, start + n), pairs, strict=False):
        out.append(
            {
                "name": f"Customer {i}",
                "email": f"c{i}@customers.example" if email else "",
                "phone": f"+4822{i:07d}" if phone else "",
                "locale": locale,
                "timezone": zone,
                "components": "",
            }
        )
    return out


def write_csv(path: Path, rows: Iterable[dict[str, str]]) -> Path:
    columns = ["name", "email", "phone", "locale", "timezone", "components"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


@dataclass
class Stack:
    config: Config
    store: Store
    engine: Engine
    worker: OutboxWorker
    metrics: Metrics
    channels: list[Channel]
    clock: Clock

    @classmethod
    async def start(
        cls,
        config: Config,
        base_dir: Path,
        clock: Clock,
        *,
        channels: list[Channel] | None = None,
        **worker: Any,
    ) -> Stack:
        store = Store(config.storage.url)
        await store.open()
        metrics = Metrics()
        chans = channels if channels is not None else channel_kinds.build(config)
        outbox = OutboxWorker(store, chans, metrics, clock, **worker)
        subscribers: list[Subscriber] = load_subscribers(config, base_dir)
        engine = Engine(
            config,
            store,
            chans,
            subscribers,
            metrics,
            clock,
            wake_outbox=outbox.wake,
            enqueue=outbox.enqueue,
        )
        await engine.load()
        outbox.start()
        return cls(config, store, engine, outbox, metrics, chans, clock)

    async def outage(self, component: str, step: float = 0.0) -> None:
        """Every probe of the component fails until confirmed; the decision is committed."""
        probes = [p.name for p in self.config.component(component).probes]
        for _ in range(self.config.detection.failures_to_confirm):
            for name in probes:
                self.engine.on_result(name, DOWN, self.clock.now())
            if step:
                self.clock.advance(step)  # type: ignore[attr-defined]
        await self.engine.drain()

    async def rows(self, channel: str | None = None) -> list[OutboxRow]:
        rows = await self.store.outbox_rows()
        return [r for r in rows if channel is None or r.channel == channel]

    async def all_sent(self) -> bool:
        rows = await self.rows()
        return bool(rows) and all(r.state == "sent" for r in rows)

    def count(self, channel: str, event: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "detector_notices_total", {"channel": channel, "event": event, "outcome": outcome}
        )
        return value or 0.0

    async def close(self) -> None:
        await self.worker.stop(1.0)
        for ch in self.channels:
            await ch.close()
        await self.store.close()
