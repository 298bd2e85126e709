"""One realistic notice, in winter: 10:17Z is 11:17 in Warsaw (CET) and 05:17 in New York."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detector.notices.model import NoticeFacts


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


STARTED = at("2025-11-23T10:00:00")
PUBLISHED = at("2025-11-23T10:02:00")
NEXT_UPDATE = at("2025-11-23T10:17:00")
REPORT_BY = at("2025-11-28T10:00:00")
IMPACT = "You cannot reach the API, and integrations stop syncing."
CONTACT = "Jane Doe, Head of Operations"

EVENTS = {
    "opened": "incident.opened",
    "resolved": "incident.resolved",
    "postmortem": "postmortem.published",
    "maintenance_scheduled": "maintenance.scheduled",
    "maintenance_started": "maintenance.started",
    "maintenance_ended": "maintenance.ended",
}


def facts(kind: str, **changes: Any) -> NoticeFacts:
    fields: dict[str, Any] = {
        "event": EVENTS.get(kind, "incident.updated"),
        "kind": kind,
        "incident_id": "inc-20251123-api",
        "sequence": 2,
        "title": "Public API unavailable",
        "status": "investigating",
        "severity": "major_outage",
        "components": ["Public API"],
        "impacts": [IMPACT],
        "vendor": None,
        "started_at": STARTED,
        "published_at": PUBLISHED,
        "next_update_at": NEXT_UPDATE,
        "report_by": REPORT_BY if kind in ("monitoring", "resolved") else None,
        "message": "We have rolled back this morning's release.\nSyncing should resume shortly."
        if kind == "human"
        else None,
        "cause": "A configuration change overloaded our database."
        if kind == "identified"
        else None,
        "service_name": "Acme Cloud",
        "status_page_url": "https://status.acme-cloud.io/",
        "contact_name": CONTACT,
        "contact_email": "ops@acme.example",
        "contact_phone": "+48 22 555 0100",
        "extra": {
            "starts_at": at("2025-11-25T21:00:00"),
            "ends_at": at("2025-11-25T23:00:00"),
            **({"added_components": ["Dashboard"]} if kind == "expanded" else {}),
        },
    }
    if kind == "expanded":  # a component joined: the notice names every one it affects
        fields["components"] = ["Public API", "Dashboard"]
    fields.update(changes)
    return NoticeFacts(**fields)
