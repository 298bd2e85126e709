"""A local SendGrid v3 `/v3/mail/send` that checks what the real API checks.

Auth (Bearer key), the body's shape and limits (1..1000 personalizations, valid addresses,
subject, content with text/plain first, < 20 MB), SendGrid-style error bodies; 202 on success.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_KEY = "SG.double-key.0123456789abcdefghijklmnopqrstuvwxyz"
MAX_BYTES = 20 * 2**20
MAX_PERSONALIZATIONS = 1000
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
_RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
_MESSAGES = {
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    413: "The size of your request exceeds the maximum of 20 MB.",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}

Error = tuple[str, str | None]  # (message, field)


@dataclass(frozen=True, slots=True)
class SendGridRequest:
    """One accepted mail/send call."""

    headers: dict[str, str]
    body: dict[str, Any]
    message_id: str


def _errors(status: int, errors: list[Error]) -> web.Response:
    body = {"errors": [{"message": m, "field": f, "help": None} for m, f in errors]}
    return web.json_response(body, status=status)


def _email_ok(value: Any) -> bool:
    return isinstance(value, str) and _EMAIL_RE.fullmatch(value) is not None


def _check_personalization(i: int, p: Any) -> list[Error]:
    where = f"personalizations.{i}"
    if not isinstance(p, dict):
        return [("Invalid type. Expected: object.", where)]
    errors: list[Error] = []
    to = p.get("to")
    if not isinstance(to, list) or not to:
        errors.append(
            (
                "The to array is required for all personalization objects, and must have at least "
                "one email object with a valid email address.",
                f"{where}.to",
            )
        )
    seen: set[str] = set()
    for kind in ("to", "cc", "bcc"):
        people = p.get(kind) or []
        for j, person in enumerate(people if isinstance(people, list) else []):
            email = person.get("email") if isinstance(person, dict) else None
            if not _email_ok(email):
                errors.append(("Does not contain a valid address.", f"{where}.{kind}.{j}.email"))
                continue
            assert isinstance(email, str)
            if email.lower() in seen:
                errors.append(
                    (
                        "Each email address in the personalization block should be unique between "
                        f"to, cc, and bcc. We found the first duplicate instance of [{email}] in "
                        f"the {where}.{kind} field.",
                        f"{where}.{kind}",
                    )
                )
            seen.add(email.lower())
    if "subject" in p and (not isinstance(p["subject"], str) or not p["subject"]):
        errors.append(("The subject must be a non-empty string.", f"{where}.subject"))
    return errors


def _check_content(content: Any) -> list[Error]:
    if not isinstance(content, list) or not content:
        return [
            (
                "Unless a valid template_id is provided, the content parameter is required. There "
                "must be at least one defined content block. We typically suggest both text/plain "
                "and text/html blocks are included, but only one block is required.",
                "content",
            )
        ]
    errors: list[Error] = []
    types = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(("The content type is required.", f"content.{i}.type"))
            continue
        types.append(block["type"])
        if not isinstance(block.get("value"), str) or not block["value"]:
            errors.append(
                (
                    "The content value must be a string at least one character in length.",
                    f"content.{i}.value",
                )
            )
    if "text/plain" in types and types[0] != "text/plain":
        errors.append(
            (
                "The text/plain content type must be first, followed by any other content.",
                "content.0.type",
            )
        )
    if (
        "text/html" in types
        and "text/plain" in types
        and (types.index("text/html") < types.index("text/plain"))
    ):
        errors.append(("text/html must come after text/plain.", "content"))
    return errors


def validate(body: Any) -> list[Error]:
    """Every problem SendGrid would report for this mail/send body."""
    if not isinstance(body, dict):
        return [("Bad Request", None)]
    errors: list[Error] = []
    frm = body.get("from")
    if not isinstance(frm, dict) or "email" not in frm:
        errors.append(
            (
                "The from object must be provided for every email send. It is an object that "
                "requires the email parameter, but may also contain a name parameter.",
                "from",
            )
        )
    elif not _email_ok(frm["email"]):
        errors.append(("The from email does not contain a valid address.", "from.email"))
    ps = body.get("personalizations")
    if not isinstance(ps, list) or not ps:
        errors.append(
            (
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
            )
        )
        ps = []
    elif len(ps) > MAX_PERSONALIZATIONS:
        errors.append(
            (
                f"The personalizations field must have at most {MAX_PERSONALIZATIONS} items.",
                "personalizations",
            )
        )
    for i, p in enumerate(ps):
        errors.extend(_check_personalization(i, p))
    recipients = sum(
        len(p.get(k) or []) for p in ps if isinstance(p, dict) for k in ("to", "cc", "bcc")
    )
    if recipients > MAX_PERSONALIZATIONS:
        errors.append(("The total number of recipients must be 1000 or fewer.", "personalizations"))
    subject = body.get("subject")
    every_p_has_subject = bool(ps) and all(isinstance(p, dict) and p.get("subject") for p in ps)
    if not (isinstance(subject, str) and subject) and not every_p_has_subject:
        errors.append(
            (
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.",
                "subject",
            )
        )
    errors.extend(_check_content(body.get("content")))
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        errors.append(("Headers must be an object of string keys and values.", "headers"))
    else:
        reserved = sorted(k for k in headers if k.lower() in _RESERVED_HEADERS)
        if reserved:
            errors.append((f"The following headers are reserved: {', '.join(reserved)}", "headers"))
        if any("\r" in v or "\n" in v for v in headers.values()):
            errors.append(("Header values may not contain line breaks.", "headers"))
    args = body.get("custom_args", {})
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        errors.append(("Custom args must be an object of string values.", "custom_args"))
    elif len(json.dumps(args)) >= 10_000:
        errors.append(("Custom args must total less than 10,000 bytes.", "custom_args"))
    return errors


class SendGridDouble(ProviderDouble):
    def __init__(self, api_key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.requests: list[SendGridRequest] = []
        self.invalid_addresses: set[str] = set()  # refused like a domain with no mail server

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/mail/send", self._send)

    def error_response(self, status: int) -> web.Response:
        return _errors(status, [(_MESSAGES.get(status, "error"), None)])

    def _refused(self, body: dict[str, Any]) -> list[Error]:
        return [
            ("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email")
            for i, p in enumerate(body["personalizations"])
            for j, person in enumerate(p["to"])
            if person["email"] in self.invalid_addresses
        ]

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _errors(401, [(_MESSAGES[401], None)])
        raw = await request.read()
        if len(raw) >= MAX_BYTES:
            return _errors(413, [(_MESSAGES[413], None)])
        if not request.content_type.startswith("application/json"):
            return _errors(400, [("Content-Type should be application/json.", None)])
        try:
            body = json.loads(raw)
        except ValueError:
            return _errors(400, [("Bad Request", None)])
        errors = validate(body) or self._refused(body)
        if errors:
            return _errors(400, errors)
        message_id = uuid.uuid4().hex[:22]
        self.requests.append(SendGridRequest(dict(request.headers), body, message_id))
        return web.Response(status=202, headers={"X-Message-Id": message_id})


async def start_sendgrid_double(api_key: str = DEFAULT_KEY) -> SendGridDouble:
    """A running double; call `await double.stop()` when done."""
    double = SendGridDouble(api_key)
    await double.start()
    return double
