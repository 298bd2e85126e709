"""Read-only queries behind the public uptime figure (detector.web.uptime).

Plain functions over the store's engine: the uptime cache needs only which minutes (or hours)
were checked and which incidents touch its window, never the counts, so it asks for no more.
"""

from __future__ import annotations

from sqlalchemy import literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from detector.store import schema as s
from detector.store.store import IncidentRow


async def checked_buckets(engine: AsyncEngine, since: int) -> list[tuple[str, int, int]]:
    """(probe, bucket start, bucket width in seconds) for every bucket with a check that
    reaches past `since`: minute rows are 60 s wide, rows rolled up into hours 3600 s.

    The width is what tells a rolled-up hour from a minute row that happens to start on the
    hour; an hour that began before `since` but reaches past it is included.
    """
    m, h = s.check_history, s.check_history_hourly
    q = (
        select(m.c.probe, m.c.bucket, literal(60).label("width"))
        .where(m.c.bucket >= since, m.c.checks > 0)
        .union_all(
            select(h.c.probe, h.c.bucket, literal(3600).label("width")).where(
                h.c.bucket > since - 3600, h.c.checks > 0
            )
        )
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(q)).fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


async def incidents_since(engine: AsyncEngine, since: float) -> list[IncidentRow]:
    """Incidents open now or resolved at or after `since`, held and vetoed ones included (the
    caller decides what is public)."""
    i = s.incidents
    q = select(i).where(or_(i.c.resolved_at.is_(None), i.c.resolved_at >= since))
    async with engine.connect() as conn:
        rows = (await conn.execute(q.order_by(i.c.started_at))).fetchall()
    return [IncidentRow.from_db(r) for r in rows]
