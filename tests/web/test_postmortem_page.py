"""The published post-mortem as customers read it (`GET /incidents/{id}/postmortem`): a 404
until published; then a page in the reader's language and time zone with five sections in
plain words, the team's own words and none of the internal draft's jargon; linked from the
status page, the JSON API and the feed only once published. And `public_postmortem` on rows
built by hand, without HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import yaml

from detector.config import Config, parse_config
from detector.store import IncidentRow, NoticeRow
from detector.web.i18n import Chrome
from detector.web.postmortem_page import public_postmortem, reader_zone, span
from tests.web.conftest import START, TOKEN, MakeWorld, World, raw_config

UPDATE = "We are rolling back this morning's release of the sign-in page."
CAUSE = "A change to the sign-in page turned away people who were already signed in."
ACTIONS = "Sign-in changes are now tried on a small share of customers before everyone."
HEADINGS = {
    "en": ("Summary", "Impact on you", "Timeline", "Cause", "What we are changing"),
    "pl": ("Podsumowanie", "Wpływ na klientów", "Przebieg zdarzeń", "Przyczyna", "Co zmieniamy"),
    "fr": ("Résumé", "Conséquences pour vous", "Chronologie", "Cause", "Ce que nous changeons"),
    "ar": ("الملخص", "التأثير عليكم", "التسلسل الزمني", "السبب", "ما الذي نغيّره"),
    "id": ("Ringkasan", "Dampak bagi Anda", "Kronologi", "Penyebab", "Yang kami ubah"),
}
SECTION_IDS = ("h-summary", "h-impact", "h-timeline", "h-cause", "h-actions")
READ = {
    "en": "Read the incident report",
    "pl": "Przeczytaj raport z incydentu",
    "fr": "Lire le rapport d’incident",
    "ar": "اقرأ تقرير الحادثة",
    "id": "Baca laporan insiden",
}
# the internal draft's words, and what it is built from, that a customer must never read
JARGON = [
    r"Tolerance",
    r"channel deliver",
    r"deliveries",
    r"recipients",
    r"\bprobes?\b",
    r"\bevidence\b",
    r"\boutbox\b",
    r"\bwebhook\b",
    r"\bHTTP\b",
    r"\b503\b",
    r"\b\d+ ms\b",
    r"Notice \d",
    r"_To be written_",
]
# stored codes: fine in markup (class names), never in what a reader reads
CODES = r"\bseverity_changed\b|\bmajor_outage\b|\bpartial_outage\b|\bincident\.\w+"


def probe_config(tmp: Path) -> dict[str, Any]:
    """The tests' config with probes named and aimed as a real team would: names and hosts a
    customer must never see."""
    raw = raw_config(tmp)
    api, web = raw["components"]
    api["probes"] = [
        {"name": "api-edge-fra1", "http": {"url": "https://edge-fra1.int.acme.example/healthz"}},
        {"name": "api-edge-waw2", "tcp": {"host": "10.20.0.12", "port": 443}},
    ]
    web["probes"] = [
        {"name": "dash-login-synthetic", "http": {"url": "https://dash-01.int.acme.example/login"}}
    ]
    return raw


def forbidden(config: Config) -> list[str]:
    """JARGON, plus every probe name and host of the config."""
    words = list(JARGON)
    for c in config.components:
        for p in c.probes:
            words.append(re.escape(p.name))
            dumped = p.model_dump(mode="json")
            for value in _strings(dumped):
                host = re.match(r"(?:[a-z]+://)?([A-Za-z0-9.-]+\.[A-Za-z0-9-]+)", value)
                if host and (value.startswith(("http", "10.")) or "." in value):
                    words.append(re.escape(host.group(1)))
    return words


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(text: str) -> str:
    """Spaces as a reader sees them: CLDR's narrow and no-break spaces as plain ones."""
    return " ".join(text.split())


def visible(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return plain(" ".join(parser.parts))


def heading(page: str, hid: str) -> str:
    m = re.search(rf'<h2 id="{hid}">([^<]*)</h2>', page)
    assert m, hid
    return m.group(1)


async def story(w: World) -> IncidentRow:
    """An outage of the dashboard: told, a scheduled update, a person's update, the cause and
    corrective actions, recovery and resolution. Not published yet."""
    inc = await w.outage("web")
    first = (await w.store.notices([inc.id]))[inc.id][0]
    assert first.next_update_at is not None
    w.clock.t = first.next_update_at
    await w.engine.tick()  # the scheduled "still working on it"
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/updates", {"message": UPDATE})
    assert r.status == 200, r.text
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/cause", {"cause": CAUSE})
    assert r.status == 200, r.text
    await w.recover("web")  # back, watched, then resolved after the stable period
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/cause", {"cause": CAUSE, "actions": ACTIONS}
    )
    assert r.status == 200, r.text
    done = await w.store.incident(inc.id)
    assert done is not None and done.resolved_at is not None and done.recovered_at is not None
    return done


async def world(make_world: MakeWorld, tmp_path: Path) -> World:
    home = tmp_path / "pm"
    home.mkdir()
    raw = probe_config(home)
    return await make_world(config=parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN}))


async def test_a_404_until_published_and_no_links_anywhere(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    w = await world(make_world, tmp_path)
    assert (await w.get("/incidents/nope/postmortem")).status == 404
    inc = await w.outage("web")
    assert (await w.get(f"/incidents/{inc.id}/postmortem")).status == 404  # still open
    inc = await story(w)
    for token in (None, TOKEN):  # resolved, not published: a 404 for operators too
        assert (await w.get(f"/incidents/{inc.id}/postmortem", token=token)).status == 404

    assert "/postmortem" not in (await w.get("/")).text
    assert "postmortem_url" not in (await w.get(f"/api/v1/incidents/{inc.id}")).body
    listed = (await w.get("/api/v1/incidents")).body["incidents"]
    assert all("postmortem_url" not in i for i in listed)
    feed = feedparser.parse((await w.get("/feed.atom")).text)
    assert feed.entries and not [
        link for e in feed.entries for link in e.links if link.rel == "related"
    ]


async def test_published_report_in_every_language(make_world: MakeWorld, tmp_path: Path) -> None:
    w = await world(make_world, tmp_path)
    told = await story(w)
    r = await w.post(f"/api/v1/admin/incidents/{told.id}/postmortem")
    assert r.status == 200 and r.body["notice"]["event"] == "postmortem.published"
    inc = await w.store.incident(told.id)
    assert inc is not None and inc.recovered_at is not None and inc.resolved_at is not None
    words = forbidden(w.config)
    for secret in ("dash-login-synthetic", "10.20.0.12", "dash-01.int.acme.example"):
        assert any(re.search(p, secret) for p in words), secret

    for lang, headings in HEADINGS.items():
        r = await w.get(f"/incidents/{inc.id}/postmortem?lang={lang}")
        assert r.status == 200, lang
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Content-Language"] == lang
        page = r.text
        assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in page
        assert "<script" not in page and 'href="../../static/status.css"' in page
        assert tuple(heading(page, h) for h in SECTION_IDS) == headings, lang
        text = visible(page)
        for said in (UPDATE, CAUSE, ACTIONS):  # what the team did, in their words
            assert said in text, (lang, said)
        assert "Dashboard" in text  # the component, by its customer-facing name
        # times in the reader's zone: the service's, as the status page writes them
        t = Chrome(lang, "Europe/Warsaw")
        for ts in (inc.started_at, inc.recovered_at, inc.resolved_at):
            assert plain(t.when(ts)) in text, (lang, t.when(ts))
        for pattern in words:
            assert not re.search(pattern, text), (lang, pattern)
            assert not re.search(pattern, page), (lang, pattern)
        assert not re.search(CODES, text), lang

    # the duration is start to recovery (not to resolution), in words
    en = visible((await w.get(f"/incidents/{inc.id}/postmortem?lang=en")).text)
    assert f"It lasted {span(inc.recovered_at - inc.started_at, Chrome('en', 'UTC'))}." in en
    assert "Times are shown in Central European Time (UTC+1)." in en
    assert "We are sorry" in en
    assert re.search(r"While it lasted: Dashboard ?: You cannot sign in to the dashboard\.", en)
    pl = visible((await w.get(f"/incidents/{inc.id}/postmortem?lang=pl")).text)
    assert "Strefa czasowa: czas środkowoeuropejski (CET)." in pl
    # Accept-Language picks it as the status page does; `?lang=` wins
    r = await w.get(f"/incidents/{inc.id}/postmortem", headers={"Accept-Language": "fr-CA,fr"})
    assert r.headers["Content-Language"] == "fr" and "Chronologie" in r.text
    r = await w.get(f"/incidents/{inc.id}/postmortem?lang=id", headers={"Accept-Language": "pl"})
    assert r.headers["Content-Language"] == "id"


async def test_times_in_the_zone_the_reader_asks_for(make_world: MakeWorld, tmp_path: Path) -> None:
    w = await world(make_world, tmp_path)
    inc = await story(w)
    assert (await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")).status == 200
    page = (await w.get(f"/incidents/{inc.id}/postmortem?lang=id&tz=Asia/Jakarta")).text
    text = visible(page)
    assert (
        plain(Chrome("id", "Asia/Jakarta").when(inc.started_at)) in text
    )  # "15 Jan 2027 15.00 WIB"
    assert "15.00 WIB" in text and "Zona waktu: Waktu Indonesia Barat (WIB)." in text
    assert 'href="?lang=ar&amp;tz=Asia/Jakarta"' in page  # switching language keeps the zone
    en = visible((await w.get(f"/incidents/{inc.id}/postmortem?tz=America/New_York")).text)
    assert "3:00 AM EST" in en and "Eastern Time (EST)" in en
    bad = visible((await w.get(f"/incidents/{inc.id}/postmortem?tz=../../etc/passwd")).text)
    assert plain(Chrome("en", "Europe/Warsaw").when(inc.started_at)) in bad


async def test_links_appear_once_published(make_world: MakeWorld, tmp_path: Path) -> None:
    w = await world(make_world, tmp_path)
    inc = await story(w)
    other = await w.outage("api")  # open, never published: never linked
    assert (await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")).status == 200

    for lang, label in READ.items():
        page = (await w.get(f"/?lang={lang}")).text
        link = f'<a href="incidents/{inc.id}/postmortem?lang={lang}">{label}</a>'
        assert link in page, lang
        assert f"incidents/{other.id}/postmortem" not in page
    # the link leads to the report
    assert (await w.get(f"/incidents/{inc.id}/postmortem?lang=pl")).status == 200

    url = f"https://status.acme.example/incidents/{inc.id}/postmortem"
    assert (await w.get(f"/api/v1/incidents/{inc.id}")).body["postmortem_url"] == url
    listed = {i["id"]: i for i in (await w.get("/api/v1/incidents")).body["incidents"]}
    assert listed[inc.id]["postmortem_url"] == url and "postmortem_url" not in listed[other.id]
    assert all("postmortem_url" not in i for i in (await w.get("/api/v1/status")).body["incidents"])

    feed = feedparser.parse((await w.get("/feed.atom?lang=ar")).text)
    assert not feed.bozo
    for e in feed.entries:
        related = [link.href for link in e.links if link.rel == "related"]
        mine = e.link.endswith(f"#incident-{inc.id}")
        assert related == ([f"{url}?lang=ar"] if mine else []), e.title
        assert e.link.startswith("https://status.acme.example/#incident-")  # alternate kept
    assert any(e.link.endswith(f"#incident-{inc.id}") for e in feed.entries)


# --- public_postmortem, without HTTP ---------------------------------------------------------

HOUR = 3600.0


def notice(
    seq: int, kind: str, at: float, severity: str = "major_outage", **facts: Any
) -> NoticeRow:
    return NoticeRow(
        id=f"inc-1.{seq}",
        incident_id="inc-1",
        sequence=seq,
        event="incident.updated",
        kind=kind,
        status="investigating",
        severity=severity,
        published_at=at,
        next_update_at=None,
        subject="[Acme Cloud] the e-mail subject",
        text="The whole e-mail body, with HTTP 503 evidence.",
        facts=facts,
        evidence=[{"probe": "api-a", "detail": "HTTP 503 in 41 ms"}],
        recipients=5,
    )


def config(tmp_path: Path, **impact: Any) -> Config:
    raw = raw_config(tmp_path)
    if impact:
        raw["components"][1]["impact"] = impact
    return parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN})


def incident(**values: Any) -> IncidentRow:
    base: dict[str, Any] = {
        "id": "inc-1",
        "component_ids": ["web", "api"],
        "title": "Dashboard, Public API",
        "status": "resolved",
        "severity": "partial_outage",  # the last one; it was worse for a while
        "started_at": START,
        "detected_at": START + 30,
        "recovered_at": START + HOUR + 12 * 60,
        "resolved_at": START + HOUR + 17 * 60,
        "cause": CAUSE,
        "actions": ACTIONS,
        "postmortem_published_at": START + 2 * 86400,
    }
    return IncidentRow(**{**base, **values})


def story_notices() -> list[NoticeRow]:
    return [
        notice(1, "opened", START + 35, "partial_outage"),
        notice(2, "severity_changed", START + 600, previous_severity="partial_outage"),
        notice(3, "expanded", START + 700, extra={"added_components": ["Public API"]}),
        notice(4, "human", START + 900, message=UPDATE),
        notice(5, "identified", START + 1800, cause="The first guess at the cause."),
        notice(6, "monitoring", START + HOUR + 12 * 60, "operational"),
        notice(7, "resolved", START + HOUR + 17 * 60, "operational"),
        notice(8, "postmortem", START + 2 * 86400, "operational"),
    ]


def test_public_postmortem_tells_the_story_in_plain_words(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pm = public_postmortem(incident(), list(reversed(story_notices())), cfg, "en", "UTC")
    assert pm.lang == "en" and pm.dir == "ltr"
    assert pm.title == "Incident report: Dashboard, Public API"
    assert list(pm.headings.values()) == list(HEADINGS["en"])
    # the worst customer-facing severity, not the incident's last one
    assert pm.severity == "major_outage" and pm.severity_label == "Major outage"
    assert [plain(p) for p in pm.summary] == [
        "On Jan 15, 2027, an outage affected Dashboard and Public API.",
        "It lasted 1 hour and 12 minutes. Everything has worked normally since "
        "Jan 15, 2027, 9:12 AM UTC.",
        "Below we explain the cause and what we are changing so that it does not happen again.",
        "We are sorry for the trouble this caused.",
    ]
    assert [(a.name, a.impact) for a in pm.affected] == [
        ("Dashboard", "You cannot sign in to the dashboard."),
        ("Public API", "You cannot reach the API."),
    ]
    assert [(f.label, plain(f.text)) for f in pm.facts] == [
        ("Started", "Jan 15, 2027, 8:00 AM UTC"),
        ("Working again", "Jan 15, 2027, 9:12 AM UTC"),
        ("Incident closed", "Jan 15, 2027, 9:17 AM UTC"),
        ("Duration", "1 hour and 12 minutes"),  # start to recovery, not to resolution
    ]
    assert [(plain(s.at), s.what, s.words) for s in pm.timeline] == [
        ("Jan 15, 2027, 8:00 AM UTC", "The problem began.", None),
        ("Jan 15, 2027, 8:00 AM UTC", "Our monitoring detected the problem.", None),
        ("Jan 15, 2027, 8:00 AM UTC", "We told customers about the problem.", None),
        ("Jan 15, 2027, 8:10 AM UTC", "We sent an update. New impact level: Major outage.", None),
        ("Jan 15, 2027, 8:11 AM UTC", "We sent an update. Also affected: Public API.", None),
        ("Jan 15, 2027, 8:15 AM UTC", "Our team wrote:", UPDATE),
        (
            "Jan 15, 2027, 8:30 AM UTC",
            "We found the cause and told customers.",
            "The first guess at the cause.",
        ),
        (  # recovery and the notice saying so are one line, not two
            "Jan 15, 2027, 9:12 AM UTC",
            "The service worked again. We told customers and kept watching it.",
            None,
        ),
        ("Jan 15, 2027, 9:17 AM UTC", "We closed the incident and told customers.", None),
        ("Jan 17, 2027, 8:00 AM UTC", "We published this report.", None),
    ]
    assert pm.cause == CAUSE and pm.actions == ACTIONS and pm.cause_known and pm.actions_known
    assert plain(pm.published or "") == "Published Jan 17, 2027, 8:00 AM UTC"
    assert pm.zone_note == "Times are shown in Coordinated Universal Time (UTC)."
    read = (pm.title, pm.summary, pm.impact_intro, pm.affected, pm.facts, pm.timeline)
    everything = repr((*read, pm.cause, pm.actions, pm.zone_note, pm.severity_label, pm.headings))
    for pattern in [*JARGON, CODES, r"api-a", r"e-mail", r"\[Acme Cloud\]"]:
        assert not re.search(pattern, everything), pattern


def test_public_postmortem_in_other_languages_and_zones(tmp_path: Path) -> None:
    cfg = config(tmp_path, en="You cannot sign in.", pl="Nie można się zalogować.")
    inc = incident()
    pl = public_postmortem(inc, story_notices(), cfg, "pl", "Europe/Warsaw")
    assert list(pl.headings.values()) == list(HEADINGS["pl"])
    assert (
        pl.summary[0] == "Dnia 15 sty 2027 wystąpiła awaria, która objęła: Dashboard i Public API."
    )
    assert (
        pl.summary[1] == "Czas trwania: 1 godzina i 12 minut. Od 15 sty 2027, 10:12 CET "
        "wszystko działa normalnie."
    )
    # the config's Polish sentence; the API's only sentence is English, and says so
    assert [(a.impact, a.lang) for a in pl.affected] == [
        ("Nie można się zalogować.", None),
        ("You cannot reach the API.", "en"),
    ]
    assert pl.people_lang == "en"  # people wrote in the service's language
    assert pl.timeline[0].at == "15 sty 2027, 09:00 CET"

    ar = public_postmortem(inc, story_notices(), cfg, "ar", "Asia/Riyadh")
    assert ar.dir == "rtl" and list(ar.headings.values()) == list(HEADINGS["ar"])
    assert "\u2068Dashboard\u2069" in ar.summary[0]  # Latin names isolated inside Arabic
    assert ar.title == "تقرير الحادثة: \u2068Dashboard, Public API\u2069"
    assert ar.timeline[0].at == Chrome("ar", "Asia/Riyadh").when(START)

    fr = public_postmortem(inc, story_notices(), cfg, "fr", "America/New_York")
    assert fr.facts[0].text == "15 janv. 2027, 03:00 UTC-5"
    idn = public_postmortem(inc, story_notices(), cfg, "id", "Asia/Jakarta")
    assert idn.facts[-1].text == "1 jam dan 12 menit"


def test_public_postmortem_before_the_cause_and_for_a_slowdown(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident(
        manual=True,
        severity="degraded",
        component_ids=["web"],
        cause=None,
        actions=None,
        recovered_at=None,
        resolved_at=START + 1500,
    )
    notices = [
        notice(1, "opened", START, "degraded", message="Sign-in is slow for some of you."),
        notice(2, "human", START + 60, "degraded", message="   "),  # nothing to say: left out
        notice(3, "resolved", START + 1500, "operational"),
    ]
    pm = public_postmortem(inc, notices, cfg, "en", "UTC")
    assert pm.summary[0] == "On Jan 15, 2027, Dashboard ran slower than usual."
    assert pm.summary[1].startswith("It lasted 25 minutes.")  # no recovery: until resolved
    assert pm.summary[2] == "We are still looking into the cause and will update this report."
    # a slowdown does not claim the outage's impact sentence
    assert pm.impact_intro == "While it lasted, these worked, but slower than usual:"
    assert [(a.name, a.impact) for a in pm.affected] == [("Dashboard", None)]
    assert [(s.what, s.words) for s in pm.timeline] == [
        ("Our team opened the incident.", None),
        ("We told customers about the problem.", "Sign-in is slow for some of you."),
        ("We closed the incident and told customers.", None),
    ]
    assert not pm.cause_known and pm.cause.startswith("We are still looking into the cause.")
    assert not pm.actions_known and pm.actions == "We will add here what we are changing."
    assert [f.label for f in pm.facts] == ["Started", "Incident closed", "Duration"]


def test_reader_zone_and_span() -> None:
    assert reader_zone("Asia/Jakarta", "UTC") == "Asia/Jakarta"
    for bad in (None, "", "Mars/Olympus", "../../etc/passwd", "x" * 200):
        assert reader_zone(bad, "Europe/Warsaw") == "Europe/Warsaw"
    assert span(45, Chrome("en", "UTC")) == "45 seconds"
    assert span(2 * 86400 + 3 * HOUR + 60, Chrome("en", "UTC")) == "2 days, 3 hours, and 1 minute"
    assert span(HOUR + 12 * 60, Chrome("pl", "UTC")) == "1 godzina i 12 minut"
    assert span(5 * 60, Chrome("ar", "UTC")) == "5 دقائق"
