"""Issue 8: a crash while an outage is being confirmed keeps its start. The first failed check
of a suspect streak is stored (one write per streak), so after `kill -9` and a restart the
incident's `started_at` is that check, not the first failure the new process saw. On SQLite
and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config
from tests.e2e.test_cycle import ts


async def test_kill9_during_confirmation_keeps_started_at(tmp_path: Path, storage_url: str) -> None:
    target = await Target().start()
    receiver = await Receiver().start()
    daemons: list[DaemonProcess] = []
    try:
        # ten failures to confirm, 300 ms apart: a window of ~3 s to kill the daemon in
        config, port = write_config(
            tmp_path,
            target,
            receiver,
            detection={"failures_to_confirm": 10, "recheck_interval": "300ms"},
            storage=storage_url,
        )
        log = tmp_path / "daemon.log"
        daemon = await DaemonProcess(config, port, log).start()
        daemons.append(daemon)
        await until(lambda: len(target.requests) >= 2, 5, "healthy checks")
        target.healthy = False
        await until(lambda: target.failed_count() >= 3, 5, "three failed checks")
        first_failure = next(at for at, ok in target.requests if not ok)
        await daemon.kill9()
        assert receiver.hooks == []  # killed before the outage was confirmed

        daemon2 = await DaemonProcess(config, port, log).start()
        daemons.append(daemon2)
        await until(lambda: bool(receiver.events("incident.opened")), 15, "incident.opened")
        [opened] = receiver.events("incident.opened")
        started = ts(opened.body["incident"]["started_at"])
        # taken when the check returns, a few ms after the target saw it; the API shows ms
        assert -0.001 <= started - first_failure < 0.25, (started, first_failure)  # ms in API
        restart_failures = [at for at, ok in target.requests if not ok and at > first_failure + 1]
        assert restart_failures and started < min(restart_failures)
    finally:
        for d in daemons:
            await d.stop()
        await target.stop()
        await receiver.stop()
