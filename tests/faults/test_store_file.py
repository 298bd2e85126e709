"""Issue 8: a database file deleted or replaced while the daemon runs is detected: readiness
fails with one clear reason, the page does not turn into 500s, nothing is written to a ghost,
and no empty file quietly takes its place."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest

from detector.config import parse_config
from detector.daemon import Daemon
from tests.e2e.harness import SECRET, Receiver, Target, until, write_config


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_store_file_gone_fails_readiness(tmp_path: Path, how: str) -> None:
    target, receiver = await Target().start(), await Receiver().start()
    path, port = write_config(tmp_path, target, receiver)
    config = parse_config(path.read_text(), env={"WEBHOOK_SECRET": SECRET})
    daemon = Daemon(config, tmp_path, history_flush=0.2)
    await daemon.start()
    db = tmp_path / "detector.db"
    base = f"http://127.0.0.1:{port}"
    try:
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
        if how == "deleted":
            db.unlink()
        else:
            shutil.copy(db, tmp_path / "other.db")
            (tmp_path / "other.db").replace(db)
        async with aiohttp.ClientSession() as s:

            async def not_ready() -> bool:
                async with s.get(base + "/readyz") as r:
                    body = await r.json()
                    return r.status == 503 and any(
                        how in p and "database file" in p for p in body["problems"]
                    )

            await until(not_ready, 10, "readiness to fail")
            async with s.get(base + "/") as r:
                assert r.status in (200, 503)  # the last good view, or a plain "try again"
            hooks = len(receiver.hooks)
            await asyncio.sleep(2.5)  # an update falls due; it must not be sent from a ghost
            assert len(receiver.hooks) == hooks
    finally:
        await daemon.stop(1.0)
        await target.stop()
        await receiver.stop()
    if how == "deleted":
        assert not db.exists()  # nothing quietly started a new, empty history
