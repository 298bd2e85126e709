"""Startup at scale: how long a big config takes to load, as a user sees it, and what the
running daemon holds in memory.

One config of N HTTP probes (default 20,000: 200 components x 100 probes, interval 10 s), each
`http: {url: http://127.0.0.1:PORT/healthz}` on a local server answering 200 (nginx when it is
installed, else a small aiohttp server in its own process), so no check fails and no incident
opens. Written as YAML in a temporary folder, storage sqlite beside it. Then:

  (a) the loader in this process, phase by phase (best of --repeat runs), and the steps the
      commands take after it (subscribers, secrets, per-probe detection settings); with the
      memory the loaded Config holds and the peak while loading (tracemalloc, a separate run)
  (b) `python -m detector check -c FILE` wall time, as a subprocess; and what importing the
      command alone costs
  (c) `python -m detector run -c FILE` as a subprocess: time from its start until /readyz
      answers 200 and /metrics answers; VmRSS and VmHWM (/proc/PID/status) once ready and
      after --settle seconds of checks; checks done and failed, and how long one /metrics
      scrape takes, from /metrics. Then, in a child process doing what `detector run` does,
      where that start-up time goes: imports, each config load, Daemon.start (cProfile)
  (d) with --tracemalloc: the daemon in a child process under tracemalloc, loaded and started
      as `detector run` does, and after --settle seconds the live memory grouped by the line
      that allocated it, and by the first line of this project on the allocation's stack

    .venv/bin/python bench/startup.py [--probes 20000] [--per-component 100] [--interval 10]
                                      [--settle 30] [--repeat 3] [--tracemalloc] [--skip-run]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.config.models import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import (  # noqa: E402  # a sibling script
    find,
    free_port,
    nginx_conf,
    status_kb,
    tail,
)

# no proxy from the environment: every request here goes to 127.0.0.1
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MB = 1 << 20


AIOHTTP_TARGET = """
import sys
from aiohttp import web
async def ok(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/healthz", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


# --- helpers --------------------------------------------------------------------------------


def get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with HTTP.open(url, timeout=timeout) as r:
            return int(r.status), str(r.read().decode())
    except urllib.error.HTTPError as e:
        return int(e.code), str(e.read().decode(errors="replace"))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def target(tmp: Path) -> Iterator[str]:
    """A local server answering GET /healthz with 200: nginx if installed, else aiohttp."""
    port = free_port()
    nginx = find("nginx")
    if nginx:
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(tmp, port))
        argv = [nginx, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"]
    else:
        argv = [sys.executable, "-c", AIOHTTP_TARGET, str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError):
                if get(url, timeout=1)[0] == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the target server ({argv[0]}) did not start")
            time.sleep(0.05)
        print(f"target:  {'nginx' if nginx else 'aiohttp'} at {url}")
        yield url
    finally:
        stop(proc)


def write_config(
    tmp: Path, url: str, probes: int, per_component: int, interval: float, listen: str
) -> Path:
    raw = {
        "service": {"name": "bench", "contact": {"name": "Bench", "email": "bench@x.example"}},
        "server": {"listen": listen},
        "storage": {"url": f"sqlite:///{tmp}/detector.db"},
        "detection": {"interval": f"{interval:g}s", "timeout": "5s"},
        "components": [
            {
                "id": f"c{i}",
                "name": f"C{i}",
                "impact": "x",
                "probes": [
                    {"name": f"p{i}-{j}", "http": {"url": url}}
                    for j in range(min(per_component, probes - i * per_component))
                ],
            }
            for i in range((probes + per_component - 1) // per_component)
        ],
    }
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))  # block style, as a person writes it
    return path


def metric_samples(text: str) -> dict[str, float]:
    """`name{labels}` → value, for the few families read here."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("detector_probe_checks_total", "detector_incidents_open")):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


# --- (a) the loader, in this process --------------------------------------------------------


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def in_process(conf: Path, repeat: int) -> None:
    t0 = time.perf_counter()
    from detector.config import loader

    print(f"\n(a) loader in this process (best of {repeat})")
    print(f"  import detector.config.loader           {time.perf_counter() - t0:7.3f} s")
    text = conf.read_text(encoding="utf-8-sig")
    runs: list[tuple[float, dict[str, float]]] = []
    for _ in range(repeat):
        gc.collect()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            config = loader.parse_config(text, {}, conf.parent, timings=timings)
        except TypeError:  # a loader from before phase timings: the total only
            t0 = time.perf_counter()
            config = loader.parse_config(text, {}, conf.parent)
        runs.append((time.perf_counter() - t0, timings))
    total, timings = min(runs, key=lambda r: r[0])
    print(f"  file: {conf.stat().st_size / MB:.1f} MB, {len(config.all_probes())} probes")
    for phase, seconds in timings.items():
        print(f"  {phase:<52}{seconds:7.3f} s")
    print(f"  {'JSON-schema validation':<52}   none (config/schema.json is for editors)")
    print(f"  {'parse_config total':<52}{total:7.3f} s")
    after_load(config, conf, repeat)
    del config
    gc.collect()
    tracemalloc.start()
    kept = loader.parse_config(text, {}, conf.parent)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  memory (tracemalloc): the Config holds {current / MB:.1f} MB; "
        f"peak while loading {peak / MB:.1f} MB"
    )
    del kept


def after_load(config: Config, conf: Path, repeat: int) -> None:
    """What the commands do with a loaded config before they are ready."""
    from detector.config.secrets import secret_values
    from detector.config.subscribers import read_subscribers

    steps: list[tuple[str, Callable[[], object]]] = [
        ("read_subscribers (check, run)", lambda: read_subscribers(config, conf.parent)),
        ("secret_values (run)", lambda: secret_values(config)),
        (
            "per-probe detection settings (run, x1)",
            lambda: [p.detection(config.detection) for p in config.all_probes()],
        ),
    ]
    print("  after the load:")
    for label, step in steps:
        seconds, _ = best_of(repeat, step)
        print(f"    {label:<50}{seconds:7.3f} s")


# --- (b) detector check ---------------------------------------------------------------------


def check_wall(conf: Path, repeat: int) -> None:
    print(f"\n(b) subprocess wall time (best of {repeat})")
    argv = [sys.executable, "-m", "detector", "check", "-c", str(conf)]
    imports = [sys.executable, "-c", "import detector.cli.check"]
    for label, cmd in (
        ("python -c 'import detector.cli.check'", imports),
        ("python -m detector check -c FILE", argv),
    ):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            best = min(best, time.perf_counter() - t0)
            if out.returncode != 0:
                raise SystemExit(f"{label} failed ({out.returncode}):\n{out.stderr}")
        print(f"  {label:<52}{best:7.3f} s")


# --- (c) detector run -----------------------------------------------------------------------


def run_daemon(conf: Path, listen: str, settle: float) -> None:
    print("\n(c) detector run (subprocess)")
    log = conf.parent / "detector.log"
    argv = [sys.executable, "-m", "detector", "run", "-c", str(conf), "--log-format", "json"]
    base = f"http://{listen}"
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        answered: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(answered) < 2:
            if proc.poll() is not None:
                raise SystemExit(f"detector run exited ({proc.returncode}):\n{tail(log)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"detector run did not become ready in 120 s:\n{tail(log)}")
            for path in ("/readyz", "/metrics"):
                if path not in answered:
                    with contextlib.suppress(OSError):
                        if get(base + path, timeout=2)[0] == 200:
                            answered[path] = time.perf_counter() - t0
            time.sleep(0.02)
        ready_rss, ready_hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        for path, seconds in answered.items():
            print(f"  {'start → ' + path + ' answers 200':<52}{seconds:7.3f} s")
        print(f"  once ready:  VmRSS {ready_rss / 1024:6.0f} MB, VmHWM {ready_hwm / 1024:6.0f} MB")
        time.sleep(settle)
        rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        t0 = time.perf_counter()
        m = metric_samples(get(base + "/metrics", timeout=120)[1])
        scrape = time.perf_counter() - t0
        if proc.poll() is not None:
            raise SystemExit(f"detector run exited ({proc.returncode}):\n{tail(log)}")
        print(f"  after {settle:g} s: VmRSS {rss / 1024:6.0f} MB, VmHWM {hwm / 1024:6.0f} MB")
        checks = {k.split('"')[1]: v for k, v in m.items() if "result=" in k}
        by_result = ", ".join(f"{k} {v:.0f}" for k, v in sorted(checks.items()))
        print(
            f"  checks: {sum(checks.values()):.0f} ({by_result}); "
            f"incidents open: {m.get('detector_incidents_open', 0):.0f}"
        )
        print(f"  {'one /metrics scrape then':<52}{scrape:7.3f} s")
    finally:
        stop(proc)


async def _startup_child(conf: Path, top: int) -> None:
    """What `detector run` does before it answers, step by step (detector/cli/run.py)."""
    import cProfile
    import pstats

    t0 = time.perf_counter()
    from detector import logs
    from detector.cli.common import load_or_report
    from detector.config import load_config
    from detector.daemon import Daemon

    steps = [("imports (detector.cli.run, detector.daemon)", time.perf_counter() - t0)]
    t0 = time.perf_counter()
    config = load_or_report(str(conf))
    if config is None:
        raise SystemExit("the config is not valid")
    steps.append(("load_or_report: the config, checked (run)", time.perf_counter() - t0))
    logs.configure("warning", fmt="json")
    if os.environ.get("STARTUP_LOAD_TWICE"):  # as `run` did before it handed its config on
        t0 = time.perf_counter()
        config = load_config(conf)
        steps.append(("load_config again (_serve, before)", time.perf_counter() - t0))
    daemon = Daemon(config, conf.parent)
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    await daemon.start()
    profile.disable()
    steps.append(("Daemon.start (under cProfile)", time.perf_counter() - t0))
    await daemon.stop()
    for label, seconds in steps:
        print(f"  {label:<52}{seconds:7.3f} s")
    print(f"  inside Daemon.start, by cumulative time (cProfile; top {top} lines of this project):")
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (cumulative, f"{Path(file).relative_to(ROOT)}:{line}({name})")
        for (file, line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items()
        if file.startswith(str(ROOT)) and "/.venv/" not in file and "/bench/" not in file
    ]
    for cumulative, where in sorted(rows, reverse=True)[:top]:
        print(f"    {cumulative:7.3f} s  {where}")


def startup_child(conf: Path, top: int) -> None:
    print("\n  where the time goes (a child process doing what `detector run` does):", flush=True)
    for leftover in conf.parent.glob("detector.db*"):  # a fresh store, as in (c)
        leftover.unlink()
    argv = [__file__, "--startup-child", str(conf), "--top", str(top)]
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


# --- (d) the daemon under tracemalloc, in a child process -----------------------------------


def _project_frame(trace: tracemalloc.Trace) -> str:
    """The innermost frame in this project's own code (not a library): who asked for it."""
    for frame in trace.traceback:  # most recent call first
        name = frame.filename
        if name.startswith(str(ROOT)) and "/.venv/" not in name and "/bench/" not in name:
            return f"{Path(name).relative_to(ROOT)}:{frame.lineno}"
    return "(no project frame)"


def _short(filename: str) -> str:
    for marker in ("/site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def print_snapshot(title: str, snapshot: tracemalloc.Snapshot, top: int) -> None:
    traces = snapshot.traces
    total = sum(t.size for t in traces)
    print(f"\n  {title}: {total / MB:.1f} MB live in {len(traces)} allocation sites' blocks")
    print(f"  top {top} by allocating line:")
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        print(
            f"    {stat.size / MB:7.1f} MB {stat.count:>9,} blocks  "
            f"{_short(frame.filename)}:{frame.lineno}"
        )
    by_project: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for trace in traces:
        key = _project_frame(trace)
        by_project[key] += trace.size
        count[key] += 1
    print(f"  top {top} by the project line on the stack:")
    for key, size in by_project.most_common(top):
        print(f"    {size / MB:7.1f} MB {count[key]:>9,} blocks  {key}")


async def _memory_child(conf: Path, settle: float, top: int) -> None:
    from detector import logs
    from detector.config import load_config
    from detector.daemon import Daemon

    logs.configure("warning", fmt="json")
    tracemalloc.start(12)
    config = load_config(conf)
    gc.collect()
    loaded = tracemalloc.take_snapshot()
    daemon = Daemon(config, conf.parent)
    await daemon.start()
    started = tracemalloc.take_snapshot()
    await asyncio.sleep(settle)
    gc.collect()
    settled = tracemalloc.take_snapshot()
    rss, hwm = status_kb(os.getpid(), "VmRSS"), status_kb(os.getpid(), "VmHWM")
    await daemon.stop()
    tracemalloc.stop()
    print(f"  (this process, tracemalloc's own tables included: VmRSS {rss // 1024} MB, ", end="")
    print(f"VmHWM {hwm // 1024} MB)")
    print_snapshot("after load_config", loaded, top)
    print_snapshot("after Daemon.start", started, top)
    print_snapshot(f"after {settle:g} s of checks", settled, top)
    print(f"\n  grown from load to {settle:g} s of checks, by allocating line:")
    for stat in settled.compare_to(loaded, "lineno")[:top]:
        frame = stat.traceback[0]
        print(
            f"    {stat.size_diff / MB:+7.1f} MB {stat.count_diff:>+9,} blocks  "
            f"{_short(frame.filename)}:{frame.lineno}"
        )


def memory_child(conf: Path, settle: float, top: int) -> None:
    print(f"\n(d) the daemon under tracemalloc (child process, {settle:g} s of checks)", flush=True)
    argv = [__file__, "--memory-child", str(conf), "--settle", str(settle), "--top", str(top)]
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--probes", type=int, default=20_000)
    ap.add_argument("--per-component", type=int, default=100)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds of checks before RSS")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--top", type=int, default=20, help="lines shown per tracemalloc table")
    ap.add_argument("--tracemalloc", action="store_true", help="also run (d)")
    ap.add_argument("--skip-run", action="store_true", help="only (a) and (b)")
    ap.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--startup-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        asyncio.run(_memory_child(args.memory_child, args.settle, args.top))
        return 0
    if args.startup_child:
        asyncio.run(_startup_child(args.startup_child, args.top))
        return 0
    with tempfile.TemporaryDirectory(prefix="startup-") as name, target(Path(name)) as url:
        tmp = Path(name)
        listen = f"127.0.0.1:{free_port()}"
        conf = write_config(tmp, url, args.probes, args.per_component, args.interval, listen)
        print(
            f"config:  {conf} ({args.probes} http probes, {args.per_component} per component, "
            f"interval {args.interval:g} s)"
        )
        print(f"python:  {sys.version.split()[0]}; yaml C loader: {hasattr(yaml, 'CSafeLoader')}")
        in_process(conf, args.repeat)
        check_wall(conf, args.repeat)
        if not args.skip_run:
            run_daemon(conf, listen, args.settle)
            startup_child(conf, args.top)
        if args.tracemalloc:
            for leftover in tmp.glob("detector.db*"):  # a fresh store, as in (c)
                leftover.unlink()
            memory_child(conf, args.settle, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
