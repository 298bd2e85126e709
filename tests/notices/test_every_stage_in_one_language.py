"""Issue 11, done-when 1: with the example config, a subscriber in each language gets every
stage fully in their language: no run of English words in a non-English notice, other than
names, links and the config's proper nouns. Operator text (impact, cause, a person's update,
maintenance) is given per language, as the example config and the admin API give it.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlparse

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from detector import i18n
from detector.config import Config
from detector.config.loader import load_config
from detector.domain import Kind, Severity
from detector.notices.compose import compose, compose_update
from detector.notices.model import NoticeFacts
from detector.text import split_localized, text_in
from tests.config._data import EXAMPLE, EXAMPLE_ENV
from tests.notices.factory import CAUSES, MESSAGES, NEXT_UPDATE, PUBLISHED, REPORT_BY, STARTED, at

READERS = {"en": "Europe/Warsaw", "pl": "Europe/Warsaw", "fr": "Europe/Paris",
           "ar": "Africa/Cairo", "id": "Asia/Jakarta"}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LATIN = re.compile(r"[A-Za-zÀ-ɏ]")
_TAG = re.compile(r"<[^>]+>")
# a zone's label is an international abbreviation, as a reader's phone shows it: "UTC+2", "CET"
_ZONE = re.compile(r"\bUTC(?:[+-]\d{1,2}(?::\d\d)?)?|\b[A-Z]{2,5}\b(?=\W*$|[\s.,،)\u2069])")
_LINK = re.compile(r"(?:https?://|mailto:|tel:)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\S+\.\w{2,}/\S*")


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(EXAMPLE, env=EXAMPLE_ENV)


def stages(config: Config) -> list[NoticeFacts]:
    """Every kind of notice the example's API component can give, at each severity it has."""
    service = config.service
    api = config.component("api")
    source = service.locale
    cause, causes = split_localized(dict(CAUSES), source)
    words, translated = split_localized(dict(MESSAGES), source)
    out = []
    for kind in Kind:
        for severity in (Severity.MAJOR_OUTAGE, Severity.DEGRADED):
            out.append(
                NoticeFacts(
                    event="incident.updated",
                    kind=str(kind),
                    incident_id="inc",
                    sequence=2,
                    title="-",
                    status="monitoring" if kind in ("monitoring", "resolved") else "identified",
                    severity=str(severity),
                    components=[api.name],
                    impacts=[split_localized(api.impact_for(severity), source)[0] or ""],
                    impact_translations=[api.impact_translations(severity)],
                    vendor=None,
                    started_at=STARTED,
                    published_at=PUBLISHED,
                    next_update_at=None if kind == "resolved" else NEXT_UPDATE,
                    report_by=REPORT_BY if kind in ("monitoring", "resolved") else None,
                    message=words if kind in ("human", "resolved") else None,
                    message_translations=translated if kind in ("human", "resolved") else {},
                    cause=cause if kind == "identified" else None,
                    cause_translations=causes if kind == "identified" else {},
                    service_name=service.name,
                    status_page_url=str(service.status_page_url or "") or None,
                    contact_name=service.contact.name,
                    contact_email=service.contact.email,
                    contact_phone=service.contact.phone,
                    source_locale=source,
                    extra={
                        "starts_at": at("2025-11-25T21:00:00"),
                        "ends_at": at("2025-11-25T23:00:00"),
                        "previous_severity": "partial_outage",
                        "added_components": ["Payments"],
                    },
                )
            )
    return out


def proper_nouns(config: Config) -> list[str]:
    c = config.service.contact
    url = str(config.service.status_page_url or "")
    host = urlparse(url).hostname or ""  # an SMS links the bare host
    names = [config.service.name, c.name, c.email or "", c.phone or "", url, host]
    names += [comp.name for comp in config.components]
    names += [comp.vendor for comp in config.components if comp.vendor]
    return sorted({n for n in names if n}, key=len, reverse=True)


def parts(facts: NoticeFacts, lang: str, zone: str) -> dict[str, str]:
    """Every text of one notice: the e-mail, the SMS, and the status page's short update."""
    message, page = compose(facts, lang, zone), compose_update(facts, lang, zone)
    assert message.locale == lang
    body = message.html.split("<body", 1)[1].split(">", 1)[1]
    return {
        "subject": message.subject,
        "text": message.text,
        "sms": message.sms,
        "html": unescape(_TAG.sub(" ", body)),
        "page": f"{page.headline}\n{page.text}",
    }


def strip(text: str, nouns: list[str]) -> str:
    text = _LINK.sub(" ", text)
    for noun in nouns:
        text = text.replace(noun, " ")
    return _ZONE.sub(" ", text)


def english_vocabulary(config: Config) -> set[str]:
    """Every word our English notices use, and the English operator text."""
    words: set[str] = set()
    nouns = proper_nouns(config)
    for facts in stages(config):
        for part in parts(facts, "en", "UTC").values():
            words |= {w.lower() for w in _WORD.findall(strip(part, nouns))}
    return words


def own_vocabulary(lang: str, config: Config) -> set[str]:
    """Words the language's own catalogs and operator texts use: "a" and "to" are Polish too."""
    words: set[str] = set()
    for domain in i18n.DOMAINS:
        with i18n.catalog_path(lang, domain).open("rb") as fh:
            for message in read_po(fh, locale=lang):
                string = message.string
                forms = [string] if isinstance(string, str) else list(string or ())
                for form in forms:
                    words |= {w.lower() for w in _WORD.findall(form or "")}
    cldr = Locale.parse(lang)  # its month and day names, whatever English spells alike
    for context in ("format", "stand-alone"):
        for width in ("abbreviated", "wide"):
            names = [*cldr.months[context][width].values(), *cldr.days[context][width].values()]
            words |= {w.lower() for name in names for w in _WORD.findall(name)}
    impacts = [
        text_in(c.impact_for(severity), lang, config.service.locale) or ""
        for c in config.components
        for severity in (Severity.MAJOR_OUTAGE, Severity.DEGRADED)
    ]
    for text in (CAUSES.get(lang, ""), MESSAGES.get(lang, ""), *impacts):
        words |= {w.lower() for w in _WORD.findall(text)}
    return words


def foreign_runs(text: str, lang: str, english: set[str], own: set[str]) -> list[str]:
    """Runs of English words (Latin words at all, in Arabic) in `text`."""
    runs, run = [], []
    for word in _WORD.findall(text):
        if lang == "ar":
            foreign = bool(_LATIN.search(word))
        else:
            foreign = word.lower() in english and word.lower() not in own
        if foreign:
            run.append(word)
        elif run:
            runs.append(" ".join(run))
            run = []
    if run:
        runs.append(" ".join(run))
    return runs


def test_the_detector_catches_the_issues_example(config: Config) -> None:
    english, own = english_vocabulary(config), own_vocabulary("fr", config)
    english |= {"configuration", "change", "overloaded", "our", "database"}
    leaked = "Ce qui s'est passé : A configuration change overloaded our database."
    assert any("overloaded our database" in run for run in foreign_runs(leaked, "fr", english, own))
    assert foreign_runs("تعطل Public API", "ar", english, own) == ["Public API"]


@pytest.mark.parametrize("lang", [lang for lang in i18n.LOCALES if lang != "en"])
def test_every_stage_reaches_each_reader_in_their_language_only(config: Config, lang: str) -> None:
    english = english_vocabulary(config) | {w.lower() for w in _WORD.findall(
        " ".join([CAUSES["en"], MESSAGES["en"]]))}  # fmt: skip
    own = own_vocabulary(lang, config)
    nouns = proper_nouns(config)
    seen: set[tuple[str, str]] = set()
    for facts in stages(config):
        for name, part in parts(facts, lang, READERS.get(lang, "UTC")).items():
            runs = foreign_runs(strip(part, nouns), lang, english, own)
            assert not runs, f"{facts.kind}/{facts.severity} {lang} {name}: {runs}\n{part}"
        seen.add((facts.kind, facts.severity))
    assert len(seen) == len(Kind) * 2
