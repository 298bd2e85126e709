"""A local Atlassian Statuspage REST API v1 that checks what the real one checks, and keeps state.

Pages with components; incidents with their updates, impact, affected components and metadata.
Auth is `Authorization: OAuth <key>` (401 without it or with another key); an unknown page or
incident is a 404; a body the real API would refuse is a 422 naming the field: a missing name,
an incident status, impact or component status that is not one of Statuspage's, a component
that is not on the page, metadata whose top-level values are not objects. It is stricter than
the real API in one way: an unknown key in an incident or component body is a 422 too, so a
misspelt field cannot pass unnoticed.

Beyond the shared faults (`fail_next`, `storm`, ...): `lose_next_answers(n)` applies the next
n writes and then drops the connection without an answer, as a crash or a network cut between
the provider's commit and our reading of its answer would.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_KEY = "statuspage-double-key-0123456789abcdef"
DEFAULT_PAGE = "kctbh9vrtdwd"
INCIDENT_STATUSES = (
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
)
DONE = ("resolved", "completed")
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
IMPACTS = ("none", "maintenance", "minor", "major", "critical")
# the impact Statuspage computes from the worst affected component, without an override
_IMPACT_OF = {
    "major_outage": "critical",
    "partial_outage": "major",
    "degraded_performance": "minor",
}
INCIDENT_KEYS = {
    "name",
    "status",
    "impact_override",
    "body",
    "components",
    "component_ids",
    "metadata",
    "deliver_notifications",
    "backfilled",
    "backfill_date",
}
_MESSAGES = {
    401: "Could not authenticate",
    420: "Enhance your calm",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service unavailable",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def _error(status: int, error: str | list[str]) -> web.Response:
    return web.json_response({"error": error}, status=status)


@dataclass
class Update:
    """One incident update, as Statuspage keeps it."""

    id: str
    status: str
    body: str
    affected_components: list[dict[str, str]]
    created_at: str = field(default_factory=_now)

    def json(self, incident_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": incident_id,
            "status": self.status,
            "body": self.body,
            "affected_components": self.affected_components or None,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "display_at": self.created_at,
        }


@dataclass
class Incident:
    id: str
    page_id: str
    name: str
    status: str
    impact: str
    component_ids: list[str]
    metadata: dict[str, Any]
    updates: list[Update] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    resolved_at: str | None = None
    order: int = 0  # creation order: lists are newest first


@dataclass
class Page:
    id: str
    components: dict[str, dict[str, str]]  # id → {id, name, status}
    incidents: dict[str, Incident] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """One request that reached a handler (after auth), in arrival order."""

    method: str
    path: str
    body: Any


class StatuspageDouble(ProviderDouble):
    def __init__(self, key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.key = key
        self.pages: dict[str, Page] = {}
        self.calls: list[Call] = []
        self.refused = 0  # 401, 404, 422 answers
        self._lose = 0
        self._order = itertools.count()

    # --- scripting and state --------------------------------------------------------------

    def add_page(
        self, page_id: str = DEFAULT_PAGE, components: dict[str, str] | None = None
    ) -> Page:
        """A page with components {id: name}, all operational."""
        page = Page(
            page_id,
            {
                cid: {"id": cid, "name": name, "status": "operational"}
                for cid, name in (components or {}).items()
            },
        )
        self.pages[page_id] = page
        return page

    def lose_next_answers(self, n: int) -> None:
        self._lose += n

    def incidents(self, page_id: str = DEFAULT_PAGE) -> list[Incident]:
        """The page's incidents, oldest first."""
        return sorted(self.pages[page_id].incidents.values(), key=lambda i: i.order)

    def component_status(self, component_id: str, page_id: str = DEFAULT_PAGE) -> str:
        return self.pages[page_id].components[component_id]["status"]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    # --- server ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        base = "/v1/pages/{page_id}"
        app.router.add_get(base + "/incidents", self._list)
        app.router.add_get(base + "/incidents/unresolved", self._unresolved)
        app.router.add_post(base + "/incidents", self._create)
        app.router.add_get(base + "/incidents/{incident_id}", self._get)
        app.router.add_patch(base + "/incidents/{incident_id}", self._update)
        app.router.add_put(base + "/incidents/{incident_id}", self._update)
        app.router.add_get(base + "/components", self._components)
        app.router.add_patch(base + "/components/{component_id}", self._component)
        app.router.add_put(base + "/components/{component_id}", self._component)

    def error_response(self, status: int) -> web.Response:
        return _error(status, _MESSAGES.get(status, "error"))

    # --- checks ---------------------------------------------------------------------------

    async def _open(self, request: web.Request) -> tuple[Page, Any] | web.Response:
        """The page and the JSON body, or the answer Statuspage gives instead."""
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "OAuth" or not secrets.compare_digest(token.encode(), self.key.encode()):
            self.refused += 1
            return _error(401, _MESSAGES[401])
        page = self.pages.get(request.match_info["page_id"])
        if page is None:
            self.refused += 1
            return _error(404, "Page not found")
        body: Any = None
        if request.method != "GET":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self.refused += 1
                return _error(400, "The request body is not valid JSON")
        self.calls.append(Call(request.method, request.path_qs, body))
        return page, body

    def _check_incident(self, page: Page, body: Any, *, create: bool) -> list[str]:
        if not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
            return ["incident is missing"]
        inc = body["incident"]
        errors = [f"{k} is not a known incident field" for k in sorted(set(inc) - INCIDENT_KEYS)]
        name = inc.get("name")
        if create and (not isinstance(name, str) or not name.strip()):
            errors.append("Name can't be blank")
        elif name is not None and (not isinstance(name, str) or len(name) > 255):
            errors.append("Name is too long (maximum is 255 characters)")
        status = inc.get("status", "investigating" if create else None)
        if status is not None and status not in INCIDENT_STATUSES:
            errors.append("Status is not included in the list")
        if "impact_override" in inc and inc["impact_override"] not in IMPACTS:
            errors.append("Impact override is not included in the list")
        if "body" in inc and not isinstance(inc["body"], str):
            errors.append("Body must be a string")
        components = inc.get("components", {})
        if not isinstance(components, dict):
            errors.append("Components must be an object of component id to status")
            components = {}
        for cid, cstatus in components.items():
            if cid not in page.components:
                errors.append(f"Component {cid} not found")
            if cstatus not in COMPONENT_STATUSES:
                errors.append(f"Component status {cstatus!r} is not included in the list")
        ids = inc.get("component_ids", [])
        if not isinstance(ids, list) or not all(isinstance(c, str) for c in ids):
            errors.append("Component ids must be a list of component ids")
            ids = []
        errors += [f"Component {c} not found" for c in ids if c not in page.components]
        metadata = inc.get("metadata", {})
        if not isinstance(metadata, dict) or not all(
            isinstance(v, dict) for v in metadata.values()
        ):
            errors.append("Metadata must be an object whose top-level values are objects")
        return errors

    # --- handlers -------------------------------------------------------------------------

    async def _answer(self, request: web.Request, response: web.Response) -> web.Response:
        """The answer, or none at all when a lost answer is scripted (after the write)."""
        if self._lose > 0 and request.method != "GET" and response.status < 300:
            self._lose -= 1
            assert request.transport is not None
            request.transport.abort()
        return response

    def _json(self, inc: Incident) -> dict[str, Any]:
        page = self.pages[inc.page_id]
        return {
            "id": inc.id,
            "page_id": inc.page_id,
            "name": inc.name,
            "status": inc.status,
            "impact": inc.impact,
            "created_at": inc.created_at,
            "updated_at": inc.updated_at,
            "resolved_at": inc.resolved_at,
            "shortlink": f"https://stspg.io/{inc.id[:9]}",
            "metadata": inc.metadata,
            "components": [dict(page.components[c]) for c in inc.component_ids],
            "incident_updates": [u.json(inc.id) for u in reversed(inc.updates)],
        }

    def _apply(self, page: Page, inc: Incident, fields: dict[str, Any]) -> None:
        """One create or update: component statuses, then the incident, then its update."""
        affected = []
        for cid, new in (fields.get("components") or {}).items():
            component = page.components[cid]
            if component["status"] != new:
                affected.append(
                    {
                        "code": cid,
                        "name": component["name"],
                        "old_status": component["status"],
                        "new_status": new,
                    }
                )
            component["status"] = new
        if "component_ids" in fields:
            inc.component_ids = list(fields["component_ids"])
        for cid in fields.get("components") or {}:
            if cid not in inc.component_ids:
                inc.component_ids.append(cid)
        if "name" in fields:
            inc.name = fields["name"]
        if "metadata" in fields:
            inc.metadata = fields["metadata"]
        worst = [page.components[c]["status"] for c in inc.component_ids]
        inc.impact = fields.get("impact_override") or max(
            (_IMPACT_OF.get(s, "none") for s in worst),
            key=IMPACTS.index,
            default=inc.impact,
        )
        status = fields.get("status")
        if status is not None or "body" in fields:
            inc.status = status or inc.status
            inc.updates.append(
                Update(_new_id(), inc.status, str(fields.get("body") or ""), affected)
            )
        inc.updated_at = _now()
        inc.resolved_at = (inc.resolved_at or _now()) if inc.status in DONE else None

    async def _create(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, body = opened
        errors = self._check_incident(page, body, create=True)
        if errors:
            self.refused += 1
            return _error(422, errors)
        fields = dict(body["incident"])
        fields.setdefault("status", "investigating")
        inc = Incident(
            id=_new_id(),
            page_id=page.id,
            name=fields["name"],
            status=fields["status"],
            impact="none",
            component_ids=[],
            metadata={},
            order=next(self._order),
        )
        self._apply(page, inc, fields)
        page.incidents[inc.id] = inc
        return await self._answer(request, web.json_response(self._json(inc), status=201))

    async def _update(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, body = opened
        inc = page.incidents.get(request.match_info["incident_id"])
        if inc is None:
            self.refused += 1
            return _error(404, "Incident not found")
        errors = self._check_incident(page, body, create=False)
        if errors:
            self.refused += 1
            return _error(422, errors)
        self._apply(page, inc, body["incident"])
        return await self._answer(request, web.json_response(self._json(inc)))

    async def _get(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, _ = opened
        inc = page.incidents.get(request.match_info["incident_id"])
        if inc is None:
            self.refused += 1
            return _error(404, "Incident not found")
        return web.json_response(self._json(inc))

    def _newest_first(self, page: Page) -> list[Incident]:
        return sorted(page.incidents.values(), key=lambda i: -i.order)

    def _paged(self, request: web.Request, found: list[Incident]) -> web.Response:
        """One page of `found`: `page` (from 1) and `per_page` (1-100, default 100)."""
        try:
            per_page = int(request.query.get("per_page", "100"))
            number = int(request.query.get("page", "1"))
        except ValueError:
            self.refused += 1
            return _error(422, "page and per_page must be numbers")
        if not 1 <= per_page <= 100 or number < 1:
            self.refused += 1
            return _error(422, "per_page must be 1-100 and page at least 1")
        chunk = found[(number - 1) * per_page : number * per_page]
        return web.json_response([self._json(i) for i in chunk])

    async def _list(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, _ = opened
        q = request.query.get("q", "").lower()
        found = [
            i
            for i in self._newest_first(page)
            if not q or q in i.name.lower() or any(q in u.body.lower() for u in i.updates)
        ]
        return self._paged(request, found)

    async def _unresolved(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, _ = opened
        found = [
            i
            for i in self._newest_first(page)
            if i.status in ("investigating", "identified", "monitoring")
        ]
        return self._paged(request, found)

    async def _components(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, _ = opened
        return web.json_response([dict(c) for c in page.components.values()])

    async def _component(self, request: web.Request) -> web.Response:
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        page, body = opened
        component = page.components.get(request.match_info["component_id"])
        if component is None:
            self.refused += 1
            return _error(404, "Component not found")
        fields = body.get("component") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            self.refused += 1
            return _error(422, "component is missing")
        unknown = sorted(set(fields) - {"name", "description", "status", "showcase"})
        if unknown or fields.get("status", "operational") not in COMPONENT_STATUSES:
            self.refused += 1
            return _error(
                422,
                [f"{k} is not a known component field" for k in unknown]
                or ["Status is not included in the list"],
            )
        component.update({k: v for k, v in fields.items() if k in ("name", "status")})
        return await self._answer(request, web.json_response(dict(component)))


async def start_statuspage_double(
    key: str = DEFAULT_KEY, components: dict[str, str] | None = None
) -> StatuspageDouble:
    """A running double with one page (DEFAULT_PAGE) holding `components` {id: name}; call
    `await double.stop()` when done."""
    double = StatuspageDouble(key)
    double.add_page(DEFAULT_PAGE, components)
    await double.start()
    return double
