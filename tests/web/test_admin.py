"""Admin API: auth, validation messages that name the field, state conflicts, real delivery of
a person's update alongside the automatic ones, and maintenance that suppresses incidents, is
listed, and is called off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detector import channels as channel_kinds
from detector.config.models import Subscriber
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from tests.doubles.sendgrid_double import DEFAULT_KEY, start_sendgrid_double
from tests.e2e.harness import SECRET, Receiver, until
from tests.web.conftest import DOWN, TOKEN, UP, MakeWorld, make_config

ROUTES = [
    "/api/v1/admin/incidents",
    "/api/v1/admin/incidents/x/updates",
    "/api/v1/admin/incidents/x/cause",
    "/api/v1/admin/incidents/x/resolve",
    "/api/v1/admin/incidents/x/publish",
    "/api/v1/admin/incidents/x/veto",
    "/api/v1/admin/incidents/x/postmortem",
    "/api/v1/admin/maintenance",
    "/api/v1/admin/maintenance/x/cancel",
]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def test_off_without_a_token(make_world: MakeWorld) -> None:
    w = await make_world(token=False)
    for path in ROUTES:
        r = await w.post(path, {}, token=TOKEN)
        assert r.status == 404, path
        assert "admin API is off" in r.body["error"]
    r = await w.get("/api/v1/admin/maintenance", token=TOKEN)
    assert r.status == 404 and "admin API is off" in r.body["error"]


async def test_missing_or_wrong_token_is_401(make_world: MakeWorld) -> None:
    w = await make_world()
    for path in ROUTES:
        for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
            r = await w.post(path, {}, token=token)
            assert r.status == 401, (path, token)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert TOKEN not in r.text
    for token in (None, "wrong"):
        r = await w.get("/api/v1/admin/maintenance", token=token)
        assert r.status == 401 and TOKEN not in r.text
    r = await w.post(ROUTES[0], {}, token=None, headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status == 401
    r = await w.post(ROUTES[0], {"title": "x", "components": ["api"], "severity": "degraded"})
    assert r.status == 201


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("incidents", "{not json", "body: not valid JSON"),
        ("incidents", "[1, 2]", "body: must be a JSON object"),
        ("incidents", {"components": ["api"], "severity": "degraded"}, "title: required"),
        (
            "incidents",
            {"title": "  ", "components": ["api"], "severity": "degraded"},
            "title: must not be empty",
        ),
        (
            "incidents",
            {"title": "x", "components": [], "severity": "degraded"},
            "components: must name at least one",
        ),
        (
            "incidents",
            {"title": "x", "components": ["api", "nope"], "severity": "degraded"},
            "components[1]: unknown component 'nope' (known: api, web)",
        ),
        (
            "incidents",
            {"title": "x", "components": ["api"], "severity": "bad"},
            "severity: must be one of degraded, partial_outage, major_outage",
        ),
        (
            "incidents",
            {"title": "x", "components": ["api"], "severity": "degraded", "sev": 1},
            "sev: unknown field",
        ),
        (
            "incidents",
            {"title": 5, "components": ["api"], "severity": "degraded"},
            "title: must be text",
        ),
        ("incidents/{id}/updates", {"status": "identified"}, "message: required"),
        (
            "incidents/{id}/updates",
            {"message": "m", "status": "resolved"},
            "status: must be one of investigating, identified, monitoring",
        ),
        ("incidents/{id}/cause", {"actions": "a"}, "cause: required"),
        ("incidents/{id}/resolve", {"message": ""}, "message: must not be empty"),
        ("incidents/{id}/publish", {"x": 1}, "x: unknown field"),
        (
            "maintenance",
            {
                "title": "t",
                "components": ["api"],
                "starts_at": "tomorrow",
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "starts_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "maintenance",
            {
                "title": "t",
                "components": ["api"],
                "starts_at": "2030-01-01T00:00:00",
                "ends_at": "2030-01-01T01:00:00Z",
            },
            "starts_at: needs a time zone, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "maintenance",
            {
                "title": "t",
                "components": ["api"],
                "starts_at": "2030-01-01T02:00:00Z",
                "ends_at": "2030-01-01T01:00:00Z",
            },
            "ends_at: must be after starts_at",
        ),
        (
            "maintenance",
            {
                "title": "t",
                "components": ["api"],
                "starts_at": "2020-01-01T02:00:00Z",
                "ends_at": "2020-01-01T03:00:00Z",
            },
            "ends_at: must be in the future",
        ),
    ],
)
async def test_bad_requests_name_the_field(
    make_world: MakeWorld, path: str, body: str | dict[str, Any], message: str
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    kw: dict[str, Any] = (
        {"data": body, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, str)
        else {}
    )
    r = await w.post(
        "/api/v1/admin/" + path.format(id=inc.id), None if isinstance(body, str) else body, **kw
    )
    assert r.status == 400, r.text
    assert r.body == {"error": message}


async def test_unknown_incident_404_and_resolved_409(make_world: MakeWorld) -> None:
    w = await make_world()
    for action, body in [
        ("updates", {"message": "m"}),
        ("cause", {"cause": "c"}),
        ("resolve", {}),
        ("publish", None),
        ("veto", None),
        ("postmortem", None),
    ]:
        r = await w.post(f"/api/v1/admin/incidents/nope/{action}", body)
        assert r.status == 404 and "no incident 'nope'" in r.body["error"], action

    inc = await w.outage("web")
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")
    assert r.status == 409 and "resolve the incident" in r.body["error"]
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/publish")
    assert r.status == 409 and "already published" in r.body["error"]
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/veto")
    assert r.status == 409 and "too late to veto" in r.body["error"]

    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve", {"message": "Done."})
    assert r.status == 200
    assert r.body["incident"]["status"] == "resolved"
    assert r.body["notice"]["event"] == "incident.resolved"
    for action, body in [("updates", {"message": "m"}), ("resolve", {})]:
        r = await w.post(f"/api/v1/admin/incidents/{inc.id}/{action}", body)
        assert r.status == 409 and "already resolved" in r.body["error"], action
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/cause",
        {"cause": "A full disk.", "actions": "Alert on disk use."},
    )
    assert r.status == 200 and r.body["notice"] is None  # kept for the report, not sent
    assert r.body["incident"]["cause"] == "A full disk."
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")
    assert r.status == 200 and r.body["notice"]["event"] == "postmortem.published"
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")
    assert r.status == 409 and "already published" in r.body["error"]


async def test_open_manual_incident_then_cause(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.post(
        "/api/v1/admin/incidents",
        {
            "title": "Invoices are late",
            "components": ["api"],
            "severity": "partial_outage",
            "message": "Invoices for November are delayed.",
        },
    )
    assert r.status == 201
    iid = r.body["incident"]["id"]
    assert r.headers["Location"] == f"/api/v1/incidents/{iid}"
    assert r.body["incident"]["manual"] is True
    assert r.body["notice"]["kind"] == "opened" and r.body["notice"]["sequence"] == 1
    r = await w.post(f"/api/v1/admin/incidents/{iid}/cause", {"cause": "A stuck queue."})
    assert r.status == 200
    assert r.body["incident"]["status"] == "identified"
    assert r.body["notice"]["kind"] == "identified" and r.body["notice"]["sequence"] == 2
    got = await w.get(f"/api/v1/incidents/{iid}")
    assert [u["kind"] for u in got.body["updates"]] == ["opened", "identified"]


async def test_held_incident_must_be_published_or_vetoed_first(make_world: MakeWorld) -> None:
    w = await make_world(hold="10m")
    inc = await w.outage("web")
    for action, body in [("updates", {"message": "m"}), ("resolve", {}), ("cause", {"cause": "c"})]:
        r = await w.post(f"/api/v1/admin/incidents/{inc.id}/{action}", body)
        assert r.status == 409 and "publish or veto" in r.body["error"], action
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/veto")
    assert r.status == 200 and r.body["incident"]["vetoed"] and r.body["notice"] is None
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/publish")
    assert r.status == 409


async def test_human_update_reaches_webhook_and_sendgrid_in_order(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    receiver = await Receiver().start()
    sendgrid = await start_sendgrid_double()
    cfg = make_config(
        tmp_path,
        channels=[
            {"type": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET},
            {
                "type": "sendgrid",
                "api_key": DEFAULT_KEY,
                "from": "status@acme.example",
                "api_base": sendgrid.url,
            },
        ],
    )
    chans = channel_kinds.build(cfg)
    subs = [
        Subscriber(name="Globex Ops", email="ops@globex.example", locale="fr"),
        Subscriber(name="Initech", email="it@initech.example"),
    ]
    w = await make_world(config=cfg, channels=chans, subscribers=subs)
    worker = OutboxWorker(w.store, chans, Metrics(), w.clock, base_backoff=0.01, poll=0.02)
    worker.start()
    try:

        async def delivered(n: int) -> None:
            # one e-mail request per language group: fr and en
            await until(
                lambda: len(receiver.hooks) >= n and len(sendgrid.requests) >= 2 * n,
                10,
                f"{n} notices delivered to both channels",
            )

        inc = await w.outage("web")
        await delivered(1)
        assert inc.next_update_at is not None
        w.clock.t = inc.next_update_at
        await w.engine.tick()
        await delivered(2)
        r = await w.post(
            f"/api/v1/admin/incidents/{inc.id}/updates",
            {"message": "We are restoring from a replica.", "status": "identified"},
        )
        assert r.status == 200 and r.body["notice"]["kind"] == "human"
        await delivered(3)
        await w.feed("web", UP, 2)
        await delivered(4)
        r = await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve", {"message": "All good."})
        assert r.status == 200
        await delivered(5)

        kinds = [h.body["notice"]["kind"] for h in receiver.hooks]
        assert kinds == ["opened", "update", "human", "monitoring", "resolved"]
        assert [h.body["notice"]["sequence"] for h in receiver.hooks] == [1, 2, 3, 4, 5]
        human = receiver.hooks[2].body
        assert human["event"] == "incident.updated"
        assert "We are restoring from a replica." in human["notice"]["text"]
        assert human["incident"]["status"] == "identified"
        assert receiver.bad_signatures == 0

        mails = [q.body for q in sendgrid.requests]
        assert [m["custom_args"]["notice_id"] for m in mails] == [
            f"{inc.id}.{i}" for i in range(1, 6) for _ in range(2)
        ]
        human_mails = {
            m["personalizations"][0]["to"][0]["email"]: next(
                c["value"] for c in m["content"] if c["type"] == "text/plain"
            )
            for m in mails[4:6]
        }
        assert "We are restoring from a replica." in human_mails["it@initech.example"]
        # given in English only: the French reader is told so in French, not sent English
        assert "We are restoring from a replica." not in human_mails["ops@globex.example"]
        assert "pas encore disponible" in human_mails["ops@globex.example"]
    finally:
        await worker.stop(1)
        for ch in chans:
            await ch.close()
        await receiver.stop()
        await sendgrid.stop()


async def test_maintenance_suppresses_an_incident(make_world: MakeWorld) -> None:
    w = await make_world()
    now = w.clock.now()
    r = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Dashboard upgrade",
            "components": ["web"],
            "starts_at": iso(now),
            "ends_at": iso(now + 3600),
            "message": "Brief interruptions.",
        },
    )
    assert r.status == 201
    m = r.body["maintenance"]
    assert m["components"] == ["web"] and m["title"] == "Dashboard upgrade"
    await w.engine.tick()
    await w.feed("web", DOWN, 5)
    assert w.engine.open_incidents() == []
    assert await w.store.incidents() == []
    banner = (await w.get("/api/v1/banner")).body  # the maintenance, not an incident
    assert banner["severity"] == "maintenance" and banner["id"] == f"maintenance-{m['id']}"
    assert "Dashboard" in banner["subject"] and banner["next_update"] is None

    await w.feed("api-a", DOWN, 3)  # a component outside the window still opens one, once
    w.clock.advance(w.engine.settle_bound)  # api-b (never checked) has had its chance
    await w.engine.tick()
    assert [i.component_ids for i in w.engine.open_incidents()] == [["api"]]


async def test_maintenance_is_listed_until_it_is_over(make_world: MakeWorld) -> None:
    w = await make_world()
    now = w.clock.now()
    r = await w.get("/api/v1/admin/maintenance", token=TOKEN)
    assert r.status == 200 and r.body == {"maintenance": []}
    later = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Later",
            "components": ["api"],
            "starts_at": iso(now + 7200),
            "ends_at": iso(now + 9000),
        },
    )
    sooner = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Now",
            "components": ["web"],
            "starts_at": iso(now),
            "ends_at": iso(now + 600),
            "message": "Short.",
        },
    )
    assert later.body["maintenance"]["state"] == "scheduled"
    assert sooner.body["maintenance"]["state"] == "in_progress"
    r = await w.get("/api/v1/admin/maintenance", token=TOKEN)
    assert [(m["title"], m["state"], m["message"]) for m in r.body["maintenance"]] == [
        ("Now", "in_progress", "Short."),
        ("Later", "scheduled", None),
    ]
    assert r.body["maintenance"][1] == later.body["maintenance"]

    w.clock.advance(600)
    await w.engine.tick()  # "Now" is over
    r = await w.get("/api/v1/admin/maintenance", token=TOKEN)
    assert [m["title"] for m in r.body["maintenance"]] == ["Later"]


async def test_cancel_before_the_start_says_it_is_called_off(make_world: MakeWorld) -> None:
    w = await make_world()
    now = w.clock.now()
    r = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Database upgrade",
            "components": ["api", "web"],
            "starts_at": iso(now + 3600),
            "ends_at": iso(now + 7200),
        },
    )
    mid = r.body["maintenance"]["id"]
    w.clock.advance(60)

    r = await w.post(f"/api/v1/admin/maintenance/{mid}/cancel")
    assert r.status == 200
    assert r.body["maintenance"]["id"] == mid and r.body["maintenance"]["state"] == "cancelled"
    notice = r.body["notice"]
    assert (notice["id"], notice["kind"], notice["event"]) == (
        f"{mid}.4",
        "maintenance_cancelled",
        "maintenance.ended",
    )
    assert notice["subject"] == (
        "[Acme Cloud] Planned maintenance of Public API and Dashboard has been cancelled"
    )
    queued = [row for row in await w.store.outbox_rows() if row.notice_id == f"{mid}.4"]
    assert [row.event for row in queued] == ["maintenance.ended"]  # for the webhook
    assert queued[0].payload["notice"]["kind"] == "maintenance_cancelled"
    assert (await w.get("/api/v1/admin/maintenance", token=TOKEN)).body == {"maintenance": []}

    w.clock.advance(3600)  # the time it would have started: nothing more is said
    await w.engine.tick()
    assert [n.kind for n in (await w.store.notices([mid]))[mid]] == [
        "maintenance_scheduled",
        "maintenance_cancelled",
    ]

    r = await w.post(f"/api/v1/admin/maintenance/{mid}/cancel")
    assert r.status == 409 and r.body == {"error": f"maintenance '{mid}' is already over"}


async def test_cancel_under_way_ends_it_now(make_world: MakeWorld) -> None:
    w = await make_world()
    now = w.clock.now()
    r = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Disk swap",
            "components": ["web"],
            "starts_at": iso(now),
            "ends_at": iso(now + 3600),
        },
    )
    mid = r.body["maintenance"]["id"]
    await w.engine.tick()
    await w.feed("web", DOWN, 3)
    assert w.engine.open_incidents() == []  # suppressed while the work goes on

    r = await w.post(f"/api/v1/admin/maintenance/{mid}/cancel", {})
    assert r.status == 200 and r.body["maintenance"]["state"] == "completed"
    assert r.body["notice"]["kind"] == "maintenance_ended"
    assert r.body["maintenance"]["ends_at"] == iso(w.clock.now()).replace("Z", ".000Z")
    await w.engine.tick()  # trouble that outlasts the work is an outage
    assert [i.component_ids for i in w.engine.open_incidents()] == [["web"]]


async def test_cancel_refusals(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.post("/api/v1/admin/maintenance/nope/cancel")
    assert r.status == 404 and r.body == {"error": "no maintenance 'nope'"}
    r = await w.post("/api/v1/admin/maintenance/nope/cancel", {"why": "x"})
    assert r.status == 400 and r.body == {"error": "why: unknown field"}
    long = "\x1b[2J" + "x" * 300
    r = await w.post(f"/api/v1/admin/maintenance/{long}/cancel")
    assert r.status == 404 and "\x1b" not in r.body["error"] and len(r.body["error"]) < 100
