"""SendGrid e-mail: one v3 mail/send request per envelope, one personalization per recipient.

The body is built by the official SDK's `Mail` helper (its own client is synchronous and would
block the loop); it is POSTed with a reused aiohttp session.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import AfterValidator, Field

from detector import logs
from detector.channels import links as subscription_links
from detector.channels.base import Delivery, Envelope, Recipient, logged, redacted
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret, check_email

_NAMED_ADDRESS_RE = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>\s*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _sender_email(v: str) -> str:
    """A sender address, bare or with a display name: 'Acme Status <status@acme.example>'."""
    m = _NAMED_ADDRESS_RE.fullmatch(v)
    if m is None:
        return check_email(v)
    if _CONTROL_RE.search(m.group("name")):
        raise ValueError("the sender name must not contain control characters (CR, LF, NUL...)")
    check_email(m.group("address"))
    return v


class SendgridChannel(ChannelBase):
    type: Literal["sendgrid"]
    api_key: Secret
    from_: Annotated[str, AfterValidator(_sender_email)] = Field(alias="from")


DEFAULT_API_BASE = "https://api.sendgrid.com"
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
# SendGrid names a refused address by its place in the body: personalizations.3.to.0.email
_BAD_ADDRESS = re.compile(r"personalizations\.(\d+)\.to\.\d+\.email")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _display_name(name: str) -> str | None:
    """SendGrid splits an unquoted name on ',' or ';' and mails the pieces; quote such names."""
    name = " ".join(name.split())
    if not name:
        return None
    if "," in name or ";" in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _status_page(payload: dict[str, Any]) -> str | None:
    url = payload.get("status_page_url")
    if isinstance(url, str) and re.fullmatch(r"https?://[^\s<>]+", url):
        return url
    return None


class SendGrid:
    kind = "sendgrid"
    max_batch = 1000  # SendGrid's limit of personalizations per request
    concurrency = 4
    # each recipient's one-click unsubscribe link, in its personalization's headers (set by
    # the daemon: detector.channels.links.attach); None: the status page, for everyone
    links: subscription_links.Links | None = None

    def __init__(
        self,
        cfg: SendgridChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.timeout = timeout
        self.url = str(cfg.api_base or DEFAULT_API_BASE).rstrip("/") + "/v3/mail/send"
        self._clock = clock or SystemClock()
        self._session: aiohttp.ClientSession | None = None
        self._log = logs.get("detector.channels.sendgrid", channel=name)
        self._key = cfg.api_key.get_secret_value()
        logs.register_secrets([self._key])

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event)

    def build(self, envelope: Envelope, recipients: list[Recipient]) -> dict[str, Any]:
        """The mail/send body: recipients in order, one personalization each."""
        # the SDK (~8 MB) is imported by the first e-mail, not by every daemon
        from sendgrid.helpers.mail import (
            ClickTracking,
            CustomArg,
            From,
            Header,
            Mail,
            MimeType,
            Personalization,
            To,
            TrackingSettings,
        )

        message = envelope.message
        mail = Mail(from_email=From(self.cfg.from_), subject=" ".join(message.subject.split()))
        for i, r in enumerate(recipients):
            p = Personalization()
            p.add_to(To(r.email, _display_name(r.name)))
            for name, value in subscription_links.headers(
                self.links, envelope.payload, r.email
            ).items():
                p.add_header(Header(name, value))
            mail.add_personalization(p, index=i)  # the helper prepends by default
        if message.text:
            mail.add_content(message.text, MimeType.text)
        if message.html:
            mail.add_content(message.html, MimeType.html)
        link = _status_page(envelope.payload)
        if link and self.links is None:
            mail.add_header(Header("List-Unsubscribe", f"<{link}>"))
        mail.add_header(Header("X-Detector-Notice-Id", envelope.notice_id))
        mail.add_custom_arg(CustomArg("notice_id", envelope.notice_id))
        mail.add_custom_arg(CustomArg("event", envelope.event))
        # Links go straight to the status page, not through a tracking redirect that could
        # itself be down during an outage.
        mail.tracking_settings = TrackingSettings(click_tracking=ClickTracking(False, False))
        body: dict[str, Any] = mail.get()
        return body

    async def send(self, envelope: Envelope) -> Delivery:
        good: list[Recipient] = []
        rejected: list[Recipient] = []
        for r in envelope.recipients:
            (good if r.email and _EMAIL_RE.fullmatch(r.email) else rejected).append(r)
        if len(good) > self.max_batch:
            return Delivery(
                False,
                f"{len(good)} recipients in one envelope; SendGrid takes at most {self.max_batch}",
                permanent=True,
            )
        # A refused address fails the whole request, so nobody got it: send again without it.
        for _ in range(3):
            if not good:
                return self._done(
                    envelope,
                    Delivery(True, "no recipient with a valid e-mail address", rejected=rejected),
                )
            from sendgrid.helpers.mail import SendGridException

            try:
                body = self.build(envelope, good)
            except SendGridException as e:  # e.g. the SDK found an API key in the content
                return self._done(
                    envelope,
                    Delivery(False, f"cannot build the e-mail: {type(e).__name__}", permanent=True),
                )
            delivery, refused = await self._post(body, good)
            if not refused:
                return self._done(
                    envelope,
                    Delivery(
                        delivery.ok,
                        delivery.detail,
                        delivery.retry_after,
                        delivery.permanent,
                        rejected,
                    ),
                )
            rejected += refused
            good = [r for r in good if r not in refused]
        return self._done(
            envelope, Delivery(False, delivery.detail, permanent=True, rejected=rejected)
        )

    async def _post(
        self, body: dict[str, Any], recipients: list[Recipient]
    ) -> tuple[Delivery, list[Recipient]]:
        """One request; returns the outcome and the recipients refused for a bad address."""
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "User-Agent": "outage-detector",
        }
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session.post(self.url, data=data, headers=headers) as resp:
                    status, text, rh = resp.status, await resp.text(errors="replace"), resp.headers
        except TimeoutError:
            return Delivery(False, f"SendGrid did not answer within {self.timeout:g}s"), []
        except (aiohttp.ClientError, OSError) as e:
            return Delivery(False, f"SendGrid unreachable: {type(e).__name__}"), []
        if 200 <= status < 300:
            msg_id = rh.get("X-Message-Id")
            return Delivery(
                True,
                f"accepted by SendGrid for {len(recipients)} recipient(s)"
                + (f", message id {msg_id}" if msg_id else ""),
            ), []
        errors = self._errors(text)
        # redacted whole, then cut (in _done): a cut first could leave half a key in the text
        detail = f"SendGrid HTTP {status}: " + (
            "; ".join(f"{f}: {m}" if f else m for m, f in errors) or "no error message"
        )
        if status == 429:
            wait = parse_retry_after(rh.get("Retry-After"), self._clock.now())
            if wait is None and rh.get("X-RateLimit-Reset", "").isdigit():
                wait = max(0.0, float(rh["X-RateLimit-Reset"]) - self._clock.now())
            return Delivery(False, detail, retry_after=wait), []
        if status >= 500 or status == 408:
            return Delivery(False, detail), []
        if status == 400:
            places = [_BAD_ADDRESS.fullmatch(f or "") for _, f in errors]
            if errors and all(places):
                refused = {int(m.group(1)) for m in places if m}
                if all(i < len(recipients) for i in refused):
                    return Delivery(False, detail), [recipients[i] for i in sorted(refused)]
        return Delivery(False, detail, permanent=True), []

    @staticmethod
    def _errors(text: str) -> list[tuple[str, str | None]]:
        try:
            raw = json.loads(text).get("errors") or []
            return [(str(e.get("message", "")), e.get("field")) for e in raw if isinstance(e, dict)]
        except (ValueError, AttributeError):
            return [(text.strip(), None)] if text.strip() else []

    def _done(self, envelope: Envelope, delivery: Delivery) -> Delivery:
        """Every outcome leaves here, its detail redacted for the log and the outbox row."""
        return logged(self._log, "sendgrid", envelope, redacted(delivery, self._key))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
