"""Every notice kind in every language says what CONTRACT §7 promises, in the reader's time."""

from __future__ import annotations

import re

import pytest

from detector.notices import compose as compose_module
from detector.notices.compose import KINDS, LOCALES, compose, resolve_locale
from detector.notices.sms import segments
from tests.notices.factory import CONTACT, IMPACT, IMPACTS, facts

# 10:17Z in Europe/Warsaw (winter), as each language writes a short time.
NEXT_UPDATE_LOCAL = {"en": "11:17", "pl": "11:17", "fr": "11:17", "ar": "11:17", "id": "11.17"}
LEFTOVERS = re.compile(r"\{\{|\}\}|\{%|%\}|\bNone\b|Undefined")
BIDI_CONTROLS = re.compile("[\u200e\u200f\u2066-\u2069]")


def visible(text: str) -> str:
    """The text as read: without the invisible direction marks and isolates (ar)."""
    return BIDI_CONTROLS.sub("", text)


INCIDENT_KINDS = ("opened", "update", "severity_changed", "identified", "recurred")
PARTS = ("subject", "text", "html", "sms")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_in_every_language(kind: str, locale: str) -> None:
    message = compose(facts(kind), locale, "Europe/Warsaw")

    assert message.locale == locale
    for part in PARTS:
        value = getattr(message, part)
        assert value.strip(), f"{part} is empty"
        assert not LEFTOVERS.search(value), f"{part}: {value!r}"
    assert "\n" not in message.subject
    assert visible(message.subject).startswith("[Acme Cloud] ")
    assert CONTACT in message.text
    assert CONTACT in message.html
    assert "ops@acme.example" in message.text
    assert NEXT_UPDATE_LOCAL[locale] in message.text
    assert NEXT_UPDATE_LOCAL[locale] in message.html
    assert "https://status.acme-cloud.io/" in message.text
    assert 'href="https://status.acme-cloud.io/"' in message.html
    assert message.sms.endswith("status.acme-cloud.io")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_incident_notices_state_impact_and_since_when(kind: str, locale: str) -> None:
    message = compose(facts(kind), locale, "Europe/Warsaw")

    assert IMPACTS[locale] in message.text
    assert "Public API" in message.text
    # started 10:00Z: 11:00 local
    assert ("11.00" if locale == "id" else "11:00") in message.text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_english_notices_say_we_and_own_it(kind: str) -> None:
    text = compose(facts(kind), "en", "Europe/Warsaw").text

    assert re.search(r"\bwe\b", text, re.IGNORECASE)
    if kind not in ("human", "maintenance_ended"):  # a person's own words; a thank-you
        assert re.search(r"sorry|apologi", text, re.IGNORECASE)


def test_english_opened_notice_reads_as_contract_section_7() -> None:
    message = compose(facts("opened"), "en", "Europe/Warsaw")

    assert message.subject == "[Acme Cloud] Public API is unavailable — we are working on it"
    assert "Public API is unavailable. We know, we are working on it now" in message.text
    assert "this is our problem" in message.text
    assert f"What this means for you:\n- {IMPACT}" in message.text
    assert "This started at 11:00\u202fAM UTC+1." in message.text
    assert "next update at 11:17\u202fAM UTC+1" in message.text


def test_times_follow_the_readers_zone() -> None:
    warsaw = compose(facts("update"), "en_GB", "Europe/Warsaw").text
    new_york = compose(facts("update"), "en", "America/New_York").text
    jakarta = compose(facts("update"), "id", "Asia/Jakarta").text

    assert "next update at 11:17 CET" in warsaw
    assert "next update at 5:17\u202fAM EST" in new_york
    assert "pembaruan berikutnya pada 17.17 WIB" in jakarta


def test_next_update_on_another_local_day_shows_the_date() -> None:
    late = facts("update", next_update_at=facts("update").published_at + 14 * 3600)
    text = compose(late, "en", "Europe/Warsaw").text

    assert "next update on Nov 24, 1:02\u202fAM UTC+1" in text


def test_no_next_update_means_no_promise_of_one() -> None:
    message = compose(facts("resolved", next_update_at=None), "en", "Europe/Warsaw")

    assert "next update" not in message.text.lower()
    assert "next update" not in message.sms.lower()


@pytest.mark.parametrize(
    ("kind", "locale", "expected", "short"),
    [
        ("monitoring", "en", "By November 28, 2025, we will send you a report", "11/28"),
        ("resolved", "en", "By November 28, 2025, we will send you a report", "Nov 28"),
        ("resolved", "pl", "Do 28 listopada 2025 prześlemy Państwu raport", "28.11"),
        ("resolved", "fr", "D'ici le 28 novembre 2025, nous vous enverrons un rapport", "28/11"),
        ("resolved", "ar", "بحلول 28 نوفمبر 2025", "28/11"),
        ("resolved", "id", "Paling lambat 28 November 2025", "28/11"),
    ],
)
def test_recovery_promises_the_report_by_a_local_date(
    kind: str, locale: str, expected: str, short: str
) -> None:
    message = compose(facts(kind), locale, "Europe/Warsaw")

    assert expected in visible(message.text)
    assert short in visible(message.sms)
    assert ".." not in message.sms  # "28 nov." ends a sentence without a second full stop


def test_vendor_is_named_and_we_still_own_it() -> None:
    text = compose(facts("opened", vendor="Stripe"), "en", "Europe/Warsaw").text

    assert "The trouble is at Stripe, a provider we rely on." in text
    assert "you chose us, not them" in text
    assert "this is our responsibility" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_vendor_wording_in_every_language(locale: str) -> None:
    with_vendor = compose(facts("opened", vendor="Stripe"), locale, "Europe/Warsaw").text
    without = compose(facts("opened"), locale, "Europe/Warsaw").text

    assert "Stripe" in with_vendor
    assert "Stripe" not in without


def test_severity_words_are_plain() -> None:
    partial = compose(facts("opened", severity="partial_outage"), "en", "UTC")
    degraded = compose(facts("opened", severity="degraded"), "en", "UTC")

    assert "Public API is partly unavailable" in partial.subject
    assert "Public API is slow or unreliable" in degraded.subject
    for message in (partial, degraded):
        assert "outage" not in message.text and "degraded" not in message.text


def test_severity_change_says_whether_it_got_worse_or_better() -> None:
    worse = facts("severity_changed", extra={"previous_severity": "partial_outage"})
    better = facts(
        "severity_changed", severity="degraded", extra={"previous_severity": "major_outage"}
    )

    assert "got worse: Public API is now unavailable" in compose(worse, "en", "UTC").text
    assert "progress: Public API is now slow or unreliable" in compose(better, "en", "UTC").text


def test_several_components_agree_in_number() -> None:
    both = facts("opened", components=["Public API", "Payments"])

    assert "Public API and Payments are unavailable" in compose(both, "en", "UTC").subject
    assert "Usługi Public API i Payments są niedostępne" in compose(both, "pl", "UTC").text
    assert (
        "Les services Public API et Payments sont indisponibles" in compose(both, "fr", "UTC").text
    )


def test_a_persons_words_are_shown_as_written_and_escaped_in_html() -> None:
    words = 'Rolled back <script>alert("x")</script> & restarted.\nSecond line.'
    message = compose(facts("human", message=words), "en", "Europe/Warsaw")

    assert words in message.text
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; restarted.<br>" in message.html
    assert CONTACT in message.text  # the standard footer follows


def test_facts_are_escaped_in_html_everywhere() -> None:
    hostile = facts(
        "identified",
        service_name="Acme <b>Cloud</b>",
        components=["<img src=x onerror=alert(1)>"],
        cause="<i>disk</i>",
        contact_name="Jane <Doe>",
    )
    html = compose(hostile, "en", "UTC").html

    for raw in ("<b>", "<img", "<i>", "<Doe>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_only_web_links_reach_the_customer() -> None:
    message = compose(facts("opened", status_page_url="javascript:alert(1)"), "en", "UTC")

    assert "javascript" not in message.html + message.text + message.sms
    assert "Status page" not in message.text


def test_arabic_html_is_right_to_left() -> None:
    html = compose(facts("opened"), "ar", "Asia/Riyadh").html

    assert '<html lang="ar" dir="rtl">' in html
    assert '<div lang="ar" dir="rtl"' in html
    assert 'dir="rtl"' not in compose(facts("opened"), "fr", "UTC").html


def test_maintenance_windows_are_shown_with_dates() -> None:
    text = compose(facts("maintenance_scheduled"), "en", "Europe/Warsaw").text

    assert "from Nov 25, 10:00\u202fPM UTC+1 to Nov 26, 12:00\u202fAM UTC+1" in text


CANCELLED = {  # (subject, a sentence of the text, the apology)
    "en": (
        "Planned maintenance of Public API has been cancelled",
        "We have cancelled the planned maintenance on Public API",
        "We are sorry",
    ),
    "pl": (
        "Odwołaliśmy planowane prace serwisowe dotyczące usługi Public API",
        "Nie odbędą się w zapowiadanym terminie",
        "Przepraszamy",
    ),
    "fr": (
        "La maintenance planifiée du service Public API est annulée",
        "elle n'aura pas lieu à la date annoncée",
        "excuser",
    ),
    "ar": ("تم إلغاء الصيانة المجدولة لخدمة Public API", "ألغينا الصيانة المجدولة", "نعتذر"),
    "id": (
        "Pemeliharaan terjadwal layanan Public API dibatalkan",
        "Kami telah membatalkan pemeliharaan terjadwal",
        "mohon maaf",
    ),
}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_window_called_off_before_it_began_says_so(locale: str) -> None:
    # as the engine says it: the window's times both become the moment it was called off
    cancelled = facts(
        "maintenance_cancelled",
        event="maintenance.ended",
        status="maintenance",
        severity="operational",
        next_update_at=None,
        extra={"starts_at": facts("opened").published_at, "ends_at": facts("opened").published_at},
        status_page_url="https://status.acme-cloud.io/inc/12345",
    )
    message = compose(cancelled, locale, "Europe/Warsaw")
    subject, sentence, sorry = CANCELLED[locale]

    assert visible(message.subject) == f"[Acme Cloud] {subject}"
    assert sentence in visible(message.text) and sentence in message.html
    assert sorry in message.text
    assert IMPACT not in message.text  # nothing will be out of reach
    assert not re.search(r"11[:.]02", message.text)  # the times are not the plan's: not shown
    assert "next update" not in message.text.lower()
    assert segments(message.sms) == 1, message.sms
    assert message.sms.endswith("status.acme-cloud.io/inc/12345")


def test_subject_is_one_header_line_whatever_the_names() -> None:
    message = compose(facts("opened", service_name="Acme\r\nBcc: x@evil.example"), "en", "UTC")

    assert "\n" not in message.subject and "\r" not in message.subject


def test_english_sms_fits_one_segment_with_a_30_character_link() -> None:
    url = "https://status.acme-cloud.io/inc/12345"
    for kind in sorted(KINDS):
        sms = compose(facts(kind, status_page_url=url), "en", "Europe/Warsaw").sms
        link = sms.rsplit(" ", 1)[-1]
        assert link == "status.acme-cloud.io/inc/12345" and len(link) == 30
        assert segments(sms) == 1, sms


def test_polish_sms_prefers_a_terse_form_over_a_second_segment() -> None:
    url = "https://status.acme-cloud.io/inc/12345"
    sms = compose(facts("opened", status_page_url=url), "pl", "Europe/Warsaw").sms

    assert sms == (
        "Acme Cloud: awaria Public API. Przepraszamy. Aktualizacja o 11:17 CET. "
        "status.acme-cloud.io/inc/12345"
    )  # the apology stays: one segment has room for it (CONTRACT §7.2)
    assert segments(sms) == 1


@pytest.mark.parametrize(
    ("asked", "language"),
    [
        ("fr_CA", "fr"),
        ("fr-CA", "fr"),
        ("pl_PL", "pl"),
        ("AR", "ar"),
        ("id_ID", "id"),
        ("de", "en"),
        ("zh_Hant_TW", "en"),
        ("", "en"),
        ("not a locale", "en"),
    ],
)
def test_unknown_locales_fall_back_to_the_base_language_then_english(
    asked: str, language: str
) -> None:
    assert resolve_locale(asked)[0] == language
    assert compose(facts("opened"), asked, "UTC").locale == language


def test_a_regional_locale_keeps_its_own_date_format() -> None:
    canadian = compose(facts("update"), "fr_CA", "America/Toronto").text

    assert "Notre prochain point vous parviendra à 05 h 17 HNE" in canadian


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"kind": "exploded"}, "unknown notice kind 'exploded'"),
        ({"severity": "on_fire"}, "unknown severity 'on_fire'"),
        ({"kind": "identified", "cause": None}, "needs cause"),
        ({"kind": "human", "message": "  "}, "needs message"),
        ({"contact_name": ""}, "needs contact_name"),
        ({"kind": "maintenance_scheduled", "extra": {}}, "needs extra['starts_at']"),
        ({"kind": "maintenance_started", "extra": {"ends_at": "soon"}}, "epoch seconds"),
    ],
)
def test_bad_facts_are_named(changes: dict[str, object], error: str) -> None:
    changes = dict(changes)
    kind = str(changes.pop("kind", "opened"))
    with pytest.raises(ValueError, match=re.escape(error)):
        compose(facts(kind, **changes), "en", "UTC")


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        compose(facts("opened"), "en", "Mars/Olympus")


def test_environments_are_built_once_per_language_and_escape_only_html() -> None:
    assert compose_module._environment("pl", True).autoescape is True
    assert compose_module._environment("pl", False).autoescape is False
    compose(facts("opened"), "pl", "UTC")
    cached = compose_module._environment("pl", False).get_template("messages.j2")
    compose(facts("update"), "pl", "UTC")
    assert compose_module._environment("pl", False).get_template("messages.j2") is cached


def test_one_template_defines_every_part_for_every_language() -> None:
    module = compose_module._environment("en", False).get_template("messages.j2").module
    for macro in (
        "subject", "lead", "impacts_label", "detail", "next_update", "status_page", "reach",
        "sms", "sms_terse",
    ):  # fmt: skip
        assert callable(getattr(module, macro)), macro


@pytest.mark.parametrize("locale", LOCALES)
def test_a_persons_update_that_says_it_is_fixed_changes_the_headline(locale: str) -> None:
    """Issue 9: 'we fixed it' from a person must not sit under 'X is unavailable'."""
    down = compose(facts("human"), locale, "Europe/Warsaw")
    fixed = compose(facts("human", status="monitoring"), locale, "Europe/Warsaw")
    assert fixed.subject != down.subject
    working = compose(facts("monitoring"), locale, "Europe/Warsaw").subject
    # the same words as the automatic "working again" headline use for the component
    assert any(word in fixed.subject for word in working.split() if len(word) > 4)
