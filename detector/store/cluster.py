"""Cluster queries (PostgreSQL): members and their heartbeats, the leader lease, each
vantage's verdicts. Mixed into `Store`.

Every time here is the database's clock, read in the statement (`clock_timestamp()`), so
instances on several hosts judge heartbeats and the lease by one clock. The lease is one row
with an epoch that grows at every change of holder; the leader's writes check it in their own
transaction (`Store.write`), so a leader that lost the lease cannot write anything after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from detector.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

NOW = "extract(epoch from clock_timestamp())::float8"


class Fenced(StoreUnavailable):
    """This instance does not hold the leader lease (any more): the write is refused."""


@dataclass(frozen=True, slots=True)
class Member:
    member: str
    vantage: str
    host: str
    pid: int
    listen: str
    started_at: float
    heartbeat_at: float
    blind: bool
    probes_owned: int
    age: float  # seconds since its last heartbeat, by the database's clock


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str | None
    epoch: int
    expires_at: float
    remaining: float  # seconds left, by the database's clock (negative: expired)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One vantage's word on one probe."""

    vantage: str
    probe: str
    level: int
    suspect: bool
    first_bad_at: float | None
    severity: str | None
    detail: str
    at: float


_HEARTBEAT = text(
    "INSERT INTO cluster_members (member, vantage, host, pid, listen, started_at, "
    f"heartbeat_at, blind, probes_owned) VALUES (:member, :vantage, :host, :pid, :listen, "
    f":started_at, {NOW}, :blind, :probes_owned) ON CONFLICT (member) DO UPDATE SET "
    "heartbeat_at = excluded.heartbeat_at, blind = excluded.blind, "
    f"probes_owned = excluded.probes_owned RETURNING {NOW}"
)
_MEMBERS = text(
    "SELECT member, vantage, host, pid, listen, started_at, heartbeat_at, blind, "
    f"probes_owned, {NOW} - heartbeat_at AS age FROM cluster_members ORDER BY vantage, member"
)
_TAKE = text(
    f"UPDATE cluster_lease SET holder = :member, epoch = epoch + 1, expires_at = {NOW} + :lease "
    f"WHERE id = 1 AND (holder IS NULL OR expires_at <= {NOW}) RETURNING epoch"
)
_RENEW = text(
    f"UPDATE cluster_lease SET expires_at = {NOW} + :lease WHERE id = 1 AND holder = :member "
    f"AND epoch = :epoch AND expires_at > {NOW} RETURNING epoch"
)
_FENCE = text(
    "SELECT 1 FROM cluster_lease WHERE id = 1 AND holder = :member AND epoch = :epoch "
    f"AND expires_at > {NOW} FOR SHARE"
)
_LEASE = text(
    f"SELECT holder, epoch, expires_at, expires_at - {NOW} FROM cluster_lease WHERE id = 1"
)
_PUT = text(
    "INSERT INTO verdicts (vantage, probe, level, suspect, first_bad_at, severity, detail, at, "
    f"changed_at) VALUES (:vantage, :probe, :level, :suspect, :first_bad_at, :severity, "
    f":detail, :at, {NOW}) ON CONFLICT (vantage, probe) DO UPDATE SET level = excluded.level, "
    "suspect = excluded.suspect, first_bad_at = excluded.first_bad_at, "
    "severity = excluded.severity, detail = excluded.detail, at = excluded.at, "
    "changed_at = excluded.changed_at"
)
_VERDICT_COLS = "vantage, probe, level, suspect, first_bad_at, severity, detail, at"


class ClusterQueries:
    engine: AsyncEngine
    fence: tuple[str, int] | None

    if TYPE_CHECKING:

        def write(self, *, fenced: bool = True) -> AbstractAsyncContextManager[AsyncConnection]: ...

    async def check_fence(self, conn: AsyncConnection) -> None:
        """In the caller's transaction: raise `Fenced` unless this instance holds the lease
        at the epoch it was given. `FOR SHARE` makes a takeover wait for this transaction."""
        if self.fence is None:
            return
        member, epoch = self.fence
        got = await conn.execute(_FENCE, {"member": member, "epoch": epoch})
        if got.first() is None:
            raise Fenced("this instance does not hold the leader lease")

    async def heartbeat(
        self,
        *,
        member: str,
        vantage: str,
        host: str,
        pid: int,
        listen: str,
        started_at: float,
        blind: bool,
        probes_owned: int,
    ) -> float:
        """Say this member is alive; returns the database's time."""
        async with self.write(fenced=False) as conn:
            got = await conn.execute(
                _HEARTBEAT,
                {
                    "member": member,
                    "vantage": vantage,
                    "host": host,
                    "pid": pid,
                    "listen": listen,
                    "started_at": started_at,
                    "blind": blind,
                    "probes_owned": probes_owned,
                },
            )
            return float(got.scalar_one())

    async def members(self) -> list[Member]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_MEMBERS)).fetchall()
        return [Member(*r) for r in rows]

    async def leave(self, member: str) -> None:
        """A clean stop: drop out at once and hand the lease back, so another instance takes
        over now instead of when the lease runs out."""
        async with self.write(fenced=False) as conn:
            await conn.execute(text("DELETE FROM cluster_members WHERE member = :m"), {"m": member})
            await conn.execute(
                text("UPDATE cluster_lease SET holder = NULL WHERE id = 1 AND holder = :m"),
                {"m": member},
            )

    async def forget_members(self, older_than: float) -> None:
        """Members silent for `older_than` seconds are gone for good; so are the verdicts of a
        vantage that has no member left."""
        async with self.write(fenced=False) as conn:
            await conn.execute(
                text(f"DELETE FROM cluster_members WHERE heartbeat_at < {NOW} - :age"),
                {"age": older_than},
            )
            await conn.execute(
                text(
                    "DELETE FROM verdicts WHERE vantage NOT IN "
                    "(SELECT DISTINCT vantage FROM cluster_members)"
                )
            )

    async def take_lease(self, member: str, lease: float) -> int | None:
        """Become the leader if nobody holds a live lease; returns the new epoch."""
        async with self.write(fenced=False) as conn:
            got = (await conn.execute(_TAKE, {"member": member, "lease": lease})).first()
        return None if got is None else int(got[0])

    async def renew_lease(self, member: str, epoch: int, lease: float) -> bool:
        """Extend a lease still held; False once it ran out or passed to another."""
        async with self.write(fenced=False) as conn:
            got = await conn.execute(_RENEW, {"member": member, "epoch": epoch, "lease": lease})
            return got.first() is not None

    async def lease(self) -> Lease:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_LEASE)).first()
        if row is None:
            return Lease(None, 0, 0.0, float("-inf"))
        return Lease(row[0], int(row[1]), float(row[2]), float(row[3]))

    async def put_verdicts(self, vantage: str, rows: Iterable[Verdict]) -> None:
        """Batched: one transaction for every verdict that changed since the last write."""
        params = [
            {
                "vantage": vantage,
                "probe": v.probe,
                "level": v.level,
                "suspect": v.suspect,
                "first_bad_at": v.first_bad_at,
                "severity": v.severity,
                "detail": v.detail[:300],
                "at": v.at,
            }
            for v in rows
        ]
        if not params:
            return
        async with self.write(fenced=False) as conn:
            await conn.execute(_PUT, params)

    async def verdicts(
        self, since: float | None = None, vantage: str | None = None
    ) -> tuple[list[Verdict], float]:
        """Verdicts changed after `since` (database time; all of them if None), and the
        database's time now, for the next call."""
        where, params = [], {}  # type: tuple[list[str], dict[str, Any]]
        if since is not None:
            where.append("changed_at > :since")
            params["since"] = since
        if vantage is not None:
            where.append("vantage = :vantage")
            params["vantage"] = vantage
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        async with self.engine.connect() as conn:
            now = float((await conn.execute(text(f"SELECT {NOW}"))).scalar_one())
            rows = (
                await conn.execute(text(f"SELECT {_VERDICT_COLS} FROM verdicts{cond}"), params)
            ).fetchall()
        return [_verdict(r) for r in rows], now

    async def fingerprint(self) -> tuple[Any, ...]:
        """Changes when anything the public pages show changes: a follower reloads then."""
        q = text(
            "SELECT (SELECT max(updated_at) FROM probe_state), (SELECT count(*) FROM notices), "
            "(SELECT count(*) FROM incidents WHERE resolved_at IS NULL), "
            "(SELECT max(coalesce(resolved_at, 0)) FROM incidents), "
            "(SELECT count(*) FROM maintenance), (SELECT sum(announced) FROM maintenance), "
            "(SELECT max(coalesce(postmortem_published_at, 0)) FROM incidents)"
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return tuple(row) if row is not None else ()


def _verdict(r: Sequence[Any]) -> Verdict:
    return Verdict(
        str(r[0]),
        str(r[1]),
        int(r[2]),
        bool(r[3]),
        None if r[4] is None else float(r[4]),
        r[5],
        str(r[6]),
        float(r[7]),
    )
