"""`storage_url`: the end-to-end tests that ask for it run on SQLite and on PostgreSQL (a new
database per test; skipped with the reason when no server is given, see tests/store/backends.py).
"""

from __future__ import annotations

from tests.store.backends import storage_url

__all__ = ["storage_url"]
