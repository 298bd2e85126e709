"""Issue 8, done-when 2: a real disk-full run. The database lives on a small tmpfs that the test
fills right after "opened" went out. While it is full `/readyz` answers 503 naming the store;
no recipient gets any notice twice; once space is freed, nothing is lost: every stored notice
is delivered or was superseded by a newer one that was, and the incident resolves.

Mounting needs root (as in CI); elsewhere the test is skipped and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from detector.config import parse_config
from detector.daemon import Daemon
from detector.store import Store
from tests.delivery.doubles import start_sendgrid, start_twilio
from tests.delivery.stack import ENV, SERVICE, channel_configs, crowd, write_csv
from tests.e2e.harness import Receiver, Target, free_port, until

PEOPLE = 40


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk says it is full. Unbuffered: a buffered file could keep a short
    tail of the last write and fail again when closed, outside the suppress."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                os.fsync(f.fileno())
    return filler


async def test_disk_full_no_resend_nothing_lost(tmp_path: Path, small_disk: Path) -> None:
    target, receiver = await Target().start(), await Receiver().start()
    sendgrid, twilio = await start_sendgrid(), await start_twilio()
    people = crowd(PEOPLE)
    write_csv(tmp_path / "subscribers.csv", people)
    port = free_port()
    raw = {
        "service": SERVICE,
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": f"sqlite:///{small_disk / 'detector.db'}"},
        "detection": {
            "interval": "300ms",
            "timeout": "500ms",
            "failures_to_confirm": 3,
            "recheck_interval": "100ms",
            "successes_to_recover": 2,
            "stable_for": "1s",
        },
        "cadence": {"major_outage": "1s", "partial_outage": "2s", "degraded": "3s"},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {
                        "name": "api-health",
                        "http": {"url": f"http://127.0.0.1:{target.port}/healthz"},
                    }
                ],
            }
        ],
        "subscribers": [{"file": "subscribers.csv"}],
        "channels": channel_configs(
            sendgrid=sendgrid.url,
            twilio=twilio.url,
            webhook=f"http://127.0.0.1:{receiver.port}/hook",
        ),
    }
    config = parse_config(yaml.safe_dump(raw), env=ENV)
    daemon = Daemon(config, tmp_path, outbox_base_backoff=0.05, history_flush=0.5)
    await daemon.start()
    ready: list[tuple[int, str]] = []

    async def poll_ready() -> None:
        async with aiohttp.ClientSession() as s:
            while True:
                async with s.get(f"http://127.0.0.1:{port}/readyz") as r:
                    ready.append((r.status, await r.text()))
                await asyncio.sleep(0.1)

    poller = asyncio.create_task(poll_ready())
    try:
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
        filler = fill(small_disk)
        full_from = len(ready)
        await asyncio.sleep(3.0)  # updates fall due; the store cannot take them
        full = ready[full_from:]
        assert any(status == 503 and "store" in text for status, text in full), full[-3:]
        filler.unlink()
        await until(lambda: bool(ready) and ready[-1][0] == 200, 10, "ready again")
        await until(
            lambda: len(receiver.events("incident.updated", "update")) >= 1,
            10,
            "an update once the disk has room",
        )
        target.healthy = True
        await until(lambda: bool(receiver.events("incident.resolved")), 15, "resolved")
        await asyncio.sleep(0.5)  # room for a resend to show, if one were coming
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await daemon.stop(2.0)
        await target.stop()
        await receiver.stop()

    reader = Store(config.storage.url)
    await reader.open()
    try:
        rows = await reader.outbox_rows()
    finally:
        await reader.close()
    await sendgrid.stop()
    await twilio.stop()
    states = Counter(r.state for r in rows)
    assert set(states) <= {"sent", "superseded"}, states  # nothing pending, nothing dead
    # at most one copy per recipient per notice: exactly one for each row recorded as sent
    hooks = Counter(h.body["notice_id"] for h in receiver.events())
    assert max(hooks.values()) == 1, hooks
    assert set(hooks) == {
        r.notice_id for r in rows if r.channel.startswith("webhook") and r.state == "sent"
    }
    for double, field in ((sendgrid, "email"), (twilio, "phone")):
        kind = "sendgrid" if field == "email" else "twilio"
        expected: Counter[str] = Counter()
        for r in rows:
            if r.channel.startswith(kind) and r.state == "sent":
                expected.update(p[field] for p in r.recipients)
        assert Counter(double.accepted()) == expected
    resolved = [r for r in rows if r.event == "incident.resolved"]
    assert resolved and all(r.state == "sent" for r in resolved)
