"""Operator text at the door: what a person types (admin API, CLI) before it reaches a notice.

Messages, titles, causes, corrective actions and maintenance text end up in HTML, e-mail, SMS,
the Atom feed, webhooks and the post-mortem. None of those wants a NUL, an escape sequence or a
bell in the middle of a sentence, and some cannot carry them at all. So, before the engine sees
the text:

- C0 controls (U+0000-U+001F), DEL (U+007F) and C1 controls (U+0080-U+009F) are removed, except
  tab and newline;
- line breaks are normalised: CRLF and a lone CR become one LF;
- lone surrogates (which no UTF-8 encoder accepts) and the noncharacters U+FFFE/U+FFFF (which
  XML cannot carry) are removed.

A title is one line: `single_line=True` also turns every run of whitespace (newlines and tabs
included) into one space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

# C0 except \t (09) and \n (0A); DEL; C1; lone surrogates; the two XML-forbidden noncharacters.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK = re.compile("\r\n?")
_SPACE_RUN = re.compile(r"\s+")


def clean_operator_text(value: str, *, single_line: bool = False) -> str:
    """`value` without control characters; newlines normalised (or folded, for one line)."""
    text = _UNWANTED.sub("", _LINE_BREAK.sub("\n", value))
    if single_line:
        text = _SPACE_RUN.sub(" ", text).strip()
    return text


def clean_line(value: str) -> str:
    """One line of operator text, e.g. a title: `clean_operator_text(value, single_line=True)`."""
    return clean_operator_text(value, single_line=True)


# --- operator text in several languages (CONTRACT §3) ----------------------------------------
# One string (written in the service's language, `service.locale`) or one text per language.
# A reader gets their language or nothing: a notice in one language never borrows a sentence
# of another (CONTRACT §7.10), so the callers, not this module, decide what to say instead.

Localized = str | dict[str, str]


def base_language(tag: str) -> str:
    """`fr_CA`, `fr-CA` and `FR` all speak `fr`."""
    return tag.replace("-", "_").split("_")[0].lower()


def text_in(value: Localized | None, lang: str, source: str) -> str | None:
    """`value` in language `lang` (exact tag, then its base language); a plain string is in
    `source` (the language operators write in). None: not available in that language."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if base_language(lang) == base_language(source) else None
    if lang in value:
        return value[lang]
    wanted = base_language(lang)
    for tag, text in value.items():  # `fr` answers `fr_CA`; so does `fr_BE` when it is all
        if tag == wanted:
            return text
    return next((text for tag, text in value.items() if base_language(tag) == wanted), None)


def languages(value: Localized | None, source: str) -> set[str]:
    """The base languages `value` is given in (a plain string: the source language)."""
    if value is None:
        return set()
    if isinstance(value, str):
        return {base_language(source)}
    return {base_language(tag) for tag in value}


def source_text(value: Localized | None, source: str) -> str | None:
    """For operators' own records (post-mortem draft, logs): the source-language text, else
    the first given. Never for a customer's notice."""
    if value is None or isinstance(value, str):
        return value
    found = text_in(value, source, source)
    return found if found is not None else next(iter(value.values()), None)


def is_language_tag(tag: str) -> bool:
    """Whether `tag` names a language Babel knows (`fr`, `pt_BR`, `zh-Hant`)."""
    from babel import Locale, UnknownLocaleError

    if not tag or tag != tag.strip():
        return False
    try:
        Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return False
    return True


def localized_fault(value: object) -> tuple[str | None, str] | None:
    """(the language key at fault or None for the whole value, what is wrong) unless `value`
    is operator text in one or several languages."""
    if isinstance(value, str):
        return None if value.strip() else (None, "must not be empty")
    if not isinstance(value, dict):
        return None, "must be text, or one text per language"
    if not value:
        return None, "must give the text in at least one language"
    for tag, text in value.items():
        if not isinstance(tag, str) or not is_language_tag(tag):
            return str(tag)[:32], "not a language (write e.g. en, fr, pt_BR)"
        if not isinstance(text, str):
            return tag, "must be text"
        if not text.strip():
            return tag, "must not be empty"
    return None


def map_text(value: Localized, fn: Callable[[str], str]) -> Localized:
    """`fn` applied to every text of `value` (cleaning, stripping), the shape kept."""
    if isinstance(value, str):
        return fn(value)
    return {tag: fn(text) for tag, text in value.items()}


def encode_localized(value: Localized | None) -> str | None:
    """For a text column: a plain string as it is, a mapping as a JSON object."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def decode_localized(stored: str | None) -> Localized | None:
    """A text column's value back: a JSON object of text is a mapping; anything else (text
    that happens to start with "{" included) is the plain string it was."""
    if stored is None or not stored.startswith("{"):
        return stored
    try:
        parsed = json.loads(stored)
    except ValueError:
        return stored
    if (
        isinstance(parsed, dict)
        and parsed
        and all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
    ):
        return parsed
    return stored


def split_localized(value: Localized | None, source: str) -> tuple[str | None, dict[str, str]]:
    """(the `source`-language text or None, every language's text: {} for a plain string)."""
    if value is None or isinstance(value, str):
        return value, {}
    return text_in(value, source, source), dict(value)
