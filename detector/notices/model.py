"""What a composed notice is, for every audience."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detector.channels.base import Message  # what a channel sends

__all__ = ["Message", "NoticeFacts"]


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """Everything a notice may say, as plain data; composed into text per locale and time zone.

    Times are epoch seconds (UTC); the composer renders them in the reader's zone.
    """

    event: str  # incident.opened | incident.updated | incident.resolved | postmortem.published ...
    kind: str  # opened | update | severity_changed | monitoring | recurred | resolved | human | ...
    incident_id: str
    sequence: int
    title: str
    status: str  # investigating | identified | monitoring | resolved
    severity: str  # operational | degraded | partial_outage | major_outage
    components: list[str]  # component display names
    impacts: list[str]  # component impact sentences, plain words, in the service's language
    vendor: str | None
    started_at: float
    published_at: float
    next_update_at: float | None
    report_by: float | None = None  # recovery/resolution notices promise the report by then
    message: str | None = None  # a person's words (admin update), shown as written
    cause: str | None = None
    service_name: str = ""
    status_page_url: str | None = None
    contact_name: str = ""
    contact_email: str | None = None
    contact_phone: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the same sentences in other languages, where the config gives them: [{"fr": ...}, ...]
    impact_translations: list[dict[str, str]] = field(default_factory=list)
