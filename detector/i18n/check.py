"""The catalog check CI runs: every message, in every language, with every placeholder.

    python -m detector.i18n.check            # exit 1 naming each gap
    python -m detector.i18n.check --update   # re-extract; add new messages to every catalog
    python -m detector.i18n.check --init LANG  # start the catalogs of a new language

Messages are extracted with Babel from the notice templates (domain `notices`) and from the web
package's code and templates (domain `web`). A catalog fails the check when it lacks a message,
leaves one (or one plural form) untranslated or fuzzy, or drops or invents a placeholder:
`%(name)s` in notices, `{name}` in web words. Every fact must reach every reader.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from detector import i18n
from detector.text import base_language

PACKAGE = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")
_JINJA = {"extensions": "", "trim_blocks": "true", "lstrip_blocks": "true"}
# (domain, folder under the package, Babel method map, keywords)
SOURCES: dict[str, tuple[str, list[tuple[str, str]], dict[str, Any]]] = {
    "notices": (
        "notices/templates",
        [
            ("**.j2", "jinja2.ext:babel_extract"),
            ("**.html", "jinja2.ext:babel_extract"),
            ("**.txt", "jinja2.ext:babel_extract"),
        ],
        {},
    ),
    "web": (
        "web",
        [("**.py", "python"), ("templates/**.j2", "jinja2.ext:babel_extract")],
        {"M": ((1, "c"), 2)},
    ),
}


@dataclass(frozen=True, slots=True)
class Problem:
    lang: str
    domain: str
    message: str
    what: str

    def __str__(self) -> str:
        return f"{self.lang}/{self.domain}.po: {self.what}: {self.message!r}"


def extract(domain: str) -> Catalog:
    """The domain's messages as the code and templates use them now."""
    folder, method_map, keywords = SOURCES[domain]
    catalog = Catalog(domain=domain, locale=None, project="outage-detector", fuzzy=False)
    options = {pattern: dict(_JINJA) for pattern, method in method_map if "jinja2" in method}
    found = extract_from_dir(
        str(PACKAGE / folder),
        method_map,
        options_map=options,
        keywords={**DEFAULT_KEYWORDS, **keywords},
        comment_tags=("Translators:",),
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(f"{folder}/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _forms(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(message.string)
    return (message.string or "",)


def _label(message: Message) -> str:
    first = _ids(message)[0]
    return f"{message.context} | {first}" if message.context else first


def check_catalog(lang: str, domain: str, template: Catalog, po: Catalog) -> Iterator[Problem]:
    plurals = po.num_plurals
    for wanted in template:
        if not wanted.id:
            continue
        label = _label(wanted)
        got = po.get(wanted.id, context=wanted.context)
        if got is None:
            yield Problem(lang, domain, label, "missing message")
            continue
        if got.fuzzy:
            yield Problem(lang, domain, label, "fuzzy (not reviewed)")
        forms = _forms(got)
        if wanted.pluralizable and len(forms) != plurals:
            yield Problem(lang, domain, label, f"{len(forms)} plural forms, {lang} needs {plurals}")
        expected = set().union(*(placeholders(i) for i in _ids(wanted)))
        for n, form in enumerate(forms):
            where = f"form {n}" if wanted.pluralizable else "translation"
            if not form.strip():
                yield Problem(lang, domain, label, f"{where} empty")
                continue
            have = placeholders(form)
            lost = expected - have - ({"num"} if wanted.pluralizable else set())
            if lost:
                yield Problem(lang, domain, label, f"{where} lacks placeholder(s) {sorted(lost)}")
            if have - expected:
                yield Problem(
                    lang,
                    domain,
                    label,
                    f"{where} has unknown placeholder(s) {sorted(have - expected)}",
                )


def read(path: Path, lang: str, domain: str) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=lang, domain=domain)


def check(catalogs: Path = i18n.CATALOGS) -> list[Problem]:
    """Every gap in every language's catalogs; empty when they are complete."""
    problems: list[Problem] = []
    langs = sorted(p.name for p in catalogs.iterdir() if p.is_dir() and p.name != i18n.SOURCE)
    for domain in i18n.DOMAINS:
        template = extract(domain)
        for lang in langs:
            path = catalogs / lang / "LC_MESSAGES" / f"{domain}.po"
            if not path.is_file():
                problems.append(Problem(lang, domain, str(path.name), "catalog file missing"))
                continue
            problems.extend(check_catalog(lang, domain, template, read(path, lang, domain)))
    return problems


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(
            fh,
            catalog,
            width=100,
            omit_header=False,
            sort_output=False,
            ignore_obsolete=True,
            include_previous=False,
        )


def update(
    catalogs: Path = i18n.CATALOGS, new: str | None = None, domains: tuple[str, ...] = i18n.DOMAINS
) -> None:
    """Re-extract each domain's template (`<domain>.pot`) and merge it into every catalog:
    new messages arrive untranslated, removed ones are dropped."""
    langs = {p.name for p in catalogs.iterdir() if p.is_dir() and p.name != i18n.SOURCE}
    if new:
        langs.add(base_language(new))
    for domain in domains:
        template = extract(domain)
        _write(catalogs / f"{domain}.pot", template)
        for lang in sorted(langs):
            path = catalogs / lang / "LC_MESSAGES" / f"{domain}.po"
            if path.is_file():
                po = read(path, lang, domain)
            else:
                po = Catalog(locale=lang, domain=domain, project="outage-detector")
            po.update(template, no_fuzzy_matching=True, update_header_comment=False)
            po.fuzzy = False  # the header: a catalog's messages are reviewed one by one
            _write(path, po)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m detector.i18n.check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--catalogs", type=Path, default=i18n.CATALOGS)
    parser.add_argument("--update", action="store_true", help="re-extract and merge")
    parser.add_argument("--init", metavar="LANG", help="start the catalogs of a new language")
    parser.add_argument("--domain", choices=i18n.DOMAINS, help="only this domain (--update)")
    args = parser.parse_args(argv)
    if args.update or args.init:
        update(args.catalogs, args.init, (args.domain,) if args.domain else i18n.DOMAINS)
    problems = check(args.catalogs)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} catalog problem(s)", file=sys.stderr)
        return 1
    print("catalogs complete: every message, in every language, with every placeholder")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
