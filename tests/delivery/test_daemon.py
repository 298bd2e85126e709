"""Issue 4 against the real daemon process (`python -m detector run`): kill -9 in the middle of
a fan-out to 2,000 subscribers, SIGTERM while sends are in flight, and time-to-notice in
/metrics. The provider doubles run in this test process; the daemon reaches them on 127.0.0.1.
Each on SQLite and on PostgreSQL (`storage_url`, tests/store/backends.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families

from detector.channels.sendgrid import SendGrid
from detector.channels.twilio import Twilio
from detector.store import OutboxRow, Store
from tests.delivery.doubles import SlowSendGrid, SlowTwilio, start_sendgrid, start_twilio
from tests.delivery.process import Daemon
from tests.delivery.stack import ENV, channel_configs, crowd, write_csv
from tests.e2e.harness import Receiver, Target, until, write_config
from tests.store.backends import storage_url  # noqa: F401 (the fixture)

LOCALES = ("en", "fr", "pl", "ar", "id")
ZONES = ("", "Asia/Kolkata")  # × LOCALES: ten outbox groups, so ten e-mail batches


@dataclass
class World:
    tmp: Path
    target: Target
    receiver: Receiver
    daemons: list[Daemon]
    doubles: list[SlowSendGrid | SlowTwilio]
    storage: str

    async def daemon(self, config: Path, port: int) -> Daemon:
        d = await Daemon(config, port, self.tmp / "daemon.log").start()
        self.daemons.append(d)
        return d

    def configure(
        self,
        sendgrid: SlowSendGrid,
        twilio: SlowTwilio,
        people: list[dict[str, str]],
        **over: Any,
    ) -> tuple[Path, int]:
        write_csv(self.tmp / "subscribers.csv", people)
        channels = channel_configs(
            webhook=f"http://127.0.0.1:{self.receiver.port}/hook",
            sendgrid=sendgrid.url,
            twilio=twilio.url,
        )
        extra = {"channels": channels, "subscribers": [{"file": "subscribers.csv"}], **over}
        return write_config(self.tmp, self.target, self.receiver, extra=extra, storage=self.storage)

    async def rows(self) -> list[OutboxRow]:
        store = Store(self.storage)
        try:
            return await store.outbox_rows()
        finally:
            await store.close()


@pytest.fixture
async def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    storage_url: str,  # noqa: F811
) -> AsyncIterator[World]:
    for name, value in ENV.items():  # the daemon reads its secrets from the environment
        monkeypatch.setenv(name, value)
    target, receiver = await Target().start(), await Receiver().start()
    w = World(tmp_path, target, receiver, [], [], storage_url)
    yield w
    for d in w.daemons:
        await d.stop(timeout=5)
    for double in w.doubles:
        await double.stop()
    await w.target.stop()
    await w.receiver.stop()


async def doubles(
    w: World, sendgrid_delay: float, twilio_delay: float
) -> tuple[SlowSendGrid, SlowTwilio]:
    sendgrid, twilio = await start_sendgrid(sendgrid_delay), await start_twilio(twilio_delay)
    w.doubles += [sendgrid, twilio]
    return sendgrid, twilio


def channel_names(rows: list[OutboxRow]) -> dict[str, str]:
    return {r.channel.split("-")[0]: r.channel for r in rows}


async def test_kill9_mid_fanout_then_restart_tells_everyone(world: World) -> None:
    w = world
    n = 2000
    sendgrid, twilio = await doubles(w, sendgrid_delay=1.0, twilio_delay=0.02)
    people = crowd(n, locales=LOCALES, zones=ZONES)
    emails = {p["email"] for p in people}
    phones = {p["phone"] for p in people}
    # no scheduled update during the test: one notice, so every count below is about it
    config, port = w.configure(
        sendgrid,
        twilio,
        people,
        cadence={"major_outage": "10m", "partial_outage": "10m", "degraded": "10m"},
    )
    w.target.healthy = False
    daemon = await w.daemon(config, port)

    await until(
        lambda: len(twilio.attempts) >= 200 and sendgrid.inflight > 0,
        20,
        "the fan-out to be well under way",
    )
    await daemon.kill9()
    told_before = len(set(twilio.accepted()))
    assert told_before < n, "the kill came too late to land mid-fan-out"
    assert len(set(sendgrid.accepted())) < n

    restarted = await w.daemon(config, port)
    await until(lambda: set(twilio.accepted()) == phones, 20, "every SMS after the restart")
    await until(lambda: set(sendgrid.accepted()) == emails, 20, "every e-mail after the restart")

    async def settled() -> bool:
        rows = await w.rows()
        return all(r.state == "sent" for r in rows) and sendgrid.inflight == twilio.inflight == 0

    await until(settled, 10, "every row sent and no request left in flight")
    incidents = (await restarted.get_json("/api/v1/incidents"))["incidents"]
    await restarted.kill9()  # how it stops is the SIGTERM test's business

    # one incident, one notice: the restart resumed it rather than opening another
    assert len(incidents) == 1
    rows = await w.rows()
    assert {r.notice_id for r in rows} == {f"{incidents[0]['id']}.1"}
    assert {h.body["notice_id"] for h in w.receiver.hooks} == {rows[0].notice_id}
    assert {r.body["headers"]["X-Detector-Notice-Id"] for r in sendgrid.requests} == {
        rows[0].notice_id
    }

    # duplicates only for the batches in flight at the kill
    sms = Counter(twilio.accepted())
    duplicate_sms = sum(c - 1 for c in sms.values())
    batches = Counter(
        tuple(p["to"][0]["email"] for p in r.body["personalizations"]) for r in sendgrid.requests
    )
    duplicate_batches = sum(c - 1 for c in batches.values())
    mails = Counter(sendgrid.accepted())
    duplicate_emails = sum(c - 1 for c in mails.values())
    # every e-mail duplicate comes from a whole batch sent twice, never a split one
    assert duplicate_emails == sum(len(b) * (c - 1) for b, c in batches.items())
    print(
        f"\nkill -9 mid-fan-out to {n} subscribers ({told_before} SMS out before the kill): "
        f"{duplicate_sms} duplicate SMS (in flight at most {Twilio.concurrency}), "
        f"{duplicate_batches} duplicate e-mail batches = {duplicate_emails} e-mails "
        f"(in flight at most {SendGrid.concurrency} batches)"
    )
    assert duplicate_sms <= Twilio.concurrency
    assert duplicate_batches <= SendGrid.concurrency
    names = channel_names(rows)
    assert sum(1 for r in rows if r.channel == names["twilio"]) == n
    assert sum(1 for r in rows if r.channel == names["sendgrid"]) == len(batches) == 10


async def test_sigterm_finishes_sends_in_flight_and_exits_0(world: World) -> None:
    w = world
    sendgrid, twilio = await doubles(w, sendgrid_delay=1.0, twilio_delay=0.5)
    people = crowd(400, locales=LOCALES, zones=ZONES)
    config, port = w.configure(
        sendgrid,
        twilio,
        people,
        cadence={"major_outage": "10m", "partial_outage": "10m", "degraded": "10m"},
    )
    w.target.healthy = False
    daemon = await w.daemon(config, port)
    # the webhook (no delay) is out first; then e-mail and SMS requests are in flight
    await until(
        lambda: bool(w.receiver.hooks) and sendgrid.inflight > 0 and twilio.inflight >= 10,
        20,
        "sends in flight",
    )
    in_flight = (sendgrid.inflight, twilio.inflight)

    assert await daemon.stop() == 0  # SIGTERM
    assert sendgrid.inflight == twilio.inflight == 0  # every request it made was answered...
    assert all(a.status in (201, 202) for a in sendgrid.attempts + twilio.attempts)
    rows = await w.rows()
    names = channel_names(rows)
    sent_sms = {
        r.recipients[0]["phone"] for r in rows if r.channel == names["twilio"] and r.state == "sent"
    }
    sent_mail = {
        tuple(p["email"] for p in r.recipients)
        for r in rows
        if r.channel == names["sendgrid"] and r.state == "sent"
    }
    # ...and is on record as sent: nothing the providers accepted would be sent again
    assert sorted(twilio.accepted()) == sorted(sent_sms), in_flight
    got_mail = [
        tuple(p["to"][0]["email"] for p in r.body["personalizations"]) for r in sendgrid.requests
    ]
    assert sorted(got_mail) == sorted(sent_mail), in_flight
    assert len(sent_sms) >= in_flight[1] and len(sent_mail) >= in_flight[0]
    # it stopped taking new rows: the rest wait, pending, for the next start
    pending = [r for r in rows if r.state == "pending"]
    assert pending and all(r.channel != names["webhook"] for r in pending)


async def metric(daemon: Daemon, sample: str) -> float:
    async with ClientSession() as s, s.get(daemon.url("/metrics")) as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for s_ in family.samples:
            if s_.name == sample:
                return float(s_.value)
    return 0.0


async def test_time_to_notice_observed_once_per_incident(world: World) -> None:
    w = world
    sendgrid, twilio = await doubles(w, sendgrid_delay=0.0, twilio_delay=0.0)
    config, port = w.configure(sendgrid, twilio, crowd(3))
    daemon = await w.daemon(config, port)
    count = "detector_time_to_notice_seconds_count"
    total = "detector_time_to_notice_seconds_sum"
    await until(lambda: len(w.target.requests) >= 2, 5, "a few healthy checks")
    assert await metric(daemon, count) == 0

    w.target.healthy = False
    await until(lambda: bool(w.receiver.events("incident.opened")), 10, "the first incident")
    # a scheduled update, accepted by every channel, is not a first notice
    await until(lambda: bool(w.receiver.events("incident.updated", "update")), 6, "an update")
    await until(
        lambda: len(twilio.requests) >= 6 and len(sendgrid.requests) >= 2,
        5,
        "the update by e-mail and SMS too",
    )
    assert await metric(daemon, count) == 1
    first_fail = next(t for t, ok in w.target.requests if not ok)
    told = w.receiver.events("incident.opened")[0].at
    observed = await metric(daemon, total)
    # first failed check → first acceptance: at least the re-checks that confirmed it
    assert 0.15 <= observed <= told - first_fail + 0.5, (observed, told - first_fail)

    w.target.healthy = True
    await until(lambda: bool(w.receiver.events("incident.resolved")), 8, "resolution")
    w.target.healthy = False
    await until(lambda: len(w.receiver.events("incident.opened")) == 2, 10, "a second incident")
    await until(lambda: metric_is(daemon, count, 2), 5, "the second observation")
    second = [h for h in w.receiver.hooks if h.event == "incident.opened"][1]
    notice = second.body["notice_id"]
    await until(
        lambda: (
            sum(1 for r in sendgrid.requests if r.body["headers"]["X-Detector-Notice-Id"] == notice)
            >= 1
        ),
        5,
        "the second incident's e-mail",
    )
    assert await metric(daemon, count) == 2  # one per incident, whatever the channels
    assert "Traceback" not in (w.tmp / "daemon.log").read_text()
    await daemon.kill9()  # how it stops is the SIGTERM test's business


async def metric_is(daemon: Daemon, sample: str, value: float) -> bool:
    return await metric(daemon, sample) == value
