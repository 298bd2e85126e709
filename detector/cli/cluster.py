"""`detector cluster -c FILE [--json]`: the instances sharing the configured PostgreSQL store,
for an operator asking "who is up, who leads, and for how long?".

Lists every member (id, vantage, host, pid, address, last heartbeat, live or dead, probes it
runs, blind or not) and the leader lease. Live is judged as the instances judge it: a
heartbeat younger than the configured `cluster.lease`, by the database's clock, so the answer
is the same from any host. Exit codes: 0 a live leader holds the lease; 1 none does, or the
store cannot be reached (one line, no traceback), so a script can check `detector cluster`;
2 an invalid config. A SQLite store is one instance by definition: one line, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from detector.cli.check import safe_url
from detector.cli.common import add_config_arg, first_line, read_config
from detector.config import Config
from detector.config.models import Cluster

if TYPE_CHECKING:  # at run time only in _cluster: `detector --help` should not pay for SQLAlchemy
    from detector.store import Lease, Member

SQLITE = (
    "the store is SQLite: one instance, nothing to list "
    "(several instances share a PostgreSQL store)"
)
NO_MEMBERS = (
    "no members: none has joined this store, or all have left "
    "(an instance joins when its configuration has a `cluster` section)"
)
BLIND = "blind: the vantage's control probes fail, so it holds back the trouble it sees"
HEADERS = ("MEMBER", "VANTAGE", "HOST", "PID", "ADDRESS", "HEARTBEAT", "STATE", "PROBES")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cluster", help="the instances sharing the store, and which one leads")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    if isinstance(config, int):
        return config
    if not config.storage.url.startswith(("postgresql://", "postgres://")):
        # never opened: opening would create a SQLite file just to say it has no members
        if args.json:
            print(json.dumps({"backend": "sqlite", "members": [], "leader": None, "note": SQLITE}))
        else:
            print(f"detector: {SQLITE}")
        return 0
    return asyncio.run(_cluster(config, args.json))


async def _cluster(config: Config, as_json: bool) -> int:
    from detector.store import STORE_ERRORS, Store

    url = config.storage.url
    store = Store(url)
    try:
        # read only: a look at the cluster must not move the shared schema under instances
        # still running an older release (that is `detector migrate`'s, or `run`'s, to do)
        from detector.store import migrations

        async with store.engine.connect() as conn:
            revision = await conn.run_sync(migrations.current)
        known = {"v3", None}  # before the cluster tables
        if revision in known:
            print(
                f"detector: the store's schema is at revision {revision or '(none)'}, before "
                f"several instances: run `detector migrate -c FILE` (or start `detector run`)",
                file=sys.stderr,
            )
            return 1
        members = await store.members()
        lease = await store.lease()
    except STORE_ERRORS as e:
        why = first_line(e)
        print(f"detector: cannot read the store {safe_url(url)}: {why}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    view = View(members, lease, (config.cluster or Cluster()).lease, config.cluster is None)
    print(json.dumps(view.as_json(), indent=2) if as_json else view.text())
    return 0 if view.leader is not None else 1


class View:
    """Members and lease as the instances themselves judge them: one place for both outputs,
    so the table and the JSON cannot disagree."""

    def __init__(
        self, members: list[Member], lease: Lease, lease_seconds: float, alone: bool
    ) -> None:
        self.members = members
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.alone = alone  # this config has no `cluster` section: its instance never joins
        held = lease.holder is not None and lease.remaining > 0
        self.leader = lease.holder if held else None
        self.live = [m for m in members if self.is_live(m)]
        self.vantages = sorted({m.vantage for m in self.live})

    def is_live(self, m: Member) -> bool:
        return m.age < self.lease_seconds

    def leader_line(self) -> str:
        lease = self.lease
        if self.leader is not None:
            m = next((m for m in self.members if m.member == self.leader), None)
            who = "not among the members" if m is None else f"{m.vantage}, {m.host}"
            return (
                f"leader: {self.leader} ({who}) · epoch {lease.epoch} · "
                f"lease ends in {lease.remaining:.1f}s"
            )
        if lease.holder is not None:
            why = f"the lease of {lease.holder} ran out {ago(-lease.remaining)}"
        elif lease.epoch > 0:
            why = "the last leader handed the lease back"
        else:
            why = "no instance has taken the lease yet"
        if self.live:
            then = "a live instance takes it within its next heartbeat"
        else:
            then = "no live instance to take it"
        return f"leader: none ({why}; {then})"

    def summary(self) -> str:
        n, v = len(self.live), len(self.vantages)
        line = f"{plural(n, 'member')} live in {plural(v, 'vantage')}"
        dead = len(self.members) - n
        return line + (f", {dead} dead" if dead else "")

    def text(self) -> str:
        lines: list[str] = []
        if self.members:
            rows = [(*HEADERS, "")] + [self._row(m) for m in self.members]
            widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
            for r in rows:
                cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
                lines.append("  ".join([*cells, r[-1]]).rstrip())
        else:
            lines.append(NO_MEMBERS)
        lines.append(self.leader_line())
        lines.append(self.summary())
        if any(m.blind for m in self.members):
            lines.append(BLIND)
        if self.alone:
            lines.append(
                "note: this configuration has no `cluster` section: its instance runs alone "
                "and does not join"
            )
        return "\n".join(lines)

    def _row(self, m: Member) -> tuple[str, ...]:
        flags = (("blind", m.blind), ("leader", m.member == self.leader))
        marks = [mark for mark, on in flags if on]
        return (
            m.member,
            m.vantage,
            m.host,
            str(m.pid),
            m.listen or "-",
            ago(m.age),
            "live" if self.is_live(m) else "dead",
            str(m.probes_owned),
            ", ".join(marks),
        )

    def as_json(self) -> dict[str, Any]:
        lease = self.lease
        known = math.isfinite(lease.remaining)
        return {
            "backend": "postgresql",
            "lease_seconds": self.lease_seconds,
            "members": [
                {
                    "member": m.member,
                    "vantage": m.vantage,
                    "host": m.host,
                    "pid": m.pid,
                    "listen": m.listen,
                    "started_at": m.started_at,
                    "heartbeat_at": m.heartbeat_at,
                    "age": round(max(m.age, 0.0), 3),
                    "live": self.is_live(m),
                    "blind": m.blind,
                    "probes_owned": m.probes_owned,
                    "leader": m.member == self.leader,
                }
                for m in self.members
            ],
            "leader": self.leader,
            "lease": {
                "holder": lease.holder,
                "epoch": lease.epoch,
                # seconds left, negative once it ran out; None: no lease row at all
                "remaining": round(lease.remaining, 3) if known else None,
                "expires_at": lease.expires_at if known else None,
            },
            "live": len(self.live),
            "vantages": self.vantages,
        }


def ago(seconds: float) -> str:
    """A heartbeat's age, readable at a glance: seconds while it matters, then coarser."""
    s = max(seconds, 0.0)
    if s < 120:
        return f"{s:.0f}s ago"
    if s < 2 * 3600:
        return f"{s / 60:.0f}m ago"
    if s < 2 * 86400:
        return f"{s / 3600:.0f}h ago"
    return f"{s / 86400:.0f}d ago"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
