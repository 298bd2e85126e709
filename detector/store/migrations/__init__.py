"""Schema migrations: one Alembic history for SQLite and PostgreSQL.

`upgrade(engine)` brings a store to the newest revision in one transaction: an empty database
gets the baseline (revision "v3", the schema as the hand migrations left it), a store from
before Alembic (`meta.schema_version` 1–3) is first brought to version 3 by its old steps
(`detector.store.legacy`) and then handed to Alembic, keeping every row. No alembic.ini: the
configuration is built here, and the scripts are found through the package, so an installed
wheel migrates as a checkout does.

A schema change is a new revision: change `schema.py`, then, in a checkout, write
`versions/vN_what.py` by hand or let Alembic draft it against a database at the current head:

    printf '[alembic]\nscript_location = detector.store:migrations\n' > /tmp/alembic.ini
    alembic -c /tmp/alembic.ini -x url=sqlite:///dev.db upgrade head
    alembic -c /tmp/alembic.ini -x url=sqlite:///dev.db revision --autogenerate \
        --rev-id v4 -m "what changed"

and check the draft on both backends (tests/store/test_migrations.py compares the migrated
schema with `schema.py` on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from detector.store import legacy
from detector.store.errors import StoreUnavailable

SCRIPT_LOCATION = "detector.store:migrations"
# one migrating instance at a time on a shared PostgreSQL (a transaction-scoped advisory lock)
LOCK_KEY = 0x0D37EC7012


@dataclass(frozen=True, slots=True)
class Migrated:
    """What `upgrade` found and left: Alembic revisions (None: none yet) and, for a store from
    before Alembic, the hand-migrated schema version it had."""

    before: str | None
    after: str
    legacy: int | None = None

    def describe(self) -> str:
        if self.legacy is not None:
            was = f"schema version {self.legacy} (before Alembic)"
        else:
            was = self.before or "empty"
        if self.before == self.after:
            return f"already at revision {self.after}"
        return f"from {was} to revision {self.after}"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; `connection` is the one env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_sync(conn: Connection, target: str = "head") -> Migrated:
    """Everything `upgrade` does, on a connection inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    cfg = alembic_config(conn)
    script = ScriptDirectory.from_config(cfg)
    before = current(conn)
    if before is not None and before not in {s.revision for s in script.walk_revisions()}:
        raise StoreUnavailable(
            f"the store's schema is at revision {before}, which this detector does not know "
            f"(its newest is {script.get_current_head()}): run a newer detector"
        )
    old = legacy.legacy_version(conn) if before is None else None
    if old is not None:
        if old > legacy.LEGACY_VERSION:
            raise StoreUnavailable(
                f"the store's schema version {old} is newer than this detector knows"
            )
        legacy.bring_to_v3(conn, old)
    command.upgrade(cfg, target)
    after = current(conn)
    assert after is not None
    return Migrated(before, after, old)


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines ("Context impl ...", "Running upgrade ...") only at debug level:
    at info, a start is quiet and a failed start is one line; the caller reports `Migrated`."""
    log = logging.getLogger("alembic")
    level = log.level
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _upgrade_quietly(conn: Connection, target: str) -> Migrated:
    with _quiet_alembic():
        return upgrade_sync(conn, target)


async def upgrade(engine: AsyncEngine, target: str = "head") -> Migrated:
    """Bring the store to `target` (the newest revision by default) in one transaction: a
    failure changes nothing. On SQLite the transaction is `BEGIN IMMEDIATE`, so the schema
    changes are in it too (the driver would otherwise run DDL outside any transaction) and a
    second process waits instead of migrating alongside."""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        migrated = await conn.run_sync(_upgrade_quietly, target)
        await conn.commit()
    return migrated
