"""Signed subscription links: every e-mail's one-click unsubscribe (RFC 8058), and the double
opt-in confirm link.

A token is `<payload>.<signature>`, both base64url without padding: the payload is compact JSON
naming its purpose, the signature HMAC-SHA256 of it under the subscription key
(`server.subscription_secret`, else the store's random key; see detector.web.subscribe). Nothing
in it is secret, and nothing can be changed without the key:

- unsubscribe (`"p": "u"`): the e-mail address; no expiry, so the link in a year-old e-mail
  still works. It opens the page that unsubscribes in one click and changes preferences, for
  any subscriber, config and CSV ones included (they have no row in the store until they act).
- confirm (`"p": "c"`): the subscriber's id, the row's nonce (a newer request or an unsubscribe
  voids older links) and an expiry.

A token is never logged: channels put it in headers and bodies, never in a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

UNSUBSCRIBE = "u"
CONFIRM = "c"
_CONTEXT = b"outage-detector subscription link v1\0"
MAX_TOKEN = 2048
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class BadToken(Exception):
    """A link that does not work: 400 (malformed, expired, another purpose) or 403 (its
    signature is not ours: forged or altered)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Links:
    """Makes and checks tokens; `base` (the status page's URL, ending in "/") makes links.
    The first key signs; any of them is accepted, so adding a configured secret keeps the
    links already sent working."""

    base: str | None
    keys: tuple[bytes, ...]

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(self.keys[0], body)}"

    def verify(self, token: str, purpose: str, now: float) -> dict[str, Any]:
        """The payload of a good token for `purpose`, or BadToken."""
        if len(token) > MAX_TOKEN or not _SHAPE.fullmatch(token):
            raise BadToken(400, "malformed")
        body, _, mac = token.partition(".")
        if not any(
            hmac.compare_digest(mac.encode(), self._mac(k, body).encode()) for k in self.keys
        ):
            raise BadToken(403, "bad signature")
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            raise BadToken(400, "malformed") from None
        if not isinstance(payload, dict) or payload.get("p") != purpose:
            raise BadToken(400, "not a link for this")
        expires = payload.get("x")
        if expires is not None and (not isinstance(expires, int | float) or now > expires):
            raise BadToken(400, "expired")
        return payload

    @staticmethod
    def _mac(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, _CONTEXT + body.encode(), hashlib.sha256).digest())

    # --- the two kinds --------------------------------------------------------------------

    def unsubscribe_token(self, email: str) -> str:
        return self.sign({"p": UNSUBSCRIBE, "e": email.strip().lower()})

    def confirm_token(self, subscriber_id: str, nonce: str, expires: float) -> str:
        return self.sign({"p": CONFIRM, "s": subscriber_id, "n": nonce, "x": int(expires)})

    def unsubscribe_url(self, email: str, base: str | None = None) -> str | None:
        """The one-click link for this address (None without a base to put it under)."""
        base = base or self.base
        if base is None:
            return None
        return f"{base}unsubscribe?token={quote(self.unsubscribe_token(email), safe='')}"

    def confirm_url(self, subscriber_id: str, nonce: str, expires: float, base: str) -> str:
        token = self.confirm_token(subscriber_id, nonce, expires)
        return f"{base}subscribe/confirm?token={quote(token, safe='')}"


ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058: the List-Unsubscribe-Post value


def headers(links: Links | None, payload: dict[str, Any], email: str | None) -> dict[str, str]:
    """A recipient's `List-Unsubscribe` and `List-Unsubscribe-Post`: none for a transactional
    e-mail (a confirmation request: the address is not subscribed) or without a link base."""
    if links is None or not email or payload.get("transactional"):
        return {}
    url = links.unsubscribe_url(email)
    if url is None:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


@runtime_checkable
class Linked(Protocol):
    """A channel that puts each recipient's unsubscribe link in the e-mail (sendgrid, smtp)."""

    links: Links | None


def attach(channels: Iterable[object], links: Links | None) -> None:
    """Give every e-mail channel the links to put in its e-mails."""
    for ch in channels:
        if isinstance(ch, Linked):
            ch.links = links
