"""Several instances: members, the leader lease, each vantage's verdicts; history buckets
as 64-bit integers (epoch seconds outgrow a 32-bit PostgreSQL INTEGER in 2038).

Revision ID: v4
Revises: v3
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v4"
down_revision: str | None = "v3"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_members",
        sa.Column("member", sa.String(64), primary_key=True),
        sa.Column("vantage", sa.String(200), nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("listen", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("blind", sa.Boolean, nullable=False),
        sa.Column("probes_owned", sa.Integer, nullable=False),
    )
    op.create_table(
        "cluster_lease",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("holder", sa.String(64)),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.execute("INSERT INTO cluster_lease (id, holder, epoch, expires_at) VALUES (1, NULL, 0, 0)")
    op.create_table(
        "verdicts",
        sa.Column("vantage", sa.String(200), primary_key=True),
        sa.Column("probe", sa.String(200), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("suspect", sa.Boolean, nullable=False),
        sa.Column("first_bad_at", sa.Float),
        sa.Column("severity", sa.String(20)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_verdicts_changed", "verdicts", ["changed_at"])
    if op.get_bind().dialect.name == "postgresql":  # SQLite's INTEGER is 64 bits already
        for table in ("check_history", "check_history_hourly"):
            op.alter_column(table, "bucket", type_=sa.BigInteger, existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("check_history", "check_history_hourly"):
            op.alter_column(table, "bucket", type_=sa.Integer, existing_nullable=False)
    op.drop_index("ix_verdicts_changed", "verdicts")
    op.drop_table("verdicts")
    op.drop_table("cluster_lease")
    op.drop_table("cluster_members")
