"""Issue 14: operators hear what customers never do. A notice a channel gave up on is told
on the operators' other channels (`notice.dead`); a report promised to customers whose date
passes without a published post-mortem is told once (`report.overdue`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from detector.config import parse_config
from detector.daemon import Daemon
from tests.e2e.harness import SECRET, Receiver, Target, free_port, until, write_config


async def test_dead_notice_and_overdue_report_reach_operators(tmp_path: Path) -> None:
    target, receiver = await Target().start(), await Receiver().start()
    nobody = free_port()  # a webhook nobody answers: its notices die
    path, _ = write_config(
        tmp_path,
        target,
        receiver,
        detection={"stable_for": "300ms"},
        extra={"notify": {"give_up_after": "1s"}},
    )
    raw = yaml.safe_load(path.read_text())
    raw["service"]["report_within"] = "2s"
    raw["channels"] = [
        {
            "type": "webhook",
            "url": f"http://127.0.0.1:{receiver.port}/hook",
            "secret": "${WEBHOOK_SECRET}",
        },
        {
            "type": "webhook",
            "url": f"http://127.0.0.1:{nobody}/hook",
            "secret": "${WEBHOOK_SECRET}",
            "events": ["incident.opened"],
        },
    ]
    config = parse_config(yaml.safe_dump(raw), env={"WEBHOOK_SECRET": SECRET})
    daemon = Daemon(config, tmp_path, outbox_base_backoff=0.1, history_flush=0.5)
    await daemon.start()
    try:
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
        await until(lambda: bool(receiver.events("notice.dead")), 10, "notice.dead")
        [dead] = receiver.events("notice.dead")
        opened = receiver.events("incident.opened")[0].body["notice_id"]
        assert dead.body["dead"]["notice_id"] == opened
        assert dead.body["dead"]["channel"] == "webhook-1"
        target.healthy = True
        await until(lambda: bool(receiver.events("incident.resolved")), 10, "resolved")
        await until(lambda: bool(receiver.events("report.overdue")), 15, "report.overdue")
        await asyncio.sleep(3)  # housekeeping runs again: told once, not on every pass
        [overdue] = receiver.events("report.overdue")
        assert overdue.body["incident"]["id"] == dead.body["dead"]["notice_id"].rsplit(".", 1)[0]
        assert len(receiver.events("notice.dead")) == 1
    finally:
        await daemon.stop(1.0)
        await target.stop()
        await receiver.stop()
