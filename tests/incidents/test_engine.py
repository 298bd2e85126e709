"""The engine with a fake clock and a real SQLite store: no sleeps, every decision observable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
SLOW = Result(True, 1.2, "slow: 1.2 s > 800 ms", soft_fail=True)


def config(tmp: Path, **over: Any) -> Config:
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
        },
        "cadence": {"major_outage": "15m", "partial_outage": "30m", "degraded": "60m"},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": "api-a", "tcp": {"host": "127.0.0.1", "port": 1}},
                    {"name": "api-b", "tcp": {"host": "127.0.0.1", "port": 2}},
                ],
            },
            {
                "id": "web",
                "name": "Dashboard",
                "impact": "You cannot sign in.",
                "probes": [{"name": "web", "tcp": {"host": "127.0.0.1", "port": 3}}],
            },
        ],
    }
    raw.update(over)
    return parse_config(yaml.safe_dump(raw), env={})


# make(subscribers=None, **config_overrides) → (engine, clock, store)
Make = Callable[..., Awaitable[tuple[Engine, FakeClock, Store]]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    stores: list[Store] = []

    async def build(
        subscribers: list[Subscriber] | None = None, **over: Any
    ) -> tuple[Engine, FakeClock, Store]:
        cfg = config(tmp_path, **over)
        store = Store(cfg.storage.url)
        await store.open()
        stores.append(store)
        clock = FakeClock(1_800_000_000.0)
        channels: list[Channel] = [Accepting("hook"), Accepting("mail", "sendgrid", max_batch=2)]
        engine = Engine(cfg, store, channels, subscribers or [], Metrics(), clock)
        await engine.load()
        return engine, clock, store

    yield build
    for s in stores:
        await s.close()


async def feed(
    engine: Engine, clock: FakeClock, probe: str, result: Result, n: int = 1, step: float = 1.0
) -> None:
    """Results at `now`, decided a little later, as in the daemon."""
    for _ in range(n):
        engine.on_result(probe, result, clock.now())
        clock.advance(0.01)
        await engine.drain()
        clock.advance(step - 0.01)


async def settle(engine: Engine, clock: FakeClock, round_: float = 4.0) -> None:
    """The settling bound passes ((3 failures + 1) × 1 s re-check): a change that waited for
    probes not yet checked is said now (issue 9)."""
    clock.advance(round_)
    await engine.tick()


async def notices(store: Store) -> list[Any]:
    incs = await store.incidents()
    by = await store.notices(i.id for i in incs)
    return sorted((n for ns in by.values() for n in ns), key=lambda n: n.published_at)


async def test_cadence_every_update_promises_the_next(make: Make) -> None:
    engine, clock, store = await make()
    for _ in range(3):
        for p in ("api-a", "api-b"):
            engine.on_result(p, DOWN, clock.now())
    await engine.drain()
    ns = await notices(store)
    assert [n.kind for n in ns] == ["opened"]
    assert ns[0].severity == "major_outage"
    assert ns[0].next_update_at == pytest.approx(clock.now() + 900)
    for i in range(3):
        clock.t = ns[-1].next_update_at - 0.5
        await engine.tick()
        assert len(await notices(store)) == i + 1  # not early
        clock.t = ns[-1].next_update_at
        await engine.tick()
        ns = await notices(store)
        assert ns[-1].kind == "update" and ns[-1].published_at == ns[-2].next_update_at
    assert len(ns) == 4


async def test_partial_then_major_publishes_at_once(make: Make) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "api-a", DOWN, 3)
    assert await notices(store) == []  # api-b not checked since: it may follow
    await settle(engine, clock)
    ns = await notices(store)
    assert [(n.kind, n.severity) for n in ns] == [("opened", "partial_outage")]
    assert ns[0].next_update_at == pytest.approx(ns[0].published_at + 1800)
    await feed(engine, clock, "api-b", DOWN, 3)
    ns = await notices(store)
    assert [(n.kind, n.severity) for n in ns][-1] == ("severity_changed", "major_outage")
    assert ns[-1].next_update_at == pytest.approx(ns[-1].published_at + 900)


async def test_degraded_component(make: Make) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "web", SLOW, 3)
    await settle(engine, clock)
    ns = await notices(store)
    assert [(n.kind, n.severity) for n in ns] == [("opened", "degraded")]
    assert engine.severity("web") == "degraded"


async def test_recovery_monitoring_then_resolved_with_report_promise(make: Make) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "web", DOWN, 3)
    await feed(engine, clock, "web", UP, 2)
    ns = await notices(store)
    assert [n.kind for n in ns] == ["opened", "monitoring"]
    recovered = ns[-1].published_at
    assert ns[-1].facts["report_by"] == pytest.approx(recovered + 5 * 86400)
    assert ns[-1].next_update_at == pytest.approx(recovered + 300)  # stable_for < cadence
    clock.t = recovered + 299
    await engine.tick()
    assert len(await notices(store)) == 2
    clock.t = recovered + 300
    await engine.tick()
    ns = await notices(store)
    assert ns[-1].kind == "resolved" and ns[-1].next_update_at is None
    assert engine.open_incidents() == []


async def test_recurrence_reopens_same_incident(make: Make) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "web", DOWN, 3)
    await feed(engine, clock, "web", UP, 2)
    await feed(engine, clock, "web", DOWN, 3)
    incs = await store.incidents()
    assert len(incs) == 1
    assert [n.kind for n in await notices(store)] == ["opened", "monitoring", "recurred"]


async def test_restart_resumes_without_second_incident(make: Make, tmp_path: Path) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "web", DOWN, 3)
    first = await notices(store)
    engine2 = Engine(engine.config, store, engine.channels, [], Metrics(), clock)
    await engine2.load()
    await feed(engine2, clock, "web", DOWN, 5)  # still down: nothing new
    assert len(await store.incidents()) == 1
    clock.t = first[0].next_update_at
    await engine2.tick()
    assert [n.kind for n in await notices(store)] == ["opened", "update"]


async def test_subscribers_only_of_affected_components(make: Make) -> None:
    subs = [
        Subscriber(name="A", email="a@x.example", components=["api"]),
        Subscriber(name="B", email="b@x.example", components=["web"]),
        Subscriber(name="C", email="c@x.example"),
        Subscriber(name="D", email="d@x.example", locale="fr"),
        Subscriber(name="E", phone="+33155550111", components=["api"]),
    ]
    engine, clock, store = await make(subs)
    await feed(engine, clock, "web", DOWN, 3)
    rows = [r for r in await store.outbox_rows() if r.channel == "mail"]
    got = sorted(rcp["name"] for r in rows for rcp in r.recipients)
    assert got == ["B", "C", "D"]
    assert {r.message["locale"] for r in rows} == {"en", "fr"}
    assert all(len(r.recipients) <= 2 for r in rows)


async def test_controls_failing_declare_nothing(make: Make) -> None:
    controls = [{"name": "ctl", "tcp": {"host": "127.0.0.1", "port": 9}}]
    engine, clock, store = await make(controls=controls)
    asked: list[int] = []
    engine.request_controls = lambda: asked.append(1)
    # our own network dies: control and targets fail together
    for _ in range(4):
        for p in ("ctl", "web", "api-a", "api-b"):
            engine.on_result(p, DOWN, clock.now())
        await engine.drain()
        clock.advance(1)
    assert asked  # the first target failure asked for a control re-check
    assert await store.incidents() == []
    assert engine.metrics.control_ok._value.get() == 0
    internal = [r for r in await store.outbox_rows() if r.event == "detector.degraded"]
    assert len(internal) == 1 and internal[0].channel == "hook"
    # network back, the targets really are down: now it is an outage
    await feed(engine, clock, "ctl", UP, 2)
    # one outage over both components: one incident (detection.group_within)
    [inc] = await store.incidents()
    assert sorted(inc.component_ids) == ["api", "web"]


async def test_targets_wait_for_a_fresh_control_word(make: Make) -> None:
    controls = [{"name": "ctl", "tcp": {"host": "127.0.0.1", "port": 9}}]
    engine, clock, store = await make(controls=controls)
    await feed(engine, clock, "ctl", UP)  # an old word
    await feed(engine, clock, "web", DOWN, 3)
    assert await store.incidents() == []  # control not heard since the trouble began
    await feed(engine, clock, "ctl", UP)
    assert len(await store.incidents()) == 1


async def test_hold_then_publish_or_veto(make: Make) -> None:
    engine, clock, store = await make(notify={"hold": "2m"})
    await feed(engine, clock, "web", DOWN, 3)
    inc = engine.open_incidents()[0]
    assert inc.held_until is not None
    assert await notices(store) == []
    pending = [r for r in await store.outbox_rows() if r.event == "incident.pending"]
    assert len(pending) == 1
    clock.t = inc.held_until
    await engine.tick()
    assert [n.kind for n in await notices(store)] == ["opened"]
    # a second incident (past group_within of the first), vetoed
    await feed(engine, clock, "api-a", DOWN, 3)
    await feed(engine, clock, "api-b", DOWN, 3)
    api = next(i for i in engine.open_incidents() if i.component_ids == ["api"])
    await engine.veto(api.id)
    clock.advance(600)
    await engine.tick()
    assert [n.incident_id for n in await notices(store)] == [inc.id]
    with pytest.raises(ValueError):
        await engine.veto(inc.id)


async def test_maintenance_suppresses_and_is_announced(make: Make) -> None:
    engine, clock, store = await make()
    now = clock.now()
    m = await engine.schedule_maintenance("Database upgrade", ["web"], now + 60, now + 600)
    clock.t = now + 60
    await engine.tick()
    await feed(engine, clock, "web", DOWN, 3)
    assert await store.incidents() == []
    clock.t = now + 600
    await engine.tick()
    rows = await store.outbox_rows()
    assert [r.event for r in rows if r.channel == "hook"] == [
        "maintenance.scheduled",
        "maintenance.started",
        "maintenance.ended",
        "incident.opened",
    ]  # still down after the window: now it is an outage
    # memory is replaced after each commit, never edited live: read the stored row
    [stored] = [r for r in await store.maintenance_rows() if r.id == m.id]
    assert stored.announced == 3
    with pytest.raises(ValueError, match="components"):
        await engine.schedule_maintenance("x", ["nope"], now + 1, now + 2)


async def test_human_update_cause_resolve_and_postmortem(make: Make) -> None:
    engine, clock, store = await make()
    await feed(engine, clock, "web", DOWN, 3)
    inc = engine.open_incidents()[0]
    await engine.set_cause(inc.id, "A full disk on the database server.")
    await engine.human_update(inc.id, "We are moving the database to a bigger disk.")
    await engine.resolve(inc.id, "All fixed.")
    with pytest.raises(KeyError):
        await engine.resolve(inc.id)
    await engine.publish_postmortem(inc.id)
    kinds = [n.kind for n in await notices(store)]
    assert kinds == ["opened", "identified", "human", "resolved", "postmortem"]
    stored = await store.incident(inc.id)
    assert stored is not None and stored.status == "resolved" and stored.cause
    manual = await engine.open_manual("Billing e-mails delayed", ["api"], "degraded")
    assert manual.manual and manual in engine.open_incidents()


VENDORED = [
    {
        "id": "payments",
        "name": "Payments",
        "impact": "Card payments cannot be taken.",
        "vendor": "Stripe",
        "probes": [
            {"name": "checkout", "tcp": {"host": "127.0.0.1", "port": 4}},
            {"name": "stripe-status", "statuspage": {"url": "http://127.0.0.1:5"}},
        ],
    }
]
VENDOR_DOWN = Result(False, 0.0, "Stripe: major outage", severity="major_outage")


async def test_the_vendor_is_named_only_while_its_own_status_fails(make: Make) -> None:
    """Our checkout failing proves nothing about Stripe: the notice owns it without naming
    them. Once Stripe's own status page says it fails too, the next notice may name them."""
    engine, clock, store = await make(components=VENDORED)
    await feed(engine, clock, "stripe-status", UP)
    await feed(engine, clock, "checkout", DOWN, 3)
    await settle(engine, clock)
    [opened] = await notices(store)
    assert opened.kind == "opened"
    assert "Stripe" not in opened.subject + opened.text
    await feed(engine, clock, "stripe-status", VENDOR_DOWN, 3)
    await settle(engine, clock)
    clock.advance(15 * 60)
    await engine.tick()
    later = (await notices(store))[1:]
    assert later and all("Stripe" in n.text for n in later), [n.text for n in later]
    (inc,) = await store.open_incidents()
    assert inc.vendor == "Stripe"  # the webhook's incident still says which vendor is behind it
