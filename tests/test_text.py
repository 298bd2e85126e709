"""Operator text at the door (`detector.text`): control characters out, line breaks kept."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.text import (
    base_language,
    clean_line,
    clean_operator_text,
    is_language_tag,
    languages,
    localized_fault,
    source_text,
    split_localized,
    text_in,
)

C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
C1 = [chr(c) for c in range(0x80, 0xA0)]


def test_nul_and_every_other_control_is_removed() -> None:
    assert clean_operator_text("We are\x00 on it.") == "We are on it."
    for ch in [*C0, "\x7f", *C1]:
        assert clean_operator_text(f"a{ch}b") == "ab", repr(ch)


def test_newline_and_tab_are_kept_and_line_breaks_normalised() -> None:
    assert clean_operator_text("one\ntwo\tthree") == "one\ntwo\tthree"
    assert clean_operator_text("one\r\ntwo\r\n") == "one\ntwo\n"
    assert clean_operator_text("one\rtwo") == "one\ntwo"  # an old Mac line break is a break
    assert clean_operator_text("one\r\r\ntwo") == "one\n\ntwo"


def test_terminal_escape_loses_its_escape() -> None:
    assert clean_operator_text("\x1b[31mred\x1b[0m \x9b2J") == "[31mred[0m 2J"


def test_text_that_cannot_be_encoded_or_carried_in_xml_is_removed() -> None:
    assert clean_operator_text("a\ud800b\udfffc") == "abc"
    assert clean_operator_text("a\ufffeb\uffffc") == "abc"
    clean_operator_text("x\ud83dy").encode("utf-8")  # no lone surrogate survives


@pytest.mark.parametrize(
    "text",
    [
        "Zahlungen sind verzögert.",
        "Płatności są opóźnione.",
        "المدفوعات متأخرة.",
        "支付延迟。",
        "Emoji 🚒 stay.",
        "Non\u00a0breaking and zero\u200bwidth stay.",
        "Bidi \u2067isolates\u2069 stay (right-to-left notices need them).",
    ],
)
def test_ordinary_text_in_any_language_is_untouched(text: str) -> None:
    assert clean_operator_text(text) == text


def test_a_title_is_one_line() -> None:
    assert clean_line("  Payments\r\n are\tlate \x00 ") == "Payments are late"
    assert clean_operator_text("a\n b", single_line=True) == "a b"
    assert clean_line("\x00\x01\n") == ""


@given(st.text())
def test_no_control_character_but_newline_and_tab_ever_survives(text: str) -> None:
    out = clean_operator_text(text)
    assert "\r" not in out
    for ch in out:
        assert ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"), repr(ch)
    out.encode("utf-8")
    assert clean_operator_text(out) == out  # idempotent


@given(st.text())
def test_a_cleaned_line_has_no_line_break(text: str) -> None:
    out = clean_line(text)
    assert "\n" not in out and "\t" not in out and out == out.strip()
    assert clean_line(out) == out


# --- operator text in several languages ---------------------------------------------------------


def test_text_in_the_reader_s_language_or_none() -> None:
    words = {"en": "We are on it.", "fr": "Nous y travaillons.", "pt_BR": "Estamos nisso."}
    assert text_in(words, "fr", "en") == "Nous y travaillons."
    assert text_in(words, "fr_CA", "en") == "Nous y travaillons."  # the base language
    assert text_in(words, "pt", "en") == "Estamos nisso."  # any tag of that language
    assert text_in(words, "pl", "en") is None  # never another language
    assert text_in("Plain.", "en_GB", "en") == "Plain."  # a string is in the source language
    assert text_in("Plain.", "fr", "en") is None
    assert text_in(None, "en", "en") is None
    assert base_language("fr-CA") == "fr"
    assert languages(words, "en") == {"en", "fr", "pt"}
    assert languages("Plain.", "pl_PL") == {"pl"}


def test_source_text_and_the_split_for_notice_facts() -> None:
    words = {"fr": "Bonjour.", "en": "Hello."}
    assert source_text(words, "en") == "Hello."
    assert source_text({"fr": "Bonjour."}, "en") == "Bonjour."  # operators' records only
    assert split_localized(words, "en") == ("Hello.", words)
    assert split_localized({"fr": "Bonjour."}, "en") == (None, {"fr": "Bonjour."})
    assert split_localized("Hello.", "en") == ("Hello.", {})


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("ok", None),
        ({"en": "ok", "pt-BR": "ok"}, None),
        ("  ", (None, "must not be empty")),
        ({}, (None, "must give the text in at least one language")),
        ({"qqq": "x"}, ("qqq", "not a language (write e.g. en, fr, pt_BR)")),
        ({"en": 1}, ("en", "must be text")),
        ({"en": " "}, ("en", "must not be empty")),
        (3, (None, "must be text, or one text per language")),
    ],
)
def test_localized_faults_name_the_language(value: object, fault: object) -> None:
    assert localized_fault(value) == fault
    assert is_language_tag("ar") and not is_language_tag(" en") and not is_language_tag("")
