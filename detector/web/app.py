"""The HTTP surface (CONTRACT §4). Handlers read the store and the engine's in-memory view."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from detector.config.models import Config
from detector.health import Health
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.scheduler import Scheduler
from detector.store import STORE_ERRORS, Store

if TYPE_CHECKING:
    from detector.web.subscribe import Audience


@dataclass
class Services:
    config: Config
    store: Store
    engine: Engine
    metrics: Metrics
    scheduler: Scheduler | None = None
    extra: dict[str, Any] | None = None
    health: Health | None = None
    # several instances: where the leader is (None: here), for people's actions and alerts
    leader_url: Callable[[], str | None] | None = None
    # who the engine tells: the config's subscribers as the store amends them (subscribe.py)
    audience: Audience | None = None


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


@web.middleware
async def store_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A store that cannot be read or written is a 503 that says so, never a 500: people's
    actions are computed, committed and only then applied, so nothing was changed."""
    try:
        return await handler(request)
    except STORE_ERRORS:
        return web.json_response(
            {"error": "the store is unavailable right now; nothing was changed, try again"},
            status=503,
            headers={"Retry-After": "5"},
        )


# what only the leader may do: decide on people's word and on Alertmanager's
TO_LEADER = ("/api/v1/admin/", "/api/v1/alertmanager")
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=15)
_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@web.middleware
async def to_leader(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any replica takes people's actions and Alertmanager's notifications: a follower
    passes them to the leader as they came (its answer is the answer), so a load balancer
    may send them anywhere."""
    where = request.app[SERVICES].leader_url
    if where is None or request.method == "GET" or not request.path.startswith(TO_LEADER):
        return await handler(request)
    url = where()
    if url is None:
        return await handler(request)
    if not url:
        return web.json_response(
            {
                "error": "no instance leads right now (a new leader takes over within 2 × lease); "
                "nothing was changed, try again"
            },
            status=503,
            headers={"Retry-After": "5"},
        )
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    body = await request.read()
    try:
        async with (
            aiohttp.ClientSession(timeout=FORWARD_TIMEOUT) as session,
            session.request(
                request.method, url + request.path_qs, headers=headers, data=body
            ) as got,
        ):
            payload = await got.read()
            keep = {k: v for k, v in got.headers.items() if k.lower() not in _HOP}
            return web.Response(status=got.status, body=payload, headers=keep)
    except (aiohttp.ClientError, TimeoutError) as e:
        return web.json_response(
            {
                "error": f"the leader could not be reached ({type(e).__name__}); nothing was "
                "changed, try again"
            },
            status=503,
            headers={"Retry-After": "5"},
        )


def create_app(services: Services) -> web.Application:
    from detector.web import api

    app = web.Application(client_max_size=256 * 1024, middlewares=[to_leader, store_trouble])
    app[SERVICES] = services
    api.setup(app)
    try:
        public = importlib.import_module("detector.web.public")  # status page, feed, banner
        public.setup(app)
        importlib.import_module("detector.web.postmortem_page").setup(app)  # published reports
    except ModuleNotFoundError as e:
        if e.name != "detector.web.public":
            raise
    from detector.web import alertmanager

    alertmanager.setup(app)
    importlib.import_module("detector.web.subscribe").setup(app)  # sign-up, unsubscribe
    try:
        admin = importlib.import_module("detector.web.admin")
        admin.setup(app)
    except ModuleNotFoundError as e:
        if e.name != "detector.web.admin":
            raise
    return app
