"""Issue 3 end to end: the detector doubts its own network first; partial and degraded
outages reach customers with the right words and cadence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonProcess, Receiver, Target, free_port, until, write_config


class Control:
    """A TCP port standing for 'the internet is reachable from the detector'."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def up(self) -> None:
        async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


# the target, the webhook receiver, the control port, the daemons started, the home
Parts = tuple[Target, Receiver, Control, list[DaemonProcess], Path]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    target = await Target().start()
    receiver = await Receiver().start()
    control = Control()
    await control.up()
    daemons: list[DaemonProcess] = []
    yield target, receiver, control, daemons, tmp_path
    for d in daemons:
        await d.stop()
    await control.down()
    await target.stop()
    await receiver.stop()


async def metric(daemon: DaemonProcess, name: str) -> float:
    from aiohttp import ClientSession

    async with ClientSession() as s, s.get(daemon.url("/metrics")) as r:
        text = await r.text()
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


async def test_own_network_loss_declares_nothing(parts: Parts) -> None:
    target, receiver, control, daemons, tmp = parts
    config, port = write_config(
        tmp,
        target,
        receiver,
        extra={
            "controls": [{"name": "uplink", "tcp": {"host": "127.0.0.1", "port": control.port}}]
        },
    )
    daemon = await DaemonProcess(config, port, tmp / "daemon.log").start()
    daemons.append(daemon)
    await until(lambda: len(target.requests) >= 3, 5, "healthy checks")
    assert await metric(daemon, "detector_control_ok") == 1

    # the detector's own network goes: control and target fail together
    await control.down()
    target.healthy = False
    await until(lambda: bool(receiver.events("detector.degraded")), 10, "detector.degraded")
    assert await metric(daemon, "detector_control_ok") == 0
    await asyncio.sleep(1.5)  # several confirmation windows (200 ms interval, 3 failures)
    assert receiver.events("incident.opened") == []
    status = await daemon.get_json("/api/v1/status")
    assert status["incidents"] == []
    degraded = receiver.events("detector.degraded")[0].body
    assert degraded["degraded"] is True and degraded["evidence"]

    # the network is back, the target really is down: now it is an outage
    await control.up()
    await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
    assert await metric(daemon, "detector_control_ok") == 1
    assert len(receiver.events("incident.opened")) == 1
    assert [h.body["degraded"] for h in receiver.events("detector.degraded")] == [True, False]


async def test_targets_alone_down_is_an_outage(parts: Parts) -> None:
    target, receiver, control, daemons, tmp = parts
    config, port = write_config(
        tmp,
        target,
        receiver,
        extra={
            "controls": [{"name": "uplink", "tcp": {"host": "127.0.0.1", "port": control.port}}]
        },
    )
    daemons.append(await DaemonProcess(config, port, tmp / "daemon.log").start())
    await until(lambda: len(target.requests) >= 3, 5, "healthy checks")
    target.healthy = False
    await until(lambda: bool(receiver.events("incident.opened")), 5, "incident.opened")
    assert receiver.events("detector.degraded") == []


async def test_partial_and_degraded_reach_customers(parts: Parts) -> None:
    target, receiver, _control, daemons, tmp = parts
    slow = await Target().start()
    healthy = await Target().start()
    try:
        components = [
            {
                "id": "api",
                "name": "Public API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": "api-eu", "http": {"url": f"http://127.0.0.1:{target.port}/healthz"}},
                    {"name": "api-us", "http": {"url": f"http://127.0.0.1:{healthy.port}/healthz"}},
                ],
            },
            {
                "id": "dash",
                "name": "Dashboard",
                "impact": "Pages load slowly.",
                "probes": [
                    {
                        "name": "dash",
                        "http": {
                            "url": f"http://127.0.0.1:{slow.port}/healthz",
                            "expect": {"max_latency": "100ms"},
                        },
                    }
                ],
            },
        ]
        config, port = write_config(
            tmp,
            target,
            receiver,
            components=components,
            cadence={"major_outage": "1s", "partial_outage": "2s", "degraded": "3s"},
            # two separate troubles, each on its own cadence: not grouped into one incident
            detection={"group_within": "0s"},
        )
        daemons.append(await DaemonProcess(config, port, tmp / "daemon.log").start())
        await until(lambda: len(slow.requests) >= 3, 5, "healthy checks")
        target.healthy = False
        slow.delay = 0.3
        await until(lambda: len(receiver.events("incident.opened")) == 2, 10, "two incidents")
        by = {h.body["incident"]["components"][0]: h for h in receiver.events("incident.opened")}
        assert by["api"].body["incident"]["severity"] == "partial_outage"
        assert by["dash"].body["incident"]["severity"] == "degraded"
        api_text = by["api"].body["notice"]["text"].lower()
        dash_text = by["dash"].body["notice"]["text"].lower()
        assert "partly unavailable" in api_text and "you cannot reach the api." in api_text
        assert "slow" in dash_text and "pages load slowly." in dash_text
        for h, cadence in ((by["api"], 2.0), (by["dash"], 3.0)):
            n = h.body["notice"]
            from tests.e2e.test_cycle import ts

            assert ts(n["next_update_at"]) - ts(n["published_at"]) == pytest.approx(cadence, 0.01)
        # the partial outage's update comes on its own cadence
        await until(
            lambda: any(
                h.body["incident"]["components"] == ["api"]
                for h in receiver.events("incident.updated", "update")
            ),
            4,
            "the partial outage's update",
        )
    finally:
        await slow.stop()
        await healthy.stop()
