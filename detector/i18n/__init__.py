"""Customer-facing words in every language: gettext catalogs, CLDR plurals, language choice.

Every sentence a customer reads (notices on each channel, the status page, banner, feed and
published post-mortem) is an English message id looked up in one catalog per language and
domain: `locales/<lang>/LC_MESSAGES/<domain>.po`, extracted from templates and code with Babel
(`python -m detector.i18n.check --update`) and compiled in memory when first used. A language
is a directory of catalogs: adding one is catalog work only (docs/translating.md).

A message a catalog lacks is logged and counted (`detector_translations_missing_total`), and the
English text stands in for it: never silently.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from detector import logs
from detector.text import base_language

_ABBREVIATION = re.compile(r"[A-Z]{2,5}")
SOURCE = "en"
"""The language of the message ids: English needs no catalog."""
DOMAINS = ("notices", "web")
CATALOGS = Path(__file__).with_name("locales")

log = logs.get("detector.i18n")
_missing: Counter[tuple[str, str]] = Counter()
_reported: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def discover(catalogs: Path = CATALOGS) -> tuple[str, ...]:
    """Every language with a catalog for each domain: a new directory is a new language."""
    found = sorted(
        p.name
        for p in catalogs.iterdir()
        if p.is_dir() and all((p / "LC_MESSAGES" / f"{d}.po").is_file() for d in DOMAINS)
    )
    return (SOURCE, *(lang for lang in found if lang != SOURCE))


LOCALES: tuple[str, ...] = discover()
"""Every language with a full set of catalogs, English first."""


def display_name(lang: str) -> str:
    """ "Polski", "Français", "العربية": a language named in itself, for a language menu."""
    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


def supported(tag: str | None) -> str | None:
    """The catalog language for a locale tag, or None when there is none."""
    if not tag:
        return None
    lang = base_language(tag.strip())
    return lang if lang in LOCALES else None


def negotiate(preferred: list[str], default: str) -> str:
    """The first of `preferred` (best first) a catalog exists for, else `default`'s language."""
    picked = negotiate_locale([t.replace("-", "_") for t in preferred], list(LOCALES), sep="_")
    if picked is None:  # Babel matches "pl_PL" to "pl" only through its alias table
        picked = next((lang for lang in map(supported, preferred) if lang), None)
    return picked or supported(default) or SOURCE


def parse_accept_language(header: str) -> list[str]:
    """Accept-Language tags, best first; q=0 means 'not this one', a bad q counts as 0."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.strip() and tag.strip() != "*" and q > 0:
            ranked.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


class Catalog:
    """One language's messages in one domain; a message it lacks is reported and English used."""

    def __init__(
        self,
        lang: str,
        domain: str,
        translations: Translations | None = None,
        known: frozenset[tuple[str | None, str]] = frozenset(),
    ) -> None:
        self.lang = lang
        self.domain = domain
        self._t = translations
        self._known = known  # (context, singular id) of every translated message

    def _found(self, context: str | None, message: str) -> bool:
        if self._t is None or (context, message) in self._known:
            return True
        report_missing(self.lang, self.domain, f"{context} | {message}" if context else message)
        return False

    def gettext(self, message: str) -> str:
        return self._t.gettext(message) if self._t and self._found(None, message) else message

    def pgettext(self, context: str, message: str) -> str:
        if self._t and self._found(context, message):
            return str(self._t.pgettext(context, message))
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if self._t and self._found(None, singular):
            return self._t.ngettext(singular, plural, n)
        return singular if n == 1 else plural

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        if self._t and self._found(context, singular):
            return self._t.npgettext(context, singular, plural, n)
        return singular if n == 1 else plural


def report_missing(lang: str, domain: str, message: str) -> None:
    """Count and log (once per message) a message a catalog lacks or cannot format."""
    with _lock:
        _missing[(lang, domain)] += 1
        first = (lang, domain, message) not in _reported
        _reported.add((lang, domain, message))
    if first:  # once per message: a busy page must not flood the log
        log.warning("translation missing", locale=lang, domain=domain, message=message[:120])


def missing_counts() -> dict[tuple[str, str], int]:
    """Messages looked up and not found, by (locale, domain), since start."""
    with _lock:
        return dict(_missing)


def catalog_path(lang: str, domain: str) -> Path:
    return CATALOGS / lang / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=64)
def catalog(lang: str, domain: str) -> Catalog:
    """The compiled catalog (read and compiled once); English is the message ids themselves."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown message domain {domain!r}; expected one of {DOMAINS}")
    lang = supported(lang) or SOURCE
    if lang == SOURCE:
        return Catalog(lang, domain)
    return load(catalog_path(lang, domain), lang, domain)


def load(path: Path, lang: str, domain: str) -> Catalog:
    """A .po file compiled in memory: no build step, no .mo files to keep in step."""
    with path.open("rb") as fh:
        po = read_po(fh, locale=lang, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, po, use_fuzzy=False)
    compiled.seek(0)
    known = frozenset(
        (m.context, m.id if isinstance(m.id, str) else m.id[0])
        for m in po
        if m.id and not m.fuzzy and _translated(m.string)
    )
    return Catalog(lang, domain, Translations(compiled, domain=domain), known)


def _translated(string: str | tuple[str, ...] | list[str] | None) -> bool:
    """Every form given: an empty one would print nothing where a sentence belongs."""
    forms = [string] if isinstance(string, str) else list(string or ())
    return bool(forms) and all(forms)


def zone_label(moment: datetime, lang: Locale) -> str:
    """ "CET"/"EST"/"WIB" where the reader's locale has a well-known abbreviation, else "UTC+1":
    one label per reader, the same in notices and on the page."""
    name = get_timezone_name(moment, "short", locale=lang)
    if _ABBREVIATION.fullmatch(name):
        return name
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{hours}:{rest:02d}" if rest else f"UTC{sign}{hours}"


__all__ = [
    "DOMAINS",
    "LOCALES",
    "SOURCE",
    "Catalog",
    "catalog",
    "display_name",
    "missing_counts",
    "negotiate",
    "parse_accept_language",
    "report_missing",
    "supported",
    "zone_label",
]
