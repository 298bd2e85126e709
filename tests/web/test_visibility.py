"""A notice held for a person's word is not public until published."""

from __future__ import annotations

from tests.web.conftest import TOKEN, MakeWorld


async def test_held_incident_is_visible_to_operators_only(make_world: MakeWorld) -> None:
    world = await make_world(hold="2m")
    inc = await world.outage()
    assert inc.held_until is not None
    status = await world.get("/api/v1/status")
    assert status.body["incidents"] == []
    assert (await world.get("/api/v1/incidents")).body["incidents"] == []
    assert (await world.get(f"/api/v1/incidents/{inc.id}")).status == 404
    ops = await world.get("/api/v1/incidents", token=TOKEN)
    assert [i["id"] for i in ops.body["incidents"]] == [inc.id]
    assert (await world.get(f"/api/v1/incidents/{inc.id}", token=TOKEN)).status == 200
    await world.post(f"/api/v1/admin/incidents/{inc.id}/publish")
    status = await world.get("/api/v1/status")
    assert [i["id"] for i in status.body["incidents"]] == [inc.id]
