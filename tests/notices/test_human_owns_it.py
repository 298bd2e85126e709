"""A person's update is published as written, and still owns the problem (CONTRACT §7.2)."""

from __future__ import annotations

import pytest

from detector.notices.compose import compose
from tests.notices.factory import facts

SORRY = {
    "en": "We are sorry",
    "pl": "Przepraszamy",
    "fr": "excuser",
    "ar": "نعتذر",
    "id": "mohon maaf",
}


@pytest.mark.parametrize("locale", sorted(SORRY))
def test_human_update_apologises(locale: str) -> None:
    msg = compose(facts("human", message="The database is being moved."), locale, "UTC")
    assert "The database is being moved." in msg.text
    assert SORRY[locale] in msg.text
    assert SORRY[locale] in msg.html


def test_impact_speaks_the_readers_language() -> None:
    f = facts(
        "opened",
        impacts=["You cannot pay."],
        impact_translations=[{"fr": "Vous ne pouvez pas payer.", "en": "You cannot pay."}],
    )
    assert "Vous ne pouvez pas payer." in compose(f, "fr", "UTC").text
    assert "You cannot pay." in compose(f, "pl", "UTC").text  # no Polish given: the default
