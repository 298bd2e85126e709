"""A real SQLite store whose calls fail on demand with the driver's real errors.

Every public coroutine of `Store` is wrapped: `fail(name, times)` makes its next `times` calls
raise what SQLAlchemy raises when SQLite's disk is full (an `OperationalError` wrapping
`sqlite3.OperationalError`), before anything is written, as a failed transaction would leave it.
`calls` counts every call, so a clean run tells which calls the engine and the outbox make.
"""

from __future__ import annotations

import inspect
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import OperationalError

from detector.store import Store

SKIP = {"open", "close"}  # start-up and shutdown: outside an incident


def disk_full() -> OperationalError:
    return OperationalError(
        "INSERT INTO outbox ...", {}, sqlite3.OperationalError("database or disk is full")
    )


class FaultyStore(Store):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: Counter[str] = Counter()
        self.plan: dict[str, int] = {}
        self.failed: list[tuple[str, float]] = []  # (call, monotonic time) of each failure

    def fail(self, name: str, times: int = 1) -> None:
        self.plan[name] = self.plan.get(name, 0) + times


def _wrap(name: str, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call(self: FaultyStore, *args: Any, **kwargs: Any) -> Any:
        self.calls[name] += 1
        if self.plan.get(name, 0) > 0:
            self.plan[name] -= 1
            self.failed.append((name, time.monotonic()))
            raise disk_full()
        return await original(self, *args, **kwargs)

    call.__name__ = name
    return call


STORE_CALLS = sorted(
    name
    for name, fn in inspect.getmembers(Store, inspect.iscoroutinefunction)
    if not name.startswith("_") and name not in SKIP
)
for _name in STORE_CALLS:
    setattr(FaultyStore, _name, _wrap(_name, getattr(Store, _name)))
