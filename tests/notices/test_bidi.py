"""Issue 11, right-to-left text (CONTRACT §7.11) in its visual order: the Arabic subject, SMS
and plain text laid out line by line by a real Unicode bidi algorithm (python-bidi), as a
phone or a mail client lays them out. Every left-to-right run (names, the link, the e-mail
address, the phone number, the contact) comes out whole and in reading order, and every line
with Arabic in it runs right to left.

And the check has teeth: the same text with its direction marks removed breaks (the phone
number came out as "0100 555 22 48+" before isolation)."""

from __future__ import annotations

import re

import pytest
from bidi import get_display

from detector.notices.model import Message
from tests.notices.factory import CONTACT
from tests.notices.test_rtl_isolation import KINDS, arabic

MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ARABIC = re.compile("[\u0600-\u06ff]")
RUNS = (
    "Acme Cloud",
    "Public API",
    "Dashboard",
    "status.acme-cloud.io",
    "ops@acme.example",
    "+48 22 555 0100",
    CONTACT,
)


def visual(line: str) -> str:
    """The line as shown: reordered by the bidi algorithm (paragraph direction from its first
    strong character, as renderers do), direction marks then dropped (they are invisible)."""
    return MARKS.sub("", get_display(line))


def parts(m: Message) -> dict[str, list[str]]:
    return {
        "subject": [m.subject],
        "sms": m.sms.splitlines(),
        "text": m.text.splitlines(),
    }


def broken(lines: list[str]) -> list[tuple[str, str]]:
    """(run, line) for every left-to-right run a line holds that does not show whole."""
    bad = []
    for line in lines:
        plain = MARKS.sub("", line)
        for run in RUNS:
            if run in plain and run not in visual(line):
                bad.append((run, visual(line)))
    return bad


@pytest.mark.parametrize("kind", KINDS)
def test_left_to_right_runs_show_whole_in_visual_order(kind: str) -> None:
    for part, lines in parts(arabic(kind)).items():
        assert broken(lines) == [], part


@pytest.mark.parametrize("kind", KINDS)
def test_every_arabic_line_runs_right_to_left(kind: str) -> None:
    for part, lines in parts(arabic(kind)).items():
        for line in lines:
            if not ARABIC.search(line):
                continue
            # laid out as a right-to-left paragraph: the same as when forced to be one
            assert get_display(line) == get_display(line, base_dir="R"), (part, line)


def test_without_its_marks_the_same_text_breaks() -> None:
    """The marks are what makes it work: stripped, runs come out reversed or split."""
    failures = 0
    for kind in KINDS:
        for lines in parts(arabic(kind)).values():
            failures += len(broken([MARKS.sub("", line) for line in lines]))
    assert failures > 0
