"""The post-mortem draft of a real incident (engine, SQLite store, outbox worker, fake clock):
every section, with the recorded times."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from detector.channels.base import Channel
from detector.config.models import Subscriber
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.postmortem import build_postmortem, cell, duration, md, promises
from detector.store import NoticeRow, Store
from probes.base import Result
from tests.clock import FakeClock
from tests.fakes import Accepting
from tests.web.conftest import START, make_config

DOWN = Result(False, 0.01, "HTTP 503 in 10 ms")
UP = Result(True, 0.01, "HTTP 200 in 10 ms")
WARSAW = ZoneInfo("Europe/Warsaw")


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, WARSAW).strftime("%Y-%m-%d %H:%M:%S %Z")


World = tuple[Engine, FakeClock, Store, list[Channel]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    cfg = make_config(tmp_path)
    store = Store(cfg.storage.url)
    await store.open()
    clock = FakeClock(START)
    channels: list[Channel] = [Accepting("hook"), Accepting("mail", "sendgrid", max_batch=10)]
    subs = [
        Subscriber(name="Globex", email="ops@globex.example"),
        Subscriber(name="Initech", email="it@initech.example", locale="pl"),
    ]
    engine = Engine(cfg, store, channels, subs, Metrics(), clock)
    await engine.load()
    yield engine, clock, store, channels
    await store.close()


async def deliver(store: Store, channels: list[Channel], clock: FakeClock, after: float) -> None:
    """Let the channels accept everything pending, `after` seconds from now (fake time)."""
    clock.advance(after)
    worker = OutboxWorker(store, channels, Metrics(), clock, poll=0.01)
    worker.start()
    for _ in range(500):
        if not (await store.outbox_counts()).get("pending"):
            break
        await asyncio.sleep(0.01)
    await worker.stop(1)
    assert not (await store.outbox_counts()).get("pending")


async def feed(engine: Engine, clock: FakeClock, result: Result, n: int) -> None:
    for _ in range(n):
        engine.on_result("web", result, clock.now())
        await engine.drain()
        clock.advance(1)


async def test_draft_of_a_real_incident(world: World) -> None:
    engine, clock, store, channels = world
    await feed(engine, clock, DOWN, 3)  # first failed check at START, confirmed at START+2
    inc = engine.open_incidents()[0]
    assert inc.started_at == START and inc.detected_at == START + 2
    await deliver(store, channels, clock, after=2)  # accepted 5 s after the first failure

    draft = await build_postmortem(store, engine.config, inc.id, clock.now())
    assert "## Cause\n\n_To be written_" in draft
    assert "## Corrective actions\n\n_To be written_" in draft
    assert "it is not over yet" in draft

    n1 = (await store.notices([inc.id]))[inc.id][0]
    assert n1.next_update_at is not None
    clock.t = n1.next_update_at
    await engine.tick()  # on time
    await deliver(store, channels, clock, after=1)
    n2 = (await store.notices([inc.id]))[inc.id][-1]
    assert n2.next_update_at is not None
    clock.t = n2.next_update_at + 600
    await engine.tick()  # ten minutes late
    await deliver(store, channels, clock, after=1)
    await engine.set_cause(inc.id, "A full disk on <db-1>.")
    await feed(engine, clock, UP, 2)
    recovered = engine.open_incidents()[0].recovered_at
    assert recovered is not None
    clock.t = recovered + 300
    await engine.tick()
    await deliver(store, channels, clock, after=1)

    stored = await store.incident(inc.id)
    assert stored is not None and stored.resolved_at is not None
    notices = (await store.notices([inc.id]))[inc.id]
    assert [n.kind for n in notices] == [
        "opened",
        "update",
        "update",
        "identified",
        "monitoring",
        "resolved",
    ]
    draft = await build_postmortem(store, engine.config, inc.id, clock.now())

    for heading in (
        "# Post-mortem: Dashboard",
        "## Executive summary",
        "## Customer impact",
        "## Timeline",
        "## Cause",
        "## Corrective actions",
        "## Detection and communication",
    ):
        assert heading in draft, heading
    assert "Times are in Europe/Warsaw" in draft
    assert f"| {at(START)} | First failed check |" in draft
    assert f"| {at(START + 2)} | Outage confirmed by the probes |" in draft
    for n in notices:
        assert f"| {at(n.published_at)} | Notice {n.sequence} published" in draft
    assert f"| {at(recovered)} | Probes recovered; monitoring |" in draft
    assert f"| {at(stored.resolved_at)} | Resolved |" in draft
    assert f"From {at(START)} to {at(recovered)}" in draft
    assert "Dashboard was affected by a major outage" in draft
    assert "You cannot sign in to the dashboard." in draft

    assert "**Time to detect:** 2 s" in draft
    assert "**Time to first notice:** 5 s" in draft
    assert f"first at {at(START + 5)}" in draft
    assert "**Subscribers told:** 2" in draft
    assert "4 of 5 promised updates came on time" in draft
    assert "**no**, 10 min late" in draft
    assert "## Cause\n\nA full disk on \\<db-1\\>." in draft  # a person's words, inert
    assert "## Corrective actions\n\n_To be written_" in draft


async def test_unknown_incident(world: World) -> None:
    engine, clock, store, _ = world
    with pytest.raises(KeyError):
        await build_postmortem(store, engine.config, "nope", clock.now())


async def test_manual_incident_says_who_opened_it(world: World) -> None:
    engine, clock, store, _ = world
    inc = await engine.open_manual("Invoices late", ["api"], "degraded", "Invoices are late.")
    await engine.set_cause(inc.id, "A stuck queue.", "Alert on queue age.")
    draft = await build_postmortem(store, engine.config, inc.id, clock.now() + 60)
    assert "Incident opened by a person" in draft and "First failed check" not in draft
    assert "not measured (opened by a person)" in draft
    assert "## Corrective actions\n\nAlert on queue age." in draft
    assert "no channel has accepted the first one yet" in draft


def _notice(seq: int, published: float, nxt: float | None) -> NoticeRow:
    return NoticeRow(
        id=f"i.{seq}",
        incident_id="i",
        sequence=seq,
        event="incident.updated",
        kind="update",
        status="investigating",
        severity="major_outage",
        published_at=published,
        next_update_at=nxt,
        subject="s",
        text="t",
        facts={},
    )


def test_promises_tolerance_is_20_percent_or_60_seconds() -> None:
    ns = [
        _notice(1, 0, 900),
        _notice(2, 900 + 180, 1980),
        _notice(3, 1980 + 181, 2261 + 100),
        _notice(4, 2361 + 60, 9999),
    ]
    got = promises(ns)
    assert [p.on_time for p in got] == [True, False, True, None]
    assert [p.tolerance for p in got[:3]] == [180, 180, 60]


def test_duration_and_markdown_escaping() -> None:
    assert duration(0) == "0 s"
    assert duration(45) == "45 s"
    assert duration(200) == "3 min 20 s"
    assert duration(4320) == "1 h 12 min"
    assert duration(90061) == "1 d 1 h 1 min"
    assert md("<script>x</script> a\\b") == "\\<script\\>x\\</script\\> a\\\\b"


def links(markdown: str) -> list[str]:
    """Every link destination a CommonMark renderer could find in `markdown`; fails on anything
    that could start raw HTML, an autolink, a reference link or a link definition instead."""
    bare = re.sub(r"\\.", "", markdown)  # backslash escapes are literal text
    assert "<" not in bare, markdown
    found = []
    for start in (i for i, ch in enumerate(bare) if ch == "["):
        m = re.compile(r"\[([^\[\]]*)\]\(([^()\s<>]*)\)").match(bare, start)
        assert m is not None, f"a bracket that is not one of our links: {markdown!r}"
        found.append(m.group(2))
    assert bare.count("]") == len(found), markdown
    return found


def safe(url: str) -> bool:
    return re.match(r"(https?|mailto):", url) is not None


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x]( javascript:alert(1) )",
        "[x](<java script:alert(1)>)",
        "[x](java\tscript:alert(1))",
        "[x](java\u200bscript:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](&#x6A;&#x61;vascript:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x](javascript&#58;alert(1))",
        "[x](javascript\\:alert(1))",
        '[x](javascript:alert(1) "title")',
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](file:///etc/passwd)",
        "[x](/relative/path)",
        "[x](//evil.example/)",
        "![x](javascript:alert(1))",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x]\n\n[x]: javascript:alert(1)",
        "<javascript:alert(1)>",
        "<a href='javascript:alert(1)'>x</a>",
        "<img src=x onerror=alert(1)>",
        "[a [x](javascript:alert(1)) b](https://ok.example/)",
        "[x](https://ok.example/) [y](javascript:alert(1))",
    ],
)
def test_only_http_https_and_mailto_links_survive(text: str) -> None:
    out = md(text)
    assert all(safe(u) for u in links(out)), out
    assert all(safe(u) for u in links(cell(text))), cell(text)
    assert "javascript:alert" not in "".join(links(out)).lower()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "See [the runbook](https://wiki.acme.example/runbook).",
            "See [the runbook](https://wiki.acme.example/runbook).",
        ),
        (
            "[Status](HTTP://status.acme.example/?a=1&b=2)",
            "[Status](HTTP://status.acme.example/?a=1&b=2)",
        ),
        ("[Write to us](mailto:ops@acme.example)", "[Write to us](mailto:ops@acme.example)"),
        (
            "[w](https://en.wikipedia.org/wiki/Disk_(computing))",
            "[w](https://en.wikipedia.org/wiki/Disk_%28computing%29)",
        ),
        ("[spaced](<https://acme.example/a b>)", "[spaced](https://acme.example/a%20b)"),
        ('[titled](https://acme.example/ "a title")', "[titled](https://acme.example/)"),
        ("![graph](https://acme.example/g.png)", "[graph](https://acme.example/g.png)"),
        ("[](https://acme.example/)", "[https://acme.example/](https://acme.example/)"),
        ("[x](javascript:alert(1))", "x"),
        ("[*the* queue](data:,x)", "*the* queue"),
        ("[x](/relative)", "x"),
        ("a [note] and [x]: y", "a \\[note\\] and \\[x\\]: y"),
    ],
)
def test_safe_links_are_kept_others_become_their_text(text: str, want: str) -> None:
    assert md(text) == want


async def test_draft_neutralises_a_persons_unsafe_links(world: World) -> None:
    engine, clock, store, _ = world
    inc = await engine.open_manual(
        "Invoices [late](javascript:alert(1))", ["api"], "degraded", "Invoices are late."
    )
    await engine.set_cause(
        inc.id,
        "A stuck queue; see [the graph](https://grafana.acme.example/d/q) and "
        "[this](JaVaScRiPt:alert(document.cookie)).",
        "[Alert](javascript&#58;x) on queue age.\n\n[r]: javascript:alert(1)\n[ref][r]",
    )
    draft = await build_postmortem(store, engine.config, inc.id, clock.now() + 60)
    assert links(draft) == ["https://grafana.acme.example/d/q"] * 2  # summary, and Cause
    assert "# Post-mortem: Invoices late\n" in draft
    assert "[the graph](https://grafana.acme.example/d/q) and this." in draft
    assert "## Corrective actions\n\nAlert on queue age." in draft
    assert "javascript" not in draft.lower().replace("\\[r\\]: javascript:alert(1)", "")


def test_a_time_no_calendar_can_show_does_not_break_the_draft() -> None:
    assert duration(float("inf")) == "unknown"
    assert duration(float("nan")) == "unknown"
