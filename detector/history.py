"""Check history, aggregated per probe per minute in memory and written in one batch."""

from __future__ import annotations

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

    async def flush(self) -> int:
        if not self.pending:
            return 0
        batch, self.pending = self.pending, {}
        rows = [(p, b, int(a[0]), int(a[1]), int(a[2]), a[3]) for (p, b), a in batch.items()]
        await self.store.add_history(rows)
        return len(rows)
