"""The CONTRACT §5 webhook body, and the JSON shapes the store and API share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from detector.config.models import Config
from detector.notices.model import Message, NoticeFacts
from detector.store import IncidentRow, MaintenanceRow


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def incident_json(inc: IncidentRow) -> dict[str, Any]:
    return {
        "id": inc.id,
        "title": inc.title,
        "status": inc.status,
        "severity": inc.severity,
        "components": inc.component_ids,
        "vendor": inc.vendor,
        "manual": inc.manual,
        "started_at": iso(inc.started_at),
        "detected_at": iso(inc.detected_at),
        "recovered_at": iso(inc.recovered_at),
        "resolved_at": iso(inc.resolved_at),
        "next_update_at": iso(inc.next_update_at),
        "cause": inc.cause,
        "report_by": iso(inc.report_by),
        "held_until": iso(inc.held_until),
        "vetoed": inc.vetoed,
        "postmortem_published_at": iso(inc.postmortem_published_at),
    }


def evidence_rows(probe: str, results: Iterable[tuple[float, bool, str]]) -> list[dict[str, Any]]:
    return [
        {"probe": probe, "at": iso(at), "ok": ok, "detail": detail} for at, ok, detail in results
    ]


def webhook(
    notice_id: str,
    inc: IncidentRow,
    facts: NoticeFacts,
    message: Message,
    evidence: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "event": facts.event,
        "notice_id": notice_id,
        "incident": {
            k: v
            for k, v in incident_json(inc).items()
            if k
            in (
                "id",
                "title",
                "status",
                "severity",
                "components",
                "vendor",
                "started_at",
                "detected_at",
                "resolved_at",
            )
        },
        "notice": {
            "sequence": facts.sequence,
            "kind": facts.kind,
            "locale": message.locale,
            "subject": message.subject,
            "text": message.text,
            "next_update_at": iso(facts.next_update_at),
            "published_at": iso(facts.published_at),
        },
        "evidence": evidence,
        "status_page_url": facts.status_page_url,
    }


def maintenance(
    notice_id: str, m: MaintenanceRow, facts: NoticeFacts, message: Message
) -> dict[str, Any]:
    return {
        "event": facts.event,
        "notice_id": notice_id,
        "maintenance": {
            "id": m.id,
            "title": m.title,
            "components": m.component_ids,
            "starts_at": iso(m.starts_at),
            "ends_at": iso(m.ends_at),
        },
        "notice": {
            "sequence": facts.sequence,
            "kind": facts.kind,
            "locale": message.locale,
            "subject": message.subject,
            "text": message.text,
            "next_update_at": None,
            "published_at": iso(facts.published_at),
        },
        "evidence": [],
        "status_page_url": facts.status_page_url,
    }


def internal(
    event: str,
    notice_id: str,
    now: float,
    config: Config,
    evidence: list[dict[str, Any]],
    data: dict[str, Any],
) -> dict[str, Any]:
    """Operator-only events (never customers): the detector doubts itself, a notice is held."""
    return {
        "event": event,
        "notice_id": notice_id,
        "service": config.service.name,
        "published_at": iso(now),
        **data,
        "evidence": evidence,
    }


def blank_message(event: str) -> Message:
    return Message(locale="en", subject=event, text=event, html="", sms="")


def facts_dict(facts: NoticeFacts) -> dict[str, Any]:
    return asdict(facts)
