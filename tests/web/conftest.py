"""A real app on 127.0.0.1: real Store (SQLite in tmp), real Engine, fake clock, and a client
that checks every JSON response against the OpenAPI document as it arrives."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator

from detector.channels.base import Channel, Delivery, Envelope
from detector.config import Config, parse_config
from detector.config.models import Subscriber
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.store import IncidentRow, Store
from detector.web.app import Services, create_app
from detector.web.openapi import document
from probes.base import Result
from tests.clock import FakeClock

TOKEN = "test-admin-token-0123456789"
START = 1_800_000_000.0  # 2027-01-15, a Friday
UP = Result(True, 0.01, "HTTP 200 in 10 ms")
DOWN = Result(False, 0.01, "HTTP 503 in 10 ms")
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"


class Recording:
    """A webhook-like channel that accepts everything and remembers it."""

    name = "recording"
    kind = "webhook"
    max_batch = 0
    concurrency = 1

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def wants(self, event: str) -> bool:
        return True

    async def send(self, envelope: Envelope) -> Delivery:
        self.envelopes.append(envelope)
        return Delivery(True)

    async def close(self) -> None:
        return None


def make_config(tmp: Path, **options: Any) -> Config:
    return parse_config(yaml.safe_dump(raw_config(tmp, **options)), env={"ADMIN": TOKEN})


def raw_config(
    tmp: Path,
    *,
    token: bool = True,
    channels: list[dict[str, Any]] | None = None,
    hold: str | None = None,
    **service: Any,
) -> dict[str, Any]:
    """The YAML an operator would write (the admin token comes from $ADMIN)."""
    raw: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "timezone": "Europe/Warsaw",
            "locale": "en",
            "status_page_url": "https://status.acme.example/",
            "contact": {
                "name": "Jane Doe, Head of Operations",
                "email": "ops@acme.example",
                "phone": "+48 22 555 0100",
            },
            **service,
        },
        "server": {
            "listen": "127.0.0.1:0",
            **({"admin_token": "${ADMIN}", "alertmanager_token": "${ADMIN}"} if token else {}),
        },
        "storage": {"url": f"sqlite:///{tmp / 'detector.db'}"},
        # group_within 0: each component its own incident, as these tests of the public face
        # expect (grouping is tested in tests/incidents/test_one_story.py)
        "detection": {
            "interval": "10s",
            "failures_to_confirm": 3,
            "recheck_interval": "1s",
            "successes_to_recover": 2,
            "stable_for": "5m",
            "group_within": "0s",
        },
        "cadence": {"major_outage": "15m", "partial_outage": "30m", "degraded": "60m"},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "alerts": {"matchers": ['service="api"', 'severity=~"page|critical"']},
                "probes": [
                    {"name": "api-a", "tcp": {"host": "127.0.0.1", "port": 1}},
                    {"name": "api-b", "tcp": {"host": "127.0.0.1", "port": 2}},
                ],
            },
            {
                "id": "web",
                "name": "Dashboard",
                "impact": "You cannot sign in to the dashboard.",
                "probes": [{"name": "web", "tcp": {"host": "127.0.0.1", "port": 3}}],
            },
        ],
        "channels": channels or [],
    }
    if hold:
        raw["notify"] = {"hold": hold}
    return raw


@dataclass
class Resp:
    status: int
    headers: Any
    text: str
    body: Any = None


@dataclass
class World:
    config: Config
    store: Store
    engine: Engine
    clock: FakeClock
    client: TestClient[web.Request, web.Application]
    channel: Recording
    raw: dict[str, Any] | None = None
    doc: dict[str, Any] = field(default_factory=document)
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.client.make_url("/"))

    async def feed(self, probe: str, result: Result, n: int = 1, step: float = 1.0) -> None:
        for _ in range(n):
            self.engine.on_result(probe, result, self.clock.now())
            await self.engine.drain()
            self.clock.advance(step)

    async def outage(self, component: str = "web") -> IncidentRow:
        for probe in self.config.component(component).probes:
            await self.feed(probe.name, DOWN, 3)
        inc = next(i for i in self.engine.open_incidents() if component in i.component_ids)
        return inc

    async def recover(self, component: str = "web") -> None:
        for probe in self.config.component(component).probes:
            await self.feed(probe.name, UP, 2)
        self.clock.advance(301)
        await self.engine.tick()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Resp:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.client.request(method, path, headers=hdrs, **kw) as r:
            text = await r.text()
            resp = Resp(r.status, r.headers, text)
            if r.content_type == "application/json":
                resp.body = json.loads(text)
                self.validate(method, path, r.status, resp.body)
        return resp

    async def get(self, path: str, **kw: Any) -> Resp:
        return await self.call("GET", path, **kw)

    async def post(
        self, path: str, body: Any = None, *, token: str | None = TOKEN, **kw: Any
    ) -> Resp:
        if body is not None and "data" not in kw:
            kw["json"] = body
        return await self.call("POST", path, token=token, **kw)

    def validate(self, method: str, path: str, status: int, body: Any) -> None:
        """Every JSON response must be documented, and must match its documented schema."""
        bare = path.split("?")[0]
        for template, ops in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, bare) and method.lower() in ops:
                responses = ops[method.lower()]["responses"]
                assert str(status) in responses, f"{method} {template} {status} not documented"
                schema = responses[str(status)]["content"]["application/json"]["schema"]
                root = {**schema, "components": self.doc["components"]}
                Draft202012Validator(
                    root, format_checker=Draft202012Validator.FORMAT_CHECKER
                ).validate(body)
                self.checked.append((method, template, status))
                return
        raise AssertionError(f"{method} {bare} is not in the OpenAPI document")


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[MakeWorld]:
    made: list[tuple[World, Store]] = []

    async def build(
        *,
        channels: list[Channel] | None = None,
        subscribers: list[Subscriber] | None = None,
        config: Config | None = None,
        **options: Any,
    ) -> World:
        home = tmp_path / f"world{len(made)}"  # one store per world
        home.mkdir()
        raw = None if config else raw_config(home, **options)
        cfg = config or parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN})
        store = Store(cfg.storage.url)
        await store.open()
        clock = FakeClock(START)
        recording = Recording()
        engine = Engine(
            cfg,
            store,
            channels if channels is not None else [recording],
            subscribers or [],
            Metrics(),
            clock,
        )
        await engine.load()
        app = create_app(Services(cfg, store, engine, Metrics()))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        world = World(cfg, store, engine, clock, client, recording, raw)
        made.append((world, store))
        return world

    yield build
    for world, store in made:
        await world.client.close()
        await store.close()
