"""The engine's memory of incidents, and the decisions that change it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace

from detector.state import (
    Level,
    ProbeEvent,
)
from detector.store import (
    IncidentRow,
    MaintenanceRow,
)
from probes.base import Result

EVIDENCE_KEEP = 6


@dataclass(frozen=True, slots=True)
class Decision:
    """A probe result worth a decision: its verdict changed, or a control spoke, or a suspect
    streak began or ended (`streak`: only its start is written, so `started_at` survives)."""

    probe: str
    event: ProbeEvent | None
    at: float
    streak: bool = False


@dataclass(slots=True)
class Deadlines:
    """An incident's waits on the monotonic clock (the wall-clock twins live on the row)."""

    next_update: float | None = None
    recovered: float | None = None
    held_until: float | None = None
    opened: float | None = None  # when it was confirmed: components may join until group_within


@dataclass(slots=True)
class Memory:
    """What the engine knows of incidents; replaced whole after a commit, never edited live."""

    open: dict[str, IncidentRow] = field(default_factory=dict)  # component → open incident
    manual: dict[str, IncidentRow] = field(default_factory=dict)
    maintenance: list[MaintenanceRow] = field(default_factory=list)
    deferred: set[str] = field(default_factory=set)  # components waiting for the controls
    controls_down: bool = False
    deadlines: dict[str, Deadlines] = field(default_factory=dict)  # incident id → waits
    # a change not yet said, waiting one re-check round to settle: incident or component id →
    # monotonic time it will be said (at the latest)
    settling: dict[str, float] = field(default_factory=dict)

    def copy(self) -> Memory:
        rows: dict[str, IncidentRow] = {}

        def dup(inc: IncidentRow) -> IncidentRow:
            if inc.id not in rows:  # one incident may stand for several components
                rows[inc.id] = replace(inc, component_ids=list(inc.component_ids))
            return rows[inc.id]

        return Memory(
            open={cid: dup(i) for cid, i in self.open.items()},
            manual={iid: dup(i) for iid, i in self.manual.items()},
            maintenance=[replace(m) for m in self.maintenance],
            deferred=set(self.deferred),
            controls_down=self.controls_down,
            deadlines={k: replace(v) for k, v in self.deadlines.items()},
            settling=dict(self.settling),
        )


# the working copy of the task that is deciding; every other task reads the committed memory
_WORKING: contextvars.ContextVar[Memory | None] = contextvars.ContextVar("working", default=None)


def level_of(result: Result) -> Level:
    if not result.ok:
        return Level.FAIL
    return Level.SOFT if result.soft_fail else Level.OK
