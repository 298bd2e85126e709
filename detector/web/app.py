"""The HTTP surface (CONTRACT §4). Handlers read the store and the engine's in-memory view."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from detector.config.models import Config
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.scheduler import Scheduler
from detector.store import Store


@dataclass
class Services:
    config: Config
    store: Store
    engine: Engine
    metrics: Metrics
    scheduler: Scheduler | None = None
    extra: dict[str, Any] | None = None


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def create_app(services: Services) -> web.Application:
    from detector.web import api

    app = web.Application(client_max_size=256 * 1024)
    app[SERVICES] = services
    api.setup(app)
    try:
        public = importlib.import_module("detector.web.public")  # status page, feed, banner
        public.setup(app)
    except ModuleNotFoundError as e:
        if e.name != "detector.web.public":
            raise
    try:
        admin = importlib.import_module("detector.web.admin")
        admin.setup(app)
    except ModuleNotFoundError as e:
        if e.name != "detector.web.admin":
            raise
    return app
