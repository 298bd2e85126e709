"""Subscribers who chose for themselves: signed up with double opt-in, unsubscribed through the
one-click link, or changed their preferences (components, language, time zone).

Revision ID: v5
Revises: v4
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v5"
down_revision: str | None = "v4"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("locale", sa.String(16)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("components", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("confirmed_at", sa.Float),
        sa.Column("unsubscribed_at", sa.Float),
    )
    op.create_index("ix_subscribers_email", "subscribers", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_subscribers_email", "subscribers")
    op.drop_table("subscribers")
    op.execute("DELETE FROM meta WHERE key IN ('subscription_key', 'subscribers_revision')")
