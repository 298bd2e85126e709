"""Issue 9: SIGHUP is a diff. With one probe's URL changed, the other probes keep their
streaks (a suspect streak under way completes on time), metric counters go on, and an open
incident goes on (same incident, its updates on the cadence, no second "opened")."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import yaml

from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config

RECHECK = 0.3
FAILURES = 6


def component(cid: str, target: Target, path: str = "/healthz") -> dict[str, object]:
    return {
        "id": cid,
        "name": cid.title(),
        "impact": f"You cannot use {cid}.",
        "probes": [
            {"name": f"{cid}-probe", "http": {"url": f"http://127.0.0.1:{target.port}{path}"}}
        ],
    }


async def checks_total(daemon: DaemonProcess) -> float:
    async with aiohttp.ClientSession() as s, s.get(daemon.url("/metrics")) as r:
        text = await r.text()
    return sum(
        float(m) for m in re.findall(r"^detector_probe_checks_total\{[^}]*\} (\S+)$", text, re.M)
    )


async def test_sighup_keeps_streaks_counters_and_incidents(tmp_path: Path) -> None:
    web, api, docs = Target(), Target(), Target()
    for t in (web, api, docs):
        await t.start()
    receiver = await Receiver().start()
    path, port = write_config(
        tmp_path,
        web,
        receiver,
        detection={
            "interval": "300ms",
            "failures_to_confirm": FAILURES,
            "recheck_interval": f"{int(RECHECK * 1000)}ms",
            "group_within": "0s",
        },
        cadence={"major_outage": "1s", "partial_outage": "2s", "degraded": "3s"},
        components=[component("web", web), component("api", api), component("docs", docs)],
    )
    daemon = await DaemonProcess(path, port, tmp_path / "daemon.log").start()
    try:
        web.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "web's incident")
        [web_opened] = receiver.events("incident.opened")
        counted = await checks_total(daemon)

        api.healthy = False  # a suspect streak begins...
        await until(lambda: api.failed_count() >= 2, 5, "api's streak under way")
        first_failure = next(at for at, ok in api.requests if not ok)
        raw = yaml.safe_load(path.read_text())
        raw["components"][2]["probes"][0]["http"]["url"] += "?changed=1"
        path.write_text(yaml.safe_dump(raw))
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)  # ...and the configuration is reloaded

        await until(lambda: len(receiver.events("incident.opened")) == 2, 10, "api's incident")
        api_opened = receiver.events("incident.opened")[1]
        took = api_opened.at - first_failure
        assert took <= (FAILURES - 1) * RECHECK + 0.6, f"the streak started over: {took:.2f}s"
        assert await checks_total(daemon) >= counted  # counters were not reset

        # web's incident goes on: same id, its updates keep coming on the cadence
        web_id = web_opened.body["incident"]["id"]
        before = len(
            [h for h in receiver.events("incident.updated") if h.body["incident"]["id"] == web_id]
        )
        await asyncio.sleep(2.2)
        after = [
            h for h in receiver.events("incident.updated") if h.body["incident"]["id"] == web_id
        ]
        assert len(after) >= before + 2
        assert [h.body["incident"]["id"] for h in receiver.events("incident.opened")].count(
            web_id
        ) == 1
        assert "configuration reloaded" in (tmp_path / "daemon.log").read_text()
    finally:
        await daemon.stop()
        for t in (web, api, docs):
            await t.stop()
        await receiver.stop()
