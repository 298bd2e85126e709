"""Every store test runs on SQLite and on PostgreSQL (see tests/store/backends.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from detector.store import Store
from tests.store.backends import storage_url

__all__ = ["storage_url"]


@pytest.fixture
async def store(storage_url: str) -> AsyncIterator[Store]:
    """An opened store (the newest schema) on the backend of this run."""
    s = Store(storage_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
