"""Check history, aggregated per probe per minute in memory and written in one batch."""

from __future__ import annotations

import asyncio

from detector.store import Store


class History:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: dict[tuple[str, int], list[float]] = {}

    def add(self, probe: str, at: float, ok: bool, soft: bool, duration: float) -> None:
        key = (probe, int(at // 60) * 60)
        agg = self.pending.get(key)
        if agg is None:
            agg = self.pending[key] = [0, 0, 0, 0.0]
        agg[0] += 1
        agg[1] += 0 if ok else 1
        agg[2] += 1 if ok and soft else 0
        agg[3] += duration

    async def flush(self, chunk: int = 500) -> int:
        """Write what accumulated, `chunk` rows a transaction: the driver's per-row work runs on
        the event loop, so one 20,000-row statement would stall every check for a moment."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, {}
        items = list(batch.items())
        for i in range(0, len(items), chunk):
            part = items[i : i + chunk]
            rows = [(p, b, int(a[0]), int(a[1]), int(a[2]), a[3]) for (p, b), a in part]
            try:
                await self.store.add_history(rows)
            except BaseException:
                self._restore(items[i:])  # not written: counted again with the next flush
                raise
            await asyncio.sleep(0)  # let due checks start between chunks
        return len(items)

    def _restore(self, items: list[tuple[tuple[str, int], list[float]]]) -> None:
        for key, agg in items:
            now = self.pending.get(key)
            if now is None:
                self.pending[key] = agg
            else:
                for k in range(4):
                    now[k] += agg[k]
