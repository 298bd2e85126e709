"""The post-mortem draft: Markdown built only from what was recorded.

Times come from the incident row (first failed check, confirmation, recovery, resolution), the
notices (what customers were told, when, and what was promised next) and the outbox (when a
channel actually accepted each notice). Cause and corrective actions come only from a person;
until one writes them the draft says so plainly instead of guessing.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from detector.config.models import Config
from detector.domain import Severity
from detector.store import IncidentRow, NoticeRow, OutboxRow, Store
from detector.text import source_text

TO_BE_WRITTEN = "_To be written_"
ON_TIME_MIN = 60.0  # an update within a minute of its promise is on time, whatever the cadence
ON_TIME_SHARE = 0.2  # ... or within 20% of the promised interval

SEVERITY_WORDS = {
    "major_outage": "major outage",
    "partial_outage": "partial outage",
    "degraded": "degraded performance",
    "operational": "no customer impact",
}

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "web" / "templates"),
    autoescape=False,  # Markdown, not HTML: the `md` filter neutralises raw HTML instead
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


LINK_SCHEMES = frozenset({"http", "https", "mailto"})

# An inline link or image as a person would type it: `[text](url)`, `[text](<url>)`, with an
# optional title (dropped). Anything else that looks like a link (reference links and their
# definitions, autolinks, raw HTML) never forms one: `md` escapes every other `[`, `]`, `<`, `>`.
_LINK = re.compile(
    r"""!?\[(?P<text>[^\[\]\n]{0,1000})\]
        \([ \t]*
        (?:<(?P<angled>[^<>\n]{0,2000})>|(?P<bare>(?:[^\s()]|\([^\s()]{0,2000}\)){1,2000}))
        (?:[ \t]+(?:"[^"\n]{0,500}"|'[^'\n]{0,500}'|\([^()\n]{0,500}\)))?
        [ \t]*\)""",
    re.VERBOSE,
)
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# What a destination written anew must not carry as is: it would end the link, or break a table.
_URL_UNSAFE = re.compile(r"""[\s\x00-\x1f\x7f-\x9f()<>\[\]\\"'`|]""")


def _percent(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass"))


def safe_link_scheme(url: str) -> bool:
    r"""Whether a Markdown link destination leads to an http, https or mailto URL.

    Seen as a renderer and then a browser would see it: backslash escapes and character
    references (`&#106;`, `&colon;`) undone, whitespace, control and invisible formatting
    characters dropped, case ignored. So `JaVaScRiPt:`, `java\tscript:`, `&#x6A;avascript:`
    and `javascript\:` are all refused, as is a relative URL (no scheme at all).
    """
    plain = _INVISIBLE.sub("", html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", url)))
    scheme = _SCHEME.match(plain)
    return scheme is not None and scheme.group(1).lower() in LINK_SCHEMES


def link_target(url: str) -> str | None:
    """The destination to write for a person's link, or None when it must not be a link.

    The person's own text is kept (a renderer decodes it exactly as `safe_link_scheme` judged
    it); only what would end the destination or break a table cell is percent-encoded.
    """
    return _URL_UNSAFE.sub(_percent, url) if safe_link_scheme(url) else None


def _escape(text: str) -> str:
    """Plain text in Markdown: no raw HTML, autolink or link can start from it."""
    return (
        text.replace("\\", "\\\\")
        .replace("<", "\\<")
        .replace(">", "\\>")
        .replace("[", "\\[")
        .replace("]", "\\]")
    )


def md(value: object) -> str:
    r"""A person's words in Markdown, with their links kept only where they are safe.

    `<`, `>`, `[`, `]` and `\` are escaped, so their text never becomes raw HTML, an autolink,
    a reference link or a link definition. An inline link `[text](url)` is kept, written anew,
    when its URL is http, https or mailto (an image becomes a link to it); any other scheme
    (`javascript:`, `data:`, `vbscript:` and their disguises) or a relative URL leaves the link
    text only.
    """
    text = str(value)
    out: list[str] = []
    last = 0
    for m in _LINK.finditer(text):
        out.append(_escape(text[last : m.start()]))
        label = _escape(m.group("text"))
        target = link_target(
            m.group("angled") if m.group("angled") is not None else m.group("bare")
        )
        if target is not None:
            out.append(f"[{label if label.strip() else _escape(target)}]({target})")
        else:
            out.append(label)
        last = m.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def cell(value: object) -> str:
    """One table cell: a single line, pipes escaped."""
    return " ".join(md(value).split()).replace("|", "\\|")


_ENV.filters["md"] = md
_ENV.filters["cell"] = cell


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one notice reached people: accepted rows, recipients, first and last acceptance."""

    recipients: int
    channels_ok: int
    channels: int
    first_sent: float | None
    last_sent: float | None


@dataclass(frozen=True, slots=True)
class Promise:
    """One 'next update by' promise and whether the next notice kept it."""

    sequence: int
    promised_at: float
    tolerance: float
    kept_at: float | None  # the next notice's published_at; None while still pending
    on_time: bool | None


@dataclass(frozen=True, slots=True)
class Record:
    incident: IncidentRow
    notices: list[NoticeRow]
    outbox: dict[str, list[OutboxRow]]  # notice id → its outbox rows


async def gather(store: Store, incident_id: str) -> Record:
    """Everything the draft is built from; KeyError when there is no such incident."""
    inc = await store.incident(incident_id)
    if inc is None:
        raise KeyError(incident_id)
    notices = (await store.notices([inc.id]))[inc.id]
    outbox = {n.id: await store.outbox_rows(n.id) for n in notices}
    return Record(inc, notices, outbox)


async def build_postmortem(store: Store, config: Config, incident_id: str, now: float) -> str:
    """The Markdown draft for one incident; KeyError when it does not exist."""
    return render(config, await gather(store, incident_id), now)


def delivery(rows: list[OutboxRow]) -> Delivery:
    sent = [r for r in rows if r.state == "sent" and r.sent_at is not None]
    times = [r.sent_at for r in sent if r.sent_at is not None]
    return Delivery(
        recipients=sum(len(r.recipients) for r in sent),
        channels_ok=len(sent),
        channels=len(rows),
        first_sent=min(times, default=None),
        last_sent=max(times, default=None),
    )


def promises(notices: list[NoticeRow]) -> list[Promise]:
    """Each notice's next_update_at against the next notice's published_at.

    An update that comes early (a change published at once) keeps the promise; one that comes
    later than the tolerance breaks it. The last promise of an open incident is pending.
    """
    out = []
    ordered = sorted(notices, key=lambda n: n.sequence)
    for prev, nxt in itertools.zip_longest(ordered, ordered[1:]):
        if prev.next_update_at is None:
            continue
        interval = max(0.0, prev.next_update_at - prev.published_at)
        tolerance = max(ON_TIME_MIN, ON_TIME_SHARE * interval)
        kept = nxt.published_at if nxt is not None else None
        on_time = None if kept is None else kept <= prev.next_update_at + tolerance
        out.append(Promise(prev.sequence, prev.next_update_at, tolerance, kept, on_time))
    return out


def duration(seconds: float) -> str:
    """'1 h 12 min', '3 min 20 s', '45 s': plain and exact enough for a report."""
    if not math.isfinite(seconds):
        return "unknown"
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
    ]
    if not days and not hours:
        parts.append(f"{secs} s" if secs or not minutes else "")
    return " ".join(p for p in parts if p) or "0 s"


class _Times:
    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)

    def __call__(self, ts: float | None) -> str:
        if ts is None:
            return "—"
        try:
            moment = datetime.fromtimestamp(ts, self.zone)
        except (OverflowError, ValueError, OSError):  # a stored time no calendar can show
            return "(unreadable time)"
        return moment.strftime("%Y-%m-%d %H:%M:%S ") + (moment.tzname() or "")


def render(config: Config, record: Record, now: float) -> str:
    inc, notices = record.incident, sorted(record.notices, key=lambda n: n.sequence)
    known = {c.id: c for c in config.components}
    components = [known[c] for c in inc.component_ids if c in known]
    names = [c.name for c in components] + [c for c in inc.component_ids if c not in known]
    deliveries = {n.id: delivery(record.outbox.get(n.id, [])) for n in notices}
    worst = max([inc.severity, *(n.severity for n in notices)], key=lambda s: Severity.of(s).rank)
    end = inc.recovered_at or inc.resolved_at
    first = notices[0] if notices else None
    first_sent = deliveries[first.id].first_sent if first else None
    people = {
        (r.get("name"), r.get("email"), r.get("phone"))
        for rows in record.outbox.values()
        for row in rows
        if row.state == "sent"
        for r in row.recipients
    }
    kept = promises(notices)
    times = _Times(config.service.timezone)
    # an operators' draft: the team's words as written in the service's language (else the
    # first language given), one text each
    source = config.service.locale
    written = replace(
        inc, cause=source_text(inc.cause, source), actions=source_text(inc.actions, source)
    )
    return _ENV.get_template("postmortem.md.j2").render(
        inc=written,
        service=config.service,
        components=components,
        names=names,
        notices=notices,
        deliveries=deliveries,
        severity=SEVERITY_WORDS.get(worst, worst),
        end=end,
        ongoing=end is None,
        impact_for=duration((end or now) - inc.started_at),
        detect_after=duration(inc.detected_at - inc.started_at),
        first_sent=first_sent,
        first_notice_after=duration(first_sent - inc.started_at) if first_sent else None,
        people=len(people),
        promises=kept,
        kept=sum(1 for p in kept if p.on_time),
        due=sum(1 for p in kept if p.on_time is not None),
        timeline=_timeline(inc, notices, deliveries),
        at=times,
        duration=duration,
        now=now,
        to_be_written=TO_BE_WRITTEN,
        zone=config.service.timezone,
    )


def _timeline(
    inc: IncidentRow, notices: list[NoticeRow], deliveries: dict[str, Delivery]
) -> list[tuple[float, str]]:
    events: list[tuple[float, int, str]] = []
    if inc.manual:
        events.append((inc.started_at, 0, "Incident opened by a person"))
    else:
        events.append((inc.started_at, 0, "First failed check"))
        events.append((inc.detected_at, 1, "Outage confirmed by the probes"))
    for n in notices:
        d = deliveries[n.id]
        told = (
            f"; accepted by {d.channels_ok} of {d.channels} channel deliveries, "
            f"{d.recipients} recipients"
            if d.channels
            else "; no channel configured"
        )
        events.append(
            (
                n.published_at,
                2,
                f"Notice {n.sequence} published ({n.event}, {n.kind}): {cell(n.subject)}{told}",
            )
        )
    if inc.recovered_at is not None:
        events.append((inc.recovered_at, 3, "Probes recovered; monitoring"))
    if inc.resolved_at is not None:
        events.append(
            (inc.resolved_at, 4, "Vetoed before publication" if inc.vetoed else "Resolved")
        )
    if inc.postmortem_published_at is not None:
        events.append((inc.postmortem_published_at, 5, "Post-mortem published"))
    return [(t, text) for t, _, text in sorted(events)]
