"""Side by side: CPU per probe of blackbox_exporter, the detector daemon and two bare aiohttp loops.

One local nginx serves `GET /healthz` → 200 "ok". At each rate (checks per second) four
subjects hit it in turn, each alone, for one bounded window, and each one's CPU is read from
/proc/<pid>/stat (utime + stime, all threads) of its own process:

  blackbox   prometheus-blackbox-exporter, driven through /probe at the rate (this script plays
             Prometheus; its own CPU is not counted)
  detector   `python -m detector run -c CONF` as a subprocess, P http probes at interval I
             (rate = P / I); its checks counted by nginx in the window, failures from
             its /metrics
  bare-fresh a child Python process doing paced aiohttp GETs, a fresh connection per GET
  bare-keep  the same on keep-alive connections

The bare loops run on the daemon's event loop (detector.cli.run.loop_factory: uvloop where it
is installed, as `detector run` does; --loop asyncio for the standard loop, both sides) with
the daemon's GC thresholds (detector.daemon.tune_gc). The detector's
scheduler lag (p99 and the share of starts more than 100 ms late) and RSS are read from the
running `detector run` process: its /metrics and /proc/<pid>/status. nginx's stub_status counts
requests and connections in each window, so the table shows whether a subject reused
connections (requests per connection > 1) or opened one per request.

Needs the Debian packages nginx-light (or nginx) and prometheus-blackbox-exporter; not run in CI.

    .venv/bin/python bench/sidebyside.py [--rates 20,200] [--interval 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# no proxy from the environment: every request here goes to 127.0.0.1
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
{listens}
        location = /healthz {{ default_type text/plain; return 200 "ok\\n"; }}
        location = /nginx_status {{ stub_status; }}
{locations}
    }}
}}
"""


def nginx_conf(
    tmp: Path, port: int, *, addresses: int = 1, backlog: int | None = None, locations: str = ""
) -> str:
    """The benches' nginx: GET /healthz → 200 "ok", stub_status, on `port` of 127.0.0.1 (and
    127.0.0.2 ... up to `addresses`), everything it writes in `tmp`; `locations` adds more."""
    opt = f" backlog={backlog}" if backlog else ""
    listens = "\n".join(f"        listen 127.0.0.{i + 1}:{port}{opt};" for i in range(addresses))
    return _NGINX_CONF.format(tmp=tmp, listens=listens, locations=locations)


BLACKBOX_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
"""

# The bare loop, run in a child process: paced GETs, started the way scale.py's baseline and
# the scheduler start checks (wake every 10 ms, start what is due), until stdin closes.
BARE = """
import asyncio, gc, sys
from aiohttp import ClientSession, ClientTimeout, TCPConnector

url, rate, fresh = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "fresh"
use_uvloop = sys.argv[5] == "uvloop"  # the daemon's loop, as detector.cli.run.loop_factory picks
gc.set_threshold(*map(int, sys.argv[4].split(",")))  # the daemon's, from detector.daemon.tune_gc

async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the parent closes our stdin to stop us
    connector = TCPConnector(limit=1000, force_close=fresh)
    tasks = set()
    failed = 0
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=5)) as session:
        async def one():
            nonlocal failed
            try:
                async with session.get(url) as r:
                    await r.read()
                    failed += r.status != 200
            except Exception:
                failed += 1
        print(type(loop).__module__ + "." + type(loop).__name__, flush=True)
        start, sent = loop.time(), 0
        while not stop.is_set():
            due = int((loop.time() - start) * rate) + 1
            while sent < due:
                t = asyncio.create_task(one())
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
    print(failed, flush=True)

if use_uvloop:
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
else:
    asyncio.run(main())
"""


def find(*names: str) -> str | None:
    # /usr/sbin is where Debian puts nginx; it is not on a normal user's PATH
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    return next((p for n in names if (p := shutil.which(n, path=path))), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, timeout: float = 5) -> str:
    with HTTP.open(url, timeout=timeout) as r:
        return str(r.read().decode())


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode}); see its log:\n{tail(log)}")
        try:
            get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer {url} within 30 s; its log:\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextmanager
def process(argv: list[str], log: Path, **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Nginx:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.status_url = f"http://127.0.0.1:{port}/nginx_status"

    def counters(self) -> tuple[int, int]:
        """(connections accepted, requests), excluding this stub_status request itself."""
        lines = get(self.status_url).splitlines()
        accepts, _handled, requests = (int(x) for x in lines[2].split())
        return accepts - 1, requests - 1


@dataclass
class Row:
    subject: str
    rate: float
    seconds: float
    cpu: float
    checks: float
    failed: float
    conns: int
    requests: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_check_us(self) -> float:
        return 1e6 * self.cpu / self.checks if self.checks else float("nan")

    @property
    def reqs_per_conn(self) -> float:
        return self.requests / self.conns if self.conns else float("inf")


def window(pid: int, nginx: Nginx, seconds: float) -> tuple[float, float, int, int]:
    """CPU seconds of `pid`, wall seconds, and nginx's new connections and requests."""
    a0, r0 = nginx.counters()
    c0, w0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, w1 = cpu_seconds(pid), time.monotonic()
    a1, r1 = nginx.counters()
    # the second stub_status request was itself counted in (a1, r1): take it off once more
    return c1 - c0, w1 - w0, a1 - a0 - 1, r1 - r0 - 1


# --- blackbox_exporter ------------------------------------------------------------------------


def drive_blackbox(
    bb_port: int, target: str, rate: float, warm: float, seconds: float, nginx: Nginx, pid: int
) -> tuple[float, float, int, int, int, int]:
    """Play Prometheus: start /probe requests at `rate`, concurrently, from a thread of this
    process; measure blackbox's CPU over `seconds` after `warm` seconds."""
    import asyncio

    from aiohttp import ClientSession, ClientTimeout, TCPConnector

    url = f"http://127.0.0.1:{bb_port}/probe"
    params = {"target": target, "module": "http_2xx"}
    result: dict[str, float] = {}

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        ok = bad = 0
        counting = False
        tasks: set[asyncio.Task[None]] = set()

        async def one() -> None:
            nonlocal ok, bad
            try:
                async with session.get(url, params=params) as r:
                    body = await r.text()
                good = r.status == 200 and "\nprobe_success 1" in "\n" + body
            except Exception:
                good = False
            if counting:
                ok, bad = ok + good, bad + (not good)

        async with ClientSession(
            connector=TCPConnector(limit=1000), timeout=ClientTimeout(total=10)
        ) as session:
            start, sent = loop.time(), 0
            measure = None
            while loop.time() - start < warm + seconds:
                if not counting and loop.time() - start >= warm:
                    counting = True
                    measure = asyncio.ensure_future(
                        loop.run_in_executor(None, window, pid, nginx, seconds)
                    )
                due = int((loop.time() - start) * rate) + 1
                while sent < due:
                    t = asyncio.create_task(one())
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
                    sent += 1
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
            assert measure is not None
            cpu, wall, conns, reqs = await measure
            result.update(cpu=cpu, wall=wall, conns=conns, reqs=reqs)
        return ok, bad

    ok, bad = asyncio.run(main())
    return (
        result["cpu"],
        result["wall"],
        int(result["conns"]),
        int(result["reqs"]),
        ok,
        bad,
    )


def run_blackbox(
    exe: str, tmp: Path, nginx: Nginx, rate: float, warm: float, seconds: float
) -> Row:
    conf = tmp / "blackbox.yml"
    conf.write_text(BLACKBOX_CONF)
    port = free_port()
    log = tmp / "blackbox.log"
    argv = [
        exe,
        f"--config.file={conf}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with process(argv, log) as proc:
        wait_http(f"http://127.0.0.1:{port}/metrics", proc, "blackbox_exporter", log)
        cpu, wall, conns, reqs, _ok, bad = drive_blackbox(
            port, nginx.url, rate, warm, seconds, nginx, proc.pid
        )
        rss = status_kb(proc.pid, "VmRSS")
    # `ok + bad` probes finished after the window opened; nginx's request count is the
    # number made inside it, which is what the CPU was spent on
    return Row("blackbox", rate, wall, cpu, reqs, bad, conns, reqs, {"rss_mb": rss / 1024})


# --- the detector daemon ----------------------------------------------------------------------


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def checks_by_result(m: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["result"]: v
        for (name, labels), v in m.items()
        if name == "detector_probe_checks_total"
    }


def lag_buckets(m: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[float, float]:
    return {
        float(dict(labels)["le"]): v
        for (name, labels), v in m.items()
        if name == "detector_scheduler_lag_seconds_bucket"
    }


def quantile(q: float, buckets: dict[float, float]) -> float:
    """Like PromQL's histogram_quantile: linear within the bucket that holds the q-th start."""
    les = sorted(buckets)
    total = buckets[float("inf")]
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le in les:
        if buckets[le] >= rank:
            if le == float("inf"):
                return lower  # beyond the last finite bound: that bound is all we know
            return lower + (le - lower) * (rank - below) / max(buckets[le] - below, 1e-12)
        lower, below = le, buckets[le]
    return lower


def detector_config(tmp: Path, url: str, probes: int, interval: float, reuse: bool | None) -> Path:
    http: dict[str, object] = {"url": url}
    if reuse is not None:
        http["reuse_connections"] = reuse
    per_component = 10
    raw = {
        "service": {"name": "bench", "contact": {"name": "Bench", "email": "bench@x.example"}},
        "server": {"listen": f"127.0.0.1:{free_port()}"},
        "storage": {"url": f"sqlite:///{tmp}/detector.db"},
        "detection": {"interval": f"{interval:g}s", "timeout": "5s"},
        "components": [
            {
                "id": f"c{i}",
                "name": f"C{i}",
                "impact": "x",
                "probes": [
                    {"name": f"p{i}-{j}", "http": http}
                    for j in range(min(per_component, probes - i * per_component))
                ],
            }
            for i in range((probes + per_component - 1) // per_component)
        ],
    }
    path = tmp / "detector.yaml"
    path.write_text(json.dumps(raw, indent=1))  # JSON is YAML
    return path


def run_detector(
    tmp: Path, nginx: Nginx, probes: int, interval: float, seconds: float, reuse: bool | None
) -> Row:
    conf = detector_config(tmp, nginx.url, probes, interval, reuse)
    listen = json.loads(conf.read_text())["server"]["listen"]
    log = tmp / "detector.log"
    argv = [sys.executable, "-m", "detector", "run", "-c", str(conf), "--log-format", "json"]
    argv += ["--loop", LOOP]
    with process(argv, log, cwd=ROOT) as proc:
        metrics_url = f"http://{listen}/metrics"
        wait_http(metrics_url, proc, "detector run", log)
        time.sleep(interval + 1)  # the first round staggers its starts over one interval
        m0 = metric_samples(get(metrics_url))
        cpu, wall, conns, reqs = window(proc.pid, nginx, seconds)
        m1 = metric_samples(get(metrics_url))
        rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        if proc.poll() is not None:
            raise SystemExit(f"detector run exited ({proc.returncode}):\n{tail(log)}")
    k0, k1 = checks_by_result(m0), checks_by_result(m1)
    checks = {r: k1.get(r, 0.0) - k0.get(r, 0.0) for r in k1}
    b0, b1 = lag_buckets(m0), lag_buckets(m1)
    lag = {le: b1[le] - b0.get(le, 0.0) for le in b1}
    starts = lag.get(float("inf"), 0.0)
    late = 1 - lag.get(0.1, 0.0) / starts if starts else float("nan")
    # checks counted by nginx, in the very window the CPU was read (the /metrics scrapes around
    # it span more time); the scrapes went to the detector, not nginx: nothing to take off
    return Row(
        "detector",
        probes / interval,
        wall,
        cpu,
        reqs,
        checks.get("fail", 0.0) + checks.get("soft_fail", 0.0),
        conns,
        reqs,
        {
            "lag_p99_ms": 1000 * quantile(0.99, lag),
            "lag_p50_ms": 1000 * quantile(0.5, lag),
            "late_share": late,
            "lag_starts": starts,
            "rss_mb": rss / 1024,
            "hwm_mb": hwm / 1024,
        },
    )


# --- the bare loops ---------------------------------------------------------------------------


LOOP = "uvloop"  # set by --loop: the daemon's event loop, and the bare loops'


def daemon_loop(choice: str) -> str:
    """The loop `detector run --loop CHOICE` runs on ("default": its own pick)."""
    sys.path.insert(0, str(ROOT))
    from detector.cli.run import loop_factory

    return "asyncio" if loop_factory(None if choice == "default" else choice) is None else "uvloop"


def daemon_gc_thresholds() -> str:
    """The GC thresholds `detector run` sets, for the bare loop to use without importing it."""
    import gc

    sys.path.insert(0, str(ROOT))
    from detector.daemon import tune_gc

    saved = gc.get_threshold()
    tune_gc()
    ours = gc.get_threshold()
    gc.set_threshold(*saved)
    return ",".join(map(str, ours))


def run_bare(tmp: Path, nginx: Nginx, rate: float, fresh: bool, warm: float, seconds: float) -> Row:
    mode = "fresh" if fresh else "keep"
    log = tmp / f"bare-{mode}.log"
    argv = [sys.executable, "-c", BARE, nginx.url, str(rate), mode, daemon_gc_thresholds(), LOOP]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("wb")
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        loop_name = proc.stdout.readline().decode().strip()
        if not loop_name:
            raise SystemExit(f"the bare loop did not start:\n{tail(log)}")
        time.sleep(warm)
        cpu, wall, conns, reqs = window(proc.pid, nginx, seconds)
        rss = status_kb(proc.pid, "VmRSS")
        proc.stdin.close()
        failed = int(proc.stdout.readline().decode().strip() or "-1")
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Row(
        f"bare-{mode}", rate, wall, cpu, reqs, failed, conns, reqs,
        {"loop": loop_name, "rss_mb": rss / 1024},
    )  # fmt: skip


# --- the run ----------------------------------------------------------------------------------


def start_nginx(exe: str, tmp: Path, addresses: int = 1) -> tuple[subprocess.Popen[bytes], Nginx]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(tmp, port, addresses=addresses))
    log = tmp / "nginx.log"
    # -p/-e: nginx's prefix and its first error log in the temp dir, not the packaged ones
    argv = [exe, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)]
    argv += ["-g", "daemon off;"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    nginx = Nginx(port)
    wait_http(nginx.url, proc, "nginx", tmp / "nginx-error.log")
    return proc, nginx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="20,200", help="checks per second, comma-separated")
    ap.add_argument("--interval", type=float, default=10, help="the detector's probe interval")
    ap.add_argument("--seconds", type=float, default=30, help="each measurement window")
    ap.add_argument("--warm", type=float, default=3, help="warm-up before a window (not detector)")
    ap.add_argument(
        "--reuse-connections",
        choices=("default", "true", "false"),
        default="default",
        help="write reuse_connections into each http probe (default: leave it out)",
    )
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument(
        "--loop",
        choices=("default", "uvloop", "asyncio"),
        default="default",
        help="the event loop of the daemon and of the bare loops (default: the daemon's own pick)",
    )
    args = ap.parse_args()
    global LOOP
    LOOP = daemon_loop(args.loop)

    nginx_exe = find("nginx")
    blackbox_exe = find("prometheus-blackbox-exporter", "blackbox_exporter")
    missing = [
        f"{name} (Debian package {pkg})"
        for name, pkg, exe in (
            ("nginx", "nginx-light", nginx_exe),
            ("prometheus-blackbox-exporter", "prometheus-blackbox-exporter", blackbox_exe),
        )
        if exe is None
    ]
    if missing:
        print(
            "bench/sidebyside.py needs, on PATH: "
            + "; ".join(missing)
            + ".\nInstall them with:  apt-get install nginx-light prometheus-blackbox-exporter",
            file=sys.stderr,
        )
        return 2
    assert nginx_exe and blackbox_exe
    if not Path("/proc/self/stat").exists():
        print("bench/sidebyside.py reads CPU from /proc: it runs on Linux only", file=sys.stderr)
        return 2
    reuse = {"default": None, "true": True, "false": False}[args.reuse_connections]
    rates = [float(r) for r in args.rates.split(",")]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sidebyside-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # nginx's workers may run as another user
        ng, nginx = start_nginx(nginx_exe, tmp)
        try:
            for rate in rates:
                probes = round(rate * args.interval)
                print(f"rate {rate:g}/s: blackbox_exporter ...", file=sys.stderr, flush=True)
                rows.append(run_blackbox(blackbox_exe, tmp, nginx, rate, args.warm, args.seconds))
                print(
                    f"rate {rate:g}/s: detector ({probes} probes at {args.interval:g} s) ...",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(run_detector(tmp, nginx, probes, args.interval, args.seconds, reuse))
                for fresh in (True, False):
                    print(f"rate {rate:g}/s: bare loop ...", file=sys.stderr, flush=True)
                    rows.append(run_bare(tmp, nginx, rate, fresh, args.warm, args.seconds))
        finally:
            ng.send_signal(signal.SIGQUIT)  # graceful: nginx's workers finish and exit
            try:
                ng.wait(10)
            except subprocess.TimeoutExpired:
                ng.kill()
                ng.wait()

    report(rows, args, reuse)
    if args.json:
        args.json.write_text(
            json.dumps([r.__dict__ | {"cpu_per_check_us": r.per_check_us} for r in rows], indent=1)
        )
    return 0


def report(rows: list[Row], args: argparse.Namespace, reuse: bool | None) -> None:
    print(f"window {args.seconds:g} s per subject; CPU from /proc/<pid>/stat (utime+stime)")
    print()
    head = f"{'rate/s':>6}  {'subject':<10} {'checks':>7} {'failed':>6} {'CPU s':>6} "
    head += f"{'µs/check':>8} {'% core':>6} {'req/conn':>8} {'RSS MB':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.rate:>6g}  {r.subject:<10} {r.checks:>7.0f} {r.failed:>6.0f} {r.cpu:>6.2f} "
            f"{r.per_check_us:>8.0f} {100 * r.cpu / r.seconds:>6.1f} {r.reqs_per_conn:>8.1f} "
            f"{r.extra.get('rss_mb', 0):>6.0f}"
        )
    print()
    for rate in dict.fromkeys(r.rate for r in rows):
        by = {r.subject: r for r in rows if r.rate == rate}
        d = by["detector"]
        mode = "fresh connection per check" if d.reqs_per_conn < 1.5 else "reused connections"
        setting = "default" if reuse is None else f"reuse_connections: {str(reuse).lower()}"
        print(f"rate {rate:g}/s  (detector probes: {setting}; measured: {mode}, "
              f"{d.reqs_per_conn:.1f} requests per connection)")  # fmt: skip
        for other in ("bare-fresh", "bare-keep", "blackbox"):
            print(
                f"  detector ÷ {other:<10} {d.per_check_us / by[other].per_check_us:5.2f}×  "
                f"({d.per_check_us:.0f} vs {by[other].per_check_us:.0f} µs/check)"
            )
        x = d.extra
        print(
            f"  detector scheduler lag: p50 ≈ {x['lag_p50_ms']:.1f} ms, p99 ≈ "
            f"{x['lag_p99_ms']:.1f} ms, {100 * x['late_share']:.2f}% of "
            f"{x['lag_starts']:.0f} starts > 100 ms late; RSS {x['rss_mb']:.0f} MB "
            f"(peak {x['hwm_mb']:.0f} MB)"
        )
        print(f"  bare loops' event loop: {by['bare-fresh'].extra['loop']}")


if __name__ == "__main__":
    sys.exit(main())
