"""Issue 14, done-when 1: the real thing. A Prometheus rule fires on a metric the test
controls → Alertmanager → `POST /api/v1/alertmanager` on a running detector → one customer
notice naming the component in plain words; Alertmanager's repeats open nothing new; the rule
clears → recovery and resolution. Prometheus and Alertmanager run from their Debian packages
on 127.0.0.1 (CI installs them); without them the test says so and skips."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.e2e.harness import DaemonProcess, Receiver, Target, free_port, until, write_config

TOKEN = "am-receiver-token-5d2e"
AM = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(
    AM is None or PROM is None,
    reason="needs prometheus and prometheus-alertmanager (Debian packages; CI installs them)",
)


class Gauge:
    """A /metrics endpoint whose one gauge the test sets: the service's error signal."""

    def __init__(self) -> None:
        self.value = 0
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        text = f"# TYPE demo_api_errors gauge\ndemo_api_errors {self.value}\n"
        return web.Response(text=text, content_type="text/plain")

    async def start(self) -> Gauge:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@contextlib.asynccontextmanager
async def process(*argv: str, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=sink, stderr=sink)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_prometheus_alertmanager_detector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert AM is not None and PROM is not None
    monkeypatch.setenv("ALERTMANAGER_TOKEN", TOKEN)
    target, receiver, gauge = await Target().start(), await Receiver().start(), Gauge()
    await gauge.start()
    config, port = write_config(
        tmp_path,
        target,
        receiver,
        detection={"interval": "300ms", "stable_for": "1s"},
        cadence={"major_outage": "5m", "partial_outage": "5m", "degraded": "5m"},
        components=[
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API, and integrations stop syncing.",
                "alerts": {"matchers": ['alertname="ApiErrors"', 'severity=~"page|critical"']},
                "probes": [
                    {
                        "name": "api-health",
                        "http": {"url": f"http://127.0.0.1:{target.port}/healthz"},
                    }
                ],
            }
        ],
        extra={"server": {"listen": "", "alertmanager_token": "${ALERTMANAGER_TOKEN}"}},
    )
    raw = yaml.safe_load(config.read_text())
    raw["server"]["listen"] = f"127.0.0.1:{port}"
    config.write_text(yaml.safe_dump(raw))

    am_port, prom_port = free_port(), free_port()
    (tmp_path / "am.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "detector",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "2s",
                },
                "receivers": [
                    {
                        "name": "detector",
                        "webhook_configs": [
                            {
                                "url": f"http://127.0.0.1:{port}/api/v1/alertmanager",
                                "send_resolved": True,
                                "http_config": {"authorization": {"credentials": TOKEN}},
                            }
                        ],
                    }
                ],
            }
        )
    )
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "demo",
                        "rules": [
                            {
                                "alert": "ApiErrors",
                                "expr": "demo_api_errors > 0",
                                "for": "0s",
                                "labels": {"severity": "page", "service": "api"},
                                "annotations": {
                                    "summary": "5xx on api-gw-7f9c behind db-primary.internal"
                                },
                            }
                        ],
                    }
                ]
            }
        )
    )
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "demo",
                        "static_configs": [{"targets": [f"127.0.0.1:{gauge.port}"]}],
                    }
                ],
            }
        )
    )
    daemon = await DaemonProcess(config, port, tmp_path / "daemon.log").start()
    try:
        async with (
            process(
                AM,
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                log=tmp_path / "alertmanager.log",
            ),
            process(
                PROM,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                log=tmp_path / "prometheus.log",
            ),
        ):
            async with aiohttp.ClientSession() as s:

                async def up(url: str) -> bool:
                    try:
                        async with s.get(url) as r:
                            return r.status == 200
                    except OSError:
                        return False

                await until(lambda: up(f"http://127.0.0.1:{am_port}/-/ready"), 20, "alertmanager")
                await until(lambda: up(f"http://127.0.0.1:{prom_port}/-/ready"), 20, "prometheus")

            gauge.value = 1  # the service starts failing: the rule fires
            await until(lambda: bool(receiver.events("incident.opened")), 45, "incident.opened")
            [opened] = receiver.events("incident.opened")
            notice = opened.body["notice"]
            assert opened.body["incident"]["components"] == ["api"]
            assert "Public API" in notice["text"]
            for internal in ("ApiErrors", "db-primary", "api-gw", "severity=page"):
                assert internal not in notice["text"]  # the alert's words are for operators
            assert any("ApiErrors firing" in e["detail"] for e in opened.body["evidence"])

            await asyncio.sleep(5)  # Alertmanager repeats the notification (repeat 2s)
            assert len(receiver.events("incident.opened")) == 1
            assert not receiver.events("incident.updated")

            gauge.value = 0  # fixed: the rule clears
            await until(lambda: bool(receiver.events("incident.resolved")), 45, "resolved")
            kinds = [h.body["notice"]["kind"] for h in receiver.hooks]
            assert kinds == ["opened", "monitoring", "resolved"], kinds
            assert receiver.bad_signatures == 0
    finally:
        await daemon.stop()
        await target.stop()
        await receiver.stop()
        await gauge.stop()
    assert os.path.exists(tmp_path / "alertmanager.log")
