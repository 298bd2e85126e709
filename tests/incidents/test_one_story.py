"""Issue 9, "one outage, one story": components that fail together share one incident, a
severity settles for one re-check round before it is said, and a person's status sticks.

The engine with a fake clock and a real SQLite store, as in test_engine.py; notices and
e-mail rows are read back from the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.channels.base import Channel
from detector.config import Config, parse_config
from detector.config.models import Subscriber
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.store import Store
from probes.base import Result
from tests.clock import FakeClock
from tests.fakes import Accepting

UP = Result(True, 0.01, "HTTP 200 in 10 ms")
DOWN = Result(False, 0.01, "HTTP 503 in 10 ms")
NAMES = {"api": "Public API", "web": "Dashboard", "pay": "Payments"}


def config(tmp: Path) -> Config:
    raw: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "timezone": "UTC",
            "status_page_url": "https://status.acme.example/",
            "contact": {"name": "Jane Doe", "email": "ops@acme.example"},
        },
        "storage": {"url": f"sqlite:///{tmp / 'e.db'}"},
        "detection": {
            "interval": "10s",
            "failures_to_confirm": 3,
            "recheck_interval": "1s",
            "successes_to_recover": 2,
            "stable_for": "5m",
            "group_within": "2m",
        },
        "cadence": {"major_outage": "15m", "partial_outage": "30m", "degraded": "60m"},
        "components": [
            {
                "id": "api",
                "name": NAMES["api"],
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": "api-a", "tcp": {"host": "127.0.0.1", "port": 1}},
                    {"name": "api-b", "tcp": {"host": "127.0.0.1", "port": 2}},
                ],
            },
            {
                "id": "web",
                "name": NAMES["web"],
                "impact": "You cannot sign in.",
                "probes": [{"name": "web", "tcp": {"host": "127.0.0.1", "port": 3}}],
            },
            {
                "id": "pay",
                "name": NAMES["pay"],
                "impact": "Payments fail.",
                "probes": [{"name": "pay", "tcp": {"host": "127.0.0.1", "port": 4}}],
            },
        ],
    }
    return parse_config(yaml.safe_dump(raw), env={})


# the engine, its clock, its store, and the re-checks it asked for
World = tuple[Engine, FakeClock, Store, list[list[str]]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    cfg = config(tmp_path)
    store = Store(cfg.storage.url)
    await store.open()
    clock = FakeClock(1_800_000_000.0)
    subs = [
        Subscriber(name="Both", email="both@x.example", components=["api", "web", "pay"]),
        Subscriber(name="Web", email="web@x.example", components=["web"]),
    ]
    channels: list[Channel] = [Accepting("hook"), Accepting("mail", "sendgrid", max_batch=10)]
    asked: list[list[str]] = []
    engine = Engine(cfg, store, channels, subs, Metrics(), clock, request_checks=asked.append)
    await engine.load()
    yield engine, clock, store, asked
    await store.close()


async def step(
    engine: Engine, clock: FakeClock, results: dict[str, Result], seconds: float = 1.0
) -> None:
    for name, result in results.items():
        engine.on_result(name, result, clock.now())
    await engine.drain()
    clock.advance(seconds)
    await engine.tick()


async def notices(store: Store) -> list[Any]:
    incs = await store.incidents()
    by = await store.notices(i.id for i in incs)
    return sorted((n for ns in by.values() for n in ns), key=lambda n: (n.published_at, n.sequence))


async def mails(store: Store, email: str) -> list[Any]:
    return [
        r
        for r in await store.outbox_rows()
        if r.channel == "mail" and any(p["email"] == email for p in r.recipients)
    ]


async def test_probes_out_of_phase_give_one_opened_stating_the_full_outage(world: World) -> None:
    engine, clock, store, asked = world
    # api-a fails first; its sibling is asked to check at once, and fails a moment later
    await step(engine, clock, {"api-a": DOWN}, 0.3)
    assert ["api-b"] in asked
    await step(engine, clock, {"api-b": DOWN, "api-a": DOWN}, 0.3)
    await step(engine, clock, {"api-a": DOWN}, 0.3)  # api-a confirmed: partial, settling
    assert await notices(store) == []
    await step(engine, clock, {"api-b": DOWN}, 0.3)
    await step(engine, clock, {"api-b": DOWN}, 0.3)  # api-b confirmed: major, said at once
    ns = await notices(store)
    assert [(n.kind, n.severity) for n in ns] == [("opened", "major_outage")]
    # recovery out of phase: one "working again", not "progress" then "working"
    await step(engine, clock, {"api-a": UP}, 0.3)
    assert ["api-b"] in asked[-2:]
    await step(engine, clock, {"api-a": UP, "api-b": UP}, 0.3)  # api-a recovered: partial
    await step(engine, clock, {"api-b": UP}, 0.3)  # api-b recovered: all working
    ns = await notices(store)
    assert [n.kind for n in ns] == ["opened", "monitoring"]
    clock.advance(300)
    await engine.tick()
    assert [n.kind for n in await notices(store)] == ["opened", "monitoring", "resolved"]


async def test_a_partial_outage_is_said_once_every_probe_has_spoken(world: World) -> None:
    engine, clock, store, _ = world
    for _ in range(3):
        await step(engine, clock, {"api-a": DOWN}, 0.2)
    assert await notices(store) == []  # api-b has not been checked since: it may fail too
    await step(engine, clock, {"api-b": UP}, 0.2)  # it answers: a partial outage, said now
    assert [(n.kind, n.severity) for n in await notices(store)] == [("opened", "partial_outage")]


async def test_without_an_answer_the_partial_outage_is_said_after_the_bound(world: World) -> None:
    engine, clock, store, _ = world
    for _ in range(3):
        await step(engine, clock, {"api-a": DOWN}, 0.2)
    clock.advance(engine.settle_bound)
    await engine.tick()
    assert [(n.kind, n.severity) for n in await notices(store)] == [("opened", "partial_outage")]


async def test_components_failing_together_share_one_incident(world: World) -> None:
    engine, clock, store, _ = world
    for _ in range(3):
        await step(engine, clock, {"api-a": DOWN, "api-b": DOWN, "web": DOWN}, 1.0)
    [inc] = await store.incidents()
    assert sorted(inc.component_ids) == ["api", "web"]
    ns = await notices(store)
    # one notice per stage; the subscriber of both gets one e-mail per stage naming both
    assert [n.kind for n in ns] == ["opened"] or [n.kind for n in ns] == ["opened", "expanded"]
    both = await mails(store, "both@x.example")
    assert len(both) == len(ns)
    assert all(
        NAMES["api"] in r.message["text"] and NAMES["web"] in r.message["text"] for r in both[-1:]
    )
    # a third component joins a minute later: one update
    clock.advance(60)
    for _ in range(3):
        await step(engine, clock, {"pay": DOWN}, 1.0)
    [inc] = await store.incidents()
    assert sorted(inc.component_ids) == ["api", "pay", "web"]
    ns = await notices(store)
    assert ns[-1].kind == "expanded"
    assert NAMES["pay"] in ns[-1].text
    # it recovers and resolves when all of them have
    for _ in range(2):
        await step(engine, clock, {"api-a": UP, "api-b": UP, "web": UP}, 1.0)
    assert (await store.incidents())[0].status != "monitoring"
    for _ in range(2):
        await step(engine, clock, {"pay": UP}, 1.0)
    assert (await store.incidents())[0].status == "monitoring"
    # the subscriber of web alone hears every stage once, from the one that named web
    web = await mails(store, "web@x.example")
    ns = await notices(store)
    named = next(i for i, n in enumerate(ns) if NAMES["web"] in n.text)
    assert [r.notice_id for r in web] == [n.id for n in ns[named:]]


async def test_outside_group_within_is_a_new_incident(world: World) -> None:
    engine, clock, store, _ = world
    for _ in range(3):
        await step(engine, clock, {"web": DOWN}, 1.0)
    clock.advance(180)
    for _ in range(3):
        await step(engine, clock, {"pay": DOWN}, 1.0)
    assert len(await store.incidents()) == 2


async def test_a_persons_status_sticks_through_an_automatic_change(world: World) -> None:
    engine, clock, store, _ = world
    for _ in range(3):
        await step(engine, clock, {"api-a": DOWN, "api-b": DOWN}, 1.0)
    [inc] = engine.open_incidents()
    await engine.human_update(inc.id, "We know what it is.", status="identified")
    for _ in range(2):  # api-a comes back: partial outage, an automatic change
        await step(engine, clock, {"api-a": UP}, 1.0)
    clock.advance(1.0)
    await engine.tick()
    ns = await notices(store)
    assert [n.kind for n in ns][-1] == "severity_changed"
    assert ns[-1].severity == "partial_outage" and ns[-1].status == "identified"
    assert engine.open_incidents()[0].status == "identified"
