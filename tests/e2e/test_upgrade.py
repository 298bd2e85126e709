"""A store from before several instances (Alembic revision v3), left mid-incident by the
previous release, upgrades when `detector run` starts and the incident carries on: its
promised update comes, no second "opened". On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from detector.store import migrations as m
from detector.store.store import async_url
from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config


async def downgrade(url: str, revision: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(m.alembic_config(c), revision))
    finally:
        await engine.dispose()


async def test_a_v3_store_mid_incident_upgrades_and_the_incident_goes_on(
    tmp_path: Path, storage_url: str
) -> None:
    target = await Target().start()
    receiver = await Receiver().start()
    daemons: list[DaemonProcess] = []
    try:
        config, port = write_config(
            tmp_path, target, receiver, cadence={"major_outage": "3s"}, storage=storage_url
        )
        log = tmp_path / "daemon.log"
        daemon = await DaemonProcess(config, port, log).start()
        daemons.append(daemon)
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
        await daemon.stop()
        await downgrade(storage_url, "v3")  # the schema the release before this one left

        daemon2 = await DaemonProcess(config, port, log).start()
        daemons.append(daemon2)
        assert f"to revision {m.head()}" in log.read_text()  # upgraded on start, said so
        await until(lambda: bool(receiver.events("incident.updated")), 10, "the next update")
        [opened] = receiver.events("incident.opened")
        update = receiver.events("incident.updated")[0]
        assert update.body["incident"]["id"] == opened.body["incident"]["id"]
        target.healthy = True
        await until(lambda: bool(receiver.events("incident.resolved")), 15, "resolution")
        await asyncio.sleep(0.3)
        assert len(receiver.events("incident.opened")) == 1
    finally:
        for d in daemons:
            await d.stop()
        await target.stop()
        await receiver.stop()
