"""Customer notices: facts → words, in the reader's language and time zone (CONTRACT §7).

All wording lives in `templates/messages.j2` (one macro per part, one branch per kind), as
English message ids looked up in the reader's gettext catalog (detector.i18n);
`templates/layout/` lays it out as subject, text, html and SMS, and as the short update pages
show. Python only prepares facts: localized dates and lists (Babel), names and flags, never
sentences.

Right-to-left readers (ar): in the subject, the plain text and the SMS every left-to-right run
Python hands a template (names, dates and times, the link, e-mail and phone) is isolated, so the
Unicode bidi algorithm lays it out on its own and cannot reorder it with its neighbours: FSI…PDI
where the run's direction comes from its first letter (a name may be Latin or Arabic, an Arabic
time carries "ص"/"م"), LRI…PDI where it is left-to-right whatever it holds (a link, an address, a
phone number, whose digits would otherwise be laid out right to left). A line that would start
with such a run (the subject's "[service]", the signature) starts with RLM (added in `_render`,
whatever the language's sentence order puts first), since phones
and mail clients give a line the direction of its first strong character. The html part is laid
out by dir="rtl" and dir="ltr" attributes instead and gets the facts as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time
from babel.lists import format_list
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from detector import i18n
from detector.domain import Kind, Severity, Status
from detector.notices.model import Message, NoticeFacts
from detector.notices.sms import fit_sms, plain
from detector.text import Localized, text_in

LOCALES = i18n.LOCALES
DEFAULT_LOCALE = i18n.SOURCE

KINDS = frozenset(Kind)
# Kinds that list what customers cannot do; a recovery or a report does not repeat it.
_SHOWS_IMPACTS = frozenset(
    {
        Kind.OPENED,
        Kind.UPDATE,
        Kind.SEVERITY_CHANGED,
        Kind.EXPANDED,
        Kind.IDENTIFIED,
        Kind.RECURRED,
        Kind.MAINTENANCE_SCHEDULED,
        Kind.MAINTENANCE_STARTED,
    }
)
_BLANK_LINES = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")  # a subject is one header line, whatever a name contains
_DIAL = re.compile(r"[^+\d]")

_TEMPLATES = Path(__file__).with_name("templates")

FSI, LRI, PDI, RLM = "\u2068", "\u2066", "\u2069", "\u200f"
_OPENS_LTR = (FSI, LRI, "[")
SMS_STEPS = 3
"""Shorter SMS wordings a language may give (`sms_terse(c, 1)` … `(c, 3)`), tried in order."""


def _paragraphs(value: str) -> list[str]:
    """Split wording on blank lines; keeps Markup (html) as Markup so nothing is re-escaped."""
    wrap = Markup if isinstance(value, Markup) else str
    return [wrap(p.strip()) for p in _BLANK_LINES.split(str(value)) if p.strip()]


def _lines(value: str) -> Markup:
    """A person's line breaks survive in html (escaped line by line)."""
    return Markup("<br>\n").join(escape(line) for line in value.splitlines())


def _bare(value: str | None) -> str | None:
    """A fact without its isolate, for a template that places it where none is needed (the
    end of an SMS line that starts with an Arabic word) and cannot spare the two characters."""
    if value and len(value) > 1 and value[0] in (FSI, LRI) and value[-1] == PDI:
        return value[1:-1]
    return value


class _Words:
    """gettext for one language and one escaping mode, as a template calls it.

    Each call formats its named placeholders (escaped in html unless already markup) and, unless
    its context marks a phrase, gives the sentence a capital letter when it opens on our words
    rather than on a fact (Polish "usługa Public API …" → "Usługa …"; "iOS app" stays as is).
    """

    def __init__(self, lang: str, autoescape: bool) -> None:
        self.catalog = i18n.catalog(lang, "notices")
        self.lang = lang
        self.autoescape = autoescape

    def _format(self, text: str, context: str, values: dict[str, Any]) -> str:
        out = Markup(text) % values if self.autoescape else text % values
        if context.startswith("phrase") or not out[:1].islower():
            return out
        if any(out.startswith(fact) for fact in _FACTS.get() or ()):
            return out
        head = out[:1].upper()
        return Markup(head) + out[1:] if isinstance(out, Markup) else head + out[1:]

    def _say(self, said: str, source: str, context: str, values: dict[str, Any]) -> str:
        try:
            return self._format(said, context, values)
        except (KeyError, ValueError, TypeError):  # a catalog names a placeholder it may not
            i18n.report_missing(self.lang, "notices", f"{context} {source}".strip())
            return self._format(source, context, values)

    def gettext(self, message: str, /, **values: Any) -> str:
        return self._say(self.catalog.gettext(message), message, "", values)

    def pgettext(self, context: str, message: str, /, **values: Any) -> str:
        return self._say(self.catalog.pgettext(context, message), message, context, values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        said = self.catalog.ngettext(singular, plural, n)
        return self._say(said, singular if n == 1 else plural, "", values)

    def npgettext(self, context: str, singular: str, plural: str, n: int, /, **values: Any) -> str:
        said = self.catalog.npgettext(context, singular, plural, n)
        return self._say(said, singular if n == 1 else plural, context, values)


# The facts of the notice being rendered: a sentence that opens on one keeps its case.
_FACTS: ContextVar[frozenset[str] | None] = ContextVar("notice_facts", default=None)


@lru_cache(maxsize=64)
def _environment(lang: str, autoescape: bool) -> Environment:
    """One per language and escaping mode, built once: html escapes, subject/text/SMS must not,
    and the same wording compiles in both, so a message's `<` is escaped exactly where it matters.
    """
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,  # a missing fact fails loudly instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["paragraphs"] = _paragraphs
    env.filters["lines"] = _lines
    env.filters["bare"] = _bare
    words = _Words(lang, autoescape)
    env.globals.update(
        _=words.gettext,
        gettext=words.gettext,
        pgettext=words.pgettext,
        ngettext=words.ngettext,
        npgettext=words.npgettext,
    )
    return env


@lru_cache(maxsize=512)
def resolve_locale(locale: str) -> tuple[str, Locale]:
    """(wording language, Babel locale for dates): `fr_CA` → French words, Canadian dates.

    An unknown or unsupported locale falls back to its base language, then to English.
    """
    tag = locale.strip().replace("-", "_")
    try:
        parsed: Locale | None = Locale.parse(tag) if tag else None
    except (UnknownLocaleError, ValueError, TypeError):
        parsed = None
    language = parsed.language if parsed else tag.split("_")[0].lower()
    if language not in LOCALES:
        language = DEFAULT_LOCALE
    if parsed is None or parsed.language != language:
        parsed = Locale.parse(language)
    return language, parsed


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Warsaw)"
        ) from None


@dataclass(frozen=True, slots=True)
class _Clock:
    """Local dates and times for one reader: Babel formats, plus a zone they can't misread."""

    locale: Locale
    zone: ZoneInfo

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.zone)

    def zone_label(self, moment: datetime) -> str:
        return i18n.zone_label(moment, self.locale)

    def time(self, ts: float) -> str:
        moment = self.local(ts)
        shown = format_time(moment, "short", tzinfo=self.zone, locale=self.locale)
        return f"{shown} {self.zone_label(moment)}"

    def moment(self, ts: float, *, same_day_as: float | None) -> tuple[str, bool]:
        """(text, has_date): the time alone on the reference's local day, else date and time."""
        shown = self.time(ts)
        if same_day_as is not None and self.day(ts) == self.day(same_day_as):
            return shown, False
        day = format_skeleton("MMMd", self.local(ts), tzinfo=self.zone, locale=self.locale)
        pattern = self.locale.datetime_formats["medium"]  # CLDR's own "{1}, {0}" joiner
        return str(pattern).replace("'", "").format(shown, day), True

    def compact(self, ts: float, *, same_day_as: float | None) -> str:
        """24-hour time and zone, with a numeric date off the reference's day: for an SMS."""
        moment = self.local(ts)
        shown = format_skeleton("Hm", moment, tzinfo=self.zone, locale=self.locale)
        shown = f"{shown} {self.zone_label(moment)}"
        if same_day_as is not None and self.day(ts) == self.day(same_day_as):
            return shown
        pattern = self.locale.datetime_formats["short"]
        return str(pattern).replace("'", "").format(shown, self.numeric_date(ts))

    def numeric_date(self, ts: float) -> str:
        """ "28.11", "28/11", "11/28": day and month in digits, as the locale orders them."""
        return format_skeleton("dM", self.local(ts), tzinfo=self.zone, locale=self.locale)

    def day(self, ts: float) -> date:
        return self.local(ts).date()

    def date(self, ts: float, width: str) -> str:
        return format_date(self.day(ts), width, locale=self.locale)

    def short_date(self, ts: float) -> str:
        return format_skeleton("MMMd", self.local(ts), tzinfo=self.zone, locale=self.locale)


@dataclass(frozen=True, slots=True)
class _View:
    """What templates see: facts already localized, plus flags that steer the grammar."""

    kind: str
    lang: str
    direction: str
    service: str
    what: str  # the components (or the service), as one localized list
    plural: bool
    count: int  # how many components `what` names: the plural form a language takes
    severity: str
    trend: str | None  # "worse" | "better" | None, for severity_changed
    added: str | None  # for expanded: the components that joined, as one localized list
    added_plural: bool
    added_count: int
    fixed: bool  # a person says it works again (status monitoring or resolved): the headline too
    impacts: list[str | None]  # None: no sentence in the reader's language
    show_impacts: bool
    vendor: str | None
    cause: str | None
    message: str | None  # a person's words in the reader's language
    message_missing: bool  # they wrote, but not in this reader's language
    message_line: str | None
    since: str
    since_day: bool
    ended: str
    ended_day: bool
    next_update: str | None
    next_update_day: bool
    next_update_compact: str | None  # "11:17 UTC+1": 24-hour, for an SMS that needs the room
    report_by: str | None
    report_by_short: str | None  # "28 lis"
    report_by_numeric: str | None  # "28.11"
    starts: str | None
    starts_compact: str | None
    ends: str | None
    ends_compact: str | None
    status_page_url: str | None
    sms_link: str | None
    contact_name: str
    contact_email: str | None
    contact_phone: str | None
    contact_dial: str | None
    rlm: str  # RLM where a right-to-left line starts with a left-to-right run, else ""
    # every text above: a sentence that opens on one keeps its case (set once, by _view)
    facts: frozenset[str] = frozenset()


def _epoch(facts: NoticeFacts, key: str) -> float | None:
    value = facts.extra.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"notice extra[{key!r}] must be epoch seconds, got {value!r}") from None


def _check(facts: NoticeFacts) -> None:
    if facts.kind not in KINDS:
        raise ValueError(f"unknown notice kind {facts.kind!r}; expected one of {sorted(KINDS)}")
    if facts.severity not in set(Severity):
        raise ValueError(
            f"unknown severity {facts.severity!r}; expected one of {sorted(map(str, Severity))}"
        )
    cause = facts.cause or "".join(facts.cause_translations.values())
    message = facts.message or "".join(facts.message_translations.values())
    required = {
        "service_name": facts.service_name,
        "contact_name": facts.contact_name,
        "cause": cause if facts.kind == "identified" else "-",
        "message": message if facts.kind == "human" else "-",
    }
    for name, value in required.items():
        if not (value or "").strip():
            raise ValueError(f"a {facts.kind!r} notice needs {name}")
    if facts.kind == "maintenance_scheduled" and _epoch(facts, "starts_at") is None:
        raise ValueError("a 'maintenance_scheduled' notice needs extra['starts_at']")
    if facts.kind == "expanded" and not facts.extra.get("added_components"):
        raise ValueError("an 'expanded' notice needs extra['added_components']")


def _trend(facts: NoticeFacts) -> str | None:
    previous = facts.extra.get("previous_severity")
    if previous not in set(Severity) or previous == facts.severity:
        return None
    return "worse" if Severity(facts.severity) > previous else "better"


def _web_url(url: str | None) -> str | None:
    """Only http(s) links reach a customer: never `javascript:` or a bare host in an href."""
    if url and re.match(r"https?://", url, re.IGNORECASE):
        return url
    return None


def _sms_link(url: str | None) -> str | None:
    """Phones link a bare host; the scheme and a trailing slash only cost characters."""
    if not url:
        return None
    return re.sub(r"^https://", "", url, flags=re.IGNORECASE).rstrip("/")


def _impacts(facts: NoticeFacts, lang: str) -> list[str | None]:
    """Each impact sentence in the reader's language; None where the config has none in it."""
    given = facts.impact_translations
    out: list[str | None] = []
    for i, text in enumerate(facts.impacts):
        value = (given[i] if i < len(given) else None) or text
        if value:
            out.append(text_in(value, lang, facts.source_locale))
    return out


def _operator(
    plain: str | None, translations: dict[str, str], lang: str, source: str
) -> tuple[str | None, bool]:
    """(a person's text in the reader's language, whether it exists but not in it)."""
    given: Localized | None = translations or plain
    if not given:
        return None, False
    found = text_in(given, lang, source)
    found = found.strip() if found else None
    return found or None, not found


def _isolator(isolate: bool) -> tuple[Callable[[str], str], Callable[[str], str]]:
    """(first strong, left to right): how a fact is wrapped for this reader; as is if not."""
    if not isolate:
        return str, str
    return (lambda v: f"{FSI}{v}{PDI}" if v else v), (lambda v: f"{LRI}{v}{PDI}" if v else v)


def _view(facts: NoticeFacts, lang: str, clock: _Clock, *, isolate: bool = False) -> _View:
    """The facts for templates; with `isolate` (right-to-left text), each left-to-right run
    wrapped so the bidi algorithm lays it out whole (see the module's docstring)."""
    fsi, lri = _isolator(isolate)

    def maybe(value: str | None, wrap: Callable[[str], str] = fsi) -> str | None:
        return wrap(value) if value else None

    names = [fsi(n.strip()) for n in facts.components if n.strip()]
    added = [fsi(str(n).strip()) for n in facts.extra.get("added_components") or []]
    service = fsi(facts.service_name.strip())
    published = facts.published_at
    since, since_day = clock.moment(facts.started_at, same_day_as=published)
    # start to recovery, as the post-mortem counts it; resolution if nothing recovered
    ended_at = _epoch(facts, "recovered_at") or _epoch(facts, "resolved_at") or published
    ended, ended_day = clock.moment(ended_at, same_day_as=facts.started_at)
    next_update = next_update_compact = None
    next_update_day = False
    if facts.next_update_at is not None:
        next_update, next_update_day = clock.moment(facts.next_update_at, same_day_as=published)
        next_update_compact = clock.compact(facts.next_update_at, same_day_as=published)
    starts_at, ends_at = _epoch(facts, "starts_at"), _epoch(facts, "ends_at")
    url = _web_url(facts.status_page_url)
    report_by = facts.report_by
    source = facts.source_locale
    message, message_missing = _operator(facts.message, facts.message_translations, lang, source)
    cause, _ = _operator(facts.cause, facts.cause_translations, lang, source)
    view = _View(
        kind=facts.kind,
        lang=lang,
        direction=clock.locale.text_direction,
        service=service,
        what=format_list(names, locale=clock.locale) if names else service,
        plural=len(names) > 1,
        count=max(len(names), 1),
        severity=facts.severity,
        trend=_trend(facts),
        fixed=facts.status in (Status.MONITORING, Status.RESOLVED),
        added=format_list(added, locale=clock.locale) if added else None,
        added_plural=len(added) > 1,
        added_count=max(len(added), 1),
        impacts=[i.strip() if i else None for i in _impacts(facts, lang) if i is None or i.strip()],
        show_impacts=facts.kind in _SHOWS_IMPACTS,
        vendor=maybe(facts.vendor),
        cause=cause,
        message=message,
        message_missing=message_missing,
        message_line=plain(message) if message else None,
        since=fsi(since),
        since_day=since_day,
        ended=fsi(ended),
        ended_day=ended_day,
        next_update=maybe(next_update),
        next_update_day=next_update_day,
        next_update_compact=maybe(next_update_compact),
        report_by=maybe(clock.date(report_by, "long")) if report_by else None,
        report_by_short=maybe(clock.short_date(report_by)) if report_by else None,
        report_by_numeric=maybe(clock.numeric_date(report_by)) if report_by else None,
        starts=maybe(clock.moment(starts_at, same_day_as=None)[0]) if starts_at else None,
        starts_compact=maybe(clock.compact(starts_at, same_day_as=None)) if starts_at else None,
        ends=maybe(clock.moment(ends_at, same_day_as=None)[0]) if ends_at else None,
        ends_compact=maybe(clock.compact(ends_at, same_day_as=None)) if ends_at else None,
        status_page_url=maybe(url, lri),
        sms_link=_sms_link(url),  # an SMS puts it on a line of its own: see compose()
        contact_name=fsi(facts.contact_name.strip()),
        contact_email=maybe(facts.contact_email, lri),
        contact_phone=maybe(facts.contact_phone, lri),
        contact_dial=_DIAL.sub("", facts.contact_phone) if facts.contact_phone else None,
        rlm=RLM if isolate else "",
    )
    texts = (getattr(view, f) for f in view.__slots__)
    return replace(view, facts=frozenset(v for v in texts if isinstance(v, str) and v))


def _render(name: str, lang: str, view: _View, *, html: bool = False, **extra: Any) -> str:
    facts = view.facts | {str(escape(v)) for v in view.facts} if html else view.facts
    token = _FACTS.set(facts)
    try:
        out = _environment(lang, html).get_template(f"layout/{name}").render(c=view, **extra)
    finally:
        _FACTS.reset(token)
    if view.rlm:  # a right-to-left line that opens on a name ("[name]", a name) starts with RLM
        lines = out.split("\n")
        out = "\n".join(view.rlm + ln if ln[:1] in _OPENS_LTR else ln for ln in lines)
    return out


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _views(facts: NoticeFacts, locale: str, timezone: str) -> tuple[str, bool, _View, _View]:
    """(language, right to left, facts as they are, facts as plain text shows them)."""
    _check(facts)
    lang, babel_locale = resolve_locale(locale)
    clock = _Clock(babel_locale, _zone(timezone))
    rtl = babel_locale.text_direction == "rtl"
    as_is = _view(facts, lang, clock)
    return lang, rtl, as_is, _view(facts, lang, clock, isolate=True) if rtl else as_is


def compose(facts: NoticeFacts, locale: str, timezone: str) -> Message:
    """The customer text of one notice in one language, times in the reader's time zone.

    Raises ValueError naming the problem: an unknown kind, severity or time zone, or a fact
    the kind cannot do without (a cause, a person's message, a maintenance start).
    """
    lang, rtl, as_is, view = _views(facts, locale, timezone)
    subject = _SPACES.sub(" ", _render("subject.txt", lang, view)).strip()
    text = _tidy(_render("text.txt", lang, view))
    # the html part isolates with dir attributes: it gets the facts (and its title) as they are
    title = subject if view is as_is else _render("subject.txt", lang, as_is)
    html = _tidy(
        _render("html.html", lang, as_is, html=True, subject=_SPACES.sub(" ", title).strip())
    )
    full = _render("sms.txt", lang, view, step=0)
    shorter = [_render("sms.txt", lang, view, step=n) for n in range(1, SMS_STEPS + 1)]
    sms = fit_sms(
        full,
        view.sms_link,
        terse=[form for form in shorter if form.strip()],
        # right to left: each sentence, and the link, laid out as a line of its own
        sep="\n" if rtl else " ",
        cut=facts.kind == Kind.HUMAN,  # a person's words may be cut; our facts may not
    )
    return Message(locale=lang, subject=subject, text=text, html=html, sms=sms)


@dataclass(frozen=True, slots=True)
class PageUpdate:
    """A notice as the status page, its banner and feed show it: not the e-mail."""

    headline: str  # what is wrong, without the e-mail's "[service]" tag
    text: str  # what changed, what it means, the next update: no link to the page, no signature


def compose_update(facts: NoticeFacts, locale: str, timezone: str) -> PageUpdate:
    """The short update for pages, in one language: composed only where a page needs it, so
    a notice's way to its readers pays nothing for it. Raises ValueError as `compose` does."""
    lang, _, _, view = _views(facts, locale, timezone)
    # pages lay right-to-left text out with dir attributes, but the text keeps its isolates:
    # a feed reader, or a banner on someone else's page, may have neither
    headline = _SPACES.sub(" ", _render("headline.txt", lang, view)).strip()
    return PageUpdate(headline=headline, text=_tidy(_render("short.txt", lang, view)))


__all__ = [
    "DEFAULT_LOCALE",
    "KINDS",
    "LOCALES",
    "PageUpdate",
    "compose",
    "compose_update",
    "resolve_locale",
]


def warm(locales: Iterable[str], timezone: str) -> None:
    """Compile every template a first notice needs, at start-up rather than inside the
    time from outage to first notice."""
    facts = NoticeFacts(
        event="incident.opened",
        kind="opened",
        incident_id="warm",
        sequence=1,
        title="warm",
        status="investigating",
        severity="major_outage",
        components=["x"],
        impacts=["x"],
        vendor=None,
        started_at=0.0,
        published_at=0.0,
        next_update_at=900.0,
        service_name="x",
        contact_name="x",
        contact_email="x@x.example",
    )
    for locale in set(locales):
        compose(facts, locale, timezone)
