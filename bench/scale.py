"""Scale, measured from outside: `detector run` with N http probes (default 20,000) at 10 s.

The process users run, as a subprocess against one local nginx (Debian package nginx-light),
each probe a fresh connection per check unless --reuse-connections true. Prints, read from
outside the daemon (its /metrics, /proc/<pid>, nginx's stub_status):

  config load   `detector check -c FILE` wall time, and `detector run` start → /readyz 200
  checks        per second in the window, against the rate the config asks for
  CPU           per check and as a share of one core (utime + stime, every thread)
  lag           scheduler lag p50/p99 (from detector_scheduler_lag_seconds, as PromQL's
                histogram_quantile does) and the share of starts more than 100 ms late
  memory        RSS and peak RSS (VmRSS, VmHWM)

    .venv/bin/python bench/scale.py [--probes 20000] [--interval 10] [--seconds 30]
    .venv/bin/python bench/scale.py --probes 5000,10000,20000     # several counts in one run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import (  # a sibling script, not a package
    ROOT,
    Nginx,
    checks_by_result,
    cpu_seconds,
    find,
    free_port,
    get,
    lag_buckets,
    metric_samples,
    process,
    quantile,
    start_nginx,
    status_kb,
    tail,
)

# A new connection per check leaves a TIME_WAIT socket for a minute per (client address and port,
# server address and port): at 2,000 checks/s against one address the 28,000 ephemeral ports of
# Linux's default range run out, and the bench would measure the kernel, not the detector. Real
# probes go to many hosts; spread over a few nginx addresses (--targets), so do these.


def detector_config(
    tmp: Path, nginx: Nginx, probes: int, interval: float, reuse: bool | None, targets: int
) -> Path:
    """`probes` http probes, 10 per component, spread round-robin over the target addresses."""
    port = nginx.url.split(":")[2].split("/")[0]

    def http(i: int) -> dict[str, object]:
        spec: dict[str, object] = {"url": f"http://127.0.0.{i % targets + 1}:{port}/healthz"}
        if reuse is not None:
            spec["reuse_connections"] = reuse
        return spec

    raw = {
        "service": {"name": "bench", "contact": {"name": "Bench", "email": "bench@x.example"}},
        "server": {"listen": f"127.0.0.1:{free_port()}"},
        "storage": {"url": f"sqlite:///{tmp}/detector.db"},
        "detection": {"interval": f"{interval:g}s", "timeout": "5s"},
        "components": [
            {
                "id": f"c{c}",
                "name": f"C{c}",
                "impact": "x",
                "probes": [
                    {"name": f"p{c}-{j}", "http": http(c * 10 + j)}
                    for j in range(min(10, probes - c * 10))
                ],
            }
            for c in range((probes + 9) // 10)
        ],
    }
    path = tmp / "detector.yaml"
    path.write_text(json.dumps(raw, indent=1))  # JSON is YAML
    return path


def ready_after(url: str, proc: subprocess.Popen[bytes], log: Path, start: float) -> float:
    """Seconds from `start` until `url` answers 200 (readiness: store open, web up)."""
    deadline = start + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"detector run exited ({proc.returncode}):\n{tail(log)}")
        try:
            get(url, timeout=2)
            return time.monotonic() - start
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"detector run not ready within 120 s:\n{tail(log)}")


def measure(tmp: Path, nginx: Nginx, probes: int, args: argparse.Namespace) -> dict[str, float]:
    reuse = {"default": None, "true": True, "false": False}[args.reuse_connections]
    conf = detector_config(tmp, nginx, probes, args.interval, reuse, args.targets)
    (tmp / "detector.db").unlink(missing_ok=True)
    listen = json.loads(conf.read_text())["server"]["listen"]
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "detector", "check", "-c", str(conf)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    check_s = time.monotonic() - t0
    log = tmp / f"detector-{probes}.log"
    argv = [sys.executable, "-m", "detector", "run", "-c", str(conf), "--log-format", "json"]
    if args.loop != "default":
        argv += ["--loop", args.loop]
    start = time.monotonic()
    with process(argv, log, cwd=ROOT) as proc:
        ready_s = ready_after(f"http://{listen}/readyz", proc, log, start)
        metrics_url = f"http://{listen}/metrics"
        time.sleep(args.interval + 1)  # the first round staggers its starts over one interval
        m0 = metric_samples(get(metrics_url, timeout=30))
        a0, r0 = nginx.counters()
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = cpu_seconds(proc.pid), time.monotonic()
        a1, r1 = nginx.counters()
        m1 = metric_samples(get(metrics_url, timeout=30))
        rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        if proc.poll() is not None:
            raise SystemExit(f"detector run exited ({proc.returncode}):\n{tail(log)}")
    k0, k1 = checks_by_result(m0), checks_by_result(m1)
    checks = r1 - r0 - 1  # nginx's count, in the very window the CPU was read
    failed = sum(k1.get(r, 0.0) - k0.get(r, 0.0) for r in ("fail", "soft_fail"))
    b0, b1 = lag_buckets(m0), lag_buckets(m1)
    lag = {le: b1[le] - b0.get(le, 0.0) for le in b1}
    starts = lag.get(float("inf"), 0.0)
    wall, cpu = w1 - w0, c1 - c0
    conns, reqs = a1 - a0 - 1, r1 - r0 - 1  # less the second stub_status request itself
    return {
        "probes": probes,
        "check_s": check_s,
        "ready_s": ready_s,
        "rate": checks / wall,
        "asked": probes / args.interval,
        "failed": failed,
        "cpu_us": 1e6 * cpu / checks if checks else float("nan"),
        "core": 100 * cpu / wall,
        "lag_p50_ms": 1000 * quantile(0.5, lag),
        "lag_p99_ms": 1000 * quantile(0.99, lag),
        "late": 100 * (1 - lag.get(0.1, 0.0) / starts) if starts else float("nan"),
        "req_per_conn": reqs / conns if conns else float("inf"),
        "rss_mb": rss / 1024,
        "hwm_mb": hwm / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", default="20000", help="probe counts, comma-separated")
    ap.add_argument("--interval", type=float, default=10, help="the probes' interval, seconds")
    ap.add_argument("--seconds", type=float, default=30, help="the measurement window")
    ap.add_argument(
        "--reuse-connections",
        choices=("default", "true", "false"),
        default="default",
        help="write reuse_connections into each http probe (default: leave it out)",
    )
    ap.add_argument(
        "--loop",
        choices=("default", "uvloop", "asyncio"),
        default="default",
        help="`detector run --loop` (default: its own pick, uvloop where installed)",
    )
    ap.add_argument("--targets", type=int, default=8, help="loopback addresses nginx listens on")
    args = ap.parse_args()
    nginx_exe = find("nginx")
    if nginx_exe is None:
        print("bench/scale.py needs nginx: apt-get install nginx-light", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # nginx's workers may run as another user
        ng, nginx = start_nginx(nginx_exe, tmp, args.targets)
        try:
            for n in (int(p) for p in args.probes.split(",")):
                print(f"{n} probes at {args.interval:g} s ...", file=sys.stderr, flush=True)
                rows.append(measure(tmp, nginx, n, args))
        finally:
            ng.send_signal(signal.SIGQUIT)
            ng.wait(10)
    print(
        f"`detector run` from outside; window {args.seconds:g} s; interval {args.interval:g} s; "
        f"nginx on {args.targets} loopback addresses; loop: {args.loop}"
    )
    head = (
        f"{'probes':>6} {'check s':>7} {'ready s':>7} {'checks/s':>8} {'asked':>6} "
        f"{'failed':>6} {'µs/check':>8} {'% core':>6} {'lag p50':>7} {'lag p99':>7} "
        f"{'>100ms':>7} {'req/conn':>8} {'RSS MB':>6} {'peak MB':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['probes']:>6.0f} {r['check_s']:>7.2f} {r['ready_s']:>7.2f} {r['rate']:>8.0f} "
            f"{r['asked']:>6.0f} {r['failed']:>6.0f} {r['cpu_us']:>8.0f} {r['core']:>6.1f} "
            f"{r['lag_p50_ms']:>5.1f}ms {r['lag_p99_ms']:>5.1f}ms {r['late']:>6.2f}% "
            f"{r['req_per_conn']:>8.1f} {r['rss_mb']:>6.0f} {r['hwm_mb']:>7.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
