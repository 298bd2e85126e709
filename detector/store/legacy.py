"""Schema versions from before Alembic: a file made by the detector before its migrations
moved to Alembic (`meta.schema_version` 1, 2 or 3, no `alembic_version` table) is brought to
version 3 here, in the transaction that then hands it to Alembic's baseline (revision "v3").

Frozen: nothing is added here any more; a schema change is an Alembic revision.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, inspect, text

LEGACY_VERSION = 3  # the last hand-migrated version, the one Alembic's baseline creates
LEGACY_VERSION_REVISION = "v3"  # that baseline
MIGRATIONS: dict[int, list[str]] = {
    # v2: the outbox is delivered per stream, in sequence; rows of v1 get what can be known.
    # Webhook/console rows (no recipients) get their exact stream: "<owner>/<channel>/", the
    # owner being the notice's incident (or maintenance), "detector" for internal events.
    # Recipient rows keep no stream (each its own): v1 numbered batches across locale/zone
    # groups, so a batch number does not say who is in it.
    2: [
        "ALTER TABLE outbox ADD COLUMN stream VARCHAR(200)",
        "ALTER TABLE outbox ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE outbox ADD COLUMN stale_at FLOAT",
        "ALTER TABLE outbox ADD COLUMN claimed_until FLOAT",
        "UPDATE outbox SET sequence = COALESCE("
        "(SELECT n.sequence FROM notices n WHERE n.id = outbox.notice_id), "
        "CAST(created_at * 1000 AS BIGINT))",
        "UPDATE outbox SET "
        "stream = COALESCE((SELECT n.incident_id FROM notices n WHERE n.id = outbox.notice_id), "
        "'detector') || '/' || channel || '/', "
        "stale_at = (SELECT n.next_update_at FROM notices n WHERE n.id = outbox.notice_id) "
        "WHERE recipients = '[]'",
    ],
    # v3: a status a person set (API, CLI) sticks through automatic changes
    3: ["ALTER TABLE incidents ADD COLUMN status_by_person BOOLEAN NOT NULL DEFAULT FALSE"],
}


def legacy_version(conn: Connection) -> int | None:
    """The hand-migrated version of a store from before Alembic; None when there is none
    (an empty database, or one Alembic manages)."""
    tables = set(inspect(conn).get_table_names())
    if "meta" not in tables or "alembic_version" in tables:
        return None
    value = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    # the meta table and its row were always written in one transaction
    return LEGACY_VERSION if value is None else int(value)


def bring_to_v3(conn: Connection, version: int) -> None:
    """Apply the hand migrations after `version` to the tables that exist (one created later
    is born at v3 by the baseline), then record version 3."""
    insp = inspect(conn)
    existing = {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
    for v in range(version + 1, LEGACY_VERSION + 1):
        for stmt in MIGRATIONS.get(v, []):
            if _applies(stmt, existing):
                conn.exec_driver_sql(stmt)
    conn.execute(
        text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
        {"v": str(LEGACY_VERSION)},
    )


def _applies(stmt: str, existing: dict[str, set[str]]) -> bool:
    """A migration statement is for a table that exists (one created later is born new),
    and an added column must not be there already."""
    m = re.match(r"\s*(?:ALTER TABLE|UPDATE)\s+(\w+)(?:\s+ADD COLUMN\s+(\w+))?", stmt, re.I)
    if m is None:
        return True
    table, column = m.group(1), m.group(2)
    if table not in existing:
        return False
    return column is None or column not in existing[table]
