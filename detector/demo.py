"""`detector demo`: the whole cycle in under a minute, locally, with no credentials.

A small local service breaks and recovers; the real daemon (same code as `detector run`) probes
it, confirms the outage, publishes notices on its cadence and resolves. Notices print as they
are published; the status page stays up on a local port throughout.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import yaml
from aiohttp import ClientSession, web

from detector import logs
from detector.config import parse_config
from detector.daemon import Daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DemoService:
    """The service under watch: healthy until told otherwise."""

    def __init__(self) -> None:
        self.healthy = True
        self.runner: web.AppRunner | None = None
        self.port = free_port()

    async def _health(self, request: web.Request) -> web.Response:
        if self.healthy:
            return web.Response(text="ok")
        return web.Response(status=503, text="unavailable")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def demo_config(service_port: int, web_port: int, db: Path) -> dict[str, object]:
    return {
        "service": {
            "name": "Acme Cloud (demo)",
            "status_page_url": f"http://127.0.0.1:{web_port}/",
            "timezone": "Europe/Warsaw",
            "contact": {
                "name": "Jane Doe, Head of Operations",
                "email": "ops@acme.example",
                "phone": "+48 22 555 0100",
            },
            "report_within": "5d",
        },
        "server": {"listen": f"127.0.0.1:{web_port}"},
        "storage": {"url": f"sqlite:///{db}"},
        "detection": {
            "interval": "1s",
            "timeout": "500ms",
            "failures_to_confirm": 3,
            "recheck_interval": "300ms",
            "successes_to_recover": 2,
            "stable_for": "5s",
        },
        "cadence": {"major_outage": "6s", "partial_outage": "8s", "degraded": "10s"},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                # in every language the status page speaks (CONTRACT §3, §7.10)
                "impact": {
                    "en": "You cannot reach the API, and integrations stop syncing.",
                    "pl": "Nie można połączyć się z API, a integracje przestają się "
                    "synchronizować.",
                    "fr": "Vous ne pouvez pas accéder à l'API et les intégrations ne se "
                    "synchronisent plus.",
                    "ar": "لا يمكنكم الوصول إلى واجهة البرمجة، وتتوقف مزامنة عمليات التكامل.",
                    "id": "Anda tidak dapat mengakses API, dan integrasi berhenti menyinkronkan "
                    "data.",
                },
                "probes": [
                    {
                        "name": "api-health",
                        "http": {
                            "url": f"http://127.0.0.1:{service_port}/healthz",
                            "expect": {"status": [200], "body_contains": "ok"},
                        },
                    }
                ],
            }
        ],
        "channels": [{"type": "console"}],
    }


async def _wait_for(cond: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await cond():
            return True
        await asyncio.sleep(0.1)
    return False


async def run_demo(out: TextIO = sys.stdout) -> int:
    def say(text: str) -> None:
        out.write(f"\n▶ {text}\n")
        out.flush()

    service = DemoService()
    await service.start()
    web_port = free_port()
    with tempfile.TemporaryDirectory(prefix="detector-demo-") as tmp:
        raw = demo_config(service.port, web_port, Path(tmp) / "demo.db")
        config = parse_config(yaml.safe_dump(raw), env={})
        daemon = Daemon(config, Path(tmp), outbox_base_backoff=0.2, history_flush=1.0)
        await daemon.start()
        status_url = f"http://127.0.0.1:{web_port}"
        try:
            say(
                f"A local service is up; the detector checks it every second. "
                f"Status page: {status_url}/"
            )
            await asyncio.sleep(2.5)
            say("Breaking the service (it now answers 503)…")
            service.healthy = False

            async def has(event: str, count: int = 1) -> bool:
                incs = await daemon.store.incidents(limit=5)
                notices = await daemon.store.notices(i.id for i in incs)
                return sum(1 for ns in notices.values() for n in ns if n.event == event) >= count

            if not await _wait_for(lambda: has("incident.opened"), 20):
                say("No incident was opened — something is wrong.")
                return 1
            async with ClientSession() as http:
                async with http.get(f"{status_url}/api/v1/status") as resp:
                    status = await resp.json()
            say(
                f"Status API now says: {status['status']} "
                f"({', '.join(c['name'] + ': ' + c['status'] for c in status['components'])})"
            )
            say("The outage goes on; updates follow on the cadence (every 6 s in this demo)…")
            await _wait_for(lambda: has("incident.updated", 2), 20)
            say("Restoring the service…")
            service.healthy = True
            if not await _wait_for(lambda: has("incident.resolved"), 30):
                say("The incident did not resolve — something is wrong.")
                return 1
            await asyncio.sleep(0.5)
            incs = await daemon.store.incidents(limit=1)
            if incs:
                say(f"Resolved. The timeline is at {status_url}/api/v1/incidents/{incs[0].id}")
            say("Demo complete: detected, told, updated on schedule, recovered, resolved.")
            return 0
        finally:
            await daemon.stop(drain=5)
            await service.stop()


def main() -> int:
    logs.configure("critical")
    return asyncio.run(run_demo())
