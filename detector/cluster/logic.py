"""The cluster's decisions as pure functions: who checks which probe, how many vantages must
agree, and what they agree on. No I/O, no clock: tested exhaustively."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from detector.domain import Severity
from detector.state import Level, ProbeState


def _score(member: str, probe: str) -> bytes:
    return hashlib.blake2b(f"{member}\0{probe}".encode(), digest_size=8).digest()


def owner(members: Sequence[str], probe: str) -> str:
    """Rendezvous hashing: the member with the highest score for the probe runs it. When a
    member joins or leaves, only the probes it wins or held move (about 1/n of them)."""
    return max(members, key=lambda m: _score(m, probe))


def owned(me: str, members: Iterable[str], probes: Iterable[str]) -> set[str]:
    """The probes `me` runs among `members` (its vantage's live members, itself included)."""
    peers = sorted(set(members) | {me})
    if len(peers) == 1:
        return set(probes)
    return {p for p in probes if owner(peers, p) == me}


def needed(quorum: int | str, live: int) -> int:
    """Vantages that must agree: a number as configured, or a majority of those alive."""
    if isinstance(quorum, int):
        return quorum
    return live // 2 + 1


@dataclass(frozen=True, slots=True)
class View:
    """One live vantage's verdict on a probe (a vantage with no word on it sees it fine)."""

    vantage: str
    level: Level
    suspect: bool = False
    first_bad_at: float | None = None
    severity: str | None = None


def combine(previous: ProbeState, views: Sequence[View], need: int) -> ProbeState:
    """The cluster's verdict on a probe: failing when `need` vantages say it fails (degraded
    when that many see trouble of some kind), working when `need` say it works; otherwise
    what it was. The outage began at the earliest failure any of them saw, and a trouble that
    goes on keeps its start. A vantage re-checking towards a change makes the verdict a
    streak (`suspect`), so the engine waits for it as it waits for a streak of its own; a
    vantage that stays failing alone is no streak, and holds nothing up."""
    need = max(1, need)
    failing = [v for v in views if v.level == Level.FAIL]
    bad = [v for v in views if v.level != Level.OK]
    if len(failing) >= need:
        level, witnesses = Level.FAIL, failing
    elif len(bad) >= need:
        level, witnesses = Level.SOFT, bad
    elif sum(1 for v in views if v.level == Level.OK) >= min(need, len(views)) and views:
        # fewer vantages alive than a numeric quorum: all of those left agreeing it works is
        # recovery (an outage must not stay open because instances died)
        level, witnesses = Level.OK, []
    else:
        level, witnesses = previous.confirmed, []
    if level == Level.OK:
        towards = [v for v in views if v.level == Level.OK and v.suspect]
        if towards:
            first = min(
                (v.first_bad_at for v in towards if v.first_bad_at is not None), default=None
            )
            return ProbeState(bad_streak=1, first_bad_at=first)
        return ProbeState()
    if previous.confirmed != Level.OK and previous.first_bad_at is not None:
        first = previous.first_bad_at  # the same trouble goes on: its start stays
    else:
        first = min(
            (v.first_bad_at for v in witnesses if v.first_bad_at is not None),
            default=previous.first_bad_at,
        )
    severity = max(
        (v.severity for v in witnesses if v.severity is not None),
        key=Severity.of,
        default=None,
    )
    if not witnesses:
        severity = previous.severity
    back = any(v.suspect and v.level != Level.OK for v in views)
    return ProbeState(
        confirmed=level, first_bad_at=first, severity=severity, good_streak=1 if back else 0
    )
