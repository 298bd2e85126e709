"""SMS counting as the network does it, and fitting a notice into as few segments as it can."""

from __future__ import annotations

import pytest

from detector.notices.sms import (
    GSM7,
    UCS2,
    fit_sms,
    plain,
    segments,
    sms_encoding,
    sms_length,
)

LINK = "status.acme-cloud.io/inc/12345"  # 30 characters


@pytest.mark.parametrize(
    ("text", "encoding", "length"),
    [
        ("Acme Cloud: Public API unavailable.", GSM7, 35),
        ("Prochain point à 11:17, désolés.", GSM7, 32),  # à é are in the GSM-7 alphabet
        ("{}[]~^|€\\", GSM7, 18),  # extension characters count twice
        ("Kolejna informacja o 11:17, przepraszamy: usługa", UCS2, 48),
        ("Mise à jour prévue, nous sommes désolés — ça arrive", UCS2, 51),
        ("خدمة Public API غير متاحة", UCS2, 25),
        ("Down 😀", UCS2, 7),  # outside the BMP: a UTF-16 pair
        ("", GSM7, 0),
    ],
)
def test_encoding_and_length(text: str, encoding: str, length: int) -> None:
    assert sms_encoding(text) == encoding
    assert sms_length(text) == length


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # 160 septets
        ("{" * 81, 2),
        ("a" * 152 + "{" + "a" * 152, 3),  # an escape pair never straddles two parts
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("ł" * 66 + "😀" + "ł" * 66, 3),  # nor does a surrogate pair
    ],
)
def test_segments(text: str, count: int) -> None:
    assert segments(text) == count


def test_a_message_that_fits_is_sent_as_is_with_its_link() -> None:
    sms = fit_sms("Acme Cloud: Public API is unavailable.\nNext update 11:17.", LINK)

    assert sms == f"Acme Cloud: Public API is unavailable. Next update 11:17. {LINK}"


def test_optional_sentences_go_first_and_the_last_sentence_stays() -> None:
    text = "\n".join(
        [
            "Acme Cloud: Public API and the customer dashboard are unavailable.",
            "We found the cause.",
            "We are sorry, and we are on it right now.",
            "Next update 11:17 AM CET.",
        ]
    )
    sms = fit_sms(text, LINK)

    assert sms == (
        "Acme Cloud: Public API and the customer dashboard are unavailable. "
        "We found the cause. "
        f"Next update 11:17 AM CET. {LINK}"
    )
    assert segments(sms) == 1


def test_the_terse_form_is_used_before_anything_is_cut() -> None:
    text = "Acme Cloud: usługa Public API jest niedostępna.\nKolejna informacja o 11:17 CET."
    terse = "Acme Cloud: awaria Public API. Aktualizacja o 11:17."

    sms = fit_sms(text, LINK, terse=terse)

    assert sms == f"{terse} {LINK}"
    assert sms_encoding(sms) == GSM7 and segments(sms) == 1


def test_a_terse_form_too_long_for_one_segment_is_sent_whole() -> None:
    text = "Acme Cloud: خدمة Public API غير متاحة.\nالتحديث التالي 11:17 ص UTC+1."
    terse = "Acme Cloud: تعطل Public API. تحديث 11:17 ص."

    sms = fit_sms(text, LINK, terse=terse)

    assert sms == f"{terse} {LINK}"
    assert segments(sms) == 2


def test_free_text_is_cut_with_dots_in_gsm7_keeping_the_last_sentence_and_link() -> None:
    words = "We rolled back the release and are replaying the queued webhooks now " * 3
    sms = fit_sms(f"Acme Cloud: {words}\nNext update 11:17.", LINK)

    assert sms.endswith(f"... Next update 11:17. {LINK}")
    assert sms_encoding(sms) == GSM7
    assert segments(sms) == 1
    assert len(sms) > 150  # the room is used, not wasted


def test_free_text_is_cut_with_an_ellipsis_in_ucs2() -> None:
    words = "Wycofaliśmy wdrożenie i ponownie wysyłamy zaległe powiadomienia. " * 2
    sms = fit_sms(f"Acme Cloud: {words}", LINK)

    assert sms.endswith(f"… {LINK}")
    assert segments(sms) == 1
    assert sms.startswith("Acme Cloud: Wycofaliśmy")


def test_when_the_link_leaves_too_little_room_the_fewest_segments_are_used() -> None:
    long_link = "status.acme-cloud.io/incidents/2025/11/23/public-api"
    words = "Wycofaliśmy wdrożenie i ponownie wysyłamy zaległe powiadomienia. " * 3
    sms = fit_sms(f"Acme Cloud: {words}", long_link)

    assert sms.endswith(f"… {long_link}")
    assert segments(sms) == 2


def test_no_link_and_typography_that_would_force_ucs2() -> None:
    sms = fit_sms("Acme Cloud: Public API is unavailable — next update 11:17\u202fAM.", None)

    assert sms == "Acme Cloud: Public API is unavailable - next update 11:17 AM."
    assert sms_encoding(sms) == GSM7
    assert plain("l’incident «\u00a0clos\u00a0»…") == 'l\'incident " clos "...'


def test_empty_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="SMS text is empty"):
        fit_sms(" \n ", LINK)


def test_shorter_wordings_are_tried_in_turn() -> None:
    full = "Acme Cloud: usługa Public API jest niedostępna.\nKolejna informacja o 11:17 CET."
    too_long = "Acme Cloud: usługa Public API nie działa.\nAktualizacja o 11:17 CET."
    short = "Acme Cloud: awaria Public API.\nAktualizacja o 11:17 CET."

    sms = fit_sms(full, LINK, terse=[too_long, short])

    assert sms == f"Acme Cloud: awaria Public API. Aktualizacja o 11:17 CET. {LINK}"


def test_a_shorter_wording_with_its_apology_beats_a_fuller_one_without() -> None:
    full = "\n".join(
        [
            "Acme Cloud: Public API and the customer dashboard are partly unavailable again.",
            "We are sorry, and we are on it right now.",
            "Next update 11:17 AM CET.",
        ]
    )
    terse = "Acme Cloud: Public API and dashboard down again.\nSorry.\nNext update 11:17 AM CET."

    sms = fit_sms(full, LINK, terse=[terse])

    assert sms == f"{terse.replace(chr(10), ' ')} {LINK}"
    assert segments(fit_sms(full, LINK)) == 1  # the full one fits too, without its apology


def test_lines_and_the_link_can_each_go_on_a_line_of_their_own() -> None:
    sms = fit_sms("تعطل Public API\nنعتذر\nتحديث 11:17 UTC+1", "status.acme.example", sep="\n")

    assert sms == "تعطل Public API\nنعتذر\nتحديث 11:17 UTC+1\nstatus.acme.example"
    assert segments(sms) == 1


def test_a_persons_words_are_cut_in_the_fullest_wording_that_keeps_enough_of_them() -> None:
    words = "Wycofaliśmy wdrożenie i ponownie wysyłamy zaległe powiadomienia."
    full = f"Globex Payments Plus: {words}\nKolejna informacja o 11:17 CET."
    without_service = f"{words}\nAktualizacja o 11:17 CET."

    sms = fit_sms(full, "status.acme.example", terse=[without_service], cut=True)

    assert sms.startswith("Wycofaliśmy wdrożenie")
    assert sms.endswith("… Aktualizacja o 11:17 CET. status.acme.example")
    assert segments(sms) == 1


def test_shorter_wordings_that_cannot_fit_send_the_last_one_whole() -> None:
    first = "Acme Cloud: خدمة Public API غير متاحة.\nالتحديث التالي 11:17 ص UTC+1."
    last = "Acme Cloud: تعطل Public API.\nتحديث 11:17 ص UTC+1."

    sms = fit_sms(first, LINK, terse=[last, ""])

    assert sms == f"Acme Cloud: تعطل Public API. تحديث 11:17 ص UTC+1. {LINK}"
    assert segments(sms) == 2


def test_a_cut_never_ends_inside_an_isolated_name() -> None:
    name = "\u2068Globex Payments Plus International Holdings\u2069"
    words = "تراجعنا عن تحديث هذا الصباح، ونتوقع أن تعود المزامنة قريبًا."
    tail = "تحديث 11:17 UTC+1"

    alone = fit_sms(f"{name}: {words}\n{tail}", LINK, sep="\n")
    sms = fit_sms(f"{name}: {words}\n{tail}", LINK, terse=[f"{words}\n{tail}"], sep="\n", cut=True)

    assert not alone.startswith("\u2068Globex")  # the name could not stay whole: not begun
    assert sms.startswith("تراجعنا عن تحديث")  # the wording without the name keeps more words
    assert sms.endswith(f"…\n{tail}\n{LINK}")
    assert segments(sms) == 1
