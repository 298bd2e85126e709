"""The HTTP surface (CONTRACT §4). Handlers read the store and the engine's in-memory view."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from detector.config.models import Config
from detector.health import Health
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.scheduler import Scheduler
from detector.store import STORE_ERRORS, Store


@dataclass
class Services:
    config: Config
    store: Store
    engine: Engine
    metrics: Metrics
    scheduler: Scheduler | None = None
    extra: dict[str, Any] | None = None
    health: Health | None = None


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


def create_app(services: Services) -> web.Application:
    from detector.web import api

    app = web.Application(client_max_size=256 * 1024, middlewares=[store_trouble])
    app[SERVICES] = services
    api.setup(app)
    try:
        public = importlib.import_module("detector.web.public")  # status page, feed, banner
        public.setup(app)
    except ModuleNotFoundError as e:
        if e.name != "detector.web.public":
            raise
    from detector.web import alertmanager

    alertmanager.setup(app)
    try:
        admin = importlib.import_module("detector.web.admin")
        admin.setup(app)
    except ModuleNotFoundError as e:
        if e.name != "detector.web.admin":
            raise
    return app
