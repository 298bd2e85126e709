"""The status page: in a real browser during and after an incident, and its HTML contract
(languages, escaping, held incidents, uptime bars, maintenance, post-mortem links)."""

from __future__ import annotations

import asyncio
import html
import re

from detector.web.i18n import Chrome
from tests.web.browser import dump_dom, needs_chromium, screenshot
from tests.web.conftest import DOWN, OUTPUT, START, TOKEN, UP, MakeWorld

XSS = "<script>document.title='pwned'</script>Fix is rolling out <img src=x onerror=alert(1)>"
TITLE = "<title>Acme Cloud status</title>"


def visible(dom: str, text: str) -> bool:
    """Text as a browser serializes it inside an element."""
    return html.escape(text, quote=False) in dom


def quarter_of_history() -> list[tuple[str, int, int, int, int, float]]:
    """89 days of checks, one row per probe per day, with a few bad days."""
    rows = []
    for day in range(1, 90):
        bucket = int(START - day * 86400) // 60 * 60
        for probe in ("api-a", "api-b", "web"):
            failures = {7: 40, 30: 300, 61: 2000}.get(day, 0) if probe != "web" else 0
            soft = 900 if probe == "web" and day in (12, 13) else 0
            rows.append((probe, bucket, 8640, failures, soft, 86.4))
    return rows


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


@needs_chromium
async def test_in_a_browser_during_and_after_an_incident(make_world: MakeWorld) -> None:
    w = await make_world()
    await w.store.add_history(quarter_of_history())
    inc = await w.outage("web")
    first = (await w.store.notices([inc.id]))[inc.id][0]
    assert first.next_update_at is not None
    w.clock.t = first.next_update_at
    await w.engine.tick()  # the scheduled "still working on it" update
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/updates", {"message": XSS, "status": "identified"}
    )
    assert r.status == 200
    notices = (await w.store.notices([inc.id]))[inc.id]
    assert [n.kind for n in notices] == ["opened", "update", "human"]

    en = Chrome("en", "Europe/Warsaw")
    dom, _, _ = await asyncio.gather(
        dump_dom(w.url),
        screenshot(w.url, OUTPUT / "status-page-open.png"),
        screenshot(w.url + "?lang=ar", OUTPUT / "status-page-open-ar-mobile.png", (390, 844)),
    )
    assert TITLE in dom  # the injected script never ran
    title = re.search(r"<title>.*?</title>", dom)
    assert title is not None
    assert "pwned" not in title.group(0)
    current = section(dom, "h-current")
    assert f'id="incident-{inc.id}"' in current
    assert visible(current, "Dashboard")
    for n in notices:  # short updates: the headline, not the e-mail's "[service]" subject
        assert f'id="update-{n.id}"' in current
        assert visible(current, n.subject.split("] ", 1)[1])
        assert not visible(current, n.subject)
        assert visible(current, en.when(n.published_at))
    assert "Status page:" not in current and "Questions?" not in current  # no e-mail chrome
    next_update_at = notices[-1].next_update_at
    assert next_update_at is not None
    assert visible(current, "Next update by " + en.when(next_update_at))
    assert visible(current, "<script>document.title='pwned'</script>")  # shown as text
    assert "<script" not in dom and "<img" not in dom  # and nothing became an element
    assert "Major outage" in section(dom, "overall")

    await w.feed("web", UP, 2)  # the probes recover: monitoring
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve", {"message": "All fixed."})
    assert r.status == 200
    dom, _ = await asyncio.gather(
        dump_dom(w.url), screenshot(w.url, OUTPUT / "status-page-resolved.png")
    )
    assert 'id="h-current"' not in dom
    past = section(dom, "h-past")
    assert f'id="incident-{inc.id}"' in past and visible(past, "Resolved")
    assert "Next update by" not in dom
    assert "All systems operational" in dom


async def test_languages_and_direction(make_world: MakeWorld) -> None:
    w = await make_world()
    await w.outage("web")
    page = (await w.get("/?lang=pl")).text
    assert '<html lang="pl" dir="ltr">' in page and "Bieżące incydenty" in page
    r = await w.get("/", headers={"Accept-Language": "de-DE, ar;q=0.9, fr;q=0.8"})
    assert '<html lang="ar" dir="rtl">' in r.text
    assert r.headers["Content-Language"] == "ar" and "Accept-Language" in r.headers["Vary"]
    r = await w.get("/", headers={"Accept-Language": "ja"})
    assert '<html lang="en" dir="ltr">' in r.text
    r = await w.get("/?lang=xx", headers={"Accept-Language": "fr-CA"})
    assert '<html lang="fr" dir="ltr">' in r.text and "Incidents en cours" in r.text
    for lang in ("en", "pl", "fr", "ar", "id"):
        page = (await w.get(f"/?lang={lang}")).text
        assert f'lang="{lang}"' in page
        assert "Europe/Warsaw" not in page  # the zone in the reader's words, not its IANA id
    assert "czas środkowoeuropejski" in (await w.get("/?lang=pl")).text
    assert "heure d’Europe centrale (UTC+1)" in (await w.get("/?lang=fr")).text


async def test_landmarks_and_security_headers(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.get("/")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    for landmark in ("<header", "<nav", "<main", "<footer", 'class="skip" href="#main"'):
        assert landmark in r.text
    assert '<meta name="viewport"' in r.text
    assert "script-src" not in r.headers["Content-Security-Policy"]  # no script may run
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert 'href="feed.atom"' in r.text and "mailto:ops@acme.example" in r.text
    assert 'href="tel:+48225550100"' in r.text and "Jane Doe, Head of Operations" in r.text
    css = await w.get("/static/status.css")
    assert css.status == 200 and "inset-inline" in css.text


async def test_user_strings_are_escaped(make_world: MakeWorld) -> None:
    w = await make_world()
    r = await w.post(
        "/api/v1/admin/incidents",
        {
            "title": "<b>Billing</b> & <i>invoices</i>",
            "components": ["api"],
            "severity": "partial_outage",
            "message": "Invoices <em>may</em> be late & wrong.",
        },
    )
    assert r.status == 201
    page = (await w.get("/")).text
    assert "&lt;b&gt;Billing&lt;/b&gt; &amp; &lt;i&gt;invoices&lt;/i&gt;" in page
    assert "<b>" not in page and "<em>" not in page


async def test_held_and_vetoed_incidents_are_not_public(make_world: MakeWorld) -> None:
    w = await make_world(hold="5m")
    inc = await w.outage("web")
    assert inc.held_until is not None
    page = (await w.get("/")).text
    assert inc.id not in page and 'id="h-current"' not in page
    assert (await w.get("/api/v1/banner")).body == {}
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/publish")
    assert r.status == 200 and r.body["notice"]["kind"] == "opened"
    assert inc.id in (await w.get("/")).text

    other = await w.outage("api")
    r = await w.post(f"/api/v1/admin/incidents/{other.id}/veto")
    assert r.status == 200 and r.body["incident"]["vetoed"] is True
    page = (await w.get("/")).text
    assert other.id not in page


async def test_uptime_bar_from_check_history(make_world: MakeWorld) -> None:
    """Checks say which days were watched; failed or slow checks alone are no outage (nobody
    was told of one). The rule itself: tests/web/test_uptime.py."""
    w = await make_world()
    day = 86400
    yesterday = int(START - day) // 60 * 60
    rows = [("api-a", yesterday + 60 * i, 6, 0, 0, 0.06) for i in range(100)]
    rows += [("api-b", yesterday + 60 * i, 6, 3 if i < 10 else 0, 0, 0.06) for i in range(100)]
    rows += [("web", yesterday - 5 * day, 6, 0, 6, 0.06)]  # slow, but no incident
    rows += [("unknown-probe", yesterday, 6, 6, 0, 0.06)]  # ignored
    await w.store.add_history(rows)
    page = (await w.get("/")).text
    api = page[page.index('id="component-api"') : page.index('id="component-web"')]
    days = re.findall(r'<li class="day day-(\w+)" title="([^"]*)"', api)
    assert len(days) == 90
    assert days[-2][0] == "operational" and "100% uptime" in days[-2][1]
    assert days[-1][0] == "none" and "no data" in days[-1][1]
    assert {level for level, _ in days[:-2]} == {"none"}
    assert "100% uptime" in api  # the 90-day figure
    web = page[page.index('id="component-web"') :]
    assert re.findall(r'class="day day-(\w+)"', web)[-7] == "operational"

    await w.store.add_history([("api-a", int(START) // 60 * 60, 6, 6, 0, 0.06)])
    w.clock.advance(61)  # the next refresh reads only what is new
    page = (await w.get("/")).text
    api = page[page.index('id="component-api"') : page.index('id="component-web"')]
    assert re.findall(r'class="day day-(\w+)"', api)[-1] == "operational"


async def test_maintenance_and_postmortem_link(make_world: MakeWorld) -> None:
    w = await make_world()
    starts = w.clock.now() + 3600
    r = await w.post(
        "/api/v1/admin/maintenance",
        {
            "title": "Database upgrade",
            "components": ["api"],
            "message": "Short pauses.",
            "starts_at": _iso(starts),
            "ends_at": _iso(starts + 1800),
        },
    )
    assert r.status == 201
    page = (await w.get("/")).text
    maint = section(page, "h-maintenance")
    assert "Database upgrade" in maint and "Short pauses." in maint and "In progress" not in maint
    w.clock.t = starts + 60
    await w.engine.tick()
    page = (await w.get("/")).text
    assert "In progress" in section(page, "h-maintenance")
    assert "Under maintenance" in page and "Scheduled maintenance in progress" in page

    inc = await w.outage("web")
    await w.post(f"/api/v1/admin/incidents/{inc.id}/resolve")
    assert "/postmortem" not in (await w.get("/")).text
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")
    assert r.status == 200 and r.body["notice"]["event"] == "postmortem.published"
    page = (await w.get("/")).text
    assert f'href="incidents/{inc.id}/postmortem?lang=en">Read the incident report</a>' in page
    md = await w.get(f"/api/v1/incidents/{inc.id}/postmortem")
    assert md.status == 200 and md.headers["Content-Type"].startswith("text/markdown")


async def test_unpublished_postmortem_needs_the_token(make_world: MakeWorld) -> None:
    w = await make_world()
    inc = await w.outage("web")
    assert (await w.get(f"/api/v1/incidents/{inc.id}/postmortem")).status == 404
    assert (await w.get(f"/api/v1/incidents/{inc.id}/postmortem", token="nope")).status == 404
    r = await w.get(f"/api/v1/incidents/{inc.id}/postmortem", token=TOKEN)
    assert r.status == 200 and r.text.startswith("# Post-mortem: Dashboard")
    assert (await w.get("/api/v1/incidents/nope/postmortem", token=TOKEN)).status == 404


async def test_outage_during_a_probe_blip_shows_nothing(make_world: MakeWorld) -> None:
    w = await make_world()
    await w.feed("web", DOWN, 2)  # not confirmed: a blip is not an outage
    page = (await w.get("/")).text
    assert "All systems operational" in page and 'id="h-current"' not in page


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()
