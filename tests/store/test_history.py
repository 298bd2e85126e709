"""Check history: batched per-minute aggregates, rolled up to hours, bounded."""

from __future__ import annotations

from detector.history import History
from detector.store import Store

DAY = 86400


async def test_aggregates_rollup_and_retention(store: Store) -> None:
    now = 1_800_000_000.0
    h = History(store)
    for days_ago in (100, 3, 0):
        for i in range(120):  # an hour of checks, every 30 s
            t = now - days_ago * DAY - 7200 + i * 30
            h.add("api", t, ok=i % 10 != 0, soft=False, duration=0.01)
    assert await h.flush() == 3 * 120 // 2  # one row per probe per minute
    total = sum(r.checks for r in await store.history(0))
    assert total == 360

    await store.rollup_history(now)
    rows = await store.history(0)
    # 100 days ago: dropped; 3 days ago: one hourly row; today: minute rows untouched
    assert sum(r.checks for r in rows) == 240
    assert sum(r.failures for r in rows) == 24
    assert len([r for r in rows if r.bucket < now - 2 * DAY]) == 1
    await store.rollup_history(now)  # idempotent
    assert sum(r.checks for r in await store.history(0)) == 240
