"""Alembic's environment: migrates the connection `detector.store.migrations` hands over
(`config.attributes["connection"]`, a sync connection from `AsyncConnection.run_sync`).

Run by hand (`alembic -x url=... revision --autogenerate -m ...` with an ini naming
`script_location = detector.store:migrations`), it opens the async engine of `-x url=` or
`sqlalchemy.url` and migrates through `run_sync` the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from detector.store.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: Alembic's batch mode does it for us
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from detector.store.store import async_url

    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_migrations)
    finally:
        await engine.dispose()


def main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        run_migrations(given)
        return
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported: give a database")
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass -x url=... or set sqlalchemy.url")
    asyncio.run(run_async(url))


main()
