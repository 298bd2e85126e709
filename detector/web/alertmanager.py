"""`POST /api/v1/alertmanager`: Alertmanager's webhook (payload version 4) as a verdict source.

A firing alert whose labels match a component's `alerts.matchers` is a confirmed failing
verdict for it; its resolution a passing one. The engine does the rest as for probes
(controls, maintenance, grouping, cadence). Its own bearer token (`server.alertmanager_token`);
off without one. Repeats and group updates are idempotent.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from detector import logs
from detector.web.app import SERVICES

log = logs.get("detector.alertmanager")
MAX_ALERTS = 1000


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _alerts(body: Any) -> list[dict[str, Any]]:
    """The alerts of a v4 payload, or ValueError naming the field that is wrong."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    if str(body.get("version")) != "4":
        raise ValueError(f'version: expected "4", got {body.get("version")!r}')
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("alerts: expected a list")
    if len(alerts) > MAX_ALERTS:
        raise ValueError(f"alerts: at most {MAX_ALERTS} per notification")
    for i, a in enumerate(alerts):
        if not isinstance(a, dict):
            raise ValueError(f"alerts[{i}]: expected an object")
        if a.get("status") not in ("firing", "resolved"):
            raise ValueError(f'alerts[{i}].status: expected "firing" or "resolved"')
        for part in ("labels", "annotations"):
            values = a.get(part, {})
            if not isinstance(values, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()
            ):
                raise ValueError(f"alerts[{i}].{part}: expected an object of strings")
    return alerts


async def receive(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    token = s.config.server.alertmanager_token
    if token is None:
        return _error(404, "the Alertmanager receiver is off: set server.alertmanager_token")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        return _error(401, "missing or wrong bearer token")
    try:
        alerts = _alerts(json.loads(await request.text()))
    except (ValueError, RecursionError) as e:
        message = str(e) if isinstance(e, ValueError) and ":" in str(e) else "body: not JSON"
        return _error(400, message)
    matched = s.engine.on_alerts(alerts)
    log.info("alertmanager notification", alerts=len(alerts), components=matched)
    return web.json_response({"status": "ok", "alerts": len(alerts), "components": matched})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/alertmanager", receive)
