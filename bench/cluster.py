"""Several instances, from outside: failover and rebalance times over repeated kill -9s.

Real `detector run` subprocesses share one PostgreSQL database (`cluster: {lease: L}`), probe
a local aiohttp target in this process, and are watched only through their /metrics, polled
every 20 ms (--poll). Two scenarios, --trials each:

  failover   3 instances, one per vantage (a, b, c): each runs every probe, one leads.
             Find the leader (detector_leader 1), kill -9 it, time until exactly one
             survivor reports detector_leader 1; restart the killed one (it rejoins as a
             follower) before the next trial.
  rebalance  2 instances of one vantage share the probes (detector_probes_owned). Kill -9
             one (the follower in odd trials, the leader in even ones), time until the
             survivor owns every probe ("takeover"), and until every probe the dead one ran
             was checked again by the survivor, as the target saw it ("re-checked").
             Then start it again and time until the two split the probes once more ("join",
             from spawning the process, its start-up included).

Each kill comes at a random phase of the heartbeats (a uniform wait of up to one lease after
the cluster settled; the seed is printed, --seed repeats it). The instances promise a dead
leader replaced and a dead member's probes taken over within 2 × lease: the summary gives
min / median / max of each time, that bound, and whether every trial kept it.

PostgreSQL: --postgres URL, else DETECTOR_TEST_POSTGRES_URL, else a throwaway server started
here as .ci/run starts one (initdb in a temporary folder, as the postgres user when run as
root, on a free loopback port; stopped and removed at exit; needs the Debian package
postgresql). The role must be able to create databases: each scenario gets a fresh one,
dropped after.

    .venv/bin/python bench/cluster.py [--trials 10] [--lease 2] [--probes 200] [--interval 5]
                                      [--postgres URL] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import ROOT, find, free_port, get, tail  # a sibling script, not a package

sys.path.insert(0, str(ROOT))

ENV = "DETECTOR_TEST_POSTGRES_URL"
GAUGES = re.compile(
    r"^(detector_(?:leader|probes_owned|members_live|vantages_live)) ([0-9.eE+-]+)$", re.M
)
T = TypeVar("T")
Row = TypeVar("Row")  # one trial's outcome: Failover or Rebalance
SCRAPES: list[float] = []  # how long each answered /metrics poll took, seconds


class SetupFailed(Exception):
    """Something the bench needs is missing or broken: say what, exit non-zero."""


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl: Debian keeps them off PATH, one folder per version."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name))

    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if (d / "pg_ctl").exists() and (d / "initdb").exists():
            return d
    exe = find("pg_ctl")
    if exe and (Path(exe).parent / "initdb").exists():
        return Path(exe).parent
    return None


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of our own on 127.0.0.1, as .ci/run starts one; its URL."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise SetupFailed(
            f"no PostgreSQL: give a server with --postgres URL or {ENV}, or install the "
            "Debian package postgresql (apt-get install postgresql) for a throwaway one"
        )
    folder = Path(tempfile.mkdtemp(prefix="cluster-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        runuser = find("runuser")
        if runuser is None:
            raise SetupFailed("running as root, and no runuser to start PostgreSQL as postgres")
        try:
            shutil.chown(folder, "postgres")
        except (LookupError, OSError) as e:
            raise SetupFailed(
                f"running as root, and no postgres user to run PostgreSQL: {e}"
            ) from e
        as_pg = [runuser, "-u", "postgres", "--"]
    data = folder / "data"
    pg_ctl = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        port, password = free_port(), secrets.token_hex(16)
        pw = folder / "pw"
        pw.write_text(password + "\n")
        pw.chmod(0o644)
        init = subprocess.run(
            [*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "detector",
             f"--pwfile={pw}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True,
        )  # fmt: skip
        pw.unlink()
        if init.returncode:
            raise SetupFailed(f"initdb failed:\n{init.stdout}{init.stderr}")
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=100"
        start = subprocess.run(
            [*pg_ctl, "-l", str(folder / "server.log"), "-w", "-t", "60", "-o", opts, "start"],
            capture_output=True,
            text=True,
        )
        started = True
        if start.returncode:
            raise SetupFailed(f"pg_ctl start failed:\n{tail(folder / 'server.log')}")
        yield f"postgresql://detector:{password}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server(given: str | None) -> Iterator[tuple[str, str]]:
    """(the server's URL, where it came from)."""
    if given:
        yield given, "given"
        return
    with throwaway_postgres() as url:
        yield url, "throwaway"


def admin_sql(admin: str, *statements: str) -> list[Any]:
    """Run statements on the server (autocommit), the first column of each one's first row."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from detector.store.store import async_url

    async def go() -> list[Any]:
        engine = create_async_engine(async_url(admin), isolation_level="AUTOCOMMIT")
        try:
            out = []
            async with engine.connect() as conn:
                for sql in statements:
                    got = await conn.exec_driver_sql(sql)
                    out.append(got.scalar() if got.returns_rows else None)
            return out
        finally:
            await engine.dispose()

    return asyncio.run(go())


@contextmanager
def database(admin: str) -> Iterator[str]:
    """A fresh, empty database's URL, dropped after (connections of killed instances and all)."""
    from sqlalchemy.engine import make_url

    name = f"detector_bench_{uuid.uuid4().hex[:12]}"
    admin_sql(admin, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the target -------------------------------------------------------------------------------


class Target:
    """`GET /{instance}/{probe}` → 200 "ok", on a thread of this process; remembers who checked
    which probe when (time.monotonic(), the clock the kills are timed on)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: dict[str, list[tuple[float, str]]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Target:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            who, name = request.match_info["who"], request.match_info["probe"]
            self.seen.setdefault(name, []).append((time.monotonic(), who))
            return web.Response(text="ok")

        async def serve() -> web.AppRunner:
            app = web.Application()
            app.router.add_get("/{who}/{probe}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024).start()
            return runner

        self._thread.start()
        self._runner = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def last_checker(self, before: float) -> dict[str, str]:
        """Each probe's last checker before `before`."""
        out = {}
        for name, hits in list(self.seen.items()):
            who = [w for t, w in list(hits) if t < before]
            if who:
                out[name] = who[-1]
        return out

    def first_check(self, name: str, by: str, after: float) -> float | None:
        return next((t for t, w in list(self.seen.get(name, ())) if w == by and t > after), None)


# --- the instances ----------------------------------------------------------------------------


def config(
    folder: Path, name: str, storage: str, target: Target, args: argparse.Namespace
) -> tuple[Path, int]:
    """One instance's config: `args.probes` http probes at `args.interval`, 10 per component,
    each checking `/{BENCH_INSTANCE}/{probe}` on the target (so it sees who checked)."""
    port = free_port()
    probes = args.probes
    raw = {
        "service": {"name": "bench", "contact": {"name": "Bench", "email": "bench@x.example"}},
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": storage},
        "cluster": {"lease": f"{args.lease:g}s"},
        "detection": {"interval": f"{args.interval:g}s", "timeout": "2s"},
        "components": [
            {
                "id": f"c{c}",
                "name": f"C{c}",
                "impact": "x",
                "probes": [
                    {
                        "name": f"p{c}-{j}",
                        "http": {
                            "url": f"http://127.0.0.1:{target.port}/${{BENCH_INSTANCE}}/p{c}-{j}"
                        },
                    }
                    for j in range(min(10, probes - c * 10))
                ],
            }
            for c in range((probes + 9) // 10)
        ],
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(raw, indent=1))  # JSON is YAML
    return path, port


class Instance:
    """One `detector run` subprocess, its vantage in DETECTOR_VANTAGE; restarted in place (same
    config and port, a new member id) after a kill; its log appended to across restarts."""

    def __init__(self, name: str, vantage: str, conf: Path, port: int) -> None:
        self.name, self.vantage, self.conf, self.port = name, vantage, conf, port
        self.log = conf.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"

    def start(self) -> float:
        """Spawn it; returns when (monotonic)."""
        env = {
            **os.environ,
            "DETECTOR_VANTAGE": self.vantage,
            "DETECTOR_ADVERTISE": f"http://127.0.0.1:{self.port}",
            "BENCH_INSTANCE": self.name,
        }
        argv = [sys.executable, "-m", "detector", "run", "-c", str(self.conf)]
        with self.log.open("ab") as out:
            t = time.monotonic()
            self.proc = subprocess.Popen(
                [*argv, "--log-format", "json"], stdout=out, stderr=subprocess.STDOUT,
                env=env, cwd=ROOT,
            )  # fmt: skip
        return t

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def gauges(self) -> dict[str, float] | None:
        """The cluster's gauges from /metrics; None while it does not answer."""
        t0 = time.monotonic()
        try:
            text = get(self.metrics_url, timeout=1)
        except OSError:
            return None
        SCRAPES.append(time.monotonic() - t0)
        return {k: float(v) for k, v in GAUGES.findall(text)}

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                code = None if self.proc is None else self.proc.returncode
                raise TrialFailed(f"{self.name} exited ({code}):\n{tail(self.log)}")
            try:
                get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise TrialFailed(f"{self.name} not ready within {timeout:g} s:\n{tail(self.log)}")

    def kill9(self) -> float:
        """SIGKILL; returns when it was sent (monotonic)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        t = time.monotonic()
        self.proc.wait()
        return t

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class TrialFailed(Exception):
    """A trial that did not reach its end state in time: counted, logged, the next one runs."""


def poll_until(
    check: Callable[[], T | None], timeout: float, every: float, what: str
) -> tuple[T, float]:
    """Call `check` every `every` s until it returns something; (that, when: monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        t0 = time.monotonic()
        got = check()
        if got is not None:
            return got, time.monotonic()
        if t0 > deadline:
            raise TrialFailed(f"no {what} within {timeout:g} s")
        time.sleep(max(0.0, every - (time.monotonic() - t0)))


@contextmanager
def instances(members: list[Instance]) -> Iterator[list[Instance]]:
    try:
        yield members
    finally:
        for m in members:
            m.stop()


# --- failover ---------------------------------------------------------------------------------


@dataclass
class Failover:
    trial: int
    killed: str = ""
    new_leader: str = ""
    seconds: float = float("nan")
    most_leaders: int = 0  # the most survivors that said detector_leader 1 in one poll round
    error: str = ""


def settled(members: list[Instance], leaders_at_once: list[int]) -> Instance | None:
    """The leader, once every member is up, sees all the others live and exactly one leads."""
    seen = [(m, m.gauges()) for m in members]
    if any(g is None for _, g in seen):
        return None
    leading = [m for m, g in seen if g and g.get("detector_leader") == 1]
    leaders_at_once.append(len(leading))
    live_ok = all(g and g.get("detector_members_live") == len(members) for _, g in seen)
    return leading[0] if live_ok and len(leading) == 1 else None


def failover_trial(
    n: int, members: list[Instance], args: argparse.Namespace, rng: random.Random
) -> Failover:
    row = Failover(n)
    rounds: list[int] = []
    poll_until(lambda: settled(members, rounds), 60, 0.1, "settled cluster")
    time.sleep(rng.uniform(0, args.lease))  # a random phase of the heartbeats
    leader, _ = poll_until(lambda: settled(members, rounds), 60, 0.1, "settled cluster")
    row.killed, row.most_leaders = leader.name, max(rounds)
    survivors = [m for m in members if m is not leader]
    killed_at = leader.kill9()

    def one_leader() -> Instance | None:
        leading = [m for m in survivors if (m.gauges() or {}).get("detector_leader") == 1]
        row.most_leaders = max(row.most_leaders, len(leading))
        return leading[0] if len(leading) == 1 else None

    try:
        new, at = poll_until(one_leader, 10 * 2 * args.lease, args.poll, "new leader")
        row.seconds, row.new_leader = at - killed_at, new.name
    finally:
        leader.start()
        leader.wait_ready()
    return row


def run_failover(
    tmp: Path, admin: str, target: Target, args: argparse.Namespace, rng: random.Random
) -> list[Failover]:
    return run_trials(
        tmp / "failover",
        admin,
        target,
        args,
        [(v, v) for v in ("a", "b", "c")],  # one instance per vantage
        lambda n, members: failover_trial(n, members, args, rng),
        lambda n, error: Failover(n, error=error),
        print_failover,
    )


def run_trials(
    folder: Path,
    admin: str,
    target: Target,
    args: argparse.Namespace,
    roster: list[tuple[str, str]],
    trial: Callable[[int, list[Instance]], Row],
    failed: Callable[[int, str], Row],
    show: Callable[[Row, argparse.Namespace], None],
) -> list[Row]:
    """`args.trials` trials on instances (name, vantage) of one fresh database; a failed trial
    is a row with its error, and the dead are restarted for the next one."""
    rows: list[Row] = []
    kind = folder.name
    folder.mkdir()
    with database(admin) as url:
        members = []
        for name, vantage in roster:
            conf, port = config(folder, name, url, target, args)
            members.append(Instance(name, vantage, conf, port))
        with instances(members):
            for m in members:
                m.start()
            for m in members:
                m.wait_ready()
            for n in range(1, args.trials + 1):
                try:
                    row = trial(n, members)
                except TrialFailed as e:
                    row = failed(n, str(e))
                    print(f"{kind} trial {n}: {e}", file=sys.stderr)
                    restart_dead(members)
                rows.append(row)
                show(row, args)
            scan_logs(members, kind)
    return rows


def restart_dead(members: list[Instance]) -> None:
    for m in members:
        if not m.alive:
            m.start()
    for m in members:
        m.wait_ready()


# --- rebalance --------------------------------------------------------------------------------


@dataclass
class Rebalance:
    trial: int
    killed: str = ""
    role: str = ""
    owned_before: int = 0
    takeover: float = float("nan")
    rechecked: float = float("nan")
    join: float = float("nan")
    startup: float = float("nan")
    split: tuple[int, int] = (0, 0)
    error: str = ""


def shared(members: list[Instance], probes: int) -> tuple[int, int] | None:
    """Both members answer and own complementary shares: (each one's count)."""
    owned = []
    for m in members:
        g = m.gauges()
        if g is None:
            return None
        owned.append(int(g.get("detector_probes_owned", 0)))
    a, b = owned
    return (a, b) if a + b == probes and a > 0 and b > 0 else None


def rebalance_trial(
    n: int, members: list[Instance], target: Target, args: argparse.Namespace, rng: random.Random
) -> Rebalance:
    row = Rebalance(n)
    poll_until(lambda: shared(members, args.probes), 60, 0.1, "shared probes")
    # every probe checked by its present owner since the last move, then a random phase
    time.sleep(args.interval + min(args.lease / 4, 2.0) + 1 + rng.uniform(0, args.lease))
    # odd trials kill the follower, even ones the leader (the survivor of a trial leads after
    # it, so killing members in turn would kill the leader every time)
    seen = [m.gauges() or {} for m in members]
    leading = next((i for i, g in enumerate(seen) if g.get("detector_leader") == 1), 0)
    i = leading if n % 2 == 0 else 1 - leading
    victim, survivor, g = members[i], members[1 - i], seen[i]
    row.killed, row.role = victim.name, "leader" if g.get("detector_leader") == 1 else "follower"
    row.owned_before = int(g.get("detector_probes_owned", 0))
    killed_at = victim.kill9()
    theirs = [p for p, who in target.last_checker(killed_at).items() if who == victim.name]

    def all_on_survivor() -> bool | None:
        g = survivor.gauges()
        return True if g and g.get("detector_probes_owned") == args.probes else None

    bound = 10 * 2 * args.lease
    try:
        _, at = poll_until(all_on_survivor, bound, args.poll, "takeover")
        row.takeover = at - killed_at

        def rechecked() -> float | None:
            firsts = [target.first_check(p, survivor.name, killed_at) for p in theirs]
            return None if None in firsts else max(f for f in firsts if f is not None)

        last, _ = poll_until(rechecked, bound + args.interval, args.poll, "re-checks")
        row.rechecked = last - killed_at
    finally:
        # a random phase again: the end of the re-checks is in step with the survivor's polls
        time.sleep(rng.uniform(0, args.lease))
        spawned = victim.start()

    def up() -> bool | None:
        return True if victim.gauges() is not None else None

    _, at = poll_until(up, 60, args.poll, "the restarted instance's /metrics")
    row.startup = at - spawned
    row.split, at = poll_until(lambda: shared(members, args.probes), 60, args.poll, "a new split")
    row.join = at - spawned
    return row


def run_rebalance(
    tmp: Path, admin: str, target: Target, args: argparse.Namespace, rng: random.Random
) -> list[Rebalance]:
    return run_trials(
        tmp / "rebalance",
        admin,
        target,
        args,
        [("one", "here"), ("two", "here")],  # two instances of one vantage share its probes
        lambda n, members: rebalance_trial(n, members, target, args, rng),
        lambda n, error: Rebalance(n, error=error),
        print_rebalance,
    )


# --- the logs ---------------------------------------------------------------------------------


@dataclass
class LogNotes:
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


NOTES = LogNotes()


def scan_logs(members: list[Instance], scenario: str) -> None:
    """Warnings and errors the instances logged (JSON lines; anything else is kept as is)."""
    for m in members:
        for line in m.log.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
                level, event = str(rec.get("level", "")), str(rec.get("event", ""))
            except (ValueError, AttributeError):
                level, event = "raw", line[:100]
            if level in ("info", "debug"):
                continue
            NOTES.counts[(scenario, level, event)] += 1
            if level not in ("warning",) and len(NOTES.samples) < 20:
                NOTES.samples.append(f"{scenario}/{m.name}: {line[:400]}")


# --- the report -------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return "     -" if x != x else f"{x:6.2f}"


def print_failover(r: Failover, args: argparse.Namespace) -> None:
    if r.trial == 1:
        print(f"\nfailover: 3 instances, vantages a, b, c; lease {args.lease:g} s")
        print(
            f"{'trial':>5}  {'killed':<6} {'new':<6} {'failover s':>10} {'≤ 2×lease':>9}  leaders"
        )
    if r.error:
        print(f"{r.trial:>5}  failed: {r.error.splitlines()[0]}", flush=True)
        return
    within = "yes" if r.seconds <= 2 * args.lease else "NO"
    print(
        f"{r.trial:>5}  {r.killed:<6} {r.new_leader:<6} {r.seconds:>10.3f} {within:>9}  "
        f"max {r.most_leaders} at once",
        flush=True,
    )


def print_rebalance(r: Rebalance, args: argparse.Namespace) -> None:
    if r.trial == 1:
        print(
            f"\nrebalance: 2 instances of one vantage, {args.probes} probes at "
            f"{args.interval:g} s; lease {args.lease:g} s"
        )
        print(
            f"{'trial':>5}  {'killed':<14} {'owned':>5} {'takeover s':>10} {'≤ 2×lease':>9} "
            f"{'re-checked s':>12} {'join s':>6} {'start-up s':>10}  split"
        )
    if r.error:
        print(f"{r.trial:>5}  failed: {r.error.splitlines()[0]}", flush=True)
        return
    within = "yes" if r.takeover <= 2 * args.lease else "NO"
    a, b = r.split
    lo, hi = 0.4 * args.probes, 0.6 * args.probes
    mark = "" if lo <= a <= hi and lo <= b <= hi else " (outside 40–60%)"
    print(
        f"{r.trial:>5}  {r.killed + ' (' + r.role + ')':<14} {r.owned_before:>5} "
        f"{r.takeover:>10.3f} {within:>9} {r.rechecked:>12.3f} {r.join:>6.2f} "
        f"{r.startup:>10.2f}  {a}/{b}{mark}",
        flush=True,
    )


def spread(xs: list[float]) -> str:
    ok = [x for x in xs if x == x]
    if not ok:
        return "no trial finished"
    return f"min {min(ok):.3f}  median {statistics.median(ok):.3f}  max {max(ok):.3f} s"


def summary(fo: list[Failover], rb: list[Rebalance], args: argparse.Namespace, seed: int) -> None:
    bound = 2 * args.lease
    print(f"\nsummary ({args.trials} trials each, seed {seed}; bound 2 × lease = {bound:g} s)")
    fo_s = [r.seconds for r in fo]
    take = [r.takeover for r in rb]
    rows = [
        ("failover", fo_s, True),
        ("takeover", take, True),
        ("re-checked", [r.rechecked for r in rb], False),
        ("join", [r.join for r in rb], False),
        ("join start-up", [r.startup for r in rb], False),
    ]
    for name, xs, judged in rows:
        if not xs:  # a scenario left out (--only)
            continue
        line = f"  {name:<14} {spread(xs)}"
        if judged:
            inside = sum(1 for x in xs if x == x and x <= bound)
            line += f"   within {bound:g} s: {inside}/{len(xs)}"
        print(line)
    if SCRAPES:
        q = statistics.quantiles(SCRAPES, n=100) if len(SCRAPES) > 1 else SCRAPES * 99
        print(
            f"  one /metrics poll: median {1000 * statistics.median(SCRAPES):.1f} ms, p99 "
            f"{1000 * q[98]:.1f} ms (a time is read when the poll that saw the change returns)"
        )
    if fo:
        most = max(r.most_leaders for r in fo)
        print(f"  leaders at once (any poll, failover scenario): at most {most}")
    if NOTES.counts:
        print("  instances' log, warnings and errors:")
        for (scenario, level, event), k in sorted(NOTES.counts.items()):
            print(f"    {scenario:<9} {level:<8} {k:>4} × {event}")
    for s in NOTES.samples:
        print(f"    {s}", file=sys.stderr)
    parts = []
    for name, xs in (("failover", fo_s), ("takeover", take)):
        if xs and ok(xs):
            parts.append(f"{name} median {statistics.median(ok(xs)):.2f} s (max {max(ok(xs)):.2f})")
    if not parts:
        print("\nno trial finished: see the errors above")
        return
    kept = all(x == x and x <= bound for x in fo_s + take)
    print(f"\n{', '.join(parts)}; {'all' if kept else 'NOT all'} within 2 × lease = {bound:g} s")


def ok(xs: list[float]) -> list[float]:
    return [x for x in xs if x == x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10, help="kills per scenario")
    ap.add_argument("--lease", type=float, default=2, help="cluster.lease, seconds")
    ap.add_argument("--probes", type=int, default=200, help="http probes")
    ap.add_argument("--interval", type=float, default=5, help="the probes' interval, seconds")
    ap.add_argument("--poll", type=float, default=0.02, help="seconds between /metrics polls")
    ap.add_argument("--postgres", help=f"a server's URL (default: ${ENV}, else a throwaway one)")
    ap.add_argument("--seed", type=int, help="the kills' phases (default: random, printed)")
    ap.add_argument(
        "--only", choices=("failover", "rebalance"), help="run one scenario (default: both)"
    )
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on a plain kill too
    given = args.postgres or os.environ.get(ENV, "").strip() or None
    fo: list[Failover] = []
    rb: list[Rebalance] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="cluster-") as tmp_name,
            postgres_server(given) as (admin, origin),
        ):
            try:
                version = admin_sql(admin, "SHOW server_version")[0]
            except Exception as e:
                raise SetupFailed(f"cannot reach PostgreSQL ({origin}): {e}") from e
            import aiohttp

            print(
                f"`detector run` × 3 (failover) and × 2 (rebalance) from outside, /metrics "
                f"polled every {args.poll * 1000:g} ms; PostgreSQL {version} ({origin}); "
                f"aiohttp {aiohttp.__version__}; {args.probes} probes at {args.interval:g} s; "
                f"seed {seed}"
            )
            target = Target().start()
            try:
                if args.only in (None, "failover"):
                    fo = run_failover(Path(tmp_name), admin, target, args, rng)
                if args.only in (None, "rebalance"):
                    rb = run_rebalance(Path(tmp_name), admin, target, args, rng)
            finally:
                target.stop()
    except SetupFailed as e:
        print(f"bench/cluster.py: {e}", file=sys.stderr)
        return 2
    summary(fo, rb, args, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
