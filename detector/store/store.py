"""The store: incidents, notices, the outbox, probe verdicts and aggregated check history.

One class over SQLAlchemy Core's async engine, so SQLite (embedded default) and PostgreSQL
share every query. Whatever must survive a crash is written in one transaction per change.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import Field, asdict, dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import quote

from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from detector.store import migrations
from detector.store import schema as s
from detector.store.cluster import ClusterQueries
from detector.store.errors import StoreUnavailable
from detector.store.outbox import OutboxQueries
from detector.store.subscribers import SubscriberQueries
from detector.text import Localized, decode_localized, encode_localized

# PostgreSQL: how long to wait for a connection (the driver's default is a minute) and for
# `ping` (readiness) to answer at all
CONNECT_TIMEOUT = 10.0
PING_TIMEOUT = 5.0


_ROLLUP = text(
    "INSERT INTO check_history_hourly (probe, bucket, checks, failures, soft, duration_sum) "
    "SELECT probe, (bucket / 3600) * 3600, SUM(checks), SUM(failures), SUM(soft), "
    "SUM(duration_sum) FROM check_history WHERE bucket < :cutoff "
    "GROUP BY probe, (bucket / 3600) * 3600 "
    "ON CONFLICT (probe, bucket) DO UPDATE SET "
    "checks = check_history_hourly.checks + excluded.checks, "
    "failures = check_history_hourly.failures + excluded.failures, "
    "soft = check_history_hourly.soft + excluded.soft, "
    "duration_sum = check_history_hourly.duration_sum + excluded.duration_sum"
)


def create_engine(url: str) -> AsyncEngine:
    """The async engine of a storage URL. PostgreSQL: a bounded wait for a connection, and
    each pooled connection checked before use, so one the server dropped (a restart, a
    failover) is replaced instead of failing the next call."""
    if async_url(url).startswith("postgresql+asyncpg://"):
        return create_async_engine(
            async_url(url),
            pool_pre_ping=True,
            connect_args={"timeout": CONNECT_TIMEOUT},
        )
    return create_async_engine(async_url(url))


def async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class _Row:
    """A dataclass row whose `_json` fields are stored as JSON text, `_bools` as 0/1, and
    `_localized` (operator text: one string, or one per language) as the string itself or a
    JSON object in the same text column, so no schema change was needed for the mapping."""

    # set by @dataclass on each row class; declared so that asdict() accepts every _Row
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    _json: ClassVar[tuple[str, ...]] = ()
    _bools: ClassVar[tuple[str, ...]] = ()
    _localized: ClassVar[tuple[str, ...]] = ()

    def to_db(self) -> dict[str, Any]:
        d = asdict(self)
        for k in self._json:
            d[k] = json.dumps(d[k])
        for k in self._localized:
            d[k] = encode_localized(d[k])
        return d

    @classmethod
    def from_db(cls, row: Row[Any]) -> Self:
        d = dict(row._mapping)
        for k in cls._json:
            d[k] = json.loads(d[k])
        for k in cls._localized:
            d[k] = decode_localized(d[k])
        for k in cls._bools:
            d[k] = bool(d[k])
        return cls(**d)


@dataclass(slots=True)
class IncidentRow(_Row):
    id: str
    component_ids: list[str]
    title: str
    status: str
    severity: str
    started_at: float
    detected_at: float
    vendor: str | None = None
    manual: bool = False
    recovered_at: float | None = None
    resolved_at: float | None = None
    next_update_at: float | None = None
    cause: Localized | None = None
    actions: Localized | None = None
    report_by: float | None = None
    postmortem_published_at: float | None = None
    held_until: float | None = None
    vetoed: bool = False
    sequence: int = 0
    status_by_person: bool = False
    _json = ("component_ids",)
    _bools = ("manual", "vetoed", "status_by_person")
    _localized = ("cause", "actions")


@dataclass(slots=True)
class NoticeRow(_Row):
    id: str
    incident_id: str
    sequence: int
    event: str
    kind: str
    status: str
    severity: str
    published_at: float
    next_update_at: float | None
    subject: str
    text: str
    facts: dict[str, Any]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    recipients: int = 0
    _json = ("facts", "evidence")


@dataclass(slots=True)
class OutboxRow(_Row):
    id: str
    notice_id: str
    channel: str
    event: str
    message: dict[str, Any]
    payload: dict[str, Any]
    recipients: list[dict[str, Any]]
    state: str = "pending"
    attempts: int = 0
    created_at: float = 0.0
    next_attempt_at: float = 0.0
    sent_at: float | None = None
    last_error: str | None = None
    # delivery order (see detector.outbox): rows of one stream go out in `sequence`, newest
    # wins; None = a row of schema v1, its own stream
    stream: str | None = None
    sequence: int = 0
    stale_at: float | None = None  # the notice's promised next update (wall clock)
    claimed_until: float | None = None  # wall clock; a worker's lease while it sends
    _json = ("message", "payload", "recipients")


@dataclass(slots=True)
class MaintenanceRow(_Row):
    id: str
    component_ids: list[str]
    title: str
    starts_at: float
    ends_at: float
    message: Localized | None = None
    announced: int = 0  # 0 none, 1 scheduled, 2 started, 3 ended
    _json = ("component_ids",)
    _localized = ("message",)


@dataclass(slots=True)
class Change:
    """Everything one decision writes, committed together or not at all."""

    incidents: list[IncidentRow] = field(default_factory=list)
    notices: list[NoticeRow] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    probe_states: dict[str, tuple[int, float | None, str | None]] = field(default_factory=dict)
    maintenance: list[MaintenanceRow] = field(default_factory=list)
    # what to do once the change is committed (log lines, counters): never for a failed one
    after: list[Callable[[], None]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.incidents or self.notices or self.outbox or self.probe_states or self.maintenance
        )


# what a store call raises when the store, not our code, is at fault: the driver's errors
# (SQLAlchemy wraps SQLite's and asyncpg's, e.g. OperationalError, InterfaceError, DBAPIError
# for a lost connection or a serialization failure), the disk's and the network's (OSError:
# a refused or timed-out connection), and ours (StoreUnavailable); callers keep their memory
# and try again later
STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, StoreUnavailable)


class Store(OutboxQueries, ClusterQueries, SubscriberQueries):
    def __init__(self, url: str) -> None:
        self.url = url
        # several instances: (member, epoch) the leader's writes must hold the lease at; a
        # follower's epoch is 0, which no lease has, so its writes are refused (`Fenced`)
        self.fence: tuple[str, int] | None = None
        self.engine: AsyncEngine = create_engine(url)
        self.path: str | None = None
        self._identity: tuple[int, int] | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self.path = database

    async def open(self) -> migrations.Migrated:
        """Bring the store to the newest schema revision (Alembic, one transaction; a store
        from before Alembic is upgraded in place) and say what was done. SQLite creates its
        file here; from then on it is opened read-write only."""
        try:
            migrated = await migrations.upgrade(self.engine)
        except OSError as e:  # the network's (PostgreSQL): a start-up failure that says so
            raise StoreUnavailable(f"cannot connect: {_why(e)}") from e
        if self.path is not None:
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
            # from now on connect read-write only: a vanished file must fail loudly, not come
            # back empty as a second history
            await self.engine.dispose()
            self.engine = create_async_engine(
                f"sqlite+aiosqlite:///file:{quote(self.path)}?mode=rw&uri=true"
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        return migrated

    def check_file(self) -> None:
        """Raise if the database file we opened is gone or is another file now: writing on
        would go to a ghost (the unlinked inode) or start a second history quietly."""
        if self._identity is None or self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreUnavailable(
                f"the database file {os.path.basename(self.path)} was deleted while running; "
                "restore it or restart the detector"
            ) from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise StoreUnavailable(
                f"the database file {os.path.basename(self.path)} was replaced while running; "
                "restart the detector to use the new file"
            )

    @asynccontextmanager
    async def write(self, *, fenced: bool = True) -> AsyncIterator[AsyncConnection]:
        """One write transaction on the file we opened, or none at all. With several
        instances, a `fenced` write (everything the leader decides) first checks, in the same
        transaction, that this instance still holds the leader lease."""
        self.check_file()
        async with self.engine.begin() as conn:
            if fenced and self.fence is not None:
                await self.check_fence(conn)
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            self.check_file()
            async with asyncio.timeout(PING_TIMEOUT), self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    # --- writes ---------------------------------------------------------------------------

    async def commit(self, change: Change, now: float) -> None:
        async with self.write() as conn:
            for inc in change.incidents:
                await self._upsert(conn, s.incidents, inc.to_db(), ["id"])
            if change.notices:
                await conn.execute(insert(s.notices), [n.to_db() for n in change.notices])
            if change.outbox:
                await conn.execute(insert(s.outbox), [o.to_db() for o in change.outbox])
            for m in change.maintenance:
                await self._upsert(conn, s.maintenance, m.to_db(), ["id"])
            for probe, (level, first_bad_at, severity) in change.probe_states.items():
                row = {
                    "probe": probe,
                    "level": level,
                    "first_bad_at": first_bad_at,
                    "severity": severity,
                    "updated_at": now,
                }
                await self._upsert(conn, s.probe_state, row, ["probe"])

    async def _upsert(
        self, conn: AsyncConnection, table: Any, row: dict[str, Any], keys: list[str]
    ) -> None:
        stmt = self._insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}
        )
        await conn.execute(stmt)

    def _insert(self, table: Any) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    async def add_history(self, rows: Sequence[tuple[str, int, int, int, int, float]]) -> None:
        """Batched upsert of per-minute aggregates: one transaction for many probes."""
        if not rows:
            return
        t = s.check_history
        stmt = self._insert(t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["probe", "bucket"],
            set_={
                "checks": t.c.checks + stmt.excluded.checks,
                "failures": t.c.failures + stmt.excluded.failures,
                "soft": t.c.soft + stmt.excluded.soft,
                "duration_sum": t.c.duration_sum + stmt.excluded.duration_sum,
            },
        )
        params = [
            {"probe": p, "bucket": b, "checks": c, "failures": f, "soft": so, "duration_sum": d}
            for p, b, c, f, so, d in rows
        ]
        async with self.write(fenced=False) as conn:  # every instance counts its own checks
            await conn.execute(stmt, params)

    async def update_incident(self, incident_id: str, **values: Any) -> None:
        async with self.write() as conn:
            await conn.execute(
                update(s.incidents).where(s.incidents.c.id == incident_id).values(**values)
            )

    # --- reads ----------------------------------------------------------------------------

    async def open_incidents(self) -> list[IncidentRow]:
        q = select(s.incidents).where(s.incidents.c.resolved_at.is_(None))
        rows = await self._all(q.order_by(s.incidents.c.started_at))
        return [IncidentRow.from_db(r) for r in rows]

    async def incidents(self, limit: int = 100, since: float | None = None) -> list[IncidentRow]:
        q = select(s.incidents).order_by(s.incidents.c.started_at.desc()).limit(limit)
        if since is not None:
            q = q.where(
                (s.incidents.c.resolved_at.is_(None)) | (s.incidents.c.resolved_at >= since)
            )
        return [IncidentRow.from_db(r) for r in await self._all(q)]

    async def overdue_reports(self, now: float, limit: int = 100) -> list[IncidentRow]:
        """The incidents `reports_overdue` counts, oldest promise first."""
        q = select(s.incidents).where(_report_overdue(now))
        q = q.order_by(s.incidents.c.report_by).limit(limit)
        return [IncidentRow.from_db(r) for r in await self._all(q)]

    async def reports_overdue(self, now: float) -> int:
        """Resolved incidents whose promised report date passed without a published report."""
        q = select(func.count()).where(_report_overdue(now))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar() or 0)

    async def incident(self, incident_id: str) -> IncidentRow | None:
        rows = await self._all(select(s.incidents).where(s.incidents.c.id == incident_id))
        return IncidentRow.from_db(rows[0]) if rows else None

    async def notices(self, incident_ids: Iterable[str]) -> dict[str, list[NoticeRow]]:
        ids = list(incident_ids)
        out: dict[str, list[NoticeRow]] = {i: [] for i in ids}
        if not ids:
            return out
        q = (
            select(s.notices)
            .where(s.notices.c.incident_id.in_(ids))
            .order_by(s.notices.c.incident_id, s.notices.c.sequence)
        )
        for r in await self._all(q):
            n = NoticeRow.from_db(r)
            out[n.incident_id].append(n)
        return out

    async def probe_states(self) -> dict[str, tuple[int, float | None, str | None]]:
        rows = await self._all(select(s.probe_state))
        return {r.probe: (r.level, r.first_bad_at, r.severity) for r in rows}

    async def maintenance_rows(self, ending_after: float | None = None) -> list[MaintenanceRow]:
        q = select(s.maintenance).order_by(s.maintenance.c.starts_at)
        if ending_after is not None:
            q = q.where(s.maintenance.c.ends_at >= ending_after)
        return [MaintenanceRow.from_db(r) for r in await self._all(q)]

    async def history(self, since_bucket: int) -> list[Row[Any]]:
        """Check history since a time: hourly rows for the old part, minute rows after."""
        h, m = s.check_history_hourly, s.check_history
        since_bucket = int(since_bucket)  # an INTEGER column: PostgreSQL takes no float
        q = (
            select(h)
            .where(h.c.bucket >= since_bucket)
            .union_all(select(m).where(m.c.bucket >= since_bucket))
        )
        return list(await self._all(q))

    async def rollup_history(
        self, now: float, minute_keep: float = 2 * 86400, hourly_keep: float = 91 * 86400
    ) -> None:
        """Fold old minute rows into hourly ones and drop what is past keeping, in one
        transaction, so readers see each check counted exactly once and the store stays bounded
        (20,000 probes write 28.8 million minute rows a day)."""
        cutoff = int((now - minute_keep) // 3600) * 3600
        async with self.write() as conn:
            # integer division on both backends (the columns are integers); the sums are
            # BIGINT on PostgreSQL, assigned to the INTEGER columns as they fit
            await conn.execute(_ROLLUP, {"cutoff": cutoff})
            await conn.execute(delete(s.check_history).where(s.check_history.c.bucket < cutoff))
            await conn.execute(
                delete(s.check_history_hourly).where(
                    s.check_history_hourly.c.bucket < int(now - hourly_keep)
                )
            )

    async def _all(self, q: Any) -> Sequence[Row[Any]]:
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).fetchall()


def _report_overdue(now: float) -> Any:
    """Resolved, a report promised by a date that has passed, none published, not vetoed."""
    i = s.incidents
    return (
        i.c.resolved_at.is_not(None)
        & i.c.report_by.is_not(None)
        & (i.c.report_by < now)
        & i.c.postmortem_published_at.is_(None)
        & (i.c.vetoed.is_(False))
    )


def _why(e: OSError) -> str:
    if isinstance(e, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g} s"
    return str(e.strerror or e)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
