"""The published post-mortem as customers read it: `GET /incidents/{id}/postmortem`.

The internal draft (detector.postmortem, Markdown, `GET /api/v1/incidents/{id}/postmortem`) is
written for operators: probes, deliveries, tolerances. This page tells the same story to a
customer, in their language and time zone, in five sections: summary, impact, timeline, cause
and what we are changing. It is built only from what customers were already told (the
incident's notices and their facts) and what people wrote (cause, corrective actions, their
updates), never from evidence, probe names or delivery records.

`public_postmortem` is pure (rows and config in, a `PublicPostmortem` out), so the wording is
tested without HTTP; `render_page` lays it out with the status page's look (its stylesheet,
header and footer) and no script. Until the post-mortem is published the page is a 404.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from babel.dates import format_skeleton, get_timezone_name
from babel.lists import format_list
from babel.units import format_unit

from detector.config.models import Config
from detector.domain import Kind, Severity
from detector.store import IncidentRow, NoticeRow
from detector.text import Localized, source_text, text_in
from detector.web.api import public
from detector.web.app import SERVICES
from detector.web.i18n import LANGS, NAMES, Chrome
from detector.web.pages import PAGES
from detector.web.public import PAGE_HEADERS, language, stamp, when

SECTIONS = ("summary", "impact", "timeline", "cause", "actions")
_FSI, _PDI = "\u2068", "\u2069"  # first-strong isolate … pop: a Latin run inside Arabic
_MAX_ZONE = 64
# what a notice of each kind told customers, in one short line of the timeline
_TOLD: dict[str, str] = {
    Kind.OPENED: "pm_told_opened",
    Kind.UPDATE: "pm_told_update",
    Kind.SEVERITY_CHANGED: "pm_told_severity",
    Kind.EXPANDED: "pm_told_expanded",
    Kind.IDENTIFIED: "pm_told_identified",
    Kind.HUMAN: "pm_told_human",
    Kind.MONITORING: "pm_told_monitoring",
    Kind.RECURRED: "pm_told_recurred",
    Kind.RESOLVED: "pm_told_resolved",
    Kind.POSTMORTEM: "pm_told_postmortem",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One labelled value of the impact section: a time (with its ISO form) or a duration."""

    label: str
    text: str
    iso: str | None = None


@dataclass(frozen=True, slots=True)
class Affected:
    """A component and what its customers could not do; `lang` is set where the sentence is
    not in the page's language (the config had none in it)."""

    name: str
    impact: str | None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the timeline; `words` are a person's own (an update, the cause)."""

    at: str
    iso: str | None
    what: str
    words: str | None = None


@dataclass(frozen=True, slots=True)
class PublicPostmortem:
    """The report's five sections, already in the reader's language and time zone."""

    incident_id: str
    lang: str
    dir: str
    title: str
    published: str | None
    headings: dict[str, str]  # SECTIONS → heading
    severity: str  # the worst customer-facing severity (its code, for styling)
    severity_label: str
    summary: list[str]
    impact_intro: str
    affected: list[Affected]
    facts: list[Fact]
    timeline: list[Step]
    cause: str
    cause_known: bool
    actions: str
    actions_known: bool
    people_lang: str | None  # the language people's words are in, where not the page's
    zone_note: str


def reader_zone(asked: str | None, default: str) -> str:
    """`?tz=` when it names a real IANA zone, else the service's."""
    if asked and len(asked) <= _MAX_ZONE:
        try:
            ZoneInfo(asked)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return default
        return asked
    return default


def span(seconds: float, t: Chrome) -> str:
    """'1 hour and 12 minutes', '1 godzina i 12 minut': CLDR units and lists, to the minute."""
    total = max(0, round(seconds)) if math.isfinite(seconds) else 0
    if total < 60:
        return format_unit(total, "duration-second", length="long", locale=t.locale)
    days, rest = divmod((total + 30) // 60, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [
        format_unit(value, f"duration-{unit}", length="long", locale=t.locale)
        for value, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if value
    ]
    return format_list(parts, locale=t.locale)


def _base(tag: str) -> str:
    return tag.replace("-", "_").split("_")[0].lower()


def public_postmortem(
    incident: IncidentRow, notices: list[NoticeRow], config: Config, locale: str, zone: str
) -> PublicPostmortem:
    """The customer's report of one incident in `locale`, times in `zone` (an IANA name)."""
    t = Chrome(locale, zone)
    rtl = t.dir == "rtl"

    def iso_(text: str) -> str:
        return f"{_FSI}{text}{_PDI}" if rtl else text

    ordered = sorted(notices, key=lambda n: n.sequence)
    known = {c.id: c for c in config.components}
    comps = [known[c] for c in incident.component_ids if c in known]
    names = [c.name for c in comps] or [config.service.name]
    what = format_list([iso_(n) for n in names], locale=t.locale)
    severity = Severity.worst([incident.severity, *(n.severity for n in ordered)])
    end = incident.recovered_at or incident.resolved_at
    source = config.service.locale
    people = _base(source)
    # the team's words (cause, actions, what they said): in the reader's language when every
    # one of them is given in it, else all as written in the service's (and marked so)
    said = [incident.cause, incident.actions, *(_said(n) for n in ordered)]
    reader = all(text_in(v, t.lang, source) is not None for v in said if v is not None)
    chosen = t.lang if reader else people
    people_lang = None if chosen == t.lang else people

    def pick(value: Localized | None) -> str | None:
        found = text_in(value, chosen, source)
        text = found if found is not None else source_text(value, source)
        return (text or "").strip() or None

    summary = [t.t(f"pm_summary_{severity}", date=iso_(_day(t, incident.started_at)), what=what)]
    if end is not None:
        summary.append(
            t.t(
                "pm_summary_end",
                duration=span(end - incident.started_at, t),
                time=iso_(when(t, end)),
            )
        )
    summary.append(t.t("pm_summary_cause" if incident.cause else "pm_summary_no_cause"))
    summary.append(t.t("pm_sorry"))

    show = severity in (Severity.MAJOR_OUTAGE, Severity.PARTIAL_OUTAGE)
    affected = []
    for c in comps:
        sentence, given = _impact(c.impact_for(severity), t.lang, people)
        affected.append(Affected(c.name, sentence, given) if show else Affected(c.name, None))

    facts = [Fact(t.t("pm_started"), when(t, incident.started_at), stamp(incident.started_at))]
    if incident.recovered_at is not None:
        facts.append(
            Fact(t.t("pm_recovered"), when(t, incident.recovered_at), stamp(incident.recovered_at))
        )
    if incident.resolved_at is not None:
        facts.append(
            Fact(t.t("pm_resolved"), when(t, incident.resolved_at), stamp(incident.resolved_at))
        )
    if end is not None:
        facts.append(Fact(t.t("pm_duration"), span(end - incident.started_at, t)))

    published = incident.postmortem_published_at
    return PublicPostmortem(
        incident_id=incident.id,
        lang=t.lang,
        dir=t.dir,
        title=t.t("pm_title", title=iso_(incident.title)),
        published=t.t("pm_published", time=iso_(when(t, published))) if published else None,
        headings={s: t.t(f"pm_{s}") for s in SECTIONS},
        severity=severity,
        severity_label=t.t(severity),
        summary=summary,
        impact_intro=t.t(f"pm_impact_{severity}"),
        affected=affected,
        facts=facts,
        timeline=_timeline(incident, ordered, t, iso_, pick),
        cause=pick(incident.cause) or t.t("pm_cause_unknown"),
        cause_known=pick(incident.cause) is not None,
        actions=pick(incident.actions) or t.t("pm_actions_unknown"),
        actions_known=pick(incident.actions) is not None,
        people_lang=people_lang,
        zone_note=t.t("pm_times_in", zone=_zone_name(t, incident.started_at, iso_)),
    )


def _impact(impact: Localized, lang: str, people: str) -> tuple[str, str | None]:
    """(sentence, its language where not `lang`): the reader's language where the config
    gives it, else the service's, else the first given."""
    if isinstance(impact, str):
        return impact.strip(), None if people == lang else people
    given = {_base(k): v for k, v in reversed(impact.items())}
    for choice in (lang, people, _base(next(iter(impact)))):
        if choice in given:
            return given[choice].strip(), None if choice == lang else choice
    raise AssertionError("a component's impact has at least one sentence")  # pragma: no cover


def _day(t: Chrome, ts: float) -> str:
    """The local date, written as the page's times write it ('15 sty 2027')."""
    try:
        return format_skeleton("yMMMd", datetime.fromtimestamp(ts, t.zone), locale=t.locale)
    except (OverflowError, ValueError, OSError):
        return stamp(ts) or "—"


def _zone_name(t: Chrome, ts: float, iso_: Callable[[str], str]) -> str:
    """'czas środkowoeuropejski (CET)': the zone's name in the reader's language, and the
    label the times on the page carry."""
    try:
        moment = datetime.fromtimestamp(ts, t.zone)
    except (OverflowError, ValueError, OSError):
        return t.zone_name
    name = get_timezone_name(t.zone, "long", locale=t.locale)
    if "(" in name:  # no generic name, only a city's ("Indonesia (Jakarta) Time"): the season's
        name = get_timezone_name(moment, "long", locale=t.locale)
    label = t.zone_label(moment)
    return name if label in name else f"{name} ({iso_(label)})"


def _said(n: NoticeRow) -> Localized | None:
    """What the team said in a notice the timeline quotes, in every language given."""
    if not isinstance(n.facts, dict):
        return None
    key = "cause" if n.kind == Kind.IDENTIFIED else "message"
    if n.kind not in (Kind.IDENTIFIED, Kind.HUMAN, Kind.RESOLVED, Kind.OPENED):
        return None
    return _localized(n.facts.get(f"{key}_translations"), n.facts.get(key))


def _localized(translations: object, text: object) -> Localized | None:
    if isinstance(translations, dict) and translations:
        return {str(k): str(v) for k, v in translations.items()}
    return text if isinstance(text, str) and text.strip() else None


def _timeline(
    inc: IncidentRow,
    notices: list[NoticeRow],
    t: Chrome,
    iso_: Callable[[str], str],
    pick: Callable[[Localized | None], str | None],
) -> list[Step]:
    """What happened and what the team did, in customer terms, oldest first."""
    steps: list[tuple[float, int, Step]] = []

    def add(ts: float, rank: int, what: str, words: str | None = None) -> None:
        steps.append((ts, rank, Step(when(t, ts), stamp(ts), what, words)))

    if inc.manual:
        add(inc.started_at, 0, t.t("pm_opened_by_team"))
    else:
        add(inc.started_at, 0, t.t("pm_began"))
        add(inc.detected_at, 1, t.t("pm_detected"))
    kinds: set[str] = set()
    for n in notices:
        facts = n.facts if isinstance(n.facts, dict) else {}
        key = _TOLD.get(n.kind)
        if key is None:
            continue
        kinds.add(n.kind)
        extra = facts["extra"] if isinstance(facts.get("extra"), dict) else {}
        values: dict[str, str] = {}
        words: str | None = None
        if n.kind == Kind.SEVERITY_CHANGED:
            values["severity"] = t.t(str(Severity.of(n.severity)))
        elif n.kind == Kind.EXPANDED:
            added = [str(a) for a in extra.get("added_components") or []]
            values["names"] = format_list([iso_(a) for a in added] or ["—"], locale=t.locale)
        if n.kind in (Kind.IDENTIFIED, Kind.HUMAN, Kind.RESOLVED, Kind.OPENED):
            words = pick(_said(n))
        if n.kind == Kind.HUMAN and words is None:
            continue  # a person's update with no words says nothing to a reader
        add(n.published_at, 2, t.t(key, **values), words)
    if inc.recovered_at is not None and not any(
        n.kind == Kind.MONITORING and abs(n.published_at - inc.recovered_at) < 1 for n in notices
    ):
        add(inc.recovered_at, 3, t.t("pm_recovered_step"))
    if inc.resolved_at is not None and Kind.RESOLVED not in kinds:
        add(inc.resolved_at, 4, t.t("pm_resolved_step"))
    return [step for _, _, step in sorted(steps, key=lambda s: (s[0], s[1]))]


def render_page(
    config: Config,
    incident: IncidentRow,
    notices: list[NoticeRow],
    lang: str,
    zone: str,
    *,
    tz_asked: str | None = None,
) -> str:
    """The page's HTML. Its links are relative to `incidents/<id>/postmortem`; `tz_asked`
    (a zone the reader chose) is kept in its language links."""
    pm = public_postmortem(incident, notices, config, lang, zone)
    phone = config.service.contact.phone or ""
    return PAGES.get_template("postmortem.html.j2").render(
        pm=pm,
        t=Chrome(pm.lang, zone),
        service=config.service,
        dial="".join(ch for ch in phone if ch.isdigit() or ch == "+"),
        languages=[(code, NAMES[code]) for code in LANGS],
        tz_asked=tz_asked,
    )


async def page(request: web.Request) -> web.Response:
    """Public once published (and announced); a 404 before, whoever asks."""
    s = request.app[SERVICES]
    inc = await s.store.incident(request.match_info["id"])
    if inc is None or inc.postmortem_published_at is None or not public(inc):
        raise web.HTTPNotFound(text="no published incident report for this incident")
    notices = (await s.store.notices([inc.id]))[inc.id]
    lang = language(request, s)
    asked = request.query.get("tz")
    zone = reader_zone(asked, s.config.service.timezone)
    html = render_page(
        s.config, inc, notices, lang, zone, tz_asked=zone if asked and zone == asked else None
    )
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            **PAGE_HEADERS,
            "Content-Language": lang,
            "Vary": "Accept-Language",
            "Cache-Control": "max-age=60",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/incidents/{id}/postmortem", page)
