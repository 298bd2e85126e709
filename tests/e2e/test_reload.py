"""SIGHUP reloads the configuration; an invalid one is refused and the daemon keeps running."""

from __future__ import annotations

import signal
from pathlib import Path

import yaml

from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config


async def test_sighup_reloads_and_refuses_bad_config(tmp_path: Path) -> None:
    target = await Target().start()
    receiver = await Receiver().start()
    try:
        config, port = write_config(tmp_path, target, receiver)
        daemon = await DaemonProcess(config, port, tmp_path / "daemon.log").start()
        assert daemon.proc is not None
        raw = yaml.safe_load(config.read_text())
        raw["components"].append(
            {
                "id": "web",
                "name": "Dashboard",
                "impact": "You cannot sign in.",
                "probes": [{"name": "web", "http": {"url": f"http://127.0.0.1:{target.port}/w"}}],
            }
        )
        config.write_text(yaml.safe_dump(raw))
        daemon.proc.send_signal(signal.SIGHUP)

        async def components() -> list[str]:
            try:
                status = await daemon.get_json("/api/v1/status")
            except OSError:
                return []
            return [c["id"] for c in status["components"]]

        async def has_both() -> bool:
            return await components() == ["api", "web"]

        await until(has_both, 10, "the reloaded configuration")
        config.write_text("service: [not, a, mapping\n")
        daemon.proc.send_signal(signal.SIGHUP)
        await until(
            lambda: "reload refused" in (tmp_path / "daemon.log").read_text(),
            5,
            "the refusal in the log",
        )
        assert await has_both()
        assert daemon.proc.returncode is None
        assert await daemon.stop() == 0
    finally:
        await target.stop()
        await receiver.stop()
