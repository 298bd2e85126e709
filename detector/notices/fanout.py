"""A published notice → outbox rows: one per (channel, locale/zone group, recipient batch).

Each row carries its own rendered message, so what is sent after a restart is exactly what
was decided before it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from detector.channels.base import Channel
from detector.config.models import Config, Subscriber
from detector.notices.compose import compose
from detector.notices.model import Message, NoticeFacts
from detector.store import OutboxRow

INTERNAL_EVENTS = {"incident.pending", "detector.degraded"}  # operators only, never customers


def audience(subscribers: list[Subscriber], component_ids: list[str]) -> list[Subscriber]:
    wanted = set(component_ids)
    return [s for s in subscribers if s.components is None or wanted & set(s.components)]


def plan(
    *,
    notice_id: str,
    facts: NoticeFacts,
    payload: dict[str, Any],
    default_message: Message,
    component_ids: list[str],
    config: Config,
    channels: list[Channel],
    subscribers: list[Subscriber],
    now: float,
) -> list[OutboxRow]:
    rows: list[OutboxRow] = []
    people = [] if facts.event in INTERNAL_EVENTS else audience(subscribers, component_ids)
    for ch in channels:
        if not ch.wants(facts.event):
            continue
        if ch.max_batch == 0:
            if facts.event in INTERNAL_EVENTS and ch.kind != "webhook":
                continue
            rows.append(row(notice_id, ch, facts.event, default_message, payload, [], 0, now))
            continue
        field = "phone" if ch.kind == "twilio" else "email"
        groups: dict[tuple[str, str], list[Subscriber]] = defaultdict(list)
        for sub in people:
            if getattr(sub, field):
                key = (sub.locale or config.service.locale, sub.timezone or config.service.timezone)
                groups[key].append(sub)
        batch_no = 0
        for (locale, tz), members in sorted(groups.items()):
            message = compose(facts, locale, tz)
            for i in range(0, len(members), ch.max_batch):
                chunk = members[i : i + ch.max_batch]
                recipients = [
                    {"name": m.name, "email": m.email, "phone": m.phone} for m in chunk
                ]
                rows.append(
                    row(notice_id, ch, facts.event, message, payload, recipients, batch_no, now)
                )
                batch_no += 1
    return rows


def row(
    notice_id: str,
    ch: Channel,
    event: str,
    message: Message,
    payload: dict[str, Any],
    recipients: list[dict[str, Any]],
    batch: int,
    now: float,
) -> OutboxRow:
    # the whole body (with evidence) only to operators' channels: webhooks and the console
    if ch.kind in ("webhook", "console"):
        body = payload
    else:
        body = {"status_page_url": payload.get("status_page_url")}
    return OutboxRow(
        id=f"{notice_id}/{ch.name}/{batch}",
        notice_id=notice_id,
        channel=ch.name,
        event=event,
        message=asdict(message),
        payload=body,
        recipients=recipients,
        created_at=now,
        next_attempt_at=now,
    )
