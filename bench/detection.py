"""Time from outage to first notice, next to the detection floor.

The floor is what confirmation itself costs: the wait for the next scheduled check after the
target breaks, plus (failures_to_confirm − 1) re-checks. Everything above it is our overhead
(decision, transaction, outbox, delivery). Runs the real daemon in-process against a local
target and a local webhook receiver.

    .venv/bin/python bench/detection.py [--trials 8] [--interval 2] [--recheck 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from aiohttp import web

from detector import logs
from detector.config import parse_config
from detector.daemon import Daemon
from detector.demo import free_port


class Target:
    def __init__(self) -> None:
        self.healthy = True
        self.failed_at: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        if self.healthy:
            return web.Response(text="ok")
        self.failed_at.append(time.time())
        return web.Response(status=503)


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(args: argparse.Namespace) -> None:
    target = Target()
    opened: list[float] = []
    opened_now = asyncio.Event()
    resolved = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if body["event"] == "incident.opened":
            opened.append(time.time())
            opened_now.set()
        if body["event"] == "incident.resolved":
            resolved.set()
        return web.Response(status=204)

    tapp, happ = web.Application(), web.Application()
    tapp.router.add_get("/healthz", target.handle)
    happ.router.add_post("/hook", hook)
    tport, hport = free_port(), free_port()
    runners = [await serve(tapp, tport), await serve(happ, hport)]
    n = args.failures
    with tempfile.TemporaryDirectory() as tmp:
        raw = {
            "service": {"name": "bench", "contact": {"name": "Bench", "email": "b@x.example"}},
            "server": {"listen": f"127.0.0.1:{free_port()}"},
            "storage": {"url": f"sqlite:///{tmp}/bench.db"},
            "detection": {
                "interval": f"{args.interval}s",
                "recheck_interval": f"{args.recheck}s",
                "failures_to_confirm": n,
                "successes_to_recover": 1,
                "stable_for": "100ms",
                "timeout": "1s",
            },
            "components": [
                {
                    "id": "api",
                    "name": "API",
                    "impact": "x",
                    "probes": [
                        {"name": "api", "http": {"url": f"http://127.0.0.1:{tport}/healthz"}}
                    ],
                }
            ],
            "channels": [{"type": "webhook", "url": f"http://127.0.0.1:{hport}/hook"}],
        }
        daemon = Daemon(parse_config(yaml.safe_dump(raw), env={}), Path(tmp))
        await daemon.start()
        rng = random.Random(7)
        delays, waits, overheads = [], [], []
        try:
            for _ in range(args.trials):
                await asyncio.sleep(args.interval * (1 + rng.random()))
                target.failed_at.clear()
                resolved.clear()
                opened_now.clear()
                broke = time.time()
                target.healthy = False
                await asyncio.wait_for(opened_now.wait(), 30)
                delay = opened[-1] - broke
                wait_first = target.failed_at[0] - broke
                floor = wait_first + (n - 1) * args.recheck
                delays.append(delay)
                waits.append(wait_first)
                overheads.append(delay - floor)
                target.healthy = True
                await asyncio.wait_for(resolved.wait(), 30)
        finally:
            await daemon.stop()
            for r in runners:
                await r.cleanup()
    floor_mean = statistics.mean(waits) + (n - 1) * args.recheck
    print(
        f"settings:                     interval {args.interval:g} s, re-check "
        f"{args.recheck:g} s, failures_to_confirm {n}, {args.trials} outages"
    )
    print(
        f"outage → first notice:        mean {statistics.mean(delays):.3f} s, "
        f"max {max(delays):.3f} s"
    )
    print(
        f"detection floor:              mean {floor_mean:.3f} s "
        f"(next check {statistics.mean(waits):.3f} s + {n - 1} re-checks)"
    )
    print(
        f"overhead above the floor:     mean {statistics.mean(overheads) * 1000:.1f} ms, "
        f"max {max(overheads) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--recheck", type=float, default=0.5)
    p.add_argument("--failures", type=int, default=3)
    logs.configure("error")
    asyncio.run(main(p.parse_args()))
