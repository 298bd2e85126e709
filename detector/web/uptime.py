"""90-day uptime per component per local day, as customers understand it (Statuspage's rule).

    uptime = (observed − major outage − 0.3 × partial outage) / observed

*Observed* is the time scheduled checks vouch for: a bucket of the check history with any check
of any of the component's probes covers one probe interval (at least its minute) from the
bucket's start; a rolled-up hour covers its hour. How many checks a minute holds (fast re-checks
while confirming) changes nothing, and before the first check there is no figure at all: "no
data", never a percentage. Unobserved time (the detector stopped) counts neither way.

*Outage* is what customers were told: a published incident's notices say from when on it was
down and how badly (its first notice reaches back to `started_at`, the first failed check; a
`monitoring` or `resolved` notice ends a stretch; a recurrence starts one again). A component
that joined an incident later counts from the first notice naming it. Degraded performance is
not downtime. Held incidents (not yet published) and vetoed ones (never published) are not
downtime either, since customers were never told; a held incident counts from `started_at`
once published. Where incidents overlap, the worst severity counts, once. Maintenance opens no
incident, so it is no downtime. A day's bar takes the worst severity told within its watched
time, grey ("none") where nothing watched.

Cost: observed time is kept as merged spans; spans of minutes older than SETTLE are final and
read once, each refresh reads only the history since then (a union of spans may read a bucket
twice without harm). The store answers with each component's distinct buckets, not each probe's
rows: a component's probes share their minutes, so with 100 probes a component that is 100
times fewer rows for the event loop to take in (5,000 probes over 50 components: a refresh went
from 30,000 rows and ~140 ms of the loop to ~300 rows and ~30 ms). Resolved incidents'
stretches are final and kept; only open ones are read again. All of it is folded into per-day
figures at most once per REFRESH, so a page view costs a dict lookup, not a scan of 90 days of
rows.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from detector.config.models import Config
from detector.domain import Severity
from detector.store import IncidentRow, NoticeRow, Store
from detector.store.uptime_queries import bucket_queries, component_buckets, incidents_since
from detector.web.api import public

DAYS = 90
SETTLE = 300.0  # history for a minute is final this long after it (the daemon flushes often)
REFRESH = 60.0  # at most one read of the store a minute, however busy the page
BATCH_PROBES = 2000  # probe names bound in one query (each twice: minute and hourly rows)
BATCH_PARTS = 200  # pieces in one query: two SELECTs each, under SQLite's 500 per compound
WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}  # of a minute; anything else: 0
UP_STATUSES = ("monitoring", "resolved")
INF = float("inf")

Span = tuple[float, float]
Stretch = tuple[float, float, str]  # start, end (INF: still open), severity


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    observed: float  # seconds vouched for by scheduled checks
    down: float  # weighted seconds of published outage within them
    worst: str = "operational"  # worst published severity within them

    @property
    def uptime(self) -> float | None:
        return None if self.observed <= 0 else max(0.0, 1.0 - self.down / self.observed)

    @property
    def level(self) -> str:
        """The bar's colour: the worst the day was said to be, grey where nothing watched."""
        return "none" if self.observed <= 0 else self.worst


@dataclass(frozen=True, slots=True)
class Uptime:
    days: list[Day]  # oldest first, DAYS of them, ending today

    @property
    def ratio(self) -> float | None:
        observed = sum(d.observed for d in self.days)
        if observed <= 0:
            return None
        return max(0.0, 1.0 - sum(d.down for d in self.days) / observed)


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint spans covering the same time."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        elif b > a:
            out.append([a, b])
    return [(a, b) for a, b in out]


def measure(spans: list[Span], ends: list[float], a: float, b: float) -> float:
    """Seconds of merged `spans` (with `ends` their ends) inside [a, b)."""
    total = 0.0
    i = bisect.bisect_right(ends, a)
    while i < len(spans) and spans[i][0] < b:
        total += min(b, spans[i][1]) - max(a, spans[i][0])
        i += 1
    return total


def timeline(inc: IncidentRow, notices: list[NoticeRow]) -> list[Stretch]:
    """When customers were told the incident's components were down, and how badly."""
    out: list[Stretch] = []
    if not notices:
        return out  # never told
    stop = INF if inc.resolved_at is None else inc.resolved_at
    starts = [inc.started_at] + [n.published_at for n in notices[1:]]
    ends = [n.published_at for n in notices[1:]] + [stop]
    for n, a, b in zip(notices, starts, ends, strict=True):
        b = min(b, stop)
        if n.status not in UP_STATUSES and b > a:
            out.append((a, b, n.severity))
    return out


def flatten(stretches: list[Stretch]) -> list[Stretch]:
    """Overlapping stretches as disjoint ones, each at the worst severity covering it."""
    points = sorted({p for a, b, _ in stretches for p in (a, b)})
    out: list[Stretch] = []
    for a, b in itertools.pairwise(points):
        over = [sev for s, e, sev in stretches if s <= a and e >= b]
        if not over:
            continue
        sev = max(over, key=lambda v: Severity.of(v).rank)
        if out and out[-1][1] == a and out[-1][2] == sev:
            out[-1] = (out[-1][0], b, sev)
        else:
            out.append((a, b, sev))
    return out


@dataclass(frozen=True, slots=True)
class Group:
    """A component's probes that vouch for the same time after a check."""

    component: str
    cover: float  # a check vouches for the time until the next scheduled one (at least 60 s)
    probes: tuple[str, ...]


def groups_of(config: Config) -> list[Group]:
    by: dict[tuple[str, float], list[str]] = {}
    for c in config.components:
        for p in c.probes:
            cover = max(60.0, p.detection(config.detection).interval)
            by.setdefault((c.id, cover), []).append(p.name)
    return [Group(cid, cover, tuple(names)) for (cid, cover), names in by.items()]


def batches(groups: list[Group]) -> list[list[tuple[int, list[str]]]]:
    """(group index, probe names) pieces, one query's worth per batch: at most BATCH_PROBES
    names (a bigger group is cut into pieces) and BATCH_PARTS pieces in each."""
    out: list[list[tuple[int, list[str]]]] = [[]]
    size = 0
    for k, g in enumerate(groups):
        for i in range(0, len(g.probes), BATCH_PROBES):
            names = list(g.probes[i : i + BATCH_PROBES])
            if out[-1] and (len(out[-1]) >= BATCH_PARTS or size + len(names) > BATCH_PROBES):
                out.append([])
                size = 0
            out[-1].append((k, names))
            size += len(names)
    return [b for b in out if b]


class UptimeCache:
    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.zone = ZoneInfo(config.service.timezone)
        self.groups = groups_of(config)
        self.queries = bucket_queries(batches(self.groups))
        self.id_of = {c.name: c.id for c in config.components}
        self.components = [c.id for c in config.components]
        self.settled: dict[str, list[Span]] = {}  # from buckets below settled_until
        self.settled_until: int | None = None
        self.recent: dict[str, list[Span]] = {}
        self.final: dict[str, dict[str, list[Stretch]]] = {}  # resolved incident → stretches
        self.view: dict[str, Uptime] = {}
        self.refreshed_at: float | None = None
        self.lock = asyncio.Lock()

    async def get(self, now: float) -> dict[str, Uptime]:
        async with self.lock:
            if self.refreshed_at is None or not 0 <= now - self.refreshed_at < REFRESH:
                await self._refresh(now)
                self.refreshed_at = now
        return self.view

    def _days(self, now: float) -> list[date]:
        today = datetime.fromtimestamp(now, self.zone).date()
        return [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]

    def _midnight(self, day: date) -> float:
        return datetime.combine(day, time(0), self.zone).timestamp()

    async def _refresh(self, now: float) -> None:
        days = self._days(now)
        bounds = [self._midnight(d) for d in days] + [self._midnight(days[-1] + timedelta(1))]
        first = int(bounds[0] // 60) * 60
        await self._observe(now, first)
        stretches = await self._stretches(bounds[0])
        self.view = {
            cid: self._uptime(cid, days, bounds, stretches.get(cid, []), now)
            for cid in self.components
        }

    async def _observe(self, now: float, first: int) -> None:
        since = first if self.settled_until is None else max(first, self.settled_until)
        settle_at = int((now - SETTLE) // 60) * 60
        rows = await component_buckets(self.store.engine, self.queries, since)
        settled: dict[str, set[Span]] = {}  # sets: a component's groups may share buckets
        recent: dict[str, set[Span]] = {}
        for k, bucket, width in rows:
            g = self.groups[k]
            target = settled if bucket + width <= settle_at else recent
            target.setdefault(g.component, set()).add(
                (float(bucket), bucket + max(float(width), g.cover))
            )
        for cid, spans in settled.items():
            self.settled[cid] = merge([*self.settled.get(cid, []), *spans])
        for cid in list(self.settled):
            kept = [(max(a, first), b) for a, b in self.settled[cid] if b > first]
            self.settled[cid] = kept
        self.recent = {cid: merge(spans) for cid, spans in recent.items()}
        self.settled_until = max(since, settle_at)

    async def _stretches(self, since: float) -> dict[str, list[Stretch]]:
        incs = [i for i in await incidents_since(self.store.engine, since) if public(i)]
        notices = await self.store.notices(i.id for i in incs if i.id not in self.final)
        final: dict[str, dict[str, list[Stretch]]] = {}
        out: dict[str, list[Stretch]] = {}
        for inc in incs:
            found = self.final.get(inc.id)
            if found is None:
                found = self._by_component(inc, notices[inc.id])
            if inc.resolved_at is not None:  # a resolved incident's story is told for good
                final[inc.id] = found
            for cid, stretches in found.items():
                out.setdefault(cid, []).extend(stretches)
        self.final = final
        return out

    def _by_component(self, inc: IncidentRow, notices: list[NoticeRow]) -> dict[str, list[Stretch]]:
        """The incident's stretches per component, each from when it was said to be affected."""
        stretches = timeline(inc, notices)
        joined: dict[str, float] = {}
        for k, n in enumerate(notices):
            for name in n.facts.get("components", []):
                cid = self.id_of.get(name, "")
                if cid in inc.component_ids and cid not in joined:
                    joined[cid] = inc.started_at if k == 0 else n.published_at
        out: dict[str, list[Stretch]] = {}
        for cid in inc.component_ids:
            since = joined.get(cid, inc.started_at)
            out[cid] = [(max(a, since), b, sev) for a, b, sev in stretches if b > since]
        return out

    def _uptime(
        self, cid: str, days: list[date], bounds: list[float], stretches: list[Stretch], now: float
    ) -> Uptime:
        spans = merge(
            (max(a, bounds[0]), min(b, now))
            for a, b in self.settled.get(cid, []) + self.recent.get(cid, [])
        )
        ends = [b for _, b in spans]
        told = flatten([(a, min(b, now), sev) for a, b, sev in stretches if min(b, now) > a])
        out = []
        for i, day in enumerate(days):
            lo, hi = bounds[i], bounds[i + 1]
            observed = measure(spans, ends, lo, hi)
            down, worst = 0.0, "operational"
            for a, b, sev in told:
                if b <= lo or a >= hi:
                    continue
                seen = measure(spans, ends, max(a, lo), min(b, hi))
                if seen <= 0:
                    continue
                down += WEIGHT.get(sev, 0.0) * seen
                if Severity.of(sev) > Severity.of(worst):
                    worst = sev
            out.append(Day(day, observed, down, worst))
        return Uptime(out)
