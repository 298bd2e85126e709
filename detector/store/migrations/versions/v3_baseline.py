"""Baseline: the schema as the hand migrations left it (version 3).

Creates each table that is missing, so that it serves an empty database and a store from
before Alembic alike (brought to version 3 first by `detector.store.legacy`; a table that an
old file never had is born here). Frozen: a schema change is a new revision after this one.

Revision ID: v3
Revises: (none)
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "v3"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _meta() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def _incidents() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("component_ids", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("vendor", sa.Text),
        sa.Column("manual", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("detected_at", sa.Float, nullable=False),
        sa.Column("recovered_at", sa.Float),
        sa.Column("resolved_at", sa.Float),
        sa.Column("next_update_at", sa.Float),
        sa.Column("cause", sa.Text),
        sa.Column("actions", sa.Text),
        sa.Column("report_by", sa.Float),
        sa.Column("postmortem_published_at", sa.Float),
        sa.Column("held_until", sa.Float),
        sa.Column("vetoed", sa.Boolean, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("status_by_person", sa.Boolean, nullable=False),
    )
    op.create_index("ix_incidents_open", "incidents", ["resolved_at"])


def _notices() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("published_at", sa.Float, nullable=False),
        sa.Column("next_update_at", sa.Float),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
    )
    op.create_index("ix_notices_incident_id", "notices", ["incident_id"])


def _outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("notice_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("stream", sa.String(200)),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("stale_at", sa.Float),
        sa.Column("claimed_until", sa.Float),
    )
    op.create_index("ix_outbox_notice_id", "outbox", ["notice_id"])
    op.create_index("ix_outbox_due", "outbox", ["state", "channel", "next_attempt_at"])


def _probe_state() -> None:
    op.create_table(
        "probe_state",
        sa.Column("probe", sa.String(200), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("first_bad_at", sa.Float),
        sa.Column("severity", sa.String(20)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def _history(name: str) -> Callable[[], None]:
    def create() -> None:
        op.create_table(
            name,
            sa.Column("probe", sa.String(200), primary_key=True),
            sa.Column("bucket", sa.Integer, primary_key=True),
            sa.Column("checks", sa.Integer, nullable=False),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("soft", sa.Integer, nullable=False),
            sa.Column("duration_sum", sa.Float, nullable=False),
        )

    return create


def _maintenance() -> None:
    op.create_table(
        "maintenance",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("component_ids", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sa.Column("announced", sa.Integer, nullable=False),
    )


TABLES: dict[str, Callable[[], None]] = {
    "meta": _meta,
    "incidents": _incidents,
    "notices": _notices,
    "outbox": _outbox,
    "probe_state": _probe_state,
    "check_history": _history("check_history"),
    "check_history_hourly": _history("check_history_hourly"),
    "maintenance": _maintenance,
}


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()
    # the hand migrations' record, kept: a detector from before Alembic reads it
    has = bind.execute(sa.text("SELECT 1 FROM meta WHERE key = 'schema_version'")).first()
    if has is None:
        bind.execute(sa.text("INSERT INTO meta (key, value) VALUES ('schema_version', '3')"))


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
