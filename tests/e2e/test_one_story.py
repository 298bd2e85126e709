"""Issue 9 against the real daemon process (`python -m detector run`): one outage, one story.

Two out-of-phase probes of one component failing together are told as one full outage, not as
a partial one that then gets worse; components failing within `group_within` share one
incident and one e-mail per stage; a person's status survives an automatic severity change.
Every target, receiver and provider double runs in this test process on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.doubles import SlowSendGrid, start_sendgrid
from tests.delivery.stack import channel_configs
from tests.doubles.sendgrid_double import DEFAULT_KEY
from tests.e2e.harness import DaemonProcess, Hook, Receiver, Target, until, write_config

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
# interval 1s: the scheduler spreads a component's two probes half a second apart
DETECTION: dict[str, Any] = {
    "interval": "1s",
    "timeout": "500ms",
    "recheck_interval": "200ms",
    "failures_to_confirm": 3,
    "successes_to_recover": 2,
    "stable_for": "1500ms",
}
CADENCE = {"major_outage": "1m", "partial_outage": "1m", "degraded": "1m"}  # none in a test
SUBSCRIBER = "ola@customers.example"
NAMES = {"api": "Public API", "web": "Dashboard", "pay": "Payments"}
IMPACTS = {
    "api": "You cannot reach the API, and integrations stop syncing.",
    "web": "You cannot sign in to the dashboard.",
    "pay": "Card payments cannot be taken.",
}
# detection (≤ 1 interval + 2 re-checks) plus a settling round and delivery, with room to spare
WITHIN = 10.0


@dataclass
class World:
    tmp: Path
    receiver: Receiver
    targets: list[Target] = field(default_factory=list)
    daemons: list[DaemonProcess] = field(default_factory=list)
    sendgrids: list[SlowSendGrid] = field(default_factory=list)

    async def target(self) -> Target:
        t = await Target().start()
        self.targets.append(t)
        return t

    async def sendgrid(self) -> SlowSendGrid:
        double = await start_sendgrid()
        self.sendgrids.append(double)
        return double

    async def daemon(self, config: Path, port: int) -> DaemonProcess:
        d = await DaemonProcess(config, port, self.tmp / "daemon.log").start()
        self.daemons.append(d)
        return d

    def configure(
        self,
        components: list[dict[str, Any]],
        *,
        sendgrid: SlowSendGrid | None = None,
        subscribers: list[dict[str, Any]] | None = None,
        detection: dict[str, Any] | None = None,
        admin: bool = False,
    ) -> tuple[Path, int]:
        channels = channel_configs(
            webhook=f"http://127.0.0.1:{self.receiver.port}/hook",
            sendgrid=sendgrid.url if sendgrid else None,
        )
        extra: dict[str, Any] = {"channels": channels, "subscribers": subscribers or []}
        path, port = write_config(
            self.tmp,
            self.targets[0],
            self.receiver,
            detection={**DETECTION, **(detection or {})},
            cadence=CADENCE,
            components=components,
            extra=extra,
        )
        if admin:  # secrets as an operator writes them: from the environment
            cfg = yaml.safe_load(path.read_text())
            cfg["server"]["admin_token"] = "${ADMIN_TOKEN}"
            path.write_text(yaml.safe_dump(cfg))
        return path, port


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # DaemonProcess hands the daemon this process's environment (plus WEBHOOK_SECRET)
    monkeypatch.setenv("SENDGRID_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN_TOKEN)
    w = World(tmp_path, await Receiver().start())
    yield w
    for d in w.daemons:
        await d.stop()
    for double in w.sendgrids:
        await double.stop()
    for t in w.targets:
        await t.stop()
    await w.receiver.stop()


def component(cid: str, probes: list[tuple[str, Target]]) -> dict[str, Any]:
    return {
        "id": cid,
        "name": NAMES[cid],
        "impact": IMPACTS[cid],
        "probes": [
            {
                "name": name,
                "http": {
                    "url": f"http://127.0.0.1:{t.port}/healthz",
                    "expect": {"status": [200], "body_contains": "ok"},
                },
            }
            for name, t in probes
        ],
    }


def set_health(targets: list[Target], healthy: bool) -> None:
    for t in targets:  # no await in between: the same moment for the daemon
        t.healthy = healthy


def story(hooks: list[Hook]) -> list[tuple[str, str]]:
    return [(h.event, h.body["notice"]["kind"]) for h in hooks]


def incident_hooks(receiver: Receiver) -> list[Hook]:
    """What customers' systems are told (operator-only events have no incident)."""
    return [h for h in receiver.hooks if "incident" in h.body]


def mails(sendgrid: SlowSendGrid) -> dict[str, list[dict[str, Any]]]:
    """Accepted mail/send bodies by notice id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sendgrid.requests:
        out.setdefault(r.body["headers"]["X-Detector-Notice-Id"], []).append(r.body)
    return out


def mail_text(body: dict[str, Any]) -> str:
    return next(str(c["value"]) for c in body["content"] if c["type"] == "text/plain")


def recipients(body: dict[str, Any]) -> list[str]:
    return [t["email"] for p in body["personalizations"] for t in p["to"]]


async def more_checks(targets: list[Target], n: int = 2) -> None:
    """n more checks of every target from now."""
    seen = [len(t.requests) for t in targets]
    await until(
        lambda: all(len(t.requests) >= k + n for t, k in zip(targets, seen, strict=True)),
        5 * n,
        f"{n} more checks of every target",
    )


async def cli(cwd: Path, *args: str) -> tuple[int, str, str]:
    """`python -m detector ...` as a person types it; the token comes only from --token."""
    env = {k: v for k, v in os.environ.items() if k != "DETECTOR_ADMIN_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "detector",
        *args,
        cwd=str(cwd),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def one_outage(w: World, a: Target, b: Target, n: int) -> list[Hook]:
    """Both probes' targets down at one moment, back once both are confirmed: what was said."""
    before = len(w.receiver.hooks)
    failed = a.failed_count(), b.failed_count()
    set_health([a, b], False)
    await until(
        lambda: len(w.receiver.events("incident.opened")) >= n, WITHIN, f"incident.opened #{n}"
    )
    # both probes confirmed before they pass again (so recovery is one story too)
    await until(
        lambda: a.failed_count() >= failed[0] + 3 and b.failed_count() >= failed[1] + 3,
        WITHIN,
        "three failed checks of each probe",
    )
    set_health([a, b], True)
    await until(
        lambda: len(w.receiver.events("incident.resolved")) >= n,
        WITHIN + 1.5,
        f"incident.resolved #{n}",
    )
    return w.receiver.hooks[before:]


async def test_two_probes_out_of_phase_tell_one_full_outage(world: World) -> None:
    w = world
    a, b = await w.target(), await w.target()
    config, port = w.configure([component("api", [("api-a", a), ("api-b", b)])])
    await w.daemon(config, port)
    await more_checks([a, b])
    assert w.receiver.hooks == []
    rounds = [await one_outage(w, a, b, n) for n in range(1, 4)]  # the same story each time
    told = [
        [(h.body["notice"]["kind"], h.body["incident"]["severity"]) for h in hooks]
        for hooks in rounds
    ]
    assert [story(hooks) for hooks in rounds] == 3 * [
        [
            ("incident.opened", "opened"),
            ("incident.updated", "monitoring"),
            ("incident.resolved", "resolved"),
        ]
    ], told
    ids: list[str] = []
    for hooks in rounds:
        opened = hooks[0].body
        assert opened["incident"]["severity"] == "major_outage"  # the full outage, at once
        assert opened["incident"]["components"] == ["api"]
        assert {h.body["incident"]["id"] for h in hooks} == {opened["incident"]["id"]}
        assert [h.body["notice"]["sequence"] for h in hooks] == [1, 2, 3]
        assert all(h.body["incident"]["severity"] == "major_outage" for h in hooks), told
        ids.append(opened["incident"]["id"])
    assert len(set(ids)) == 3  # each outage its own incident, after the last one resolved
    await more_checks([a, b])  # a while longer: nothing more to say
    assert len(w.receiver.hooks) == 9
    assert not [h for h in w.receiver.hooks if h.body["notice"]["kind"] == "severity_changed"]
    assert w.receiver.bad_signatures == 0


async def test_components_failing_within_group_within_are_one_incident(world: World) -> None:
    w = world
    api, web, pay = await w.target(), await w.target(), await w.target()
    sendgrid = await w.sendgrid()
    config, port = w.configure(
        [
            component("api", [("api-health", api)]),
            component("web", [("web-login", web)]),
            component("pay", [("pay-checkout", pay)]),
        ],
        sendgrid=sendgrid,
        detection={"group_within": "1m"},
        subscribers=[
            {"name": "Ola Customer", "email": SUBSCRIBER, "components": ["api", "web", "pay"]}
        ],
    )
    await w.daemon(config, port)
    await more_checks([api, web, pay])

    set_health([api, web], False)
    await until(lambda: bool(w.receiver.events("incident.opened")), WITHIN, "incident.opened")
    iid = w.receiver.events("incident.opened")[0].body["incident"]["id"]

    def affected() -> list[str]:
        hooks = incident_hooks(w.receiver)
        return sorted(hooks[-1].body["incident"]["components"]) if hooks else []

    await until(lambda: affected() == ["api", "web"], WITHIN, "api and web in the incident")
    await asyncio.sleep(2.0)  # "a few seconds later"
    set_health([pay], False)
    await until(lambda: affected() == ["api", "pay", "web"], WITHIN, "pay in the incident")
    set_health([api, web, pay], True)
    await until(lambda: bool(w.receiver.events("incident.resolved")), WITHIN + 1.5, "resolved")
    await more_checks([api, web, pay])  # a while longer: nothing more to say

    hooks = incident_hooks(w.receiver)
    assert {h.body["incident"]["id"] for h in hooks} == {iid}  # one outage, one incident
    assert len(w.receiver.events("incident.opened")) == 1
    pay_joined = [
        h.body
        for h in w.receiver.events("incident.updated", "expanded")
        if "pay" in h.body["incident"]["components"] and NAMES["pay"] in h.body["notice"]["text"]
    ]
    assert len(pay_joined) == 1, story(hooks)
    # one e-mail per notice to the subscriber of all three, naming every component it affects
    notice_ids = [h.body["notice_id"] for h in hooks]
    await until(lambda: set(mails(sendgrid)) >= set(notice_ids), WITHIN, "every e-mail")
    by_notice = mails(sendgrid)
    assert sorted(by_notice) == sorted(notice_ids)
    for hook in hooks:
        [body] = by_notice[hook.body["notice_id"]]
        assert recipients(body) == [SUBSCRIBER]
        text = mail_text(body)
        missing = [NAMES[c] for c in hook.body["incident"]["components"] if NAMES[c] not in text]
        assert not missing, (hook.body["notice"]["kind"], missing, text)
    # the story: api and web, failing together, are told together; pay joining is one update
    opened = hooks[0].body
    assert sorted(opened["incident"]["components"]) == ["api", "web"], [
        (h.body["notice"]["kind"], h.body["incident"]["components"]) for h in hooks
    ]
    assert story(hooks) == [
        ("incident.opened", "opened"),
        ("incident.updated", "expanded"),
        ("incident.updated", "monitoring"),
        ("incident.resolved", "resolved"),
    ]
    assert w.receiver.bad_signatures == 0


async def test_a_persons_status_sticks_through_an_automatic_change(world: World) -> None:
    w = world
    a, b = await w.target(), await w.target()
    sendgrid = await w.sendgrid()
    config, port = w.configure(
        [component("api", [("api-a", a), ("api-b", b)])],
        sendgrid=sendgrid,
        admin=True,
        subscribers=[{"name": "Ola Customer", "email": SUBSCRIBER}],
    )
    daemon = await w.daemon(config, port)
    await more_checks([a, b])

    set_health([a, b], False)
    await until(lambda: bool(w.receiver.events("incident.opened")), WITHIN, "incident.opened")
    iid = w.receiver.events("incident.opened")[0].body["incident"]["id"]

    async def full_outage() -> bool:
        return bool(
            (await daemon.get_json(f"/api/v1/incidents/{iid}"))["severity"] == "major_outage"
        )

    # both probes confirmed (whether that was said in one notice is the first test's business)
    await until(full_outage, WITHIN, "a full outage")
    admin = ("--url", daemon.url(""), "--token", ADMIN_TOKEN)

    code, out, err = await cli(
        w.tmp, "incidents", "update", iid, "-m", "We know what it is", "-s", "identified", *admin
    )
    assert code == 0, err
    await until(lambda: bool(w.receiver.events("incident.updated", "human")), WITHIN, "the update")
    [human_hook] = w.receiver.events("incident.updated", "human")
    human = human_hook.body
    assert f"published notice {human['notice']['sequence']} " in out
    assert human["incident"]["status"] == "identified"
    assert "We know what it is" in human["notice"]["text"]

    set_health([a], True)  # one probe of two back: a partial outage now

    def changed_after() -> list[Hook]:
        later = w.receiver.hooks[w.receiver.hooks.index(human_hook) + 1 :]
        return [h for h in later if h.body["notice"]["kind"] == "severity_changed"]

    await until(lambda: bool(changed_after()), WITHIN, "severity_changed")
    [changed] = changed_after()
    assert changed.body["incident"]["severity"] == "partial_outage"
    assert changed.body["incident"]["status"] == "identified"  # the person's word stuck
    status = await daemon.get_json(f"/api/v1/incidents/{iid}")
    assert status["status"] == "identified" and status["severity"] == "partial_outage"

    code, out, err = await cli(w.tmp, "incidents", "cause", iid, "-m", "A bad deploy", *admin)
    assert code == 0, err
    await until(
        lambda: bool(w.receiver.events("incident.updated", "identified")), WITHIN, "the cause"
    )
    [cause] = w.receiver.events("incident.updated", "identified")
    assert cause.body["incident"]["status"] == "identified"
    assert cause.body["incident"]["severity"] == "partial_outage"
    assert "A bad deploy" in cause.body["notice"]["text"]
    await until(lambda: cause.body["notice_id"] in mails(sendgrid), WITHIN, "the cause by e-mail")
    [mail] = mails(sendgrid)[cause.body["notice_id"]]
    assert recipients(mail) == [SUBSCRIBER] and "A bad deploy" in mail_text(mail)

    assert len(w.receiver.events("incident.opened")) == 1
    assert story(w.receiver.hooks[w.receiver.hooks.index(human_hook) :]) == [
        ("incident.updated", "human"),
        ("incident.updated", "severity_changed"),
        ("incident.updated", "identified"),
    ]
    assert w.receiver.bad_signatures == 0
