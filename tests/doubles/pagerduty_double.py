"""A local PagerDuty Events API v2 (`POST /v2/enqueue`) that checks what PagerDuty checks and
keeps each alert's state by dedup_key.

Every event needs a `routing_key` of 32 characters (one this double knows, else it is refused
as PagerDuty refuses an unknown integration) and an `event_action` of trigger, acknowledge or
resolve. A trigger needs `payload.summary` (at most 1024 characters), `payload.source` and
`payload.severity` (critical, error, warning or info); `timestamp` must be ISO 8601 when given;
`custom_details` an object; `links` and `images` arrays. Acknowledge and resolve need a
`dedup_key`. A dedup_key is at most 255 characters. Errors are 400
`{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`; accepted
events 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` (a trigger
without a dedup_key gets a new one, as PagerDuty does). 429 and 5xx can be injected.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_ROUTING_KEY = "R0UT1NGKEYD0UBLE0123456789abcdef"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass(frozen=True, slots=True)
class PagerDutyEvent:
    """One accepted event."""

    action: str
    dedup_key: str
    body: dict[str, Any]


def problems(body: Any, known_keys: set[str]) -> list[str]:
    """Every reason PagerDuty would refuse this event."""
    if not isinstance(body, dict):
        return ["Event object is not a JSON object"]
    out: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        out.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        out.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif key not in known_keys:
        out.append("'routing_key' does not name an integration")
    action = body.get("event_action")
    if action not in ACTIONS:
        out.append("'event_action' is missing or invalid (must be trigger, acknowledge or resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        out.append("'dedup_key' must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        out.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*out, "'payload' is missing"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            out.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            out.append("'payload.summary' is longer than 1024 characters")
        source = payload.get("source")
        if not isinstance(source, str) or not source.strip():
            out.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            out.append("'payload.severity' is invalid (must be critical, error, warning or info)")
        stamp = payload.get("timestamp")
        if stamp is not None:
            try:
                datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError:
                out.append("'payload.timestamp' is not an ISO 8601 date")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            out.append("'payload.custom_details' must be an object")
        for field in ("component", "group", "class"):
            if field in payload and not isinstance(payload[field], str):
                out.append(f"'payload.{field}' must be a string")
    for field in ("links", "images"):
        if field in body and not isinstance(body[field], list):
            out.append(f"'{field}' must be an array")
    for i, link in enumerate(
        body.get("links") or [] if isinstance(body.get("links"), list) else []
    ):
        if not (isinstance(link, dict) and isinstance(link.get("href"), str)):
            out.append(f"'links[{i}].href' is required")
    return out


def _answer(status: int, message: str, errors: list[str] | None = None) -> web.Response:
    body: dict[str, Any] = {
        "status": "invalid event" if status == 400 else "error",
        "message": message,
    }
    if errors is not None:
        body["errors"] = errors
    return web.json_response(body, status=status)


class PagerDutyDouble(ProviderDouble):
    def __init__(self, routing_keys: tuple[str, ...] = (DEFAULT_ROUTING_KEY,)) -> None:
        super().__init__()
        self.routing_keys = set(routing_keys)
        self.events: list[PagerDutyEvent] = []
        self.alerts: dict[str, str] = {}  # dedup_key → triggered | acknowledged | resolved
        self.refused: list[list[str]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)

    def error_response(self, status: int) -> web.Response:
        if status == 429:
            return _answer(429, "Rate limit reached")
        return _answer(status, "Internal error")

    @property
    def open_alerts(self) -> dict[str, str]:
        return {k: v for k, v in self.alerts.items() if v != "resolved"}

    async def _enqueue(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            self.refused.append(["not JSON"])
            return _answer(400, "Event object is invalid", ["Request body is not valid JSON"])
        errors = problems(body, self.routing_keys)
        if errors:
            self.refused.append(errors)
            return _answer(400, "Event object is invalid", errors)
        action = body["event_action"]
        dedup = body.get("dedup_key") or uuid.uuid4().hex
        if action == "trigger":
            self.alerts[dedup] = "triggered"
        elif dedup in self.alerts and self.alerts[dedup] != "resolved":
            # an acknowledge or resolve of no open alert is accepted and changes nothing
            self.alerts[dedup] = "acknowledged" if action == "acknowledge" else "resolved"
        self.events.append(PagerDutyEvent(action, dedup, body))
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup}, status=202
        )


async def start_pagerduty_double(
    routing_keys: tuple[str, ...] = (DEFAULT_ROUTING_KEY,),
) -> PagerDutyDouble:
    """A running double; call `await double.stop()` when done."""
    double = PagerDutyDouble(routing_keys)
    await double.start()
    return double
