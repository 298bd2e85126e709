"""The probe scheduler: due checks start in rounds, at most one quantum apart, and a re-check
asked for now is not held back by the quantum."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector import aio
from detector import scheduler as scheduler_module
from detector.clock import SystemClock
from detector.config import parse_config
from detector.config.models import Config, ProbeConfig
from detector.metrics import Metrics
from detector.scheduler import START_QUANTUM, Scheduler


def config(tmp: Path, probes: int, interval: str) -> Config:
    raw: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "contact": {"name": "Jane Doe", "email": "ops@acme.example"},
        },
        "storage": {"url": f"sqlite:///{tmp / 's.db'}"},
        "detection": {"interval": interval, "recheck_interval": "1s"},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": f"p{i}", "tcp": {"host": "127.0.0.1", "port": 1}}
                    for i in range(probes)
                ],
            }
        ],
    }
    return parse_config(yaml.safe_dump(raw), env={})


async def test_due_checks_start_in_rounds_a_quantum_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 probes spread over 1 s: due every 10 ms, so exact wake-ups would ask for 10 ms sleeps
    cfg = config(tmp_path, 100, "1s")
    asked: list[float] = []
    real_wait = aio.wait_event

    async def recording_wait(event: asyncio.Event, timeout: float) -> bool:
        asked.append(timeout)
        return await real_wait(event, timeout)

    monkeypatch.setattr(scheduler_module, "wait_event", recording_wait)
    started: list[str] = []
    ten = asyncio.Event()

    async def run_check(probe: ProbeConfig) -> bool:
        started.append(probe.name)
        if len(started) == 10:
            ten.set()
        return False

    sched = Scheduler(cfg.all_probes(), cfg.detection, run_check, Metrics(), SystemClock())
    sched.start_all()
    task = asyncio.create_task(sched.run())
    try:
        async with asyncio.timeout(10):
            await ten.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sched.stop()
    assert asked, "the loop never slept"
    assert min(asked) >= START_QUANTUM


async def test_a_recheck_asked_for_now_is_not_held_back(tmp_path: Path) -> None:
    cfg = config(tmp_path, 2, "1h")  # the second probe is due in half an hour
    started: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()
    first, second = asyncio.Event(), asyncio.Event()

    async def run_check(probe: ProbeConfig) -> bool:
        started.append((probe.name, loop.time()))
        (second if probe.name == "p1" else first).set()
        return False

    sched = Scheduler(cfg.all_probes(), cfg.detection, run_check, Metrics(), SystemClock())
    sched.start_all()
    task = asyncio.create_task(sched.run())
    try:
        async with asyncio.timeout(5):
            await first.wait()
        sched.check_now(["p1"])
        asked = loop.time()
        async with asyncio.timeout(5):
            await second.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sched.stop()
    [(_, at)] = [s for s in started if s[0] == "p1"]
    # woken at once, not after a 1 s cap or a quantum's sleep
    assert at - asked < 1.0
