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
