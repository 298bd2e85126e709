"""Issue 14: Alertmanager as an outage source. A firing alert that matches a component's
matchers is a confirmed failing verdict; its resolution a passing one. Labels and annotations
are evidence for operators, never customers' words; repeats open nothing new."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import TOKEN, MakeWorld, World

FINGERPRINT = "3f1c0e9a8b7d6c5e"


def alert(status: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "ApiErrorRate", "service": "api", "severity": "page", **labels},
        "annotations": {"summary": "5xx ratio 12% on api-gw-7f9c (db-primary.internal)"},
        "startsAt": "2026-01-15T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": FINGERPRINT,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{service="api"}',
        "status": "firing",
        "receiver": "detector",
        "groupLabels": {"service": "api"},
        "alerts": list(alerts),
    }


async def notify(w: World, *alerts: dict[str, Any]) -> dict[str, Any]:
    r = await w.post("/api/v1/alertmanager", payload(*alerts))
    assert r.status == 200, r.text
    await w.engine.drain()
    await w.engine.tick()
    body: dict[str, Any] = r.body
    return body


async def test_firing_opens_resolution_recovers_repeats_change_nothing(
    make_world: MakeWorld,
) -> None:
    w = await make_world()
    assert (await notify(w, alert("firing")))["components"] == ["api"]
    [inc] = w.engine.open_incidents()
    assert inc.component_ids == ["api"] and inc.severity == "major_outage"
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert [n.kind for n in notices] == ["opened"]
    # customers read plain words; operators get the alert's labels as evidence
    assert "db-primary" not in notices[0].text and "ApiErrorRate" not in notices[0].text
    assert any("ApiErrorRate firing" in e["detail"] for e in notices[0].evidence)
    # Alertmanager repeats the group, and sends group updates: nothing new
    for _ in range(3):
        await notify(w, alert("firing"))
    assert len(await w.store.incidents()) == 1
    assert len((await w.store.notices([inc.id]))[inc.id]) == 1
    await notify(w, alert("resolved"))
    [inc] = w.engine.open_incidents()
    assert inc.status == "monitoring"


async def test_alerts_that_do_not_match_open_nothing(make_world: MakeWorld) -> None:
    w = await make_world()
    result = await notify(w, alert("firing", severity="ticket"), alert("firing", service="web"))
    assert result["components"] == []
    assert w.engine.open_incidents() == []


async def test_maintenance_applies_as_for_probes(make_world: MakeWorld) -> None:
    from datetime import UTC, datetime

    w = await make_world()
    now = w.clock.now()
    r = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "API upgrade",
            "components": ["api"],
            "starts_at": datetime.fromtimestamp(now, UTC).isoformat(),
            "ends_at": datetime.fromtimestamp(now + 3600, UTC).isoformat(),
        },
    )
    assert r.status == 201
    await w.engine.tick()
    await notify(w, alert("firing"))
    assert w.engine.open_incidents() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"version": "3", "alerts": []}, "version"),
        ({"version": "4"}, "alerts"),
        ({"version": "4", "alerts": [{"status": "weird"}]}, "alerts[0].status"),
        (
            {"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]},
            "alerts[0].labels",
        ),
    ],
)
async def test_a_bad_payload_is_a_400_naming_the_field(
    make_world: MakeWorld, body: Any, field: str
) -> None:
    w = await make_world()
    r = await w.post("/api/v1/alertmanager", body)
    assert r.status == 400 and r.body["error"].startswith(field)
    assert w.engine.open_incidents() == []


async def test_its_own_token(make_world: MakeWorld) -> None:
    w = await make_world()
    assert (await w.post("/api/v1/alertmanager", payload(), token="wrong")).status == 401
    assert (await w.post("/api/v1/alertmanager", payload(), token=None)).status == 401
    off = await make_world(token=False)
    assert (await off.post("/api/v1/alertmanager", payload(), token=TOKEN)).status == 404
