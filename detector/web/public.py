"""The public face: status page, Atom feed, in-app banner (JSON and script), post-mortems, and
the OpenAPI document.

What customers see here is what they were told: notices re-composed from their stored facts in
the reader's language. An incident whose first notice is held (or was vetoed) was never
announced, so it is not shown anywhere here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from detector import logs
from detector.domain import Severity
from detector.incidents.payload import iso
from detector.notices.compose import PageUpdate, compose_update
from detector.notices.model import NoticeFacts
from detector.postmortem import build_postmortem
from detector.state import worst
from detector.store import IncidentRow, NoticeRow
from detector.text import base_language, text_in
from detector.web import cache, feed, openapi
from detector.web.admin import token_ok
from detector.web.api import postmortem_path, public
from detector.web.app import SERVICES, Services
from detector.web.i18n import LANGS, NAMES, Chrome, pick_language
from detector.web.pages import PAGES
from detector.web.subscribe import status_page_form
from detector.web.uptime import Day, UptimeCache

HERE = Path(__file__).parent
PAST_DAYS = 14
FEED_INCIDENTS = 50
STATUSES = ("investigating", "identified", "monitoring", "resolved")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
BANNER_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "max-age=5",
    "Vary": "Accept-Language",
}
_BANNER_JS = (HERE / "static" / "banner.js").read_bytes()
log = logs.get("detector.web")


class Messages:
    """Page updates per (notice, language): facts never change, so neither do these."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.cache: OrderedDict[tuple[str, str], PageUpdate] = OrderedDict()

    def get(self, notice: NoticeRow, lang: str, timezone: str) -> PageUpdate:
        key = (notice.id, lang)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        try:
            text = compose_update(NoticeFacts(**notice.facts), lang, timezone)
        except (TypeError, ValueError, KeyError, OverflowError, OSError) as e:
            # facts from an older version, or a date no calendar can show: what was sent
            log.warning("notice not re-composed", notice_id=notice.id, error=str(e))
            text = PageUpdate(notice.subject, notice.text)
        self.cache[key] = text
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return text


def stamp(ts: float | None) -> str | None:
    """`iso(ts)`, or None for a time that cannot be written (a stored date out of range)."""
    try:
        return iso(ts)
    except (OverflowError, ValueError, OSError):
        return None


def when(t: Chrome, ts: float) -> str:
    """The reader's local date and time; UTC (or a dash) for one their calendar cannot show.

    One odd stored date must cost one odd-looking line, never the whole page.
    """
    try:
        return t.when(ts)
    except (OverflowError, ValueError, OSError):
        return stamp(ts) or "—"


@dataclass(frozen=True, slots=True)
class Cell:
    """One day of a component's uptime bar. The page has thousands of them: the template reads
    attributes at once, where a dict's keys cost it a failed attribute lookup first."""

    level: str
    label: str


UPTIME: web.AppKey[UptimeCache] = web.AppKey("uptime", UptimeCache)
MESSAGES: web.AppKey[Messages] = web.AppKey("messages", Messages)


async def public_incidents(
    s: Services, now: float
) -> tuple[list[IncidentRow], list[IncidentRow], dict[str, list[NoticeRow]]]:
    """(open, resolved in the last PAST_DAYS, notices by incident) as customers know them."""
    since = now - PAST_DAYS * 86400
    open_ = [i for i in s.engine.open_incidents() if public(i)]
    past = [
        i
        for i in await s.store.incidents(limit=100, since=since)
        if i.resolved_at is not None and i.resolved_at >= since and public(i)
    ]
    notices = await s.store.notices([i.id for i in open_ + past])
    open_ = sorted(
        (i for i in open_ if notices[i.id]),
        key=lambda i: (-Severity.of(i.severity).rank, i.started_at),
    )
    past = sorted((i for i in past if notices[i.id]), key=lambda i: -(i.resolved_at or 0))
    return open_, past, notices


def language(request: web.Request, s: Services) -> str:
    return pick_language(
        request.query.get("lang"), request.headers.get("Accept-Language"), s.config.service.locale
    )


def base_url(request: web.Request, s: Services) -> str:
    url = s.config.service.status_page_url
    text = str(url) if url else f"{request.scheme}://{request.host}/"
    return text if text.endswith("/") else text + "/"


def _names(s: Services, ids: list[str]) -> list[str]:
    known = {c.id: c.name for c in s.config.components}
    return [known.get(c, c) for c in ids]


def _label(t: Chrome, value: str) -> str:
    return t.t(value) if value in STATUSES or value in set(Severity) else value


def _title(s: Services, t: Chrome, title: str, localized: str | None) -> str:
    """An operator's title where the reader reads the service's language, else our words in
    theirs: a page speaks one language (CONTRACT §7.10)."""
    if localized is None or t.lang == base_language(s.config.service.locale):
        return title
    return localized


def _incident_view(
    s: Services, inc: IncidentRow, notices: list[NoticeRow], t: Chrome, messages: Messages
) -> dict[str, Any]:
    tz = s.config.service.timezone
    updates = []
    for n in reversed(notices):
        text = messages.get(n, t.lang, tz)
        updates.append(
            {
                "id": n.id,
                "at": when(t, n.published_at),
                "at_iso": stamp(n.published_at),
                "status_label": _label(t, n.status),
                "subject": text.headline,
                "text": text.text,
            }
        )
    promised = notices[-1].next_update_at if inc.resolved_at is None else None
    return {
        "id": inc.id,
        # a title is written in the service's language; other readers get the latest headline
        "title": _title(s, t, inc.title, updates[0]["subject"] if updates else None),
        "status": inc.status,
        "status_label": _label(t, inc.status),
        "severity": inc.severity,
        "severity_label": _label(t, inc.severity),
        "components": _names(s, inc.component_ids),
        "started": when(t, inc.started_at),
        "started_iso": stamp(inc.started_at),
        "resolved": when(t, inc.resolved_at) if inc.resolved_at else None,
        "resolved_iso": stamp(inc.resolved_at),
        "next_update": when(t, promised) if promised else None,
        "postmortem_url": f"{report}?lang={t.lang}" if (report := postmortem_path(inc)) else None,
        "updates": updates,
    }


async def _components(
    uptimes: UptimeCache, s: Services, t: Chrome, now: float
) -> list[dict[str, Any]]:
    uptime = await uptimes.get(now)
    # every component's bar shows the same 90 dates, and mostly the same figures: each date,
    # figure and day cell is formatted once per render, not once per component (babel's
    # formatting of 4,500 cells was most of the cost of a 50-component page)
    dates: dict[date, str] = {}
    figures: dict[float | None, str] = {}
    cells: dict[tuple[date, float | None, str], Cell] = {}

    def figure(ratio: float | None) -> str:
        text = figures.get(ratio)
        if text is None:
            text = figures[ratio] = (
                t.t("uptime", pct=t.percent(ratio)) if ratio is not None else t.t("no_data")
            )
        return text

    def cell(d: Day) -> Cell:
        key = (d.day, d.uptime, d.level)
        out = cells.get(key)
        if out is None:
            when = dates.get(d.day)
            if when is None:
                when = dates[d.day] = t.day(d.day)
            out = cells[key] = Cell(d.level, t.t("day", date=when, value=figure(d.uptime)))
        return out

    out = []
    for c in s.config.components:
        status = "maintenance" if s.engine.in_maintenance(c.id, now) else s.engine.severity(c.id)
        up = uptime[c.id]
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "status": status,
                "label": t.t(status),
                "uptime": figure(up.ratio),
                "days": [cell(d) for d in up.days],
            }
        )
    return out


async def status_page(request: web.Request) -> web.Response:
    """Rendered once per change and language (detector.web.cache); an operator's request is
    rendered afresh and never shared."""
    s = request.app[SERVICES]
    lang = language(request, s)
    now = s.engine.clock.now()

    async def render() -> bytes:
        html = await render_status_page(
            s, request.app[UPTIME], request.app[MESSAGES], now, lang, subscribe=True
        )
        return html.encode()

    headers = {**PAGE_HEADERS, "Content-Language": lang}
    kind = "text/html; charset=utf-8"
    if token_ok(request):
        entry = cache.Entry.make(await render(), kind, None, now)
        return cache.respond(request, entry, headers, shared=False)
    responses = request.app[cache.CACHE]
    entry = await responses.get(("/", lang), responses.version(s, now), render, kind, now)
    return cache.respond(request, entry, headers)


async def render_status_page(
    s: Services,
    uptimes: UptimeCache,
    messages: Messages,
    now: float,
    lang: str,
    *,
    subscribe: bool = False,
) -> str:
    """The status page's HTML in `lang`, as it is at `now`: served at `/`, and written by
    `detector export` (detector.web.export) for hosting elsewhere. Its links are relative.
    `subscribe`: with the sign-up form (served, not exported: a copy has nowhere to post)."""
    t = Chrome(lang, s.config.service.timezone)
    open_, past, notices = await public_incidents(s, now)
    components = await _components(uptimes, s, t, now)
    overall: str = worst([c["status"] for c in components if c["status"] != "maintenance"])
    if overall == Severity.OPERATIONAL and any(c["status"] == "maintenance" for c in components):
        overall = "maintenance"
    maintenance = [
        {
            "id": m.id,
            "title": _title(
                s, t, m.title, t.t("maint_title", what=t.list(_names(s, m.component_ids)))
            ),
            "components": _names(s, m.component_ids),
            # in the page's language or not at all: a page in one language (CONTRACT §7.10)
            "message": text_in(m.message, lang, s.config.service.locale),
            "message_missing": m.message is not None
            and text_in(m.message, lang, s.config.service.locale) is None,
            "in_progress": m.starts_at <= now,
            "starts": when(t, m.starts_at),
            "starts_iso": stamp(m.starts_at),
            "ends": when(t, m.ends_at),
            "ends_iso": stamp(m.ends_at),
        }
        for m in sorted(s.engine.maintenance, key=lambda m: m.starts_at)
        if m.ends_at > now
    ]
    phone = s.config.service.contact.phone or ""
    return PAGES.get_template("status.html.j2").render(
        t=t,
        service=s.config.service,
        dial="".join(ch for ch in phone if ch.isdigit() or ch == "+"),
        zone=t.zone_title(datetime.fromtimestamp(now, UTC)),
        languages=[(code, NAMES[code]) for code in LANGS],
        overall=overall,
        overall_text=t.t(f"overall_{overall}"),
        incidents=[_incident_view(s, i, notices[i.id], t, messages) for i in open_],
        past=[_incident_view(s, i, notices[i.id], t, messages) for i in past],
        components=components,
        maintenance=maintenance,
        subscribe=status_page_form(s, lang) if subscribe else None,
    )


async def atom(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    lang = language(request, s)
    body = await render_feed(
        s, request.app[MESSAGES], lang, base_url(request, s), s.engine.clock.now()
    )
    return web.Response(
        body=body,
        content_type="application/atom+xml",
        charset="utf-8",
        headers={"Vary": "Accept-Language", "Cache-Control": "max-age=30"},
    )


async def render_feed(s: Services, messages: Messages, lang: str, base: str, now: float) -> bytes:
    """The Atom feed in `lang`; `base` is the status page's URL (ids and links start there)."""
    t = Chrome(lang, s.config.service.timezone)
    incs = [i for i in await s.store.incidents(limit=FEED_INCIDENTS) if public(i)]
    by = await s.store.notices([i.id for i in incs])
    entries = []
    for inc in incs:
        report = postmortem_path(inc)
        related = f"{base}{report}?lang={lang}" if report else None
        for n in by[inc.id]:
            text = messages.get(n, lang, s.config.service.timezone)
            entries.append(
                feed.Entry(
                    n.id, inc.id, text.headline, text.text, n.published_at, n.status, related
                )
            )
    return feed.render(
        base=base,
        title=t.t("feed_title", service=s.config.service.name),
        author=s.config.service.name,
        lang=lang,
        entries=entries,
        now=now,
    )


async def banner(request: web.Request) -> web.Response:
    """`{}` when all is well; else the worst open incident, in the reader's language."""
    s = request.app[SERVICES]
    body = await banner_body(s, request.app[MESSAGES], language(request, s), base_url(request, s))
    return web.json_response(body, headers=BANNER_HEADERS)


BANNER_MAINTENANCE_AHEAD = 3 * 86400.0
"""A planned maintenance shows on the banner from this long before it starts."""


def _banner_maintenance(s: Services, t: Chrome, now: float) -> tuple[Any, str] | None:
    """The next maintenance a customer should know about (in progress, or soon), in words."""
    soon = [
        m
        for m in s.engine.maintenance
        if m.ends_at > now and m.starts_at - BANNER_MAINTENANCE_AHEAD <= now
    ]
    if not soon:
        return None
    m = min(soon, key=lambda m: m.starts_at)
    what = t.list(_names(s, m.component_ids))
    if m.starts_at <= now:
        return m, t.t("banner_maintenance_now", what=what, end=when(t, m.ends_at))
    return m, t.t(
        "banner_maintenance", what=what, start=when(t, m.starts_at), end=when(t, m.ends_at)
    )


async def banner_body(s: Services, messages: Messages, lang: str, base: str) -> dict[str, Any]:
    """The banner's JSON: `{}` when all is well; else the worst open incident in `lang` with
    its next update, and the maintenance in progress or coming soon; linked from `base`."""
    now = s.engine.clock.now()
    t = Chrome(lang, s.config.service.timezone)
    planned = _banner_maintenance(s, t, now)
    candidates = [i for i in s.engine.open_incidents() if public(i)]
    notices = await s.store.notices([i.id for i in candidates])
    candidates = [i for i in candidates if notices[i.id]]
    common = {
        "lang": lang,
        "dir": t.dir,
        "more": t.t("more"),
        "dismiss": t.t("dismiss"),
        "maintenance": planned[1] if planned else None,
    }
    if not candidates:
        if planned is None:
            return {}
        m, words = planned
        return {
            "id": f"maintenance-{m.id}",
            "title": words,
            "status": "maintenance",
            "status_label": t.t("maintenance"),
            "severity": "maintenance",
            "severity_label": t.t("maintenance"),
            "subject": words,
            "next_update": None,
            "published_at": stamp(m.starts_at) or iso(now),
            "url": f"{base}?lang={lang}#maintenance-{m.id}",
            **common,
            "maintenance": None,
        }
    inc = max(candidates, key=lambda i: (Severity.of(i.severity).rank, i.started_at))
    latest = notices[inc.id][-1]
    text = messages.get(latest, lang, s.config.service.timezone)
    promised = latest.next_update_at
    return {
        "id": inc.id,
        "title": text.headline,
        "status": inc.status,
        "status_label": _label(t, inc.status),
        "severity": inc.severity,
        "severity_label": _label(t, inc.severity),
        "subject": text.headline,
        "next_update": t.t("next_update", time=when(t, promised)) if promised else None,
        "published_at": stamp(latest.published_at) or iso(now),
        "url": f"{base}?lang={lang}#incident-{inc.id}",
        **common,
    }


async def banner_js(request: web.Request) -> web.Response:
    return web.Response(
        body=_BANNER_JS,
        content_type="text/javascript",
        charset="utf-8",
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def postmortem(request: web.Request) -> web.Response:
    """Published post-mortems are public; a draft needs the admin token."""
    s = request.app[SERVICES]
    inc = await s.store.incident(request.match_info["id"])
    published = inc is not None and inc.postmortem_published_at is not None and public(inc)
    if inc is None or not (published or token_ok(request)):
        raise web.HTTPNotFound(text="no published post-mortem for this incident")
    text = await build_postmortem(s.store, s.config, inc.id, s.engine.clock.now())
    return web.Response(
        text=text,
        content_type="text/markdown",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.document(), headers={"Access-Control-Allow-Origin": "*"})


def setup(app: web.Application) -> None:
    services = app[SERVICES]
    app[UPTIME] = UptimeCache(services.config, services.store)
    app[MESSAGES] = Messages()
    app.router.add_get("/", status_page)
    app.router.add_get("/feed.atom", atom)
    app.router.add_get("/api/v1/banner", banner)
    app.router.add_get("/banner.js", banner_js)
    app.router.add_get("/api/v1/incidents/{id}/postmortem", postmortem)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_static("/static/", HERE / "static", append_version=False)
