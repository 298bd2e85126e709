"""A published notice → outbox rows: one per (channel, locale/zone group, recipient batch).

Each row carries its own rendered message, so what is sent after a restart is exactly what
was decided before it, and its delivery order: the `stream` "<owner>/<channel>/<group>" names
the same recipients from one notice of an owner (incident, maintenance, or "detector" for
operators' internal events) to the next, and `sequence` orders the owner's notices. The worker
sends a stream's rows in sequence and lets a newer one supersede older undelivered ones, so
nobody is told "opened" after "resolved". `stale_at` is the notice's promised next update:
past it, the notice is not sent (the next one is due).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from detector.channels import is_operator
from detector.channels.base import Channel
from detector.config.models import Config, Subscriber
from detector.domain import INTERNAL_EVENTS
from detector.notices.compose import compose
from detector.notices.model import Message, NoticeFacts
from detector.store import OutboxRow

INTERNAL_OWNER = "detector"  # internal notices are "detector.<ms>.<random>"


def owner_and_sequence(notice_id: str, now: float) -> tuple[str, int]:
    """The owner and sequence a notice id names: "<owner>.<sequence>", or for an internal
    notice ("detector.<ms>.<random>") the detector and its time in ms, which orders them."""
    head, _, tail = notice_id.partition(".")
    if head == INTERNAL_OWNER:
        ms = tail.partition(".")[0]
        return INTERNAL_OWNER, int(ms) if ms.isdigit() else int(now * 1000)
    owner, _, seq = notice_id.rpartition(".")
    if owner and seq.isdigit():
        return owner, int(seq)
    return notice_id, int(now * 1000)


def stream_of(owner: str, ch: Channel, group: str = "") -> str:
    """The ordering key: "" for a channel without recipients, else "<locale>|<zone>|<n>", the
    n-th batch of that locale/zone group (the same people from one notice to the next)."""
    return f"{owner}/{ch.name}/{group}"


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
    owner: str | None = None,
    sequence: int | None = None,
) -> list[OutboxRow]:
    """`owner` and `sequence` default to the facts' incident (or maintenance) id and sequence;
    an internal notice ("detector.<ms>.<random>") belongs to the detector."""
    if notice_id.startswith(INTERNAL_OWNER + "."):
        internal_owner, internal_seq = owner_and_sequence(notice_id, now)
        owner = owner if owner is not None else internal_owner
        sequence = sequence if sequence is not None else internal_seq
    owner = owner if owner is not None else facts.incident_id
    seq = sequence if sequence is not None else facts.sequence
    stale_at = facts.next_update_at
    rows: list[OutboxRow] = []
    people = [] if facts.event in INTERNAL_EVENTS else audience(subscribers, component_ids)
    for ch in channels:
        if not ch.wants(facts.event):
            continue
        if ch.max_batch == 0:
            if facts.event in INTERNAL_EVENTS and not is_operator(ch):
                continue
            rows.append(
                row(
                    notice_id,
                    ch,
                    facts.event,
                    default_message,
                    payload,
                    [],
                    0,
                    now,
                    stream=stream_of(owner, ch),
                    sequence=seq,
                    stale_at=stale_at,
                )
            )
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
                recipients = [{"name": m.name, "email": m.email, "phone": m.phone} for m in chunk]
                group = f"{locale}|{tz}|{i // ch.max_batch}"
                rows.append(
                    row(
                        notice_id,
                        ch,
                        facts.event,
                        message,
                        payload,
                        recipients,
                        batch_no,
                        now,
                        stream=stream_of(owner, ch, group),
                        sequence=seq,
                        stale_at=stale_at,
                    )
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
    *,
    stream: str | None = None,
    sequence: int | None = None,
    stale_at: float | None = None,
) -> OutboxRow:
    """One row. Without `stream`/`sequence` (an internal notice, one row per channel) both
    come from the notice id, so such callers need not know about ordering."""
    if stream is None or sequence is None:
        owner, seq = owner_and_sequence(notice_id, now)
        stream = stream if stream is not None else stream_of(owner, ch)
        sequence = sequence if sequence is not None else seq
    # the whole body (with evidence) only to operators' channels (webhook, console, slack...)
    if is_operator(ch):
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
        stream=stream,
        sequence=sequence,
        stale_at=stale_at,
    )
