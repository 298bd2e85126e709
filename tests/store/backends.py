"""The store's two backends for tests: SQLite (a file in the test's folder) and PostgreSQL
(a database of its own per test, created on the server `DETECTOR_TEST_POSTGRES_URL` names and
dropped after, connections and all).

Without the variable, PostgreSQL tests skip and say why (pytest -rs shows it); CI
(`.ci/run`) starts a throwaway server and always sets it. The URL's role must be able to
create databases.

`storage_url` is the fixture: a store URL for the test, once per backend. Import it into a
conftest (or a test module) to use it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from detector.store.store import async_url

ENV = "DETECTOR_TEST_POSTGRES_URL"
NO_POSTGRES = f"no PostgreSQL: set {ENV}"
BACKENDS = ("sqlite", "postgresql")


def admin_url() -> str:
    """The server's URL, or a skip that says how to give one."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        pytest.skip(NO_POSTGRES)
    return url


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty database's URL (`postgresql://`, as a config gives it), dropped after
    even while something (a daemon killed with -9) still holds connections to it."""
    admin = admin_url()
    name = f"detector_test_{uuid.uuid4().hex[:16]}"
    engine = create_async_engine(async_url(admin), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(admin, name)
        finally:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await engine.dispose()


@asynccontextmanager
async def store_url(backend: str, folder: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'detector.db'}"
    else:
        async with postgres_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL for this test, on each backend in turn (PostgreSQL: a new database)."""
    async with store_url(request.param, tmp_path) as url:
        yield url
