"""Issue 8: a wall-clock step (NTP) changes no timing. Waiting runs on the monotonic clock, so
with the daemon's wall clock stepped back 1 h and forward 10 min during an incident, the probe
rate, the re-checks, the cadence and `stable_for` stay what they were (±5%)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from pathlib import Path

import pytest

from detector.config import parse_config
from detector.daemon import Daemon
from tests.clock import SteppedClock
from tests.e2e.harness import SECRET, Receiver, Target, until, write_config

INTERVAL, RECHECK, CADENCE, STABLE_FOR = 0.2, 0.1, 2.0, 2.0


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def near(value: float, expected: float, share: float = 0.05) -> bool:
    return abs(value - expected) <= share * expected


@pytest.mark.parametrize("step", [-3600.0, 600.0])
async def test_wall_clock_step_changes_no_timing(tmp_path: Path, step: float) -> None:
    target = await Target().start()
    receiver = await Receiver().start()
    path, _ = write_config(
        tmp_path,
        target,
        receiver,
        detection={
            "interval": f"{int(INTERVAL * 1000)}ms",
            "failures_to_confirm": 3,
            "recheck_interval": f"{int(RECHECK * 1000)}ms",
            "stable_for": f"{int(STABLE_FOR * 1000)}ms",
            "successes_to_recover": 2,
        },
        cadence={"major_outage": f"{int(CADENCE)}s", "partial_outage": "3s", "degraded": "4s"},
    )
    config = parse_config(path.read_text(), env={"WEBHOOK_SECRET": SECRET})
    clock = SteppedClock()
    daemon = Daemon(config, tmp_path, clock)
    await daemon.start()
    try:
        # probe rate: healthy checks before and after a step
        await asyncio.sleep(1.5)
        mark = time.time()
        clock.step_wall(step)
        await asyncio.sleep(1.5)
        before = [at for at, _ in target.requests if at < mark][-6:]
        after = [at for at, _ in target.requests if at > mark + 0.3]
        assert near(statistics.mean(gaps(before)), INTERVAL)
        assert near(statistics.mean(gaps(after)), INTERVAL), gaps(after)

        # re-checks, then the cadence across another step
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 5, "incident.opened")
        fails = [at for at, ok in target.requests if not ok]
        assert near(statistics.mean(gaps(fails[:3])), RECHECK, 0.25)  # 100 ms ± 25 ms
        clock.step_wall(step)
        await until(
            lambda: len(receiver.events("incident.updated", "update")) >= 2,
            2 * CADENCE + 2,
            "two updates on the cadence",
        )
        stages = [
            receiver.events("incident.opened")[0],
            *receiver.events("incident.updated", "update")[:2],
        ]
        for gap in gaps([h.at for h in stages]):
            assert near(gap, CADENCE), gaps([h.at for h in stages])

        # recovery, a step, and stable_for kept
        target.healthy = True
        await until(
            lambda: bool(receiver.events("incident.updated", "monitoring")), 5, "monitoring"
        )
        clock.step_wall(step)
        await until(lambda: bool(receiver.events("incident.resolved")), STABLE_FOR + 3, "resolved")
        [monitoring] = receiver.events("incident.updated", "monitoring")
        [resolved] = receiver.events("incident.resolved")
        assert near(resolved.at - monitoring.at, STABLE_FOR), resolved.at - monitoring.at
    finally:
        await daemon.stop(1.0)
        await target.stop()
        await receiver.stop()
