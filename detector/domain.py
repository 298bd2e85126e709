"""The domain's words as types: severity (ordered, its rank in one place), incident status,
webhook event and notice kind. Each is a `StrEnum`, so it is stored, sent and templated as the
plain string the contract names, and compares equal to it; code names members, never strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad it is for customers, in order: comparisons go by rank, not by spelling."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        """0 operational … 3 major outage: also the value of `detector_component_status`."""
        return _RANK[self]

    @property
    def down(self) -> bool:
        return self is not Severity.OPERATIONAL

    @classmethod
    def of(cls, value: Any) -> Severity:
        """A stored or configured value as a member; anything unknown counts as operational."""
        try:
            return cls(value)
        except ValueError:
            return cls.OPERATIONAL

    @classmethod
    def worst(cls, values: Iterable[Any]) -> Severity:
        return max((cls.of(v) for v in values), key=_RANK.__getitem__, default=cls.OPERATIONAL)

    def __lt__(self, other: object) -> bool:
        return _RANK[self] < _RANK[Severity.of(other)]

    def __le__(self, other: object) -> bool:
        return _RANK[self] <= _RANK[Severity.of(other)]

    def __gt__(self, other: object) -> bool:
        return _RANK[self] > _RANK[Severity.of(other)]

    def __ge__(self, other: object) -> bool:
        return _RANK[self] >= _RANK[Severity.of(other)]


_RANK = {s: i for i, s in enumerate(Severity)}


class Status(StrEnum):
    """What the incident's people are doing about it, as customers read it."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Event(StrEnum):
    """What a webhook delivery is about (CONTRACT §5), and operators' own events."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_RESOLVED = "incident.resolved"
    POSTMORTEM_PUBLISHED = "postmortem.published"
    INCIDENT_PENDING = "incident.pending"
    DETECTOR_DEGRADED = "detector.degraded"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_ENDED = "maintenance.ended"
    NOTICE_DEAD = "notice.dead"  # a notice a channel gave up on
    REPORT_OVERDUE = "report.overdue"  # a promised report's date passed without one


class Kind(StrEnum):
    """Which notice it is: each has its own wording in every language."""

    OPENED = "opened"
    UPDATE = "update"
    SEVERITY_CHANGED = "severity_changed"
    EXPANDED = "expanded"  # another component joined the incident
    IDENTIFIED = "identified"
    HUMAN = "human"
    MONITORING = "monitoring"
    RECURRED = "recurred"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    MAINTENANCE_SCHEDULED = "maintenance_scheduled"
    MAINTENANCE_STARTED = "maintenance_started"
    MAINTENANCE_ENDED = "maintenance_ended"
    MAINTENANCE_CANCELLED = "maintenance_cancelled"  # called off before it began


# operators' events: webhooks and the console only, never a customer's channel
INTERNAL_EVENTS = frozenset(
    {Event.INCIDENT_PENDING, Event.DETECTOR_DEGRADED, Event.NOTICE_DEAD, Event.REPORT_OVERDUE}
)
