"""Issue 8 against the real process: `detector run --log-level debug`, its secrets given as
`${ENV}` in the YAML, goes through an incident — notices by webhook, SendGrid and Twilio (the
doubles, plus providers that echo the credential back in their errors), an admin update made
with the bearer token, the recovery — and no line it wrote, on stdout or stderr, holds a secret
raw, URL-encoded, base64 or as a base64 Basic pair. Nor does the outbox's last_error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession

from detector.store import Store
from tests.doubles import SendGridDouble, TwilioDouble, start_sendgrid_double, start_twilio_double
from tests.doubles.twilio_double import DEFAULT_SID
from tests.e2e.harness import (
    DaemonProcess,
    Receiver,
    Target,
    api_component,
    free_port,
    until,
)
from tests.test_logs import EchoProvider, leaks

# Characters URL-encoding and base64 both change, so each form is a different string to miss.
SECRETS = {
    "ADMIN_TOKEN": "adm1n+Tok3n/e2e=x&y",
    "WEBHOOK_SECRET": "whsec+e2e/S3cr3t=&q",
    "SENDGRID_API_KEY": "SG.e2e+key/0123456789=abc&def",
    "TWILIO_AUTH_TOKEN": "tw+e2e/t0ken=0123456789&abc",
}


@dataclass
class World:
    tmp: Path
    target: Target
    receiver: Receiver
    sendgrid: SendGridDouble
    twilio: TwilioDouble
    echo: EchoProvider


class DebugDaemon(DaemonProcess):
    """`python -m detector run --log-level debug`, secrets in its environment, stdout and
    stderr kept apart."""

    def __init__(self, config: Path, port: int, tmp: Path) -> None:
        super().__init__(config, port, tmp / "stderr.log")
        self.out = tmp / "stdout.log"

    async def start(self) -> DebugDaemon:
        env = {**os.environ, **SECRETS}
        with self.out.open("ab") as out, self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "detector",
                "run",
                "-c",
                str(self.config),
                "--log-level",
                "debug",
                stdout=out,
                stderr=err,
                env=env,
                cwd=str(self.config.parent),
            )
        await until(self._ready, 20, "the daemon to be ready")
        return self


def write_config(w: World) -> tuple[Path, int]:
    port = free_port()
    sendgrid = {"type": "sendgrid", "api_key": "${SENDGRID_API_KEY}", "from": "status@acme.example"}
    twilio = {
        "type": "twilio",
        "account_sid": DEFAULT_SID,
        "auth_token": "${TWILIO_AUTH_TOKEN}",
        "from": "+15550100",
    }
    cfg: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "status_page_url": "https://status.acme.example/",
            "contact": {"name": "Jane Doe", "email": "ops@acme.example"},
        },
        "server": {"listen": f"127.0.0.1:{port}", "admin_token": "${ADMIN_TOKEN}"},
        "storage": {"url": f"sqlite:///{w.tmp / 'detector.db'}"},
        "detection": {
            "interval": "200ms",
            "timeout": "500ms",
            "failures_to_confirm": 3,
            "recheck_interval": "100ms",
            "successes_to_recover": 2,
            "stable_for": "1s",
        },
        "cadence": {"major_outage": "10m", "partial_outage": "10m", "degraded": "10m"},
        "components": [api_component(w.target)],
        "subscribers": [
            {"name": "Globex Ops", "email": "ops@globex.example", "phone": "+48225550100"}
        ],
        "channels": [
            {
                "type": "webhook",
                "url": f"http://127.0.0.1:{w.receiver.port}/hook",
                "secret": "${WEBHOOK_SECRET}",
            },
            {**sendgrid, "api_base": w.sendgrid.url},
            {**twilio, "api_base": w.twilio.url},
            # providers (or proxies) that echo the credential back in their error bodies
            {**sendgrid, "api_base": w.echo.url},
            {**twilio, "api_base": w.echo.url},
        ],
    }
    path = w.tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert not leaks(path.read_text(), *SECRETS.values())  # only ${NAME} references
    return path, port


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(
        tmp_path,
        await Target().start(),
        await Receiver(SECRETS["WEBHOOK_SECRET"]).start(),
        await start_sendgrid_double(SECRETS["SENDGRID_API_KEY"]),
        await start_twilio_double(DEFAULT_SID, SECRETS["TWILIO_AUTH_TOKEN"]),
        await EchoProvider().start(),
    )
    yield w
    for part in (w.echo, w.twilio, w.sendgrid, w.receiver, w.target):
        await part.stop()


async def admin(
    daemon: DebugDaemon, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        ClientSession() as s,
        s.request(method, daemon.url(path), json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_no_secret_in_any_form_in_the_daemons_output(world: World) -> None:
    w = world
    config, port = write_config(w)
    daemon = await DebugDaemon(config, port, w.tmp).start()
    try:
        token = SECRETS["ADMIN_TOKEN"]
        await until(lambda: len(w.target.requests) >= 2, 5, "a few healthy checks")
        w.target.healthy = False
        await until(lambda: bool(w.receiver.events("incident.opened")), 10, "the webhook notice")
        await until(
            lambda: bool(w.sendgrid.requests and w.twilio.requests) and w.echo.seen >= 2,
            10,
            "e-mail and SMS through the doubles, and both echoing providers tried",
        )
        # the admin API, with the token: a wrong one refused, the right one heard
        status, _ = await admin(daemon, "GET", "/api/v1/incidents", "wrong-" + token)
        assert status == 200  # public view
        status, body = await admin(daemon, "GET", "/api/v1/incidents", token)
        assert status == 200 and len(body["incidents"]) == 1
        incident = body["incidents"][0]["id"]
        status, _ = await admin(
            daemon,
            "POST",
            f"/api/v1/admin/incidents/{incident}/updates",
            "wrong-" + token,
            {"message": "We are on it."},
        )
        assert status == 401
        status, _ = await admin(
            daemon,
            "POST",
            f"/api/v1/admin/incidents/{incident}/updates",
            token,
            {"message": "We found the cause.", "status": "identified"},
        )
        assert status in (200, 201)
        await until(lambda: len(w.receiver.hooks) >= 2, 10, "the update's webhook")
        w.target.healthy = True
        await until(lambda: bool(w.receiver.events("incident.resolved")), 10, "the recovery notice")
        await until(
            lambda: len(w.twilio.requests) >= 3 and w.echo.seen >= 6,
            10,
            "every notice through every provider",
        )
    finally:
        assert await daemon.stop() == 0

    err = (w.tmp / "stderr.log").read_text()
    out = (w.tmp / "stdout.log").read_text()
    pairs = ((DEFAULT_SID, SECRETS["TWILIO_AUTH_TOKEN"]),)
    for name, text in (("stderr", err), ("stdout", out)):
        for n, line in enumerate(text.splitlines(), 1):
            found = leaks(line, *SECRETS.values(), pairs=pairs)
            assert not found, f"{name} line {n} holds {found}: {line[:300]}"

    records = [json.loads(line) for line in err.splitlines() if line.strip()]  # all JSON
    names = {r.get("logger") for r in records}
    assert {"detector", "detector.outbox", "detector.channels.webhook"} <= names, names
    # debug reached the libraries' plain stdlib loggers, rendered by the same chain as ours
    assert any(not str(n).startswith(("detector", "probes")) for n in names), names
    # the echoed credentials did reach the log, redacted
    refused = [
        r for r in records if r.get("event") in ("sendgrid send failed", "twilio send failed")
    ]
    assert {r["logger"] for r in refused} == {
        "detector.channels.sendgrid",
        "detector.channels.twilio",
    }
    assert all("[redacted]" in r["detail"] for r in refused)

    store = Store(f"sqlite:///{w.tmp / 'detector.db'}")
    try:
        rows = await store.outbox_rows()
    finally:
        await store.close()
    errors = [r.last_error for r in rows if r.last_error]
    assert errors and all("[redacted]" in e for e in errors)
    assert not leaks(repr(errors), *SECRETS.values(), pairs=pairs)
