"""Outbox queries: read, claim and record delivery rows. Mixed into `Store`.

The worker keeps the outbox in memory and writes back in batches: one transaction records
every result it holds and claims the next heads it will send (`write_outbox`), so 1,000 SMS
cost a few dozen transactions, not 2,000, and a store that cannot be written stops new sends
instead of letting results pile up unrecorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update

from detector.store import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from detector.store.store import OutboxRow

MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class OutboxResult:
    """What became of one row: `pending` (a retry, due at `next_attempt_at`), `sent`, `dead`
    or `superseded`. Held in memory until written, so a failed write loses no result."""

    id: str
    state: str
    attempts: int
    next_attempt_at: float
    sent_at: float | None = None
    last_error: str | None = None


def _rows(rows: Sequence[Row[Any]]) -> list[OutboxRow]:
    from detector.store.store import OutboxRow  # the row types live with the store

    return [OutboxRow.from_db(r) for r in rows]


_RECORD = (
    update(s.outbox)
    .where((s.outbox.c.id == bindparam("b_id")) & (s.outbox.c.state == "pending"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        sent_at=bindparam("b_sent_at"),
        last_error=bindparam("b_last_error"),
        claimed_until=None,
    )
)


class OutboxQueries:
    engine: AsyncEngine

    if TYPE_CHECKING:

        def write(self, *, fenced: bool = True) -> AbstractAsyncContextManager[AsyncConnection]: ...

    async def _all(self, q: Any) -> Sequence[Row[Any]]:
        raise NotImplementedError

    # --- the worker's ---------------------------------------------------------------------

    async def pending_outbox(self, channel: str) -> list[OutboxRow]:
        """Every row of a channel still to deliver, oldest notice first."""
        q = (
            select(s.outbox)
            .where((s.outbox.c.state == "pending") & (s.outbox.c.channel == channel))
            .order_by(s.outbox.c.sequence, s.outbox.c.created_at, s.outbox.c.id)
        )
        return _rows(await self._all(q))

    async def release_outbox_claims(self, channel: str) -> None:
        """Forget the leases of a process that is gone (one process per SQLite file)."""
        async with self.write() as conn:
            await conn.execute(
                update(s.outbox)
                .where(
                    (s.outbox.c.channel == channel)
                    & (s.outbox.c.state == "pending")
                    & s.outbox.c.claimed_until.is_not(None)
                )
                .values(claimed_until=None)
            )

    async def write_outbox(
        self, results: Sequence[OutboxResult], claim: Sequence[str], lease_until: float | None
    ) -> set[str]:
        """Record `results` and claim the rows `claim` (those still pending) until
        `lease_until`, in one transaction; returns the ids claimed. A row no longer pending
        is left as it is: a result never overwrites a final state."""
        async with self.write() as conn:
            if results:
                await conn.execute(_RECORD, [_params(r) for r in results])
            if not claim:
                return set()
            ids = list(claim)
            pending = s.outbox.c.id.in_(ids) & (s.outbox.c.state == "pending")
            await conn.execute(update(s.outbox).where(pending).values(claimed_until=lease_until))
            got = (await conn.execute(select(s.outbox.c.id).where(pending))).scalars().all()
            return {str(i) for i in got}

    # --- readers --------------------------------------------------------------------------

    async def outbox_counts(self) -> dict[str, int]:
        q = select(s.outbox.c.state, func.count()).group_by(s.outbox.c.state)
        rows: Sequence[Any] = await self._all(q)
        return {str(r[0]): int(r[1]) for r in rows}

    async def outbox_rows(self, notice_id: str | None = None) -> list[OutboxRow]:
        q = select(s.outbox).order_by(s.outbox.c.created_at, s.outbox.c.id)
        if notice_id is not None:
            q = q.where(s.outbox.c.notice_id == notice_id)
        return _rows(await self._all(q))


def _params(r: OutboxResult) -> dict[str, Any]:
    d = asdict(r)
    if d["last_error"] is not None:
        d["last_error"] = d["last_error"][:MAX_ERROR]
    return {"b_" + k: v for k, v in d.items()}
