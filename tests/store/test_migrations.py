"""Issue 10: one Alembic history for both backends, applied by `Store.open()` (so on every
start). An empty database gets the whole schema; a SQLite file from before Alembic, at any hand
version (1, 2, 3), is upgraded in place, mid-incident, keeping every row; a failed migration
changes nothing; a schema newer than the code is refused with a reason; two instances starting
together on one database both come up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from detector.store import STORE_ERRORS, Change, IncidentRow, Store, StoreUnavailable, legacy
from detector.store import migrations as m
from detector.store import schema as s

NOW = 1_795_000_000.0

# The tables as the detector made them before Alembic, frozen (SQLite's DDL from
# `metadata.create_all` at hand version 3); v2 lacked incidents.status_by_person, v1 also the
# outbox's stream, sequence, stale_at and claimed_until. The v1 file here also lacks the hourly
# history and maintenance tables: a table the old code had not created yet is born at v3.
V3_TABLES = {
    "meta": '"key" VARCHAR(64) NOT NULL, value TEXT NOT NULL, PRIMARY KEY ("key")',
    "incidents": "id VARCHAR(40) NOT NULL, component_ids TEXT NOT NULL, title TEXT NOT NULL, "
    "status VARCHAR(20) NOT NULL, severity VARCHAR(20) NOT NULL, vendor TEXT, "
    "manual BOOLEAN NOT NULL, started_at FLOAT NOT NULL, detected_at FLOAT NOT NULL, "
    "recovered_at FLOAT, resolved_at FLOAT, next_update_at FLOAT, cause TEXT, actions TEXT, "
    "report_by FLOAT, postmortem_published_at FLOAT, held_until FLOAT, "
    "vetoed BOOLEAN NOT NULL, sequence INTEGER NOT NULL, status_by_person BOOLEAN NOT NULL, "
    "PRIMARY KEY (id)",
    "notices": "id VARCHAR(64) NOT NULL, incident_id VARCHAR(40) NOT NULL, "
    "sequence INTEGER NOT NULL, event VARCHAR(40) NOT NULL, kind VARCHAR(40) NOT NULL, "
    "status VARCHAR(20) NOT NULL, severity VARCHAR(20) NOT NULL, published_at FLOAT NOT NULL, "
    "next_update_at FLOAT, subject TEXT NOT NULL, text TEXT NOT NULL, facts TEXT NOT NULL, "
    "evidence TEXT NOT NULL, recipients INTEGER NOT NULL, PRIMARY KEY (id)",
    "outbox": "id VARCHAR(80) NOT NULL, notice_id VARCHAR(64) NOT NULL, "
    "channel VARCHAR(64) NOT NULL, event VARCHAR(40) NOT NULL, message TEXT NOT NULL, "
    "payload TEXT NOT NULL, recipients TEXT NOT NULL, state VARCHAR(10) NOT NULL, "
    "attempts INTEGER NOT NULL, created_at FLOAT NOT NULL, next_attempt_at FLOAT NOT NULL, "
    "sent_at FLOAT, last_error TEXT, stream VARCHAR(200), sequence BIGINT NOT NULL, "
    "stale_at FLOAT, claimed_until FLOAT, PRIMARY KEY (id)",
    "probe_state": "probe VARCHAR(200) NOT NULL, level INTEGER NOT NULL, first_bad_at FLOAT, "
    "severity VARCHAR(20), updated_at FLOAT NOT NULL, PRIMARY KEY (probe)",
    "check_history": "probe VARCHAR(200) NOT NULL, bucket INTEGER NOT NULL, "
    "checks INTEGER NOT NULL, failures INTEGER NOT NULL, soft INTEGER NOT NULL, "
    "duration_sum FLOAT NOT NULL, PRIMARY KEY (probe, bucket)",
    "check_history_hourly": "probe VARCHAR(200) NOT NULL, bucket INTEGER NOT NULL, "
    "checks INTEGER NOT NULL, failures INTEGER NOT NULL, soft INTEGER NOT NULL, "
    "duration_sum FLOAT NOT NULL, PRIMARY KEY (probe, bucket)",
    "maintenance": "id VARCHAR(40) NOT NULL, component_ids TEXT NOT NULL, title TEXT NOT NULL, "
    "message TEXT, starts_at FLOAT NOT NULL, ends_at FLOAT NOT NULL, "
    "announced INTEGER NOT NULL, PRIMARY KEY (id)",
}
V3_INDEXES = [
    "CREATE INDEX ix_incidents_open ON incidents (resolved_at)",
    "CREATE INDEX ix_notices_incident_id ON notices (incident_id)",
    "CREATE INDEX ix_outbox_notice_id ON outbox (notice_id)",
    "CREATE INDEX ix_outbox_due ON outbox (state, channel, next_attempt_at)",
]
LATER = {  # what a version lacked: (table, column) dropped from the v3 DDL
    2: [("incidents", "status_by_person BOOLEAN NOT NULL, ")],
    1: [
        ("incidents", "status_by_person BOOLEAN NOT NULL, "),
        ("outbox", "stream VARCHAR(200), sequence BIGINT NOT NULL, "),
        ("outbox", "stale_at FLOAT, claimed_until FLOAT, "),
    ],
}
V1_MISSING_TABLES = {"check_history_hourly", "maintenance"}


def old_file(path: Path, version: int) -> None:
    """A store file as the hand-migrated detector at `version` left it, mid-incident: an open
    incident, its two notices, a sent and a pending webhook row and a pending e-mail row."""
    tables = dict(V3_TABLES)
    for table, gone in LATER.get(version, []):
        assert gone in tables[table]
        tables[table] = tables[table].replace(gone, "")
    if version == 1:
        tables = {k: v for k, v in tables.items() if k not in V1_MISSING_TABLES}
    db = sqlite3.connect(path)
    for name, columns in tables.items():
        db.execute(f"CREATE TABLE {name} ({columns})")
    for index in V3_INDEXES:
        db.execute(index)
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    incident: dict[str, Any] = {
        "id": "api-1",
        "component_ids": '["api"]',
        "title": "Public API",
        "status": "investigating",
        "severity": "major_outage",
        "manual": False,
        "started_at": NOW - 60,
        "detected_at": NOW - 50,
        "next_update_at": NOW + 840,
        "vetoed": False,
        "sequence": 2,
    }
    if version >= 3:
        incident["status_by_person"] = False
    insert(db, "incidents", incident)
    for seq in (1, 2):
        insert(
            db,
            "notices",
            {
                "id": f"api-1.{seq}",
                "incident_id": "api-1",
                "sequence": seq,
                "event": "incident.opened" if seq == 1 else "incident.updated",
                "kind": "opened" if seq == 1 else "update",
                "status": "investigating",
                "severity": "major_outage",
                "published_at": NOW - 50 + seq,
                "next_update_at": NOW + 840,
                "subject": "s",
                "text": "t",
                "facts": "{}",
                "evidence": "[]",
                "recipients": 1,
            },
        )
    for rid, notice, recipients, state in [
        ("api-1.1/webhook-0/0", "api-1.1", "[]", "sent"),
        ("api-1.2/webhook-0/0", "api-1.2", "[]", "pending"),
        ("api-1.2/sendgrid-1/0", "api-1.2", '[{"email": "a@example.com"}]', "pending"),
    ]:
        row: dict[str, Any] = {
            "id": rid,
            "notice_id": notice,
            "channel": rid.split("/")[1],
            "event": "incident.updated",
            "message": "{}",
            "payload": "{}",
            "recipients": recipients,
            "state": state,
            "attempts": 0,
            "created_at": NOW,
            "next_attempt_at": NOW,
        }
        if version >= 2:
            row |= {"stream": None, "sequence": int(notice[-1])}
        insert(db, "outbox", row)
    db.commit()
    db.close()


def insert(db: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values()))


def schema_diff(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), s.metadata))


async def inspect_store(store: Store) -> tuple[str | None, str | None, list[Any]]:
    """(Alembic revision, meta.schema_version, differences from schema.py)."""
    async with store.engine.connect() as conn:
        revision = await conn.run_sync(m.current)
        version = (
            await conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'"))
        ).scalar()
        diff = await conn.run_sync(schema_diff)
    return revision, version, diff


async def test_an_empty_database_gets_the_whole_schema(storage_url: str) -> None:
    store = Store(storage_url)
    try:
        assert await store.open() == m.Migrated(None, m.head(), None)
        assert await inspect_store(store) == (m.head(), "3", [])
        again = await store.open()
        assert again == m.Migrated(m.head(), m.head(), None)
        assert again.describe() == f"already at revision {m.head()}"
        await store.commit(Change(incidents=[incident("x", status_by_person=True)]), NOW)
        [got] = await store.open_incidents()
        assert got.status_by_person is True and got.component_ids == ["api"]
    finally:
        await store.close()


def incident(iid: str, **over: Any) -> IncidentRow:
    row = IncidentRow(
        id=iid,
        component_ids=["api"],
        title="API",
        status="investigating",
        severity="major_outage",
        started_at=NOW,
        detected_at=NOW + 1,
    )
    for k, v in over.items():
        setattr(row, k, v)
    return row


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_a_file_from_before_alembic_upgrades_in_place_mid_incident(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "detector.db"
    old_file(path, version)
    store = Store(f"sqlite:///{path}")
    try:
        migrated = await store.open()
        assert migrated == m.Migrated(None, m.head(), version)
        assert migrated.describe() == (
            f"from schema version {version} (before Alembic) to revision {m.head()}"
        )
        assert await inspect_store(store) == (m.head(), "3", [])
        # the incident carries on: its row, its notices, its outbox
        [inc] = await store.open_incidents()
        assert (inc.id, inc.sequence, inc.next_update_at) == ("api-1", 2, NOW + 840)
        assert inc.status_by_person is False and inc.vetoed is False
        notices = await store.notices(["api-1"])
        assert [n.id for n in notices["api-1"]] == ["api-1.1", "api-1.2"]
        rows = {r.id: r for r in await store.outbox_rows()}
        assert {r: rows[r].state for r in rows} == {
            "api-1.1/webhook-0/0": "sent",
            "api-1.2/webhook-0/0": "pending",
            "api-1.2/sendgrid-1/0": "pending",
        }
        hook = rows["api-1.2/webhook-0/0"]
        if version == 1:  # what v2 derived from the notice
            assert (hook.stream, hook.sequence, hook.stale_at) == ("api-1/webhook-0/", 2, NOW + 840)
        else:  # kept as it was
            assert (hook.stream, hook.sequence, hook.stale_at) == (None, 2, None)
        assert rows["api-1.2/sendgrid-1/0"].stream is None
        # and every table takes writes, the ones born now included
        await store.commit(Change(incidents=[incident("new", status_by_person=True)]), NOW)
        await store.add_history([("api", int(NOW) - 3 * 86400, 2, 1, 0, 0.5)])
        await store.rollup_history(NOW)
        assert sum(r.checks for r in await store.history(0)) == 2
        assert await store.maintenance_rows() == []
        assert (await store.open()).before == m.head()  # the next start changes nothing
    finally:
        await store.close()


async def test_a_failed_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand steps and Alembic's run in one transaction: a failure in between leaves the
    v1 file exactly as it was, for the next start to try again."""
    path = tmp_path / "detector.db"
    old_file(path, 1)

    def broken(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(command, "upgrade", broken)
    store = Store(f"sqlite:///{path}")
    with pytest.raises(sqlite3.OperationalError):
        await store.open()
    await store.close()
    db = sqlite3.connect(path)
    columns = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    [(version,)] = db.execute("SELECT value FROM meta")
    db.close()
    assert "stream" not in columns and "alembic_version" not in tables and version == "1"

    monkeypatch.undo()
    store = Store(f"sqlite:///{path}")
    try:
        assert (await store.open()).legacy == 1
    finally:
        await store.close()


async def test_a_schema_newer_than_the_code_is_refused(storage_url: str) -> None:
    store = Store(storage_url)
    try:
        await store.open()
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'v999'"))
        newer = Store(storage_url)
        with pytest.raises(StoreUnavailable, match="revision v999") as caught:
            await newer.open()
        await newer.close()
        assert isinstance(caught.value, STORE_ERRORS)  # a start-up failure of one line
    finally:
        await store.close()


async def test_two_instances_starting_together_both_come_up(storage_url: str) -> None:
    a, b = Store(storage_url), Store(storage_url)
    try:
        done = await asyncio.gather(a.open(), b.open())
        assert sorted(d.before or "" for d in done) == ["", m.head()]  # one migrated, one saw it
        assert await inspect_store(a) == (m.head(), "3", [])
    finally:
        await a.close()
        await b.close()


def test_the_scripts_are_found_through_the_package() -> None:
    """No alembic.ini and no working directory: what an installed wheel has is enough."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(m.alembic_config())
    folder = Path(m.__file__).parent
    assert Path(script.dir) == folder
    assert (folder / "versions" / "__init__.py").is_file()  # a package: setuptools ships it
    assert [r.revision for r in script.walk_revisions()][-1] == legacy.LEGACY_VERSION_REVISION
