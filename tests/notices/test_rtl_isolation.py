"""Issue 11, right-to-left text (CONTRACT §7.11), as far as it can be checked without a bidi
algorithm: in Arabic subjects, plain text and SMS every left-to-right run is isolated, and no
line opens on one (phones and mail clients lay a line out by its first strong character).

How the lines then look (visual order), by a Unicode bidi algorithm: test_bidi.py.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest

from detector.notices.compose import LOCALES, compose
from detector.notices.model import Message
from tests.notices.factory import facts

FSI, LRI, PDI, RLM = "\u2068", "\u2066", "\u2069", "\u200f"
CONTROLS = re.compile("[\u200e\u200f\u2066-\u2069]")
KINDS = (
    "opened", "update", "severity_changed", "expanded", "identified", "human", "monitoring",
    "recurred", "resolved", "postmortem", "maintenance_scheduled", "maintenance_started",
    "maintenance_ended", "maintenance_cancelled",
)  # fmt: skip
ARABIC_OPERATOR_TEXT: dict[str, Any] = {  # what a config gives in Arabic (another part of #11)
    "impact_translations": [{"ar": "لا يمكنكم الوصول إلى الواجهة البرمجية."}],
}


def arabic(kind: str, **changes: Any) -> Message:
    words: dict[str, Any] = {**ARABIC_OPERATOR_TEXT}
    if kind == "human":
        words["message"] = "تراجعنا عن تحديث هذا الصباح.\nستعود المزامنة قريبًا."
    if kind == "identified":
        words["cause"] = "أدى تغيير في الإعدادات إلى إرهاق قاعدة البيانات."
    return compose(facts(kind, **{**words, **changes}), "ar", "Europe/Warsaw")


def first_strong(line: str) -> str | None:
    """The first strong direction as a renderer without isolates sees it (RLM counts: R)."""
    for ch in line:
        kind = unicodedata.bidirectional(ch)
        if kind in ("L", "R", "AL"):
            return "L" if kind == "L" else "R"
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_no_arabic_line_opens_left_to_right(kind: str) -> None:
    message = arabic(kind)
    link_line = message.sms.splitlines()[-1]
    for part in ("subject", "text", "sms"):
        for line in getattr(message, part).splitlines():
            if not line.strip() or (part == "sms" and line == link_line):
                continue
            assert first_strong(line) == "R", f"{part}: {line!r}"


@pytest.mark.parametrize("kind", ("opened", "identified", "resolved", "maintenance_scheduled"))
def test_left_to_right_runs_are_isolated(kind: str) -> None:
    message = arabic(kind)

    assert message.subject.startswith(f"{RLM}[{FSI}Acme Cloud{PDI}] ")
    assert f"{FSI}Public API{PDI}" in message.subject
    for run in (
        f"{FSI}Public API{PDI}",
        f"{LRI}https://status.acme-cloud.io/{PDI}",
        f"{LRI}ops@acme.example{PDI}",
        f"{LRI}+48 22 555 0100{PDI}",  # digits stay in their order: "+48 22 555 0100"
        f"{RLM}{FSI}Jane Doe, Head of Operations{PDI}\n",  # the signature, its own line
        f"{RLM}{FSI}Acme Cloud{PDI}\n",
    ):
        assert run in message.text, run
    assert f"{FSI}Public API{PDI}" in message.sms
    # each fact Python hands a template is isolated whole: no Latin letter outside an isolate
    outside = re.sub(f"[{FSI}{LRI}][^{PDI}]*{PDI}", "", message.subject)
    assert not re.search("[A-Za-z]", outside), outside


def test_times_and_dates_are_isolated() -> None:
    text = arabic("opened").text
    resolved = arabic("resolved").text

    assert f"{FSI}11:00 ص UTC+1{PDI}" in text  # since
    assert f"{FSI}11:17 ص UTC+1{PDI}" in text  # next update
    assert f"{FSI}28 نوفمبر 2025{PDI}" in resolved  # the report's date


def test_the_sms_puts_each_sentence_and_the_link_on_a_line_of_its_own() -> None:
    sms = arabic("opened").sms

    assert sms.split("\n")[-1] == "status.acme-cloud.io"  # a paragraph of its own: left to right
    assert sms.split("\n")[0].startswith("تعطل")


@pytest.mark.parametrize("locale", [lang for lang in LOCALES if lang != "ar"])
@pytest.mark.parametrize("kind", KINDS)
def test_left_to_right_languages_carry_no_direction_controls(kind: str, locale: str) -> None:
    message = compose(facts(kind), locale, "Europe/Warsaw")

    for part in ("subject", "text", "html", "sms"):
        assert not CONTROLS.search(getattr(message, part)), part


@pytest.mark.parametrize("kind", KINDS)
def test_the_arabic_html_part_is_laid_out_by_attributes_not_marks(kind: str) -> None:
    html = arabic(kind).html

    assert not CONTROLS.search(html)
    assert 'dir="rtl"' in html
    assert '<a href="https://status.acme-cloud.io/" dir="ltr">' in html
    assert "<title>[Acme Cloud] " in html
