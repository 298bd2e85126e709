"""Real parts for end-to-end tests: a target that breaks on demand, a webhook receiver that
verifies signatures, and the daemon as a subprocess (`python -m detector run`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, web

SECRET = "whsec-test-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(cond: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Target:
    """The service under watch; `pattern(i)` decides whether request i passes."""

    def __init__(self) -> None:
        self.healthy = True
        self.delay = 0.0  # answer slowly (still correctly): a degraded service
        self.pattern: Callable[[int], bool] | None = None
        self.requests: list[tuple[float, bool]] = []  # (time, ok)
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        i = len(self.requests)
        ok = self.pattern(i) if self.pattern else self.healthy
        self.requests.append((time.time(), ok))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(text="ok") if ok else web.Response(status=503, text="down")

    def failed_count(self) -> int:
        return sum(1 for _, ok in self.requests if not ok)

    async def start(self) -> Target:
        app = web.Application()
        app.router.add_get("/healthz", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@dataclass
class Hook:
    at: float
    event: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Receiver:
    secret: str = SECRET
    hooks: list[Hook] = field(default_factory=list)
    bad_signatures: int = 0
    port: int = field(default_factory=free_port)
    fail_next: int = 0
    runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Detector-Signature", "")):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        body = json.loads(raw)
        assert request.headers["Idempotency-Key"] == body["notice_id"]
        assert request.headers["X-Detector-Event"] == body["event"]
        self.hooks.append(Hook(time.time(), body["event"], body, dict(request.headers)))
        return web.Response(status=204)

    def events(self, event: str | None = None, kind: str | None = None) -> list[Hook]:
        return [
            h
            for h in self.hooks
            if (event is None or h.event == event)
            and (kind is None or h.body.get("notice", {}).get("kind") == kind)
        ]

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


def api_component(target: Target) -> dict[str, Any]:
    """The "Public API" component, probed at `target`'s /healthz."""
    return {
        "id": "api",
        "name": "Public API",
        "impact": "You cannot reach the API, and integrations stop syncing.",
        "probes": [
            {
                "name": "api-health",
                "http": {
                    "url": f"http://127.0.0.1:{target.port}/healthz",
                    "expect": {"status": [200], "body_contains": "ok"},
                },
            }
        ],
    }


def write_config(
    tmp: Path,
    target: Target,
    receiver: Receiver,
    *,
    detection: dict[str, Any] | None = None,
    cadence: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    components: list[dict[str, Any]] | None = None,
    storage: str | None = None,
) -> tuple[Path, int]:
    """The daemon's config in `tmp`; its store a SQLite file there unless `storage` names one
    (the `storage_url` fixture: each backend in turn)."""
    port = free_port()
    cfg: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "status_page_url": "https://status.acme.example/",
            "timezone": "Europe/Warsaw",
            "contact": {"name": "Jane Doe, Head of Operations", "email": "ops@acme.example"},
            "report_within": "5d",
        },
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": storage or f"sqlite:///{tmp / 'detector.db'}"},
        "detection": {
            "interval": "200ms",
            "timeout": "500ms",
            "failures_to_confirm": 3,
            "recheck_interval": "100ms",
            "successes_to_recover": 2,
            "stable_for": "1500ms",
            **(detection or {}),
        },
        "cadence": cadence or {"major_outage": "2s", "partial_outage": "3s", "degraded": "4s"},
        "components": components or [api_component(target)],
        "channels": [
            {
                "type": "webhook",
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "secret": "${WEBHOOK_SECRET}",
            }
        ],
        **(extra or {}),
    }
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, port


class DaemonProcess:
    def __init__(
        self,
        config: Path,
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
        ready_within: float = 20,
    ) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.env = env or {}  # beside the webhook secret
        self.ready_within = ready_within
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> DaemonProcess:
        env = {**os.environ, "WEBHOOK_SECRET": SECRET, **self.env}
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "detector",
                "run",
                "-c",
                str(self.config),
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(self.config.parent),
            )
        await until(self._ready, self.ready_within, "the daemon to be ready")
        return self

    async def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()}")
        try:
            async with ClientSession() as s, s.get(self.url("/readyz")) as r:
                return r.status == 200
        except OSError:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def get_json(self, path: str) -> Any:
        async with ClientSession() as s, s.get(self.url(path)) as r:
            return await r.json()

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.returncode is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()
