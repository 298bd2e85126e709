"""Issue 8, "validate at the door": whatever the admin API is sent, a bad request is a 4xx whose
message names the field, and it changes nothing (no incident change, no notice, no outbox row,
no maintenance); operator text loses its control characters before it reaches a notice; and one
odd stored date never takes the status page or the feed down."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from detector.store import MaintenanceRow
from detector.web import feed
from detector.web.admin import MAX_BODY, MAX_DEPTH, too_deep
from tests.web.conftest import MakeWorld, World

DAY = 86400.0
BASE = "/api/v1/admin/"
JSON = {"Content-Type": "application/json"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def state(w: World) -> tuple[Any, ...]:
    """Everything a request could change: incidents, notices, outbox, maintenance."""
    incidents = await w.store.incidents(limit=500)
    notices = await w.store.notices([i.id for i in incidents])
    return (
        incidents,
        {iid: [(n.id, n.sequence, n.text) for n in ns] for iid, ns in notices.items()},
        await w.store.outbox_counts(),
        await w.store.maintenance_rows(),
        [(m.id, m.starts_at, m.ends_at) for m in w.engine.maintenance],
        [(i.id, i.status, i.sequence, i.cause) for i in w.engine.open_incidents()],
        len(w.channel.envelopes),
    )


async def refused(w: World, path: str, body: Any, message: str, status: int = 400) -> None:
    """POST `body` (an object as JSON; str or bytes as the raw body); expect `status` with
    exactly `message`, and nothing changed; the public pages still answer."""
    before = await state(w)
    if isinstance(body, str | bytes):
        r = await w.post(BASE + path, None, data=body, headers=JSON)
    else:
        r = await w.post(BASE + path, body)
    assert r.status == status, r.text[:300]
    assert r.body == {"error": message}
    assert await state(w) == before, f"{path} changed something on a refused request"
    for page in ("/", "/feed.atom", "/api/v1/status", "/api/v1/banner"):
        assert (await w.get(page)).status == 200, page


def window(w: World, start: float, end: float, **extra: Any) -> dict[str, Any]:
    now = w.clock.now()
    return {
        "title": "Database upgrade",
        "components": ["web"],
        "starts_at": iso(now + start),
        "ends_at": iso(now + end),
        **extra,
    }


# --- malformed bodies -----------------------------------------------------------------------

OPEN = {"title": "Invoices are late", "components": ["api"], "severity": "degraded"}
DEEP = "[" * 60_000  # under MAX_BODY: refused for its depth, before the parser recurses
DEEP_OBJECT = '{"a":' * 12_000


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        # not JSON, or not one object
        ("incidents", "{not json", "body: not valid JSON"),
        ("incidents", '{"title": "x",}', "body: not valid JSON"),
        ("incidents", '{"title": NaN}', "body: not valid JSON"),
        ("incidents", '{"title": Infinity}', "body: not valid JSON"),
        ("incidents", b'{"title": "\xff\xfe"}', "body: not valid JSON (UTF-8 expected)"),
        ("incidents", '{"title": ' + "9" * 5000 + "}", "body: not valid JSON"),  # no such number
        ("incidents", "[1, 2]", "body: must be a JSON object"),
        ("incidents", '"a string"', "body: must be a JSON object"),
        ("incidents", "42", "body: must be a JSON object"),
        ("incidents", "null", "body: must be a JSON object"),
        ("incidents/{id}/updates", "[]", "body: must be a JSON object"),
        # nested far deeper than any body needs (the parser would run out of stack)
        ("incidents", "[" * 100_000, f"body: must be at most {MAX_BODY} bytes"),
        ("incidents", DEEP, f"body: nested more than {MAX_DEPTH} levels deep"),
        ("incidents", DEEP_OBJECT, f"body: nested more than {MAX_DEPTH} levels deep"),
        (
            "incidents/{id}/updates",
            '{"message": ' + DEEP + "}",
            f"body: nested more than {MAX_DEPTH} levels deep",
        ),
        (
            "maintenance",
            '{"title": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}",
            f"body: nested more than {MAX_DEPTH} levels deep",
        ),
        # wrong types
        ("incidents", {**OPEN, "title": 5}, "title: must be text"),
        ("incidents", {**OPEN, "title": None}, "title: must be text"),
        ("incidents", {**OPEN, "title": ["x"]}, "title: must be text"),
        ("incidents", {**OPEN, "components": "api"}, "components: must be a list"),
        ("incidents", {**OPEN, "components": {"api": 1}}, "components: must be a list"),
        ("incidents", {**OPEN, "components": [1]}, "components[0]: must be text"),
        (
            "incidents",
            {**OPEN, "severity": 3},
            "severity: must be one of degraded, partial_outage, major_outage",
        ),
        ("incidents", {**OPEN, "message": {"en": 5}}, "message.en: must be text"),
        (
            "incidents",
            {**OPEN, "message": {"xx-QQQ": "x"}},
            "message.xx-QQQ: not a language (write e.g. en, fr, pt_BR)",
        ),
        ("incidents", {**OPEN, "message": {"fr": " \x00"}}, "message.fr: must not be empty"),
        (
            "incidents",
            {**OPEN, "message": {}},
            "message: must give the text in at least one language",
        ),
        (
            "incidents/{id}/updates",
            {"message": True},
            "message: must be text, or one text per language",
        ),
        (
            "incidents/{id}/updates",
            {"message": ["x"]},
            "message: must be text, or one text per language",
        ),
        (
            "incidents/{id}/updates",
            {"message": "m", "status": ["identified"]},
            "status: must be one of investigating, identified, monitoring",
        ),
        (
            "incidents/{id}/cause",
            {"cause": "c", "actions": 7},
            "actions: must be text, or one text per language",
        ),
        (
            "incidents/{id}/cause",
            {"cause": {"fr": "x" * 5001}},
            "cause.fr: must be at most 5000 characters",
        ),
        (
            "incidents/{id}/resolve",
            {"message": 1.5},
            "message: must be text, or one text per language",
        ),
        # unknown fields, named (and kept short and printable when echoed)
        (
            "incidents/{id}/updates",
            {"message": "m", "severity": "degraded"},
            "severity: unknown field",
        ),
        ("incidents/{id}/cause", {"cause": "c", "action": "typo"}, "action: unknown field"),
        ("incidents/{id}/resolve", {"mesage": "typo"}, "mesage: unknown field"),
        ("incidents/{id}/veto", {"reason": "x"}, "reason: unknown field"),
        (
            "incidents/{id}/updates",
            {"message": "m", "bad\x00\x1b[2Jkey": 1},
            "bad[2Jkey: unknown field",
        ),
        (
            "incidents/{id}/updates",
            {"message": "m", "k" * 10_000: 1},
            "k" * 63 + "…: unknown field",
        ),
        # too long, too many, named twice, empty once cleaned
        ("incidents", {**OPEN, "title": "t" * 201}, "title: must be at most 200 characters"),
        (
            "incidents/{id}/updates",
            {"message": "m" * 5001},
            "message: must be at most 5000 characters",
        ),
        ("incidents/{id}/cause", {"cause": "c" * 5001}, "cause: must be at most 5000 characters"),
        (
            "incidents/{id}/cause",
            {"cause": "c", "actions": "a" * 5001},
            "actions: must be at most 5000 characters",
        ),
        (
            "incidents/{id}/resolve",
            {"message": "m" * 5001},
            "message: must be at most 5000 characters",
        ),
        (
            "maintenance",
            {
                "title": "t",
                "components": ["web"],
                "starts_at": "2027-01-16T00:00:00Z",
                "ends_at": "2027-01-16T01:00:00Z",
                "message": "m" * 5001,
            },
            "message: must be at most 5000 characters",
        ),
        ("incidents", {**OPEN, "components": ["api"] * 51}, "components: must name at most 50"),
        (
            "incidents",
            {**OPEN, "components": ["x" * 101]},
            "components[0]: must be at most 100 characters",
        ),
        (
            "incidents",
            {**OPEN, "components": ["api", "web", "api"]},
            "components[2]: 'api' is named twice",
        ),
        (
            "incidents",
            {**OPEN, "components": ["\x1b[2Jnope"]},
            "components[0]: unknown component '[2Jnope' (known: api, web)",
        ),
        ("incidents/{id}/updates", {"message": "\x00\x07\x1b\r\n"}, "message: must not be empty"),
        ("incidents", {**OPEN, "title": "\x00\n\t"}, "title: must not be empty"),
        # bodies far larger than any valid one
        (
            "incidents/{id}/updates",
            json.dumps({"message": "m" * (MAX_BODY + 1)}),
            f"body: must be at most {MAX_BODY} bytes",
        ),
        (
            "incidents/{id}/updates",
            json.dumps({"message": "m" * 300_000}),
            f"body: must be at most {MAX_BODY} bytes",
        ),
    ],
)
async def test_a_malformed_body_is_a_400_that_names_the_field(
    make_world: MakeWorld, path: str, body: str | dict[str, Any], message: str
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    await refused(w, path.format(id=inc.id), body, message)


async def test_brackets_inside_strings_are_not_nesting(make_world: MakeWorld) -> None:
    w = await make_world()
    title = 'Queue "[[[[[[[[[[[[" \\" [[[[[[[[[[[[[[[ {{{{{{{{{{{{'
    r = await w.post(BASE + "incidents", {**OPEN, "title": title})
    assert r.status == 201, r.text
    assert r.body["incident"]["title"] == title


def test_too_deep_counts_only_structure() -> None:
    assert not too_deep('{"a": [[1, 2], {"b": []}]}', 4)
    assert too_deep('{"a": [[1, 2], {"b": []}]}', 3)
    assert not too_deep('{"a": "[[[[[[[[[[\\"[[[[[[[["}', 2)
    assert too_deep("[" * 100_000)
    assert not too_deep("[]" * 100_000)


# --- maintenance dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            3600,
            253402300799 - 1_800_000_000,  # 9999-12-31T23:59:59Z
            "ends_at: must be within 365 days from now",
        ),
        (3600, 366 * DAY, "ends_at: must be within 365 days from now"),
        (-2 * DAY, 3600, "starts_at: must be at most 1 day in the past"),
        (-DAY - 1, 3600, "starts_at: must be at most 1 day in the past"),
        (3600, 3600 + 30 * DAY + 1, "ends_at: must be at most 30 days after starts_at"),
        (0, 90 * DAY, "ends_at: must be at most 30 days after starts_at"),
        (7200, 3600, "ends_at: must be after starts_at"),
        (3600, 3600, "ends_at: must be after starts_at"),
        (-3 * 3600, -3600, "ends_at: must be in the future"),
    ],
)
async def test_maintenance_outside_a_sane_window_is_refused(
    make_world: MakeWorld, start: int, end: int, message: str
) -> None:
    w = await make_world()
    await refused(w, "maintenance", window(w, start, end), message)


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "message"),
    [
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "ends_at: must be after starts_at"),
        (
            "2027-01-15T10:00:00Z",
            "9999-12-31T23:59:59-12:00",
            "ends_at: must be within 365 days from now",
        ),
        (
            "0001-01-01T00:00:00+14:00",
            "2027-01-15T10:00:00Z",
            "starts_at: must be at most 1 day in the past",
        ),
        (
            "2027-01-15T10:00:00Z",
            "10000-01-01T00:00:00Z",
            "ends_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            1_800_003_600,
            "2027-01-15T11:00:00Z",
            "starts_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "1800003600",
            "2027-01-15T11:00:00Z",
            "starts_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            ["2027-01-15T10:00:00Z"],
            "2027-01-15T11:00:00Z",
            "starts_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "2027-01-15T10:00:00Z" + " " * 100,
            "2027-01-15T11:00:00Z",
            "starts_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "2027-01-15",
            "2027-01-16T11:00:00Z",
            "starts_at: needs a time zone, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            "2027-01-15T10:00:00Z",
            None,
            "ends_at: must be an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
    ],
)
async def test_maintenance_dates_must_be_iso_8601_and_in_range(
    make_world: MakeWorld, starts_at: object, ends_at: object, message: str
) -> None:
    w = await make_world()  # now: 2027-01-15T08:00:00Z
    body = {"title": "t", "components": ["web"], "starts_at": starts_at, "ends_at": ends_at}
    await refused(w, "maintenance", body, message)


async def test_maintenance_at_the_edges_of_the_window_is_accepted(make_world: MakeWorld) -> None:
    w = await make_world()
    for start, end in [(-DAY, 3600), (335 * DAY, 365 * DAY), (DAY, 31 * DAY)]:
        r = await w.post(BASE + "maintenance", window(w, start, end))
        assert r.status == 201, (start, end, r.text)
    assert len(await w.store.maintenance_rows()) == 3
    page = await w.get("/")
    assert page.status == 200 and page.text.count('class="card maintenance"') == 3


async def test_an_odd_stored_date_costs_one_line_not_the_page(make_world: MakeWorld) -> None:
    """A window stored before this check (or written by hand) ending in year 9999: the page,
    the feed and the banner still answer, and show the window."""
    w = await make_world()
    inc = await w.outage("api")
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    w.engine.maintenance.append(
        MaintenanceRow(
            id="maint-odd",
            component_ids=["web"],
            title="Forever",
            starts_at=w.clock.now() - 60,
            ends_at=end,
            message="Odd.",
        )
    )
    w.engine.maintenance.append(
        MaintenanceRow(
            id="maint-inf",
            component_ids=["web"],
            title="Never ends",
            starts_at=w.clock.now(),
            ends_at=float("inf"),
        )
    )
    page = await w.get("/")
    assert page.status == 200
    assert 'id="maintenance-maint-odd"' in page.text and "9999-12-31T23:59:59" in page.text
    assert 'id="maintenance-maint-inf"' in page.text and 'datetime="None"' not in page.text
    assert f"incident-{inc.id}" in page.text
    for path in ("/feed.atom", "/api/v1/banner", "/api/v1/status"):
        assert (await w.get(path)).status == 200, path


def test_feed_survives_a_time_no_calendar_can_write() -> None:
    entries = [
        feed.Entry("n.1", "i", "Title", "Text", 1e20, "investigating"),
        feed.Entry("n.2", "i", "Title", "Text", float("nan"), "investigating"),
        feed.Entry("n.3", "i", "Title", "Text", 1_800_000_000.0, "resolved"),
    ]
    body = feed.render(
        base="https://status.acme.example/",
        title="t",
        author="a",
        lang="en",
        entries=entries,
        now=1_800_000_100.0,
    )
    root = ET.fromstring(body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    stamps = [e.findtext("a:updated", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert len(stamps) == 3 and all(s and s.startswith("2027-01-15T") for s in stamps)


# --- operator text loses its control characters ---------------------------------------------


async def test_control_characters_never_reach_a_notice(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.post(
        BASE + "incidents",
        {
            **OPEN,
            "title": "Invoices\x00 are\r\nlate\x1b[0m",
            "message": "Line one\x00\x07\r\nLine\ttwo\x85\x9b",
        },
    )
    assert r.status == 201, r.text
    iid = r.body["incident"]["id"]
    assert r.body["incident"]["title"] == "Invoices are late[0m"
    r = await w.post(f"{BASE}incidents/{iid}/updates", {"message": "We are\x00 on it.\r\n"})
    assert r.status == 200
    r = await w.post(
        f"{BASE}incidents/{iid}/cause",
        {"cause": "A full\x00 disk.", "actions": "Alert\x1b on disk use.\x7f"},
    )
    assert r.status == 200

    inc = await w.store.incident(iid)
    assert inc is not None
    assert (inc.title, inc.cause, inc.actions) == (
        "Invoices are late[0m",
        "A full disk.",
        "Alert on disk use.",
    )
    notices = (await w.store.notices([iid]))[iid]
    assert notices[0].facts["message"] == "Line one\nLine\ttwo"
    assert notices[1].facts["message"] == "We are on it."
    page = await w.get("/")
    api = await w.get(f"/api/v1/incidents/{iid}")
    atom = await w.get("/feed.atom")
    for text in [page.text, api.text, atom.text, *(n.text + n.subject for n in notices)]:
        for bad in ("\x00", "\\u0000", "\x1b", "\\u001b", "\x07", "\x85", "\x9b", "\r"):
            assert bad not in text, repr(bad)
    assert "We are on it." in page.text


async def test_maintenance_text_is_cleaned(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.post(
        BASE + "maintenance",
        window(w, 3600, 7200, title="Disk\x00\nswap", message="Brief\x00 pauses.\r\nSorry."),
    )
    assert r.status == 201, r.text
    assert r.body["maintenance"]["title"] == "Disk swap"
    assert r.body["maintenance"]["message"] == "Brief pauses.\nSorry."
    [row] = await w.store.maintenance_rows()
    assert (row.title, row.message) == ("Disk swap", "Brief pauses.\nSorry.")
