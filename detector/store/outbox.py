"""Outbox queries: claim, record and read delivery rows. Mixed into `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from detector.store import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from detector.store.store import OutboxRow


def _rows(rows: Sequence[Row[Any]]) -> list[OutboxRow]:
    from detector.store.store import OutboxRow  # the row types live with the store

    return [OutboxRow.from_db(r) for r in rows]


class OutboxQueries:
    engine: AsyncEngine

    async def _all(self, q: Any) -> Sequence[Row[Any]]:
        raise NotImplementedError

    async def mark_sent(self, outbox_id: str, now: float, attempts: int) -> None:
        await self._update_outbox(
            outbox_id, state="sent", sent_at=now, attempts=attempts, last_error=None
        )

    async def mark_retry(self, outbox_id: str, attempts: int, next_at: float, error: str) -> None:
        await self._update_outbox(
            outbox_id, attempts=attempts, next_attempt_at=next_at, last_error=error[:500]
        )

    async def mark_dead(self, outbox_id: str, attempts: int, error: str) -> None:
        await self._update_outbox(
            outbox_id, state="dead", attempts=attempts, last_error=error[:500]
        )

    async def _update_outbox(self, outbox_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(s.outbox).where(s.outbox.c.id == outbox_id).values(**values))

    async def due_outbox(self, channel: str, now: float, limit: int) -> list[OutboxRow]:
        q = (
            select(s.outbox)
            .where(
                (s.outbox.c.state == "pending")
                & (s.outbox.c.channel == channel)
                & (s.outbox.c.next_attempt_at <= now)
            )
            .order_by(s.outbox.c.next_attempt_at, s.outbox.c.created_at, s.outbox.c.id)
            .limit(limit)
        )
        return _rows(await self._all(q))

    async def next_outbox_at(self, channel: str) -> float | None:
        q = select(func.min(s.outbox.c.next_attempt_at)).where(
            (s.outbox.c.state == "pending") & (s.outbox.c.channel == channel)
        )
        async with self.engine.connect() as conn:
            value = (await conn.execute(q)).scalar()
        return float(value) if value is not None else None

    async def outbox_counts(self) -> dict[str, int]:
        q = select(s.outbox.c.state, func.count()).group_by(s.outbox.c.state)
        rows: Sequence[Any] = await self._all(q)
        return {str(r[0]): int(r[1]) for r in rows}

    async def outbox_rows(self, notice_id: str | None = None) -> list[OutboxRow]:
        q = select(s.outbox).order_by(s.outbox.c.created_at, s.outbox.c.id)
        if notice_id is not None:
            q = q.where(s.outbox.c.notice_id == notice_id)
        return _rows(await self._all(q))

