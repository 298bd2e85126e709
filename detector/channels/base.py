"""The one channel signature: `async send(envelope) -> Delivery`.

A channel owns its payload format and its provider's limits (batch sizes, segment lengths);
the outbox worker owns retries, backoff and give-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from detector import logs


@dataclass(frozen=True, slots=True)
class Message:
    """One notice in one language for one time zone, ready for any channel."""

    locale: str
    subject: str
    text: str  # e-mail plain text
    html: str  # e-mail HTML body
    sms: str  # one segment where it can be


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One outbox row: a notice, for one channel, for one batch of recipients.

    `payload` is the CONTRACT §5 webhook body (incident, notice, evidence); `message` is the
    customer text for this batch's locale and time zone. Both are fixed when the row is written.
    """

    id: str  # outbox row id
    notice_id: str  # stable across retries: the Idempotency-Key
    event: str
    message: Message
    payload: dict[str, Any]
    recipients: list[Recipient] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    detail: str = ""
    retry_after: float | None = None  # seconds the provider asked us to wait (429)
    permanent: bool = False  # retrying cannot help (4xx other than 408/429)
    # recipients the provider refused for good (bad address); the rest count as delivered
    rejected: list[Recipient] = field(default_factory=list)


class Channel(Protocol):
    name: str  # "webhook", "sendgrid", ... plus an index when configured twice
    kind: str
    max_batch: int  # recipients per envelope; 0 = no recipients (webhook, console)
    concurrency: int  # envelopes of this channel in flight at once (the outbox worker bounds it)

    def wants(self, event: str) -> bool: ...

    async def send(self, envelope: Envelope) -> Delivery: ...

    async def close(self) -> None: ...


MAX_DETAIL = 300  # a Delivery.detail is one short line for logs and the outbox row


def redact(text: str, *secrets: str) -> str:
    """A provider's words without our credentials in them (some echo request headers), cut to
    MAX_DETAIL: `secrets` and every secret registered with `detector.logs`, raw, URL-encoded,
    base64 or inside a base64 Basic-auth pair, and any Authorization header value."""
    return logs.scrub(text, MAX_DETAIL, also=secrets)


def redacted(delivery: Delivery, *secrets: str) -> Delivery:
    """The same outcome with its detail (the outbox row's last_error) redacted."""
    detail = redact(delivery.detail, *secrets)
    return delivery if detail == delivery.detail else replace(delivery, detail=detail)


def logged(
    log: structlog.stdlib.BoundLogger,
    provider: str,
    envelope: Envelope,
    delivery: Delivery,
) -> Delivery:
    """Every channel logs the outcome of a send the same way, bound to its notice."""
    log = log.bind(
        notice_id=envelope.notice_id,
        outbox_id=envelope.id,
        recipients=len(envelope.recipients),
        rejected=len(delivery.rejected),
    )
    if delivery.ok:
        log.debug(f"{provider} accepted", detail=delivery.detail)
    else:
        log.warning(
            f"{provider} send failed",
            detail=delivery.detail,
            permanent=delivery.permanent,
            retry_after=delivery.retry_after,
        )
    return delivery
