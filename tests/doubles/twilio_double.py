"""A local Twilio Messages API that checks what the real one checks.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP Basic sid:token, form fields
To (E.164), From, Body (<= 1600 characters); 201 with a Twilio-shaped message (sid "SM...",
status "queued", num_segments by GSM-7 / UCS-2 rules); Twilio error bodies with their codes.
Twilio's magic test numbers behave as in Twilio's test credentials.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_TOKEN = "double-token-0123456789abcdef0123"
MAX_BODY = 1600
E164 = re.compile(r"\+[1-9]\d{1,14}")
_SENDER = re.compile(r"\+[1-9]\d{1,14}|\d{3,8}|[A-Za-z0-9 ]{1,11}")  # number, short code, alpha

# GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

# Twilio's magic "To" numbers (test credentials): invalid, not SMS-capable, opted out.
MAGIC_ERRORS = {
    "+15005550001": (21211, "Invalid 'To' Phone Number: +15005550001"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
}
_MESSAGES = {
    401: (20003, "Authenticate"),
    403: (20403, "Forbidden"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def sms_segments(body: str) -> tuple[str, int]:
    """(encoding, segments) the way carriers split: 160/153 GSM-7 septets, 70/67 UCS-2 units.

    A multi-part message never splits an escape pair or a surrogate pair across parts.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in body):
        costs = [2 if c in GSM7_EXTENDED else 1 for c in body]
        encoding, single, part = "GSM-7", 160, 153
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in body]
        encoding, single, part = "UCS-2", 70, 67
    if sum(costs) <= single:
        return encoding, 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return encoding, segments


@dataclass(frozen=True, slots=True)
class TwilioMessage:
    """One accepted message."""

    sid: str
    to: str
    from_: str
    body: str
    encoding: str
    num_segments: int
    form: dict[str, str]


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


class TwilioDouble(ProviderDouble):
    def __init__(self, account_sid: str = DEFAULT_SID, auth_token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[TwilioMessage] = []
        self.magic_errors = dict(MAGIC_ERRORS)  # "To" → (code, message); tests may add

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    def error_response(self, status: int) -> web.Response:
        code, message = _MESSAGES.get(status, (status, "Error"))
        return _error(status, code, message)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.account_sid and password == self.auth_token

    def _check(self, form: dict[str, str]) -> web.Response | None:
        to, frm, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not frm and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not E164.fullmatch(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if frm and not _SENDER.fullmatch(frm):
            return _error(400, 21212, f"Invalid 'From' Number: {frm}")
        if to in self.magic_errors:
            code, message = self.magic_errors[to]
            return _error(400, code, message)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(400, 20001, "Unsupported Content-Type")
        form = {k: str(v) for k, v in (await request.post()).items()}
        problem = self._check(form)
        if problem is not None:
            return problem
        encoding, segments = sms_segments(form["Body"])
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        self.requests.append(
            TwilioMessage(
                sid, form["To"], form.get("From", ""), form["Body"], encoding, segments, form
            )
        )
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        payload: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "uri": uri,
        }
        return web.json_response(payload, status=201)


async def start_twilio_double(
    account_sid: str = DEFAULT_SID, auth_token: str = DEFAULT_TOKEN
) -> TwilioDouble:
    """A running double; call `await double.stop()` when done."""
    double = TwilioDouble(account_sid, auth_token)
    await double.start()
    return double
