"""Several `detector run` subprocesses on one PostgreSQL: each with its own vantage, port and
path to the service (a Target of its own, so one vantage can lose the service while others
still see it)."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, web

from tests.e2e.harness import DaemonProcess, Receiver, free_port, until


class FromReceiver(Receiver):
    """The webhook receiver, noting which instance sent each notice (`?from=` in the URL
    each instance's config gives it)."""

    async def _handle(self, request: web.Request) -> web.Response:
        before = len(self.hooks)
        response = await super()._handle(request)
        if len(self.hooks) > before:
            self.hooks[-1].headers["x-from"] = request.query.get("from", "")
        return response


METRIC = re.compile(r"^(detector_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$", re.M)


def cluster_config(
    folder: Path,
    name: str,
    storage: str,
    receiver: Receiver,
    *,
    lease: str = "1s",
    components: list[dict[str, Any]] | None = None,
    detection: dict[str, Any] | None = None,
    cadence: dict[str, str] | None = None,
) -> tuple[Path, int]:
    """One instance's config; the probe's address comes from TARGET_PORT in its environment
    (each vantage its own path to the service)."""
    port = free_port()
    cfg: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "status_page_url": "https://status.acme.example/",
            "timezone": "Europe/Warsaw",
            "contact": {"name": "Jane Doe, Head of Operations", "email": "ops@acme.example"},
            "report_within": "5d",
        },
        "server": {"listen": f"127.0.0.1:{port}", "admin_token": "${ADMIN_TOKEN}"},
        "storage": {"url": storage},
        "cluster": {"lease": lease},
        "detection": {
            "interval": "200ms",
            "timeout": "500ms",
            "failures_to_confirm": 3,
            "recheck_interval": "100ms",
            "successes_to_recover": 2,
            "stable_for": "1s",
            **(detection or {}),
        },
        "cadence": cadence or {"major_outage": "4s", "partial_outage": "4s", "degraded": "4s"},
        "components": components
        or [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {
                        "name": "api-health",
                        "http": {
                            "url": "http://127.0.0.1:${TARGET_PORT}/healthz",
                            "expect": {"status": [200]},
                        },
                    }
                ],
            }
        ],
        "channels": [
            {
                "type": "webhook",
                # who sent it, for the receiver (`Hook.headers["x-from"]`): one URL each
                "url": f"http://127.0.0.1:{receiver.port}/hook?from={name}",
                "secret": "${WEBHOOK_SECRET}",
            }
        ],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, port


class Instance(DaemonProcess):
    """One `detector run` of several: its vantage and path to the service in `env`."""

    def __init__(self, name: str, config: Path, port: int, env: dict[str, str]) -> None:
        super().__init__(
            config,
            port,
            config.with_suffix(".log"),
            env={
                "ADMIN_TOKEN": "admin-token-123456",
                "DETECTOR_ADVERTISE": f"http://127.0.0.1:{port}",
                **env,
            },
            ready_within=30,
        )
        self.name = name

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def metrics(self) -> dict[str, float]:
        """Unlabelled samples, and labelled ones summed per name."""
        async with ClientSession() as s, s.get(self.url("/metrics")) as r:
            body = await r.text()
        out: dict[str, float] = {}
        for name, _labels, value in METRIC.findall(body):
            out[name] = out.get(name, 0.0) + float(value)
        return out

    async def metric(self, name: str) -> float:
        return (await self.metrics()).get(name, 0.0)

    async def sent(self) -> float:
        """Notices this process delivered (its own counter: who sent what)."""
        async with ClientSession() as s, s.get(self.url("/metrics")) as r:
            body = await r.text()
        return sum(
            float(v)
            for n, labels, v in METRIC.findall(body)
            if n == "detector_notices_total" and 'outcome="sent"' in labels
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self) -> int:
        if self.alive:  # a paused one must run again to stop
            self.signal(signal.SIGCONT)
        return await super().stop()


async def leaders(instances: list[Instance]) -> list[Instance]:
    out = []
    for i in instances:
        if i.alive and await i.metric("detector_leader") == 1:
            out.append(i)
    return out


async def one_leader(instances: list[Instance], timeout: float = 15) -> Instance:
    found: list[Instance] = []

    async def exactly_one() -> bool:
        nonlocal found
        found = await leaders(instances)
        return len(found) == 1

    await until(exactly_one, timeout, "exactly one leader")
    return found[0]
