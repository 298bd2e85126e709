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
    # component impact sentences for this notice's severity, plain words, in the service's
    # language (`source_locale`); "" where the config gives none in it
    impacts: list[str]
    vendor: str | None
    started_at: float
    published_at: float
    next_update_at: float | None
    report_by: float | None = None  # recovery/resolution notices promise the report by then
    # a person's words (admin update, resolve, manual open, maintenance), shown as written: the
    # source-language text; None when not given, or given only in other languages
    message: str | None = None
    cause: str | None = None  # as `message`: the source-language text of the named cause
    service_name: str = ""
    status_page_url: str | None = None
    contact_name: str = ""
    contact_email: str | None = None
    contact_phone: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the same sentences per language, where the config gives them: [{"en": ..., "fr": ...}, ...]
    # (one per component, as `impacts`; {} for a plain sentence, which is `source_locale` only)
    impact_translations: list[dict[str, str]] = field(default_factory=list)
    # a person's words per language, where given per language ({} for a plain string, which is
    # `source_locale` only): a reader whose language is missing gets no other language's words
    message_translations: dict[str, str] = field(default_factory=dict)
    cause_translations: dict[str, str] = field(default_factory=dict)
    source_locale: str = "en"  # service.locale: the language operators write plain text in
