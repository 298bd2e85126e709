"""Scale: N probes (default 20,000) at a 10 s interval in one process.

Prints checks per second, CPU per check next to the CPU of the bare HTTP request it makes,
how late checks start (scheduler lag), and memory. The target runs in a separate process so
only the detector's own CPU is counted.

    .venv/bin/python bench/scale.py [--probes 20000] [--interval 10] [--seconds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from aiohttp import ClientSession, TCPConnector

from detector import logs
from detector.config import parse_config
from detector.daemon import Daemon, tune_gc
from detector.demo import free_port

TARGET = """
import sys
from aiohttp import web
async def ok(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/healthz", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def wait_up(url: str) -> None:
    async with ClientSession() as s:
        for _ in range(100):
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except OSError:
                await asyncio.sleep(0.1)
    raise SystemExit("target did not start")


async def bare(url: str, rate: float, seconds: float) -> float:
    """CPU seconds per bare request, paced like the probes, on a plain aiohttp session."""
    session = ClientSession(connector=TCPConnector(limit=1000))
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one() -> None:
        async with session.get(url) as r:
            await r.read()

    async def paced(n: int) -> None:
        """Start requests at `rate` per second, waking every 10 ms like a scheduler would."""
        start, sent = loop.time(), 0
        while sent < n:
            due = min(n, int((loop.time() - start) * rate) + 1)
            while sent < due:
                tasks.append(asyncio.create_task(one()))
                sent += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        tasks.clear()

    await paced(int(rate))  # warm the connection pool
    t0 = cpu()
    n = int(rate * seconds)
    await paced(n)
    used = cpu() - t0
    await session.close()
    return used / n


def lag_buckets(daemon: Daemon) -> dict[float, float]:
    h = daemon.metrics.scheduler_lag
    return {
        float(smp.labels["le"]): smp.value
        for m in h.collect()
        for smp in m.samples
        if smp.name.endswith("_bucket")
    }


def lag_quantiles(before: dict[float, float], after: dict[float, float]) -> list[float]:
    """Upper bucket bounds of p50 and p99 over the window between two snapshots."""
    diff = {le: after[le] - before.get(le, 0.0) for le in after}
    total = diff[float("inf")]
    out = []
    for q in (0.5, 0.99):
        out.append(
            next((le for le in sorted(diff) if total and diff[le] / total >= q), float("inf"))
        )
    out.append(total)
    return out


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    target = subprocess.Popen([sys.executable, "-c", TARGET, str(port)])  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        await wait_up(url)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            raw = {
                "service": {"name": "bench", "contact": {"name": "Bench", "email": "b@x.example"}},
                "server": {"listen": f"127.0.0.1:{free_port()}"},
                "storage": {"url": f"sqlite:///{tmp}/bench.db"},
                "detection": {"interval": f"{args.interval}s", "timeout": "5s"},
                "components": [
                    {
                        "id": f"c{i}",
                        "name": f"C{i}",
                        "impact": "x",
                        "probes": [
                            {"name": f"p{i}-{j}", "http": {"url": url}}
                            for j in range(args.per_component)
                        ],
                    }
                    for i in range(args.probes // args.per_component)
                ],
            }
            config = parse_config(yaml.safe_dump(raw), env={})
            load_s = time.perf_counter() - t0
            daemon = Daemon(config, Path(tmp))
            await daemon.start()
            await asyncio.sleep(args.interval)  # first round staggers in
            c0, w0 = cpu(), time.perf_counter()
            lag0 = lag_buckets(daemon)
            checks0 = sum(
                daemon.metrics.probe_checks.labels(r)._value.get()
                for r in ("ok", "fail", "soft_fail")
            )
            await asyncio.sleep(args.seconds)
            c1, w1 = cpu(), time.perf_counter()
            checks1 = sum(
                daemon.metrics.probe_checks.labels(r)._value.get()
                for r in ("ok", "fail", "soft_fail")
            )
            p50, p99, nlag = lag_quantiles(lag0, lag_buckets(daemon))
            fails = daemon.metrics.probe_checks.labels("fail")._value.get()
            rss = rss_mb()
            await daemon.stop()
        checks = checks1 - checks0
        per_check = (c1 - c0) / max(1, checks)
        # the baseline in a fresh process with the daemon's GC settings: this one's heap
        # (20,000 probes' worth) would make the bare request look dearer than it is
        out = subprocess.run(  # noqa: ASYNC221 (the daemon is stopped; nothing else runs)
            [
                sys.executable,
                __file__,
                "--bare-only",
                url,
                "--probes",
                str(args.probes),
                "--interval",
                str(args.interval),
                "--seconds",
                str(min(args.seconds, 15)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        bare_cost = float(out.stdout.strip())
        print(f"probes:                  {args.probes} at {args.interval:g} s interval")
        print(f"config load:             {load_s:.2f} s")
        print(
            f"checks in {w1 - w0:.0f} s:          {checks:.0f} ({checks / (w1 - w0):.0f}/s; "
            f"expected {args.probes / args.interval:.0f}/s)"
        )
        print(f"failed checks:           {fails:.0f}")
        print(
            f"CPU per check:           {per_check * 1e6:.0f} µs "
            f"(CPU {100 * (c1 - c0) / (w1 - w0):.0f}% of one core)"
        )
        print(
            f"CPU per bare request:    {bare_cost * 1e6:.0f} µs "
            f"→ a check costs {per_check / bare_cost:.2f}× its bare request"
        )
        print(
            f"scheduler lag:           p50 ≤ {p50 * 1000:.0f} ms, p99 ≤ {p99 * 1000:.0f} ms "
            f"({nlag:.0f} starts)"
        )
        print(f"peak RSS (detector):     {rss:.0f} MB")
    finally:
        target.terminate()
        target.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--probes", type=int, default=20000)
    p.add_argument("--per-component", type=int, default=4)
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--bare-only", metavar="URL")
    logs.configure("error")
    a = p.parse_args()
    if a.bare_only:
        tune_gc()
        print(asyncio.run(bare(a.bare_only, a.probes / a.interval, a.seconds)))
    else:
        asyncio.run(main(a))
