"""statuspage probe against a double serving a recorded-shape Statuspage summary.json."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from probes.errors import ProbeFailure
from probes.statuspage import evaluate
from tests.probes.conftest import Run

SUMMARY: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "statuspage_summary.json").read_text()
)


class Vendor:
    """The vendor's page: set `indicator`, component statuses, or a raw body to serve."""

    def __init__(self) -> None:
        self.doc = copy.deepcopy(SUMMARY)
        self.raw: bytes | None = None
        self.code = 200

    def set(self, indicator: str, **components: str) -> None:
        self.doc["status"]["indicator"] = indicator
        for comp in self.doc["components"]:
            comp["status"] = components.get(comp["name"].replace(" ", "_"), "operational")

    async def summary(self, _r: web.Request) -> web.Response:
        if self.raw is not None:
            return web.Response(body=self.raw, status=self.code, content_type="application/json")
        return web.json_response(self.doc, status=self.code)


@pytest.fixture
async def vendor() -> AsyncIterator[tuple[Vendor, str]]:
    v = Vendor()
    app = web.Application()
    app.router.add_get("/api/v2/summary.json", v.summary)
    async with TestServer(app, host="127.0.0.1") as server:
        yield v, str(server.make_url("/"))


async def test_all_operational(run: Run, vendor: tuple[Vendor, str]) -> None:
    _v, url = vendor
    r = await run("statuspage", {"url": url})
    assert (r.ok, r.soft_fail, r.detail) == (True, False, "Stripe reports all systems operational")


@pytest.mark.parametrize(
    ("indicator", "ok", "soft", "severity", "words"),
    [
        ("minor", True, True, None, "minor issues"),
        ("major", False, False, "partial_outage", "major outage"),
        ("critical", False, False, "major_outage", "critical outage"),
    ],
)
async def test_indicator_without_filter(
    run: Run,
    vendor: tuple[Vendor, str],
    indicator: str,
    ok: bool,
    soft: bool,
    severity: str | None,
    words: str,
) -> None:
    v, url = vendor
    v.set(indicator, API="major_outage", Card_networks="partial_outage", Visa="partial_outage")
    r = await run("statuspage", {"url": url})
    assert (r.ok, r.soft_fail, r.severity) == (ok, soft, severity)
    assert r.detail == f"Stripe reports {words}: API, Visa"  # groups are not listed twice


@pytest.mark.parametrize(
    ("status", "ok", "soft", "severity", "detail"),
    [
        ("operational", True, False, None, "Stripe reports API, dashboard operational"),
        ("degraded_performance", True, True, None, "Stripe reports degraded performance: API"),
        ("under_maintenance", True, True, None, "Stripe reports maintenance: API"),
        ("partial_outage", False, False, "partial_outage", "Stripe reports partial outage: API"),
        ("major_outage", False, False, "major_outage", "Stripe reports major outage: API"),
    ],
)
async def test_components_filter(
    run: Run,
    vendor: tuple[Vendor, str],
    status: str,
    ok: bool,
    soft: bool,
    severity: str | None,
    detail: str,
) -> None:
    v, url = vendor
    v.set("critical", API=status, Mastercard="major_outage")  # others' trouble is not ours
    r = await run("statuspage", {"url": url, "components": ["API", "dashboard"]})
    assert (r.ok, r.soft_fail, r.severity, r.detail) == (ok, soft, severity, detail)


async def test_worst_named_component_wins(run: Run, vendor: tuple[Vendor, str]) -> None:
    v, url = vendor
    v.set("major", API="degraded_performance", Visa="major_outage")
    r = await run("statuspage", {"url": url, "components": ["API", "Visa"]})
    assert (r.ok, r.severity, r.detail) == (
        False,
        "major_outage",
        "Stripe reports major outage: API, Visa",
    )


async def test_named_component_missing(run: Run, vendor: tuple[Vendor, str]) -> None:
    _v, url = vendor
    r = await run("statuspage", {"url": url, "components": ["API", "Payouts"]})
    assert (r.ok, r.detail) == (False, "Stripe status page has no component named Payouts")


async def test_malformed_json(run: Run, vendor: tuple[Vendor, str]) -> None:
    v, url = vendor
    v.raw = b"<html>maintenance</html>"
    r = await run("statuspage", {"url": url})
    assert (r.ok, r.detail) == (False, "status page answered with malformed JSON")
    v.raw = b'{"page": {"name": "Stripe"}, "status": {}}'
    r = await run("statuspage", {"url": url})
    assert (r.ok, r.detail) == (False, "status page summary lacks status.indicator")


async def test_http_error(run: Run, vendor: tuple[Vendor, str]) -> None:
    v, url = vendor
    v.code = 502
    r = await run("statuspage", {"url": url})
    assert (r.ok, r.detail) == (False, "status page answered HTTP 502")


async def test_timeout(run: Run, silent_server: int) -> None:
    r = await run("statuspage", {"url": f"http://127.0.0.1:{silent_server}"}, timeout=0.2)
    assert (r.ok, r.detail) == (False, "response timeout after 200 ms")


def test_evaluate_edge_cases() -> None:
    with pytest.raises(ProbeFailure, match="not a JSON object"):
        evaluate([], None, "x.example")
    doc = {"status": {"indicator": "none"}, "components": []}
    assert evaluate(doc, None, "status.vendor.example").detail == (
        "status.vendor.example reports all systems operational"
    )
    weird = {"status": {"indicator": "none"}, "components": [{"name": "API", "status": "odd"}]}
    r = evaluate(weird, ["API"], "v")
    assert (r.ok, r.soft_fail, r.detail) == (True, True, "v reports an unknown status: API")
