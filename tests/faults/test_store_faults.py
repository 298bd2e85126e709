"""Issue 8, done-when 1: every store call the engine and the outbox make fails once, in turn,
during an incident with 40 subscribers on e-mail, SMS and webhook. Every notice reaches every
recipient exactly once (no process dies here, so no resend is excusable), nothing is lost, and
the failure shows in the health that `/readyz` reports.

In process, real time, short backoffs; the stages are published one after another (opened, a
person's update, recovery, resolved), each delivered before the next, so none supersedes
another. Assertions read the database through a second, plain store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from detector import channels as channel_kinds
from detector.clock import SystemClock
from detector.config.subscribers import load_subscribers
from detector.health import Health
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.store import STORE_ERRORS, Store
from probes.base import Result
from tests.delivery.doubles import start_sendgrid, start_twilio
from tests.delivery.stack import DOWN, build_config, channel_configs, crowd, write_csv
from tests.e2e.harness import Receiver, until
from tests.faults.faulty_store import STORE_CALLS, FaultyStore

PEOPLE = 40
UP = Result(True, 0.01, "HTTP 200 in 10 ms")
T = TypeVar("T")


class SpyHealth(Health):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(metrics)
        self.seen: list[str] = []

    def failed(self, key: str, reason: str) -> None:
        self.seen.append(key)
        super().failed(key, reason)


async def as_a_person(action: Callable[[], Awaitable[T]]) -> T:
    """A person whose action met a 503 tries again."""
    for _ in range(100):
        try:
            return await action()
        except STORE_ERRORS:
            await asyncio.sleep(0.05)
    raise AssertionError("the store never came back")


async def run_incident(tmp: Path, fail: str | None) -> dict[str, Any]:
    sendgrid, twilio, receiver = await start_sendgrid(), await start_twilio(), Receiver()
    await receiver.start()
    people = crowd(PEOPLE)
    write_csv(tmp / "subscribers.csv", people)
    config = build_config(
        tmp,
        channel_configs(
            sendgrid=sendgrid.url,
            twilio=twilio.url,
            webhook=f"http://127.0.0.1:{receiver.port}/hook",
        ),
        [{"file": "subscribers.csv"}],
        detection={
            "interval": "10s",
            "failures_to_confirm": 3,
            "recheck_interval": "1s",
            "successes_to_recover": 2,
            "stable_for": "5m",
        },
    )
    store = FaultyStore(config.storage.url)
    await store.open()
    reader = Store(config.storage.url)
    metrics = Metrics()
    health = SpyHealth(metrics)
    clock = SystemClock()
    chans = channel_kinds.build(config)
    worker = OutboxWorker(
        store, chans, metrics, clock, base_backoff=0.05, max_backoff=0.4, health=health
    )
    engine = Engine(
        config,
        store,
        chans,
        load_subscribers(config, tmp),
        metrics,
        clock,
        wake_outbox=worker.wake,
        enqueue=worker.enqueue,
        health=health,
        retry_cap=0.4,
    )
    await engine.load()
    worker.start()
    loops = [asyncio.create_task(engine.run_decisions()), asyncio.create_task(engine.run_ticks())]
    emails = [p["email"] for p in people]
    phones = [p["phone"] for p in people]

    async def delivered(stage: int) -> bool:
        got_mail, got_sms = Counter(sendgrid.accepted()), Counter(twilio.accepted())
        if len(receiver.events()) < stage or any(got_mail[e] < stage for e in emails):
            return False
        if any(got_sms[p] < stage for p in phones):
            return False
        rows = await reader.outbox_rows()
        return all(r.state != "pending" for r in rows)

    try:
        if fail is not None:
            store.fail(fail)
        for _ in range(config.detection.failures_to_confirm):
            engine.on_result("api-health", DOWN, clock.now())
        await until(lambda: delivered(1), 20, "opened, to everyone")
        [inc] = await reader.open_incidents()
        await as_a_person(lambda: engine.human_update(inc.id, "We found the fault."))
        await until(lambda: delivered(2), 20, "a person's update, to everyone")
        for _ in range(config.detection.successes_to_recover):
            engine.on_result("api-health", UP, clock.now())
        await until(lambda: delivered(3), 20, "recovery, to everyone")
        await as_a_person(lambda: engine.resolve(inc.id))
        await until(lambda: delivered(4), 20, "resolved, to everyone")
        await asyncio.sleep(0.3)  # room for a duplicate to show, if one were coming
        rows = await reader.outbox_rows()
        return {
            "mail": Counter(sendgrid.accepted()),
            "sms": Counter(twilio.accepted()),
            "hooks": [h.body["notice_id"] for h in receiver.events()],
            "incident": inc.id,
            "states": Counter(r.state for r in rows),
            "failed": list(store.failed),
            "calls": Counter(store.calls),
            "health": health,
            "emails": emails,
            "phones": phones,
        }
    finally:
        for t in loops:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*loops, return_exceptions=True)
        await worker.stop(1.0)
        for ch in chans:
            await ch.close()
        await store.close()
        await reader.close()
        await sendgrid.stop()
        await twilio.stop()
        await receiver.stop()


def check(out: dict[str, Any]) -> None:
    stages = [f"{out['incident']}.{i}" for i in range(1, 5)]
    assert out["hooks"] == stages, out["hooks"]  # once each, in order
    assert all(out["mail"][e] == 4 for e in out["emails"]), out["mail"].most_common(3)
    assert all(out["sms"][p] == 4 for p in out["phones"]), out["sms"].most_common(3)
    assert set(out["mail"]) == set(out["emails"]) and set(out["sms"]) == set(out["phones"])
    assert out["states"]["pending"] == 0 and out["states"]["dead"] == 0


async def test_clean_run_uses_these_store_calls(tmp_path: Path) -> None:
    out = await run_incident(tmp_path, None)
    check(out)
    used = {name for name, n in out["calls"].items() if n}
    assert used <= set(STORE_CALLS)
    assert {"commit"} <= used  # the engine writes through commit; the outbox reads and records


@pytest.mark.parametrize("call", STORE_CALLS)
async def test_each_store_call_fails_once(tmp_path: Path, call: str) -> None:
    out = await run_incident(tmp_path, call)
    check(out)
    if out["failed"]:  # the call was made during the incident, and failed once
        assert out["health"].seen, "a store failure that /readyz never showed"
        assert any(k.startswith("store") for k in out["health"].seen)
