"""Fan-out: one incident to many subscribers, from the decision to every outbox row sent.

In process: a temp SQLite store, the Engine, the OutboxWorker and the real SendGrid and Twilio
channels, wired and tuned as `Daemon.start` does (templates warmed, committed rows handed to the
worker, the daemon's GC settings). The provider doubles (tests/doubles) run in a child process,
as real providers would be elsewhere, so the CPU and memory printed are the detector's own.

    .venv/bin/python bench/fanout.py [--emails 10000] [--sms 1000] [--timeout 60]

Subscribers are spread over 5 locales × 2 time zones (10 outbox groups), as a real list is;
the first --sms of them also have a phone number.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import multiprocessing
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from detector import channels as channel_kinds
from detector import logs
from detector.clock import SystemClock
from detector.config import parse_config
from detector.config.subscribers import load_subscribers
from detector.daemon import tune_gc
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.notices import compose
from detector.outbox import OutboxWorker
from detector.store import Store
from probes.base import Result

LOCALES = ("en", "fr", "pl", "ar", "id")
ZONES = ("Europe/Warsaw", "America/New_York")
DOWN = Result(False, 0.05, "HTTP 503 in 50 ms")


# --- the providers, in their own process ------------------------------------------------------


def serve_doubles(conn: Connection) -> None:
    asyncio.run(_doubles(conn))


async def _doubles(conn: Connection) -> None:
    from tests.doubles import start_sendgrid_double, start_twilio_double

    sendgrid, twilio = await start_sendgrid_double(), await start_twilio_double()
    conn.send((sendgrid.url, twilio.url))
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
    recipients = sum(len(r.body["personalizations"]) for r in sendgrid.requests)
    conn.send(
        {
            "sendgrid_requests": sendgrid.seen,
            "sendgrid_recipients": recipients,
            "twilio_requests": twilio.seen,
            "twilio_messages": len(twilio.requests),
        }
    )
    await sendgrid.stop()
    await twilio.stop()


# --- the detector ---------------------------------------------------------------------------


def write_subscribers(path: Path, emails: int, sms: int) -> None:
    pairs = [(loc, tz) for loc in LOCALES for tz in ZONES]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "phone", "locale", "timezone", "components"])
        for i in range(max(emails, sms)):
            loc, tz = pairs[i % len(pairs)]
            w.writerow(
                [
                    f"Customer {i}",
                    f"c{i}@customers.example" if i < emails else "",
                    f"+4822{i:07d}" if i < sms else "",
                    loc,
                    tz,
                    "",
                ]
            )


def config_text(tmp: Path, sendgrid: str, twilio: str) -> str:
    raw: dict[str, Any] = {
        "service": {
            "name": "Acme Cloud",
            "status_page_url": "https://status.acme.example/",
            "timezone": "Europe/Warsaw",
            "contact": {"name": "Jane Doe, Head of Operations", "email": "ops@acme.example"},
        },
        "storage": {"url": f"sqlite:///{tmp / 'fanout.db'}"},
        "detection": {"failures_to_confirm": 3},
        "components": [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": "api-health", "http": {"url": "https://api.acme.example/healthz"}}
                ],
            }
        ],
        "subscribers": [{"file": "subscribers.csv"}],
        "channels": [
            {
                "type": "sendgrid",
                "api_key": "${SENDGRID_API_KEY}",
                "from": "status@acme.example",
                "api_base": sendgrid,
            },
            {
                "type": "twilio",
                "account_sid": "${TWILIO_ACCOUNT_SID}",
                "auth_token": "${TWILIO_AUTH_TOKEN}",
                "from": "+15550100",
                "api_base": twilio,
            },
        ],
    }
    return yaml.safe_dump(raw)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench(args: argparse.Namespace, tmp: Path, sendgrid: str, twilio: str) -> dict[str, Any]:
    from tests.doubles.sendgrid_double import DEFAULT_KEY
    from tests.doubles.twilio_double import DEFAULT_SID, DEFAULT_TOKEN

    env = {
        "SENDGRID_API_KEY": DEFAULT_KEY,
        "TWILIO_ACCOUNT_SID": DEFAULT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_TOKEN,
    }
    write_subscribers(tmp / "subscribers.csv", args.emails, args.sms)
    config = parse_config(config_text(tmp, sendgrid, twilio), env=env)
    subscribers = load_subscribers(config, tmp)
    store = Store(config.storage.url)
    await store.open()
    clock = SystemClock()
    metrics = Metrics()
    chans = channel_kinds.build(config)
    # what Daemon.start does: templates compiled before the first notice, committed rows handed
    # to the worker (no store read per decision), the daemon's GC settings once started
    compose.warm(
        [config.service.locale, *(s.locale for s in subscribers if s.locale)],
        config.service.timezone,
    )
    worker = OutboxWorker(store, chans, metrics, clock)
    engine = Engine(
        config,
        store,
        chans,
        subscribers,
        metrics,
        clock,
        wake_outbox=worker.wake,
        enqueue=worker.enqueue,
    )
    await engine.load()
    worker.start()
    gc.collect()
    gc.freeze()
    tune_gc()
    # a daemon runs a while before an outage is confirmed: its worker has read the outbox
    # (empty here) at start-up, rather than reading the incident's rows back mid-decision
    await asyncio.sleep(0.5)
    rss_before = rss_mb()
    try:
        for _ in range(config.detection.failures_to_confirm - 1):
            engine.on_result("api-health", DOWN, clock.now())
            await engine.drain()
        cpu0, t0 = cpu(), time.time()
        engine.on_result("api-health", DOWN, clock.now())  # the confirming failure
        await engine.drain()  # the decision: compose, plan, one transaction with every row
        decided = time.time() - t0
        deadline = t0 + args.timeout
        while time.time() < deadline:
            counts = await store.outbox_counts()
            if counts and set(counts) == {"sent"}:
                break
            await asyncio.sleep(0.05)
        wall = time.time() - t0
        used = cpu() - cpu0
        rows = await store.outbox_rows()
    finally:
        await worker.stop(1.0)
        for ch in chans:
            await ch.close()
        await store.close()
    out: dict[str, Any] = {
        "decided": decided,
        "wall": wall,
        "cpu": used,
        "rss": rss_mb(),
        "rss_before": rss_before,
    }
    for ch in chans:
        mine = [r for r in rows if r.channel == ch.name]
        sent = [r for r in mine if r.state == "sent" and r.sent_at is not None]
        out[ch.kind] = {
            "rows": len(mine),
            "sent": len(sent),
            "recipients": sum(len(r.recipients) for r in sent),
            "seconds": max((r.sent_at or 0) - t0 for r in sent) if sent else float("nan"),
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emails", type=int, default=10_000, help="subscribers with an e-mail")
    p.add_argument("--sms", type=int, default=1_000, help="of them, with a phone number")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    args = p.parse_args()
    logs.configure("error")  # one info line per delivered row would measure the terminal

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_doubles, args=(child,), daemon=True)
    proc.start()
    try:
        sendgrid, twilio = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(bench(args, Path(tmp), sendgrid, twilio))
        parent.send("stop")
        seen = parent.recv()
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.terminate()

    mail, sms = r["sendgrid"], r["twilio"]
    print(
        f"fan-out of one incident: {args.emails} e-mail and {args.sms} SMS subscribers "
        f"({len(LOCALES)} locales × {len(ZONES)} zones)"
    )
    print(
        f"  decision (compose + plan + commit {mail['rows'] + sms['rows']} rows): "
        f"{r['decided']:.2f} s"
    )
    print(
        f"  {'channel':<9}{'rows':>7}{'sent':>7}{'requests':>10}{'recipients':>12}"
        f"{'seconds':>9}{'per s':>9}"
    )
    for name, c, req in (
        ("sendgrid", mail, seen["sendgrid_requests"]),
        ("twilio", sms, seen["twilio_requests"]),
    ):
        rate = c["recipients"] / c["seconds"] if c["seconds"] > 0 else float("nan")
        print(
            f"  {name:<9}{c['rows']:>7}{c['sent']:>7}{req:>10}{c['recipients']:>12}"
            f"{c['seconds']:>9.2f}{rate:>9.0f}"
        )
    print(
        f"  e-mails/s: {mail['recipients'] / mail['seconds']:.0f}   "
        f"SMS/s: {sms['recipients'] / sms['seconds']:.0f}   "
        f"(decision → last row sent, per channel)"
    )
    print(
        f"  all rows sent after {r['wall']:.2f} s; detector CPU {r['cpu']:.2f} s; "
        f"peak RSS {r['rss']:.0f} MB ({r['rss_before']:.0f} MB before the incident)"
    )
    complete = mail["sent"] == mail["rows"] and sms["sent"] == sms["rows"]
    if not complete:
        print(f"  INCOMPLETE within --timeout {args.timeout:g} s")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
