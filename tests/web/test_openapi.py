"""The OpenAPI document is valid 3.1, and every JSON route answers what it documents.

(The test client checks each JSON response it receives against the document; this test makes
sure every documented JSON response of every route is actually exercised.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from openapi_spec_validator import validate

from detector.scheduler import Scheduler
from detector.web.app import SERVICES
from tests.web.conftest import TOKEN, UP, MakeWorld, Recording


class Mailbox(Recording):
    """An e-mail channel that takes every message (subscribing needs one)."""

    name = "sendgrid-0"
    kind = "sendgrid"
    max_batch = 1000


def must_see(doc: dict[str, Any]) -> set[tuple[str, str, int]]:
    """Every JSON route's own answers (2xx and 503); the shared Error answers once each."""
    out: set[tuple[str, str, int]] = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                if "application/json" in resp.get("content", {}) and (
                    status[0] != "4" or path == "/api/v1/admin/incidents/{id}/updates"
                ):
                    out.add((method.upper(), path, int(status)))
    return out


async def test_document_is_valid_openapi_3_1(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.get("/api/v1/openapi.json")
    assert r.status == 200
    validate(r.body)
    assert r.body["openapi"] == "3.1.0"
    assert r.body == w.doc


async def test_every_json_response_matches_the_document(make_world: MakeWorld) -> None:
    w = await make_world()
    base = "/api/v1/admin/incidents"
    iso = datetime.fromtimestamp(w.clock.now() + 60, UTC).isoformat()
    later = datetime.fromtimestamp(w.clock.now() + 3600, UTC).isoformat()

    await w.get("/healthz")
    await w.get("/readyz")  # no scheduler: 503, documented too
    # a stand-in: /readyz reads only whether the scheduler is running
    w.client.app[SERVICES].scheduler = cast("Scheduler", SimpleNamespace(running=True))
    await w.get("/readyz")
    await w.get("/api/v1/openapi.json")
    quiet = {"version": "4", "status": "resolved", "alerts": []}
    assert (await w.post("/api/v1/alertmanager", quiet)).status == 200
    await w.get("/api/v1/status")
    await w.get("/api/v1/banner")
    inc = await w.outage("web")
    await w.get("/api/v1/status")
    await w.get("/api/v1/banner")
    await w.get("/api/v1/incidents")
    await w.get(f"/api/v1/incidents/{inc.id}")

    opened = await w.post(
        base,
        {
            "title": "Billing",
            "components": ["api"],
            "severity": "degraded",
            "message": "Slow invoices.",
        },
    )
    assert opened.status == 201
    mid = opened.body["incident"]["id"]
    assert (await w.post(f"{base}/{mid}/updates", {"message": "m"})).status == 200
    assert (await w.post(f"{base}/{mid}/cause", {"cause": "c", "actions": "a"})).status == 200
    assert (await w.post(f"{base}/{mid}/resolve", {"message": "ok"})).status == 200
    assert (await w.post(f"{base}/{mid}/postmortem")).status == 200
    assert (await w.post(f"{base}/{mid}/resolve")).status == 409
    assert (await w.post(f"{base}/nope/updates", {"message": "m"})).status == 404
    assert (await w.post(f"{base}/{mid}/updates", {"message": "m"})).status == 409
    assert (await w.post(f"{base}/{inc.id}/updates", {"message": 1})).status == 400
    assert (await w.post(f"{base}/{inc.id}/updates", {}, token="bad")).status == 401
    maint = await w.post(
        "/api/v1/admin/maintenance",
        {"title": "t", "components": ["api"], "starts_at": iso, "ends_at": later},
    )
    assert maint.status == 201
    assert (await w.get("/api/v1/admin/maintenance", token=TOKEN)).status == 200
    mid = maint.body["maintenance"]["id"]
    assert (await w.post(f"/api/v1/admin/maintenance/{mid}/cancel")).status == 200
    assert (await w.post("/api/v1/admin/maintenance", {"title": "t"})).status == 400
    assert (await w.post("/api/v1/admin/maintenance", {}, token=None)).status == 401
    assert (await w.post(base, {"title": ""})).status == 400
    assert (await w.post(base, {}, token="")).status == 401
    await w.feed("web", UP, 2)
    assert (await w.post(f"{base}/{inc.id}/resolve")).status == 200

    held = await make_world(hold="5m")
    hinc = await held.outage("web")
    assert (await held.post(f"{base}/{hinc.id}/publish")).status == 200
    assert (await held.post(f"{base}/{hinc.id}/veto")).status == 409
    other = await held.outage("api")
    assert (await held.post(f"{base}/{other.id}/veto")).status == 200
    assert (await held.post(f"{base}/{other.id}/publish")).status == 409

    assert (await w.post("/api/v1/subscribe", {"email": "a@b.example"}, token=None)).status == 503
    mail = await make_world(channels=[Mailbox()])
    assert (
        await mail.post("/api/v1/subscribe", {"email": "a@b.example"}, token=None)
    ).status == 202

    off = await make_world(token=False)
    assert (await off.post(base, {}, token=TOKEN)).status == 404
    assert (await off.post(f"{base}/x/veto", token=TOKEN)).status == 404
    assert (await off.post("/api/v1/admin/maintenance", {}, token=TOKEN)).status == 404

    seen = {(m, p, s) for world in (w, held, mail, off) for m, p, s in world.checked}
    missing = must_see(w.doc) - seen
    assert not missing, f"documented but never checked: {sorted(missing)}"
