"""Atom feed (parsed by feedparser), the banner JSON, and banner.js embedded in another origin."""

from __future__ import annotations

import feedparser
from aiohttp import web

from tests.web.browser import dump_dom, needs_chromium
from tests.web.conftest import UP, MakeWorld


async def test_atom_feed_parses_and_has_the_entries(make_world: MakeWorld) -> None:
    w = await make_world()
    empty = feedparser.parse((await w.get("/feed.atom")).text)
    assert not empty.bozo and empty.entries == []
    inc = await w.outage("web")
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/updates",
        {"message": "Tags like <b>this</b> & ]]> stay text.\x07"},
    )
    assert r.status == 200
    await w.feed("web", UP, 2)
    await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve")

    r = await w.get("/feed.atom")
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Acme Cloud incidents"
    assert parsed.feed.id.startswith("urn:uuid:")
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert len(parsed.entries) == len(notices) == 4
    by_title = {e.title: e for e in parsed.entries}
    for n in notices:  # titled by the headline: the e-mail subject without its "[service]" tag
        entry = by_title[n.subject.split("] ", 1)[1]]
        assert entry.link == f"https://status.acme.example/#incident-{inc.id}"
        assert entry.published_parsed is not None
    human = by_title[notices[1].subject.split("] ", 1)[1]]
    assert "Tags like <b>this</b> & ]]> stay text." in human.content[0].value
    assert parsed.entries[0].title == notices[-1].subject.split("] ", 1)[1]  # newest first
    assert len({e.id for e in parsed.entries}) == 4

    fr = feedparser.parse((await w.get("/feed.atom?lang=fr")).text)
    assert not fr.bozo and fr.feed.title == "Incidents de Acme Cloud"
    assert {e.title for e in fr.entries}.isdisjoint(by_title)  # re-composed in French


async def test_banner_is_empty_when_all_is_well_and_cors_open(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.get("/api/v1/banner", headers={"Origin": "https://app.example"})
    assert r.status == 200 and r.body == {}
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cache-Control"] == "max-age=5"

    partial = await w.outage("api")  # only api-a and api-b both down: major
    web_inc = await w.outage("web")
    await w.post(f"/api/v1/admin/incidents/{web_inc.id}/updates", {"message": "Looking."})
    r = await w.get("/api/v1/banner", headers={"Accept-Language": "fr"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    b = r.body
    assert b["severity"] == "major_outage" and b["lang"] == "fr" and b["dir"] == "ltr"
    latest = (await w.store.notices([b["id"]]))[b["id"]][-1]
    assert b["id"] in (partial.id, web_inc.id)
    assert b["subject"] and b["subject"] != latest.subject  # French, not the stored English
    assert b["url"].startswith("https://status.acme.example/?lang=fr#incident-")
    ar = (await w.get("/api/v1/banner?lang=ar")).body
    assert ar["dir"] == "rtl" and ar["dismiss"] == "إغلاق"

    for inc in (partial, web_inc):
        await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve")
    assert (await w.get("/api/v1/banner")).body == {}


async def test_banner_script_is_served(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.get("/banner.js")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "api/v1/banner" in r.text and "textContent" in r.text and "innerHTML" not in r.text


@needs_chromium
async def test_banner_script_shows_the_incident_in_another_site(make_world: MakeWorld) -> None:
    w = await make_world()
    host = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=(
                '<!doctype html><html lang="en"><head><title>App</title></head><body>'
                f'<p>My app</p><script src="{w.url}banner.js" data-poll="0"></script>'
                "</body></html>"
            ),
        )

    host.router.add_get("/", page)
    runner = web.AppRunner(host, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app_url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        calm = await dump_dom(app_url, budget_ms=3000)
        assert "My app" in calm and "outage-detector-banner" not in calm
        inc = await w.outage("web")
        await w.post(f"/api/v1/admin/incidents/{inc.id}/updates", {"message": "<b>bold</b> claims"})
        dom = await dump_dom(app_url, budget_ms=3000)
        assert 'class="outage-detector-banner"' in dom
        subject = (await w.get("/api/v1/banner")).body["subject"]
        assert subject.replace("&", "&amp;") in dom
        assert 'aria-label="Dismiss"' in dom and 'role="status"' in dom
    finally:
        await runner.cleanup()
