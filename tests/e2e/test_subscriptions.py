"""Issue 11, Done-when 6, against the real daemon process (`python -m detector run`) and the
SendGrid double, on SQLite and PostgreSQL: subscribe → confirm (the link from the e-mail the
double received) → an outage → the notice, with the subscriber's own List-Unsubscribe and
List-Unsubscribe-Post → one-click unsubscribe (POST) → the same incident's next notices are not
sent to them. And with several instances: a customer who signs up and unsubscribes on a
follower is heard by the leader."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession

from tests.cluster.instances import Instance, cluster_config, one_leader
from tests.delivery.doubles import SlowSendGrid, start_sendgrid
from tests.delivery.stack import channel_configs
from tests.doubles.sendgrid_double import DEFAULT_KEY
from tests.e2e.harness import (
    DaemonProcess,
    Receiver,
    Target,
    api_component,
    until,
    write_config,
)
from tests.store.backends import postgres_database

BASE = "https://status.acme.example/"
ANA = "ana@customers.example"
CONTROL = "control@customers.example"  # told everything: when they were, Ana would have been
CADENCE = {"major_outage": "1m", "partial_outage": "1m", "degraded": "1m"}  # none in a test
WITHIN = 15.0
# the leader reads the subscribers' revision every 0.5 s (detector.web.subscribe.POLL)
SEEN_BY_THE_LEADER = 1.5


def mails_to(sendgrid: SlowSendGrid, email: str, event: str | None = None) -> list[Any]:
    """Each mail/send body for `email`, narrowed to its personalization."""
    out = []
    for req in sendgrid.requests:
        for p in req.body["personalizations"]:
            if any(t["email"] == email for t in p["to"]) and (
                event is None or req.body["custom_args"]["event"] == event
            ):
                out.append({**req.body, "personalizations": [p]})
    return out


def notices(sendgrid: SlowSendGrid, email: str) -> list[str]:
    return [
        m["custom_args"]["notice_id"]
        for m in mails_to(sendgrid, email)
        if not m["custom_args"]["notice_id"].startswith("subscription.")
    ]


def confirm_link(mail: Any) -> str:
    plain = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    m = re.search(re.escape(BASE) + r"subscribe/confirm\?token=[A-Za-z0-9._%-]+", plain)
    assert m is not None, plain
    return "/" + m.group(0).removeprefix(BASE)


async def subscribe(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with ClientSession() as s, s.post(url, json=body) as r:
        return r.status, await r.text()


async def get(url: str) -> tuple[int, str]:
    async with ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def one_click(url: str) -> tuple[int, str]:
    """What a mail client does with List-Unsubscribe-Post (RFC 8058 §3.1)."""
    async with (
        ClientSession() as s,
        s.post(
            url,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as r,
    ):
        return r.status, await r.text()


@pytest.fixture
async def parts(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Target, Receiver, Any]]:
    monkeypatch.setenv("SENDGRID_API_KEY", DEFAULT_KEY)  # the daemon gets this environment
    target, receiver, sendgrid = await Target().start(), await Receiver().start(), None
    try:
        sendgrid = await start_sendgrid()
        yield target, receiver, sendgrid
    finally:
        if sendgrid is not None:
            await sendgrid.stop()
        await receiver.stop()
        await target.stop()


async def test_subscribe_confirm_hear_unsubscribe_hear_no_more(
    tmp_path: Path, storage_url: str, parts: tuple[Target, Receiver, SlowSendGrid]
) -> None:
    target, receiver, sendgrid = parts
    config, port = write_config(
        tmp_path,
        target,
        receiver,
        storage=storage_url,
        cadence=CADENCE,
        components=[api_component(target)],
        extra={
            "channels": channel_configs(
                webhook=f"http://127.0.0.1:{receiver.port}/hook", sendgrid=sendgrid.url
            ),
            "subscribers": [{"name": "Control", "email": CONTROL}],
        },
    )
    daemon = await DaemonProcess(config, port, tmp_path / "daemon.log").start()
    try:
        status, body = await subscribe(
            daemon.url("/api/v1/subscribe"), {"email": ANA, "components": ["api"], "locale": "fr"}
        )
        assert status == 202, body
        await until(lambda: mails_to(sendgrid, ANA) != [], WITHIN, "the confirmation e-mail")
        [mail] = mails_to(sendgrid, ANA)
        assert mail["subject"] == "Confirmez vos notifications par e-mail de Acme Cloud"
        assert "headers" not in mail["personalizations"][0]  # not subscribed yet
        status, page = await get(daemon.url(confirm_link(mail)))
        assert status == 200 and "Votre abonnement est confirmé" in page, page

        target.healthy = False
        await until(
            lambda: mails_to(sendgrid, ANA, "incident.opened") != [], WITHIN, "the first notice"
        )
        [opened] = mails_to(sendgrid, ANA, "incident.opened")
        headers = opened["personalizations"][0]["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = headers["List-Unsubscribe"]
        assert link.startswith(f"<{BASE}unsubscribe?token=") and link.endswith(">")
        control = mails_to(sendgrid, CONTROL, "incident.opened")[0]["personalizations"][0]
        assert control["headers"]["List-Unsubscribe"] != link  # each their own

        status, page = await one_click(daemon.url("/" + link[1:-1].removeprefix(BASE)))
        assert status == 200 and "Votre désabonnement est confirmé" in page, page

        target.healthy = True  # recovered, then resolved: the same incident's next notices
        await until(
            lambda: mails_to(sendgrid, CONTROL, "incident.resolved") != [],
            WITHIN,
            "the resolution told to the control subscriber",
        )
        assert len(notices(sendgrid, CONTROL)) >= 2
        assert notices(sendgrid, ANA) == [opened["custom_args"]["notice_id"]]
        log = (tmp_path / "daemon.log").read_text()
        assert link[1:-1].partition("token=")[2] not in log  # tokens are never logged
    finally:
        assert await daemon.stop() == 0


async def test_a_follower_takes_the_sign_up_and_the_leader_hears_it(
    tmp_path: Path, parts: tuple[Target, Receiver, SlowSendGrid]
) -> None:
    """Several instances: writes go to the shared store from any of them; the leader reads
    the change within half a second and tells (or no longer tells) the customer."""
    target, receiver, sendgrid = parts
    async with postgres_database() as pg:
        instances = []
        for name in "ab":
            config, port = cluster_config(tmp_path, name, pg, receiver, cadence=CADENCE)
            raw = yaml.safe_load(config.read_text())
            raw["channels"] = channel_configs(
                webhook=f"http://127.0.0.1:{receiver.port}/hook", sendgrid=sendgrid.url
            )
            raw["subscribers"] = [{"name": "Control", "email": CONTROL}]
            config.write_text(yaml.safe_dump(raw))
            env = {"DETECTOR_VANTAGE": name, "TARGET_PORT": str(target.port)}
            instances.append(Instance(name, config, port, env))
        await asyncio.gather(*(i.start() for i in instances))
        try:
            leader = await one_leader(instances)
            follower = next(i for i in instances if i is not leader)
            status, _ = await subscribe(follower.url("/api/v1/subscribe"), {"email": ANA})
            assert status == 202
            await until(lambda: mails_to(sendgrid, ANA) != [], WITHIN, "the confirmation")
            status, _ = await get(follower.url(confirm_link(mails_to(sendgrid, ANA)[0])))
            assert status == 200
            await asyncio.sleep(SEEN_BY_THE_LEADER)

            target.healthy = False
            await until(
                lambda: mails_to(sendgrid, ANA, "incident.opened") != [],
                WITHIN,
                "the leader's first notice to the new subscriber",
            )
            [opened] = mails_to(sendgrid, ANA, "incident.opened")
            link = opened["personalizations"][0]["headers"]["List-Unsubscribe"][1:-1]
            status, _ = await one_click(follower.url("/" + link.removeprefix(BASE)))
            assert status == 200
            await asyncio.sleep(SEEN_BY_THE_LEADER)

            target.healthy = True
            await until(
                lambda: mails_to(sendgrid, CONTROL, "incident.resolved") != [],
                WITHIN,
                "the resolution",
            )
            assert notices(sendgrid, ANA) == [opened["custom_args"]["notice_id"]]
        finally:
            await asyncio.gather(*(i.stop() for i in instances))
