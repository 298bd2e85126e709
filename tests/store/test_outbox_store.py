"""The outbox's store side: schema v2 (an existing v1 file upgrades in place), one transaction
that records results and claims rows, and letting a dead process's claims go. On SQLite and
PostgreSQL (the `store` fixture), but for the v1 file, which only SQLite ever had."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from sqlalchemy import MetaData, create_engine

from detector.clock import SystemClock
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from detector.store import Change, OutboxRow, Store, legacy
from detector.store import schema as s
from detector.store.migrations import head
from detector.store.outbox import OutboxResult
from tests.delivery.kit import MESSAGE, Scripted, row
from tests.e2e.harness import until

NOW = 1_795_000_000.0

V1_OUTBOX = """
CREATE TABLE outbox (
    id VARCHAR(80) NOT NULL PRIMARY KEY, notice_id VARCHAR(64) NOT NULL,
    channel VARCHAR(64) NOT NULL, event VARCHAR(40) NOT NULL, message TEXT NOT NULL,
    payload TEXT NOT NULL, recipients TEXT NOT NULL, state VARCHAR(10) NOT NULL,
    attempts INTEGER NOT NULL, created_at FLOAT NOT NULL, next_attempt_at FLOAT NOT NULL,
    sent_at FLOAT, last_error TEXT
)"""


def v1_database(path: Path, now: float) -> None:
    """A file as schema v1 left it: the v1 outbox, a notice, and rows of every kind."""
    md = MetaData()
    for table in (s.meta, s.notices):  # unchanged by v2
        table.to_metadata(md)
    engine = create_engine(f"sqlite:///{path}")
    md.create_all(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute(V1_OUTBOX)
    db.execute("CREATE INDEX ix_outbox_due ON outbox (state, channel, next_attempt_at)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO notices (id, incident_id, sequence, event, kind, status, severity, "
        "published_at, next_update_at, subject, text, facts, evidence, recipients) VALUES "
        "('api-1.2', 'api-1', 2, 'incident.updated', 'update', 'investigating', "
        "'major_outage', ?, ?, 's', 't', '{}', '[]', 1)",
        (now, now + 900),
    )
    people = json.dumps([{"name": "A", "email": "a@example.com", "phone": None}])
    rows = [  # id, notice, channel, recipients, state
        ("api-1.2/webhook-0/0", "api-1.2", "webhook-0", "[]", "pending"),
        ("api-1.2/sendgrid-1/0", "api-1.2", "sendgrid-1", people, "pending"),
        (
            "detector.1795000000123.ab12/webhook-0/0",
            "detector.1795000000123.ab12",
            "webhook-0",
            "[]",
            "pending",
        ),
        ("api-1.1/webhook-0/0", "api-1.1", "webhook-0", "[]", "sent"),
    ]
    for rid, notice, channel, recipients, state in rows:
        db.execute(
            "INSERT INTO outbox VALUES (?, ?, ?, 'incident.updated', ?, '{}', ?, ?, 0, ?, ?, "
            "NULL, NULL)",
            (rid, notice, channel, json.dumps(MESSAGE), recipients, state, now + 0.123, now),
        )
    db.commit()
    db.close()


async def test_a_v1_database_is_upgraded_in_place_and_its_rows_delivered(
    tmp_path: Path,
) -> None:
    path, now = tmp_path / "v1.db", time.time()
    v1_database(path, now)
    store = Store(f"sqlite:///{path}")
    await store.open()
    assert (await store.open()).before == head()  # a second start changes nothing
    try:
        rows = {r.id: r for r in await store.outbox_rows()}
        hook = rows["api-1.2/webhook-0/0"]
        assert (hook.stream, hook.sequence, hook.stale_at) == ("api-1/webhook-0/", 2, now + 900)
        mail = rows["api-1.2/sendgrid-1/0"]  # v1 batches name no group: its own stream
        assert (mail.stream, mail.sequence, mail.stale_at) == (None, 2, None)
        internal = rows["detector.1795000000123.ab12/webhook-0/0"]
        assert internal.stream == "detector/webhook-0/"
        assert internal.sequence == int((now + 0.123) * 1000)
        assert rows["api-1.1/webhook-0/0"].state == "sent"
        assert all(r.claimed_until is None for r in rows.values())
        db = sqlite3.connect(path)
        [(version,)] = db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        [(revision,)] = db.execute("SELECT version_num FROM alembic_version")
        db.close()
        assert (version, revision) == (str(legacy.LEGACY_VERSION), head())

        channels = [Scripted("webhook-0"), Scripted("sendgrid-1")]
        worker = OutboxWorker(store, list(channels), Metrics(), SystemClock(), poll=0.01)
        worker.start()
        try:

            async def delivered() -> bool:
                got = {r.id: r.state for r in await store.outbox_rows()}
                return "pending" not in got.values()

            await until(delivered, 5, "the upgraded rows delivered")
        finally:
            await worker.stop(1)
        sent = sorted(e.id for ch in channels for e in ch.accepted)
        assert sent == sorted(rid for rid, r in rows.items() if r.state == "pending")
    finally:
        await store.close()


def stored(seq: int, **extra: object) -> OutboxRow:
    r = row(seq, NOW)
    for k, v in extra.items():
        setattr(r, k, v)
    return r


async def test_one_write_records_results_and_claims_only_pending_rows(store: Store) -> None:
    await store.commit(Change(outbox=[stored(1), stored(2), stored(3, state="sent")]), NOW)
    results = [
        OutboxResult("inc-1.1/hook/0", "sent", 1, NOW, sent_at=NOW + 1),
        OutboxResult("inc-1.3/hook/0", "dead", 9, NOW, last_error="x" * 900),  # final
    ]
    claimed = await store.write_outbox(
        results, ["inc-1.1/hook/0", "inc-1.2/hook/0", "inc-1.3/hook/0"], NOW + 60
    )
    assert claimed == {"inc-1.2/hook/0"}  # 1 was just recorded sent, 3 was sent before
    rows = {r.notice_id: r for r in await store.outbox_rows()}
    assert (rows["inc-1.1"].state, rows["inc-1.1"].sent_at) == ("sent", NOW + 1)
    assert rows["inc-1.1"].claimed_until is None
    assert rows["inc-1.2"].claimed_until == NOW + 60
    assert (rows["inc-1.3"].state, rows["inc-1.3"].attempts) == ("sent", 0)  # untouched
    retry = OutboxResult("inc-1.2/hook/0", "pending", 1, NOW + 5, last_error="y" * 900)
    assert await store.write_outbox([retry], [], None) == set()
    again = {r.notice_id: r for r in await store.outbox_rows()}["inc-1.2"]
    assert (again.state, again.attempts, again.next_attempt_at) == ("pending", 1, NOW + 5)
    assert again.claimed_until is None and again.last_error == "y" * 500


async def test_claims_of_a_gone_process_are_let_go_and_pending_rows_come_in_order(
    store: Store,
) -> None:
    rows = [stored(3, claimed_until=NOW + 60), stored(1), stored(2, state="superseded")]
    other = row(1, NOW, channel="mail")
    await store.commit(Change(outbox=[*rows, other]), NOW)
    assert [r.notice_id for r in await store.pending_outbox("hook")] == ["inc-1.1", "inc-1.3"]
    await store.release_outbox_claims("hook")
    assert all(r.claimed_until is None for r in await store.outbox_rows())
    assert await store.outbox_counts() == {"pending": 3, "superseded": 1}
