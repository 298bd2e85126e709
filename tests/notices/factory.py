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
# operator text given in every language, as the example config and the admin API give it
IMPACTS = {
    "en": IMPACT,
    "pl": "Nie mogą Państwo połączyć się z API, a integracje przestają się synchronizować.",
    "fr": "Vous ne pouvez pas joindre l'API, et les intégrations ne se synchronisent plus.",
    "ar": "لا يمكنكم الوصول إلى واجهة البرمجة، وتتوقف عمليات المزامنة.",
    "id": "Anda tidak dapat menjangkau API, dan integrasi berhenti menyinkronkan data.",
}
MESSAGES = {
    "en": "We have rolled back this morning's release.\nSyncing should resume shortly.",
    "pl": "Wycofaliśmy dzisiejsze poranne wdrożenie.\nSynchronizacja powinna wkrótce wrócić.",
    "fr": "Nous avons annulé la mise en production de ce matin.\nLa synchronisation va reprendre.",
    "ar": "تراجعنا عن إصدار هذا الصباح.\nستُستأنف المزامنة قريبًا.",
    "id": "Kami telah membatalkan rilis pagi ini.\nSinkronisasi akan segera pulih.",
}
CAUSES = {
    "en": "A configuration change overloaded our database.",
    "pl": "Zmiana konfiguracji przeciążyła naszą bazę danych.",
    "fr": "Une modification de configuration a surchargé notre base de données.",
    "ar": "أدى تغيير في الإعدادات إلى تحميل زائد على قاعدة بياناتنا.",
    "id": "Perubahan konfigurasi membebani basis data kami.",
}
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
        "impact_translations": [IMPACTS],
        "vendor": None,
        "started_at": STARTED,
        "published_at": PUBLISHED,
        "next_update_at": NEXT_UPDATE,
        "report_by": REPORT_BY if kind in ("monitoring", "resolved") else None,
        "message": MESSAGES["en"] if kind == "human" else None,
        "message_translations": dict(MESSAGES) if kind == "human" else {},
        "cause": CAUSES["en"] if kind == "identified" else None,
        "cause_translations": dict(CAUSES) if kind == "identified" else {},
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
    if "message" in changes and "message_translations" not in changes:
        fields["message_translations"] = {}  # a plain string: the source language only
    if "cause" in changes and "cause_translations" not in changes:
        fields["cause_translations"] = {}
    if "impacts" in changes and "impact_translations" not in changes:
        fields["impact_translations"] = []
    return NoticeFacts(**fields)
