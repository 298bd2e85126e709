"""The statuspage_io channel against the local Statuspage double: real HTTP, real engine.

The lifecycle test drives a real Engine on a real store with the channel built from the
config: each notice the engine publishes becomes the channel's outbox row, built by fan-out
(with the CONTRACT §5 payload), and that row, read back from the store as the outbox worker
reads it, is sent to the channel. Midway the process "restarts": the answer to a write is lost,
the engine, store and channel are built anew from the store, and delivery resumes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from structlog.testing import capture_logs

from detector import channels as channel_kinds
from detector.channels.base import Delivery, Envelope
from detector.channels.statuspage_io import MARKER, StatuspageIo, StatuspageIoChannel
from detector.config import Config, parse_config
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.notices.model import Message
from detector.outbox import envelope as envelope_of
from detector.store import OutboxRow, Store
from tests.clock import FakeClock
from tests.doubles.statuspage_double import (
    DEFAULT_KEY,
    DEFAULT_PAGE,
    StatuspageDouble,
    start_statuspage_double,
)
from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config
from tests.web.conftest import DOWN, START, UP, raw_config

# their components: ours (api, web) are mapped; a third of theirs is none of our business
THEIR_API = "apicomponent1"
THEIR_WEB = "webcomponent1"
THEIR_BILLING = "billingcomp01"
THEIRS = {THEIR_API: "API", THEIR_WEB: "Dashboard", THEIR_BILLING: "Billing"}
MAPPING = {"api": THEIR_API, "web": THEIR_WEB}


@pytest.fixture
async def double() -> AsyncIterator[StatuspageDouble]:
    d = await start_statuspage_double(components=THEIRS)
    yield d
    await d.stop()


def channel_raw(double: StatuspageDouble, **over: Any) -> dict[str, Any]:
    return {
        "type": "statuspage_io",
        "page_id": DEFAULT_PAGE,
        "api_key": "${STATUSPAGE_API_KEY}",
        "components": MAPPING,
        "api_base": double.url,
        **over,
    }


def channel(double: StatuspageDouble, key: str = DEFAULT_KEY, **over: Any) -> StatuspageIo:
    raw = channel_raw(double, api_key=key, **over)
    return StatuspageIo(StatuspageIoChannel.model_validate(raw), "statuspage_io-0", timeout=2.0)


def envelope(
    incident_id: str = "web-0a1b2c3d",
    sequence: int = 1,
    *,
    event: str = "incident.opened",
    status: str = "investigating",
    severity: str = "major_outage",
    components: list[str] | None = None,
    text: str | None = None,
) -> Envelope:
    """An envelope with the §5 body, as fan-out gives an operator's channel."""
    text = text or f"Notice {sequence}: we are sorry, you cannot sign in to the dashboard."
    message = Message("en", f"Dashboard: notice {sequence}", text, "", "")
    payload = {
        "event": event,
        "notice_id": f"{incident_id}.{sequence}",
        "incident": {
            "id": incident_id,
            "title": "Dashboard is down",
            "status": status,
            "severity": severity,
            "components": components if components is not None else ["web"],
            "vendor": None,
            "started_at": "2027-01-15T08:00:00.000Z",
            "detected_at": "2027-01-15T08:00:03.000Z",
            "resolved_at": None,
        },
        "notice": {
            "sequence": sequence,
            "kind": "opened",
            "locale": "en",
            "subject": message.subject,
            "text": text,
            "next_update_at": None,
            "published_at": "2027-01-15T08:00:03.000Z",
        },
        "evidence": [{"probe": "web", "at": "...", "ok": False, "detail": "HTTP 503 in 4ms"}],
        "status_page_url": "https://status.acme.example/",
    }
    return Envelope(
        id=f"{incident_id}.{sequence}/statuspage_io-0/0",
        notice_id=f"{incident_id}.{sequence}",
        event=event,
        message=message,
        payload=payload,
    )


# --- the whole lifecycle, with a restart -------------------------------------------------------


class Process:
    """What `detector run` holds for this test: store, engine, and the configured channel;
    `deliver` plays the outbox worker: the channel's rows from the store, in stream order,
    each recorded as sent only when the channel accepted it."""

    def __init__(self, config: Config, clock: FakeClock, delivered: set[str]) -> None:
        self.config = config
        self.clock = clock
        self.delivered = delivered  # what the outbox recorded as sent: it outlives a process

    async def start(self) -> Process:
        self.store = Store(self.config.storage.url)
        await self.store.open()
        [ch] = channel_kinds.build(self.config)
        assert isinstance(ch, StatuspageIo)
        self.channel = ch
        self.engine = Engine(self.config, self.store, [ch], [], Metrics(), self.clock)
        await self.engine.load()
        return self

    async def feed(self, probe: str, result: Any, n: int) -> None:
        for _ in range(n):
            self.engine.on_result(probe, result, self.clock.now())
            await self.engine.drain()
            self.clock.advance(1.0)

    async def pending(self) -> list[OutboxRow]:
        rows = [
            r
            for r in await self.store.outbox_rows()
            if r.id not in self.delivered and r.channel == self.channel.name
        ]
        return sorted(rows, key=lambda r: (r.stream, r.sequence))

    async def deliver(self) -> list[Delivery]:
        out = []
        for row in await self.pending():
            d = await self.channel.send(envelope_of(row))
            out.append(d)
            if not d.ok:
                break  # the outbox keeps the stream's order: the rest wait for this one
            self.delivered.add(row.id)
        return out

    async def stop(self) -> None:
        await self.channel.close()
        await self.store.close()


async def test_lifecycle_ends_with_one_incident_every_update_and_operational_after_a_restart(
    tmp_path: Path, double: StatuspageDouble
) -> None:
    raw = raw_config(tmp_path, channels=[channel_raw(double)])
    config = parse_config(
        yaml.safe_dump(raw), env={"ADMIN": "x" * 24, "STATUSPAGE_API_KEY": DEFAULT_KEY}
    )
    clock = FakeClock(START)
    delivered: set[str] = set()
    p = await Process(config, clock, delivered).start()

    await p.feed("web", DOWN, 3)  # confirmed: opened
    [inc] = p.engine.open_incidents()
    assert [d.ok for d in await p.deliver()] == [True]
    [theirs] = double.incidents()
    assert (theirs.status, theirs.impact) == ("investigating", "critical")
    assert theirs.metadata == {MARKER: {"incident_id": inc.id, "sequence": 1}}
    assert double.component_status(THEIR_WEB) == "major_outage"

    first = (await p.store.notices([inc.id]))[inc.id][0]
    assert first.next_update_at is not None
    clock.t = first.next_update_at
    await p.engine.tick()  # the "still working on it" update, on its cadence
    double.lose_next_answers(1)  # applied on the page; the answer never arrives
    [lost] = await p.deliver()
    assert not lost.ok and not lost.permanent
    await p.stop()  # the process dies before its retry

    p = await Process(config, clock, delivered).start()  # a new process: nothing in memory
    assert [d.ok for d in await p.deliver()] == [True]  # the same notice again
    assert len(double.incidents()) == 1 and len(theirs.updates) == 2  # not applied twice
    await p.engine.set_cause(inc.id, "A full disk on the database server.")  # identified
    await p.feed("web", UP, 2)  # recovered: monitoring
    clock.advance(config.detection.stable_for + 1)
    await p.engine.tick()  # stable: resolved
    assert all(d.ok for d in await p.deliver())
    await p.stop()

    notices = (await p.store.notices([inc.id]))[inc.id]
    assert [n.status for n in notices] == [
        "investigating",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    [theirs] = double.incidents()  # one incident, whatever the restart
    assert [u.status for u in theirs.updates] == [n.status for n in notices]
    assert [u.body for u in theirs.updates] == [n.text for n in notices]  # every update
    assert theirs.status == "resolved" and theirs.resolved_at is not None
    assert theirs.name == inc.title
    assert theirs.metadata[MARKER] == {"incident_id": inc.id, "sequence": len(notices)}
    assert double.component_status(THEIR_WEB) == "operational"  # back to operational
    assert double.component_status(THEIR_API) == "operational"  # never touched
    assert double.component_status(THEIR_BILLING) == "operational"
    assert not [c for c in double.calls if c.method == "PATCH" and THEIR_BILLING in str(c.body)]
    assert len(double.writes()) == len(notices)  # one write per notice, the lost one included
    assert [c.method for c in double.writes()] == ["POST"] + ["PATCH"] * (len(notices) - 1)


async def test_a_real_daemon_killed_mid_incident_leaves_one_incident_on_the_page(
    tmp_path: Path, double: StatuspageDouble
) -> None:
    """`detector run` as a process, killed with SIGKILL while the incident is open."""
    target = await Target().start()
    receiver = await Receiver().start()
    statuspage = channel_raw(double, api_key="${file:statuspage.key}", components=MAPPING)
    (tmp_path / "statuspage.key").write_text(DEFAULT_KEY + "\n")
    webhook = {
        "type": "webhook",
        "url": f"http://127.0.0.1:{receiver.port}/hook",
        "secret": "${WEBHOOK_SECRET}",
    }
    config, port = write_config(
        tmp_path, target, receiver, extra={"channels": [webhook, statuspage]}
    )
    log = tmp_path / "daemon.log"
    daemons: list[DaemonProcess] = []

    def updates() -> int:
        return sum(len(i.updates) for i in double.incidents())

    try:
        daemons.append(await DaemonProcess(config, port, log).start())
        target.healthy = False
        await until(lambda: updates() >= 2, 15, "the opening and an update on the page")
        assert double.component_status(THEIR_API) == "major_outage"
        await daemons[-1].kill9()
        daemons.append(await DaemonProcess(config, port, log).start())
        await until(lambda: updates() >= 4, 15, "updates after the restart")
        target.healthy = True
        await until(
            lambda: [i.status for i in double.incidents()] == ["resolved"], 15, "the resolution"
        )
    finally:
        for d in daemons:
            await d.stop()
        await target.stop()
        await receiver.stop()
    [theirs] = double.incidents()
    assert double.component_status(THEIR_API) == "operational"
    assert theirs.updates[0].status == "investigating"
    assert "monitoring" in [u.status for u in theirs.updates]
    assert theirs.updates[-1].status == "resolved"
    writes = double.writes()
    assert [c.method for c in writes] == ["POST"] + ["PATCH"] * (len(writes) - 1)
    sequences = [c.body["incident"]["metadata"][MARKER]["sequence"] for c in writes]
    assert sequences == sorted(set(sequences))  # no notice applied twice, none out of order
    assert len(theirs.updates) == len(writes)
    [opened] = receiver.events("incident.opened")
    assert theirs.metadata[MARKER]["incident_id"] == opened.body["incident"]["id"]
    assert "HTTP 503" not in json.dumps([c.body for c in writes])  # no probe evidence


# --- idempotency ------------------------------------------------------------------------------


async def test_a_lost_creation_is_found_again_not_created_twice(double: StatuspageDouble) -> None:
    ch = channel(double)
    double.lose_next_answers(1)
    d = await ch.send(envelope())
    assert not d.ok and not d.permanent  # for all it knows, nothing happened
    await ch.close()
    again = channel(double)  # after a restart, or the outbox's retry: same notice
    d = await again.send(envelope())
    assert d.ok and "already shows" in d.detail
    d = await again.send(envelope(sequence=2, event="incident.updated"))
    assert d.ok
    [theirs] = double.incidents()
    assert [u.body for u in theirs.updates] == [
        envelope().message.text,
        envelope(sequence=2).message.text,
    ]
    assert [c.method for c in double.writes()] == ["POST", "PATCH"]
    await again.close()


async def test_a_restart_finds_the_incident_by_its_marker_even_when_resolved_there(
    double: StatuspageDouble,
) -> None:
    first = channel(double)
    assert (await first.send(envelope())).ok
    await first.close()
    [theirs] = double.incidents()
    theirs.status = "resolved"  # a person resolved it on the page meanwhile
    second = channel(double)
    d = await second.send(envelope(sequence=2, event="incident.updated", status="identified"))
    assert d.ok and theirs.id in d.detail
    assert len(double.incidents()) == 1
    assert theirs.status == "identified"  # mirrored: ours is still open
    await second.close()


async def test_another_incident_of_ours_gets_its_own(double: StatuspageDouble) -> None:
    ch = channel(double)
    assert (await ch.send(envelope("web-11111111"))).ok
    assert (await ch.send(envelope("api-22222222", components=["api"]))).ok
    a, b = double.incidents()
    assert a.metadata[MARKER]["incident_id"] == "web-11111111"
    assert b.metadata[MARKER]["incident_id"] == "api-22222222"
    assert b.component_ids == [THEIR_API]
    await ch.close()


async def test_an_update_seen_first_creates_the_incident_with_its_status(
    double: StatuspageDouble,
) -> None:
    """The opened notice may be superseded before it could be sent (CONTRACT §8)."""
    ch = channel(double)
    d = await ch.send(envelope(sequence=3, event="incident.updated", status="identified"))
    assert d.ok
    [theirs] = double.incidents()
    assert theirs.status == "identified" and theirs.metadata[MARKER]["sequence"] == 3
    await ch.close()


async def test_resolved_unknown_to_the_page_is_created_resolved_and_operational(
    double: StatuspageDouble,
) -> None:
    ch = channel(double)
    d = await ch.send(envelope(sequence=4, event="incident.resolved", status="resolved"))
    assert d.ok
    [theirs] = double.incidents()
    assert theirs.status == "resolved"
    assert double.component_status(THEIR_WEB) == "operational"
    await ch.close()


async def test_a_deleted_incident_is_created_anew_on_the_next_attempt(
    double: StatuspageDouble,
) -> None:
    ch = channel(double)
    assert (await ch.send(envelope())).ok
    double.pages[DEFAULT_PAGE].incidents.clear()  # deleted by a person on the page
    d = await ch.send(envelope(sequence=2, event="incident.updated"))
    assert not d.ok and not d.permanent
    assert (await ch.send(envelope(sequence=2, event="incident.updated"))).ok
    [theirs] = double.incidents()
    assert theirs.metadata[MARKER]["sequence"] == 2
    await ch.close()


# --- what is sent -----------------------------------------------------------------------------


async def test_statuses_severities_and_components_in_statuspage_terms(
    double: StatuspageDouble,
) -> None:
    ch = channel(double)
    both = ["web", "api"]
    steps: list[tuple[str, str, str, str]] = [
        ("incident.opened", "investigating", "degraded", "degraded_performance"),
        ("incident.updated", "investigating", "partial_outage", "partial_outage"),
        ("incident.updated", "identified", "major_outage", "major_outage"),
        ("incident.updated", "monitoring", "major_outage", "operational"),
        ("incident.resolved", "resolved", "major_outage", "operational"),
    ]
    impacts = []
    for seq, (event, status, severity, component) in enumerate(steps, 1):
        env = envelope(sequence=seq, event=event, status=status, severity=severity)
        env.payload["incident"]["components"] = both
        assert (await ch.send(env)).ok
        [theirs] = double.incidents()
        assert theirs.status == status
        assert double.component_status(THEIR_WEB) == component
        assert double.component_status(THEIR_API) == component
        impacts.append(theirs.impact)
    assert impacts == ["minor", "major", "critical", "critical", "critical"]
    first = double.writes()[0].body["incident"]
    assert first["component_ids"] == [THEIR_WEB, THEIR_API]
    assert first["name"] == "Dashboard is down"
    assert "evidence" not in str(first) and "HTTP 503" not in str(first)  # never to customers
    await ch.close()


async def test_unmapped_components_are_left_alone(double: StatuspageDouble) -> None:
    ch = channel(double, components={})
    assert (await ch.send(envelope())).ok
    [theirs] = double.incidents()
    assert theirs.component_ids == []
    assert all(c["status"] == "operational" for c in double.pages[DEFAULT_PAGE].components.values())
    assert "components" not in double.writes()[0].body["incident"]
    await ch.close()


def test_only_incidents_are_mirrored(double: StatuspageDouble) -> None:
    ch = channel(double)
    assert ch.wants("incident.opened") and ch.wants("incident.resolved")
    for event in ("maintenance.scheduled", "postmortem.published", "incident.pending"):
        assert not ch.wants(event)
    only = channel(double, events=["incident.opened"])
    assert only.wants("incident.opened") and not only.wants("incident.updated")


# --- errors -----------------------------------------------------------------------------------


async def test_a_wrong_key_is_permanent_and_never_shown(double: StatuspageDouble) -> None:
    key = "not-the-key-0123456789abcdef"
    ch = channel(double, key=key)
    with capture_logs() as logged:
        d = await ch.send(envelope())
    assert not d.ok and d.permanent and "HTTP 401" in d.detail
    assert key not in d.detail and key not in str(logged)
    assert double.incidents() == [] and double.refused == 1
    await ch.close()


async def test_an_unknown_page_is_permanent(double: StatuspageDouble) -> None:
    ch = channel(double, page_id="nosuchpage01")
    d = await ch.send(envelope())
    assert not d.ok and d.permanent and "HTTP 404" in d.detail
    await ch.close()


async def test_a_refused_body_is_permanent(double: StatuspageDouble) -> None:
    ch = channel(double, components={"web": "notonthepage1"})
    d = await ch.send(envelope())
    assert not d.ok and d.permanent and "HTTP 422" in d.detail
    assert double.incidents() == []
    await ch.close()


@pytest.mark.parametrize(("status", "wait"), [(420, 7.0), (429, 3.0)])
async def test_rate_limits_are_retried_after_what_they_ask(
    double: StatuspageDouble, status: int, wait: float
) -> None:
    ch = channel(double)
    double.fail_next(1, status, retry_after=wait)
    d = await ch.send(envelope())
    assert not d.ok and not d.permanent and d.retry_after == wait
    assert (await ch.send(envelope())).ok
    assert len(double.incidents()) == 1
    await ch.close()


async def test_server_errors_silence_and_cut_connections_are_retried(
    double: StatuspageDouble,
) -> None:
    ch = channel(double)
    ch.timeout = 0.3
    double.fail_next(1, 503)
    d = await ch.send(envelope())
    assert not d.ok and not d.permanent and "HTTP 503" in d.detail
    double.hang_next(1)
    d = await ch.send(envelope())
    assert not d.ok and not d.permanent and "did not answer" in d.detail
    assert (await ch.send(envelope())).ok
    double.reset_next(1)  # the update's connection is cut before any answer
    d = await ch.send(envelope(sequence=2, event="incident.updated"))
    assert not d.ok and not d.permanent and "unreachable" in d.detail
    assert (await ch.send(envelope(sequence=2, event="incident.updated"))).ok
    [theirs] = double.incidents()
    assert len(theirs.updates) == 2
    await ch.close()


async def test_a_payload_without_its_incident_is_refused(double: StatuspageDouble) -> None:
    ch = channel(double)
    bare = Envelope(
        "r", "web-1.1", "incident.opened", envelope().message, {"status_page_url": None}
    )
    d = await ch.send(bare)
    assert not d.ok and d.permanent and "full payload" in d.detail
    assert double.seen == 0
    await ch.close()


# --- config -----------------------------------------------------------------------------------


def test_config_through_the_registry(tmp_path: Path) -> None:
    raw = raw_config(
        tmp_path,
        channels=[
            {
                "type": "statuspage_io",
                "page_id": DEFAULT_PAGE,
                "api_key": "${KEY}",
                "components": {"web": THEIR_WEB},
            }
        ],
    )
    config = parse_config(yaml.safe_dump(raw), env={"ADMIN": "x" * 24, "KEY": DEFAULT_KEY})
    [ch] = channel_kinds.build(config)
    assert isinstance(ch, StatuspageIo) and ch.name == "statuspage_io-0"
    assert ch.base == f"https://api.statuspage.io/v1/pages/{DEFAULT_PAGE}"


@pytest.mark.parametrize(
    "over",
    [
        {"page_id": "../other"},
        {"page_id": ""},
        {"api_key": ""},
        {"components": {"web": "a/b"}},
        {"component": {"web": THEIR_WEB}},
    ],
)
def test_config_refuses(over: dict[str, Any]) -> None:
    raw = {
        "type": "statuspage_io",
        "page_id": DEFAULT_PAGE,
        "api_key": DEFAULT_KEY,
        **over,
    }
    with pytest.raises(ValidationError):
        StatuspageIoChannel.model_validate(raw)


# --- the double checks what Statuspage checks --------------------------------------------------


async def test_the_double_refuses_what_statuspage_refuses(double: StatuspageDouble) -> None:
    import aiohttp

    base = f"{double.url}/v1/pages/{DEFAULT_PAGE}"
    auth = {"Authorization": f"OAuth {DEFAULT_KEY}"}
    good = {"name": "Down", "status": "investigating", "components": {THEIR_WEB: "major_outage"}}
    cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
        ({}, good, 401),
        ({"Authorization": f"Bearer {DEFAULT_KEY}"}, good, 401),
        (auth, {**good, "name": ""}, 422),
        (auth, {**good, "status": "down"}, 422),
        (auth, {**good, "impact_override": "huge"}, 422),
        (auth, {**good, "components": {THEIR_WEB: "down"}}, 422),
        (auth, {**good, "components": {"nosuchcomp": "major_outage"}}, 422),
        (auth, {**good, "component_ids": ["nosuchcomp"]}, 422),
        (auth, {**good, "metadata": {"outage_detector": "web-1"}}, 422),
        (auth, {**good, "metadata": {"outage_detector": {"incident_id": "web-1"}}}, 201),
    ]
    async with aiohttp.ClientSession() as s:
        for headers, incident, expected in cases:
            async with s.post(
                f"{base}/incidents", json={"incident": incident}, headers=headers
            ) as r:
                assert r.status == expected, (headers, incident)
        async with s.patch(
            f"{base}/incidents/nosuchincid", json={"incident": good}, headers=auth
        ) as r:
            assert r.status == 404
        async with s.get(f"{double.url}/v1/pages/nosuchpage01/incidents", headers=auth) as r:
            assert r.status == 404
        async with s.get(f"{base}/incidents/unresolved", headers=auth) as r:
            [listed] = await r.json()
            assert listed["metadata"] == {"outage_detector": {"incident_id": "web-1"}}
    assert double.component_status(THEIR_WEB) == "major_outage"
