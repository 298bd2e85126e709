"""A person's update is published as written, and still owns the problem (CONTRACT §7.2)."""

from __future__ import annotations

import pytest

from detector.notices.compose import compose
from tests.notices.factory import MESSAGES, facts

SORRY = {
    "en": "We are sorry",
    "pl": "Przepraszamy",
    "fr": "excuser",
    "ar": "نعتذر",
    "id": "mohon maaf",
}


@pytest.mark.parametrize("locale", sorted(SORRY))
def test_human_update_apologises(locale: str) -> None:
    msg = compose(facts("human"), locale, "UTC")
    assert MESSAGES[locale].splitlines()[0] in msg.text
    assert SORRY[locale] in msg.text
    assert SORRY[locale] in msg.html


def test_impact_speaks_the_readers_language() -> None:
    f = facts(
        "opened",
        impacts=["You cannot pay."],
        impact_translations=[{"fr": "Vous ne pouvez pas payer.", "en": "You cannot pay."}],
    )
    assert "Vous ne pouvez pas payer." in compose(f, "fr", "UTC").text
    polish = compose(f, "pl", "UTC").text  # no Polish given: said so in Polish, not English
    assert "You cannot pay." not in polish
    assert "nie jest jeszcze" in polish or "jeszcze nie" in polish


@pytest.mark.parametrize("locale", ["pl", "fr", "ar", "id"])
def test_a_persons_words_missing_in_a_language_are_said_to_be_missing_not_borrowed(
    locale: str,
) -> None:
    """CONTRACT §7.10: one language per notice; the reader learns there is more, in theirs."""
    english_only = compose(facts("human", message="We moved the database."), locale, "UTC")
    english = compose(facts("human", message="We moved the database."), "en", "UTC")
    assert "We moved the database." in english.text
    for part in (english_only.subject, english_only.text, english_only.html, english_only.sms):
        assert "moved the database" not in part
    missing = compose(facts("identified", cause="Disk full."), locale, "UTC")
    assert "Disk full." not in missing.text
    assert missing.text != compose(facts("identified"), locale, "UTC").text
