"""The Atom feed (RFC 4287): one entry per published notice, newest first.

Built with ElementTree so escaping is the XML library's job, not ours.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from detector.incidents.payload import iso

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 200
# Characters XML 1.0 cannot carry at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Entry:
    notice_id: str
    incident_id: str
    title: str
    text: str
    published: float
    category: str
    related: str | None = None  # the incident's published post-mortem page


def _id(base: str, key: str) -> str:
    """A stable, valid Atom id: a name-based UUID of the page URL and the key."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, base + '#' + key)}"


def _stamp(ts: float, fallback: float) -> str:
    """An RFC 3339 time; `fallback` for one that cannot be written (a stored date out of
    range), so one odd row never costs the whole feed."""
    for value in (ts, fallback):
        try:
            text = iso(value)
        except (OverflowError, ValueError, OSError):
            continue
        if text is not None:
            return text
    return "1970-01-01T00:00:00.000Z"


def _text(parent: ET.Element, tag: str, value: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    el.text = _NOT_XML.sub("", value)
    return el


def render(
    *, base: str, title: str, author: str, lang: str, entries: list[Entry], now: float
) -> bytes:
    ET.register_namespace("", ATOM)
    entries = sorted(entries, key=lambda e: e.published, reverse=True)[:MAX_ENTRIES]
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    _text(feed, f"{{{ATOM}}}id", _id(base, "feed"))
    _text(feed, f"{{{ATOM}}}title", title)
    _text(feed, f"{{{ATOM}}}updated", _stamp(entries[0].published if entries else now, now))
    ET.SubElement(
        feed,
        f"{{{ATOM}}}link",
        {"rel": "self", "href": base + "feed.atom", "type": "application/atom+xml"},
    )
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": base, "type": "text/html"})
    who = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(who, f"{{{ATOM}}}name", author)
    for e in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, f"{{{ATOM}}}id", _id(base, e.notice_id))
        _text(entry, f"{{{ATOM}}}title", e.title)
        stamp = _stamp(e.published, now)
        _text(entry, f"{{{ATOM}}}published", stamp)
        _text(entry, f"{{{ATOM}}}updated", stamp)
        ET.SubElement(
            entry,
            f"{{{ATOM}}}link",
            {"rel": "alternate", "type": "text/html", "href": f"{base}#incident-{e.incident_id}"},
        )
        if e.related is not None:
            ET.SubElement(
                entry, f"{{{ATOM}}}link", {"rel": "related", "type": "text/html", "href": e.related}
            )
        ET.SubElement(entry, f"{{{ATOM}}}category", {"term": e.category})
        _text(entry, f"{{{ATOM}}}content", e.text, type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
