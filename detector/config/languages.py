"""Which languages operator text must be given in: the ones its readers read.

Each subscriber reads the base language of their `locale` (none: the service's), about the
components they follow (none: all); the service's own language is always read (the status
page, and subscribers without a locale). `check` warns of every component's impact that
misses one (CONTRACT §3), and the admin API and CLI tell a person which readers their words
will not reach in their language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detector.config.models import Component, Config, Subscriber
from detector.text import Localized, base_language, text_in

SHOWN = 3  # subscriber names in one warning line; the rest are counted


def readers(
    config: Config, people: Iterable[Subscriber], component_ids: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Base language → the names of the subscribers who read it, for news of any of
    `component_ids` (None: of any component). The service's language is always there."""
    source = base_language(config.service.locale)
    out: dict[str, list[str]] = {source: []}
    wanted = None if component_ids is None else set(component_ids)
    for person in people:
        if wanted is not None and person.components is not None:
            if not wanted & set(person.components):
                continue
        lang = base_language(person.locale or config.service.locale)
        out.setdefault(lang, []).append(person.name)
    return out


def missing_languages(
    value: Localized | None,
    config: Config,
    people: Iterable[Subscriber],
    component_ids: Sequence[str] | None = None,
) -> list[str]:
    """The readers' languages (sorted) that `value` is not given in; [] for no text at all."""
    if value is None:
        return []
    source = config.service.locale
    return sorted(
        lang
        for lang in readers(config, people, component_ids)
        if text_in(value, lang, source) is None
    )


def impact_warnings(config: Config, people: Sequence[Subscriber]) -> list[str]:
    """One line per (component, severity, language) whose impact subscribers need and the
    config lacks, e.g. `components[0].impact: no text in fr (subscribers: Globex)`."""
    lines = []
    for j, c in enumerate(config.components):
        needed = readers(config, people, [c.id])
        for severity, value in _variants(c):
            where = f"components[{j}].impact" + (f".{severity}" if severity else "")
            for lang in missing_languages(value, config, people, [c.id]):
                lines.append(f"{where}: no text in {lang} ({_who(needed[lang])})")
    return lines


def _variants(c: Component) -> list[tuple[str | None, Localized]]:
    return list(c.impact_variants().items())


def _who(names: list[str]) -> str:
    if not names:
        return "the service's language"
    shown = ", ".join(names[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"subscribers: {shown}{more}"
