"""90-day uptime per component per local day, from the per-probe per-minute check history.

Past minutes do not change once written, so they are folded into per-day totals once and kept;
each refresh reads only the history since the last settled minute. A page view costs a dict
walk, not a scan of 90 days of rows.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from detector.config.models import Config
from detector.store import Store

DAYS = 90
SETTLE = 300.0  # history for a minute is final this long after it (the daemon flushes often)
REFRESH = 60.0  # at most one history read a minute, however busy the page


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    checks: int
    failures: int
    soft: int

    @property
    def uptime(self) -> float | None:
        return None if not self.checks else 1.0 - self.failures / self.checks

    @property
    def level(self) -> str:
        """A colour for the bar: how much of the day's checks failed, soft trouble as degraded."""
        up = self.uptime
        if up is None:
            return "none"
        if up >= 0.999:
            return "degraded" if self.soft / self.checks >= 0.05 else "operational"
        if up >= 0.99:
            return "degraded"
        return "partial_outage" if up >= 0.95 else "major_outage"


@dataclass(frozen=True, slots=True)
class Uptime:
    days: list[Day]  # oldest first, DAYS of them, ending today

    @property
    def ratio(self) -> float | None:
        checks = sum(d.checks for d in self.days)
        return None if not checks else 1.0 - sum(d.failures for d in self.days) / checks


class UptimeCache:
    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.zone = ZoneInfo(config.service.timezone)
        self.component_of = {p.name: c.id for c in config.components for p in c.probes}
        self.components = [c.id for c in config.components]
        self.settled: dict[tuple[str, date], list[int]] = {}
        self.settled_until: int | None = None  # minute buckets below this are in `settled`
        self.recent: dict[tuple[str, date], list[int]] = {}
        self.refreshed_at: float | None = None
        self.lock = asyncio.Lock()

    async def get(self, now: float) -> dict[str, Uptime]:
        async with self.lock:
            if self.refreshed_at is None or not 0 <= now - self.refreshed_at < REFRESH:
                await self._refresh(now)
                self.refreshed_at = now
        return self._view(now)

    def _days(self, now: float) -> list[date]:
        today = datetime.fromtimestamp(now, self.zone).date()
        return [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]

    def _midnight(self, day: date) -> float:
        return datetime.combine(day, time(0), self.zone).timestamp()

    async def _refresh(self, now: float) -> None:
        days = self._days(now)
        starts = [self._midnight(d) for d in days]
        first = int(starts[0] // 60) * 60
        since = first if self.settled_until is None else max(first, self.settled_until)
        settle_at = int((now - SETTLE) // 60) * 60
        rows = await self.store.history(since)
        recent: dict[tuple[str, date], list[int]] = {}
        for row in rows:
            cid = self.component_of.get(row.probe)
            i = bisect.bisect_right(starts, row.bucket) - 1
            if cid is None or i < 0:
                continue
            target = self.settled if row.bucket < settle_at else recent
            agg = target.setdefault((cid, days[i]), [0, 0, 0])
            agg[0] += int(row.checks)
            agg[1] += int(row.failures)
            agg[2] += int(row.soft)
        self.recent = recent
        self.settled_until = max(since, settle_at)
        for key in [k for k in self.settled if k[1] < days[0]]:
            del self.settled[key]

    def _view(self, now: float) -> dict[str, Uptime]:
        out = {}
        for cid in self.components:
            days = []
            for day in self._days(now):
                a = self.settled.get((cid, day), [0, 0, 0])
                b = self.recent.get((cid, day), [0, 0, 0])
                days.append(Day(day, a[0] + b[0], a[1] + b[1], a[2] + b[2]))
            out[cid] = Uptime(days)
        return out
