"""Read-only queries behind the public uptime figure (detector.web.uptime).

Plain functions over the store's engine: the uptime cache needs only which minutes (or hours)
were checked and which incidents touch its window, never the counts, so it asks for no more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CompoundSelect, Integer, bindparam, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from detector.store import schema as s
from detector.store.store import IncidentRow


def bucket_queries(batches: list[list[tuple[int, list[str]]]]) -> list[CompoundSelect[Any]]:
    """The queries behind `component_buckets`, one per batch of (group index, probe names),
    built once: what is left to do per refresh is binding `since`."""
    m, h = s.check_history, s.check_history_hourly
    since, hour_since = bindparam("since", type_=Integer), bindparam("hour_since", type_=Integer)
    out = []
    for batch in batches:
        parts = []
        for k, names in batch:
            parts.append(
                select(literal(k).label("g"), m.c.bucket, literal(60).label("width")).where(
                    m.c.probe.in_(names), m.c.bucket >= since, m.c.checks > 0
                )
            )
            parts.append(
                select(literal(k), h.c.bucket, literal(3600)).where(
                    h.c.probe.in_(names), h.c.bucket > hour_since, h.c.checks > 0
                )
            )
        out.append(union(*parts))
    return out


async def component_buckets(
    engine: AsyncEngine, queries: list[CompoundSelect[Any]], since: int
) -> list[tuple[int, int, int]]:
    """(group index, bucket start, bucket width in seconds) for every bucket with a check of
    one of the group's probes that reaches past `since`: minute rows are 60 s wide, rows rolled
    up into hours 3600 s (the width tells a rolled-up hour from a minute row that starts on the
    hour). Per group, not per probe, so the store drops the duplicates a component's probes make
    (a row may still come twice when a group spans two queries: the caller keeps sets)."""
    out: list[tuple[int, int, int]] = []
    async with engine.connect() as conn:
        for q in queries:
            rows = await conn.execute(q, {"since": since, "hour_since": since - 3600})
            out.extend((int(r[0]), int(r[1]), int(r[2])) for r in rows.fetchall())
    return out


async def incidents_since(engine: AsyncEngine, since: float) -> list[IncidentRow]:
    """Incidents open now or resolved at or after `since`, held and vetoed ones included (the
    caller decides what is public)."""
    i = s.incidents
    q = select(i).where(or_(i.c.resolved_at.is_(None), i.c.resolved_at >= since))
    async with engine.connect() as conn:
        rows = (await conn.execute(q.order_by(i.c.started_at))).fetchall()
    return [IncidentRow.from_db(r) for r in rows]
