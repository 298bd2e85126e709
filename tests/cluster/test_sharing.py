"""Instances of one vantage share its probes, and a survivor takes over a dead one's (how
soon is measured by bench/cluster.py: timing under load belongs in a bench, not a test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.cluster.instances import Instance, cluster_config
from tests.e2e.harness import Receiver, free_port, until
from tests.store.backends import postgres_database

PROBES = 1000
INTERVAL = 2.0
LEASE = 1.0


class Counter:
    """A service with a path per probe, that remembers when each was checked."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: dict[str, list[float]] = {}
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.setdefault(request.match_info["name"], []).append(time.monotonic())
        return web.Response(text="ok")

    async def start(self) -> Counter:
        app = web.Application()
        app.router.add_get("/p/{name}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def pg() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def test_two_instances_share_then_one_takes_all(tmp_path: Path, pg: str) -> None:
    counter = await Counter().start()
    receiver = await Receiver().start()
    names = [f"p{c}-{i}" for c in range(10) for i in range(PROBES // 10)]
    components = [
        {
            "id": f"c{c}",
            "name": f"Part {c}",
            "impact": "You cannot use it.",
            "probes": [
                {
                    "name": f"p{c}-{i}",
                    "http": {"url": f"http://127.0.0.1:${{TARGET_PORT}}/p/p{c}-{i}"},
                }
                for i in range(PROBES // 10)
            ],
        }
        for c in range(10)
    ]
    instances = []
    for name in ("one", "two"):
        config, port = cluster_config(
            tmp_path,
            name,
            pg,
            receiver,
            lease=f"{LEASE}s",
            components=components,
            detection={"interval": f"{INTERVAL}s", "timeout": "1s"},
        )
        env = {"DETECTOR_VANTAGE": "here", "TARGET_PORT": str(counter.port)}
        instances.append(Instance(name, config, port, env))
    try:
        await asyncio.gather(*(i.start() for i in instances))

        async def shared() -> bool:
            owned = [await i.metric("detector_probes_owned") for i in instances]
            return sum(owned) == PROBES and all(0.4 * PROBES <= n <= 0.6 * PROBES for n in owned)

        await until(shared, 15, "the probes to be shared 40–60%")
        await asyncio.sleep(2 * INTERVAL)  # every probe checked by its owner, in its rhythm
        one, two = instances
        await one.kill9()

        async def all_on_two() -> bool:
            return await two.metric("detector_probes_owned") == PROBES

        # how soon (the promise is 2 × lease) is bench/cluster.py's to measure, from outside and
        # over many kills; here: that the survivor takes every probe and really runs each one
        await until(all_on_two, 10, "the survivor to run every probe")
        taken = time.monotonic()
        await asyncio.sleep(2 * INTERVAL)
        for name in names:
            after = [t for t in counter.seen.get(name, []) if t >= taken]
            assert after, f"{name} not checked by the survivor"
    finally:
        await asyncio.gather(*(i.stop() for i in instances))
        await receiver.stop()
        await counter.stop()
