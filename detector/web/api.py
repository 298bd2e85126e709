"""JSON API, health and metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urljoin

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from detector.incidents.payload import incident_json, iso
from detector.state import worst
from detector.store import IncidentRow, NoticeRow
from detector.web import cache
from detector.web.app import SERVICES, Services


def setup(app: web.Application) -> None:
    app[cache.CACHE] = cache.ResponseCache()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/incidents", incidents)
    app.router.add_get("/api/v1/incidents/{id}", incident)


def public(inc: IncidentRow) -> bool:
    """Announced to customers: not held back for a person's word, not vetoed."""
    return inc.held_until is None and not inc.vetoed


def operator(request: web.Request) -> bool:
    """The admin token sees what customers do not yet: held and vetoed incidents."""
    from detector.web.admin import token_ok

    return bool(token_ok(request))


def notice_json(n: NoticeRow) -> dict[str, Any]:
    return {
        "id": n.id,
        "sequence": n.sequence,
        "event": n.event,
        "kind": n.kind,
        "status": n.status,
        "severity": n.severity,
        "subject": n.subject,
        "text": n.text,
        "published_at": iso(n.published_at),
        "next_update_at": iso(n.next_update_at),
        "recipients": n.recipients,
    }


def postmortem_path(inc: IncidentRow) -> str | None:
    """Where customers read the published post-mortem, relative to the status page; None
    until it is published (detector.web.postmortem_page)."""
    if inc.postmortem_published_at is None or not public(inc):
        return None
    return f"incidents/{quote(inc.id, safe='')}/postmortem"


def _report(s: Services, inc: IncidentRow) -> dict[str, str]:
    path = postmortem_path(inc)
    if path is None:
        return {}
    base = str(s.config.service.status_page_url or "/")
    return {"postmortem_url": urljoin(base if base.endswith("/") else base + "/", path)}


async def with_updates(s: Services, incs: list[IncidentRow]) -> list[dict[str, Any]]:
    notices = await s.store.notices(i.id for i in incs)
    return [
        {**incident_json(i), **_report(s, i), "updates": [notice_json(n) for n in notices[i.id]]}
        for i in incs
    ]


def component_statuses(s: Services) -> list[dict[str, str]]:
    return [
        {"id": c.id, "name": c.name, "status": s.engine.severity(c.id)} for c in s.config.components
    ]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    store_ok = await s.store.ping()
    sched_ok = s.scheduler is not None and s.scheduler.running
    problems = list(s.health.reasons()) if s.health is not None else []
    if not store_ok and not any(p.startswith("store") for p in problems):
        problems.append("store: not reachable")
    if not sched_ok:
        problems.append("scheduler: not running")
    ok = not problems
    return web.json_response(
        {
            "ok": ok,
            "store": store_ok and not any(p.startswith("store") for p in problems),
            "scheduler": sched_ok,
            "problems": problems,
        },
        status=200 if ok else 503,
    )


async def metrics(request: web.Request) -> web.StreamResponse:
    """Streamed in pieces of a few hundred probes, with a turn of the loop between them: at
    20,000 probes the exposition is ~28 MB and 0.1 s of CPU, and written in one go it would
    hold back every check due meanwhile (a thread would not help: it holds the interpreter)."""
    s = request.app[SERVICES]
    resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    await resp.prepare(request)
    for chunk in s.metrics.exposition_chunks():
        await resp.write(chunk)
        await asyncio.sleep(0)  # let due checks start
    await resp.write_eof()
    return resp


async def status(request: web.Request) -> web.Response:
    """Built once per change (detector.web.cache); an operator's request afresh, unshared."""
    s = request.app[SERVICES]
    now = s.engine.clock.now()

    async def render() -> bytes:
        return json.dumps(await status_body(s)).encode()

    kind = "application/json; charset=utf-8"
    if operator(request):
        entry = cache.Entry.make(await render(), kind, None, now)
        return cache.respond(request, entry, {}, shared=False)
    responses = request.app[cache.CACHE]
    entry = await responses.get(
        ("/api/v1/status", ""), responses.version(s, now), render, kind, now
    )
    return cache.respond(request, entry, {})


async def status_body(s: Services) -> dict[str, Any]:
    comps = component_statuses(s)
    open_ = await with_updates(s, [i for i in s.engine.open_incidents() if public(i)])
    return {"status": worst([c["status"] for c in comps]), "components": comps, "incidents": open_}


async def incidents(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit: not a number") from None
    if not 1 <= limit <= 500:
        raise web.HTTPBadRequest(text="limit: must be 1-500")
    everything = operator(request)
    incs = [i for i in await s.store.incidents(limit=limit) if everything or public(i)]
    return web.json_response({"incidents": await with_updates(s, incs)})


async def incident(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    inc = await s.store.incident(request.match_info["id"])
    if inc is None or not (public(inc) or operator(request)):
        raise web.HTTPNotFound(text="no such incident")
    return web.json_response((await with_updates(s, [inc]))[0])
