"""The catalog check CI relies on: it passes on ours and fails on any gap, by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from detector import i18n
from detector.i18n import check


@pytest.fixture
def catalogs(tmp_path: Path) -> Path:
    copy = tmp_path / "locales"
    shutil.copytree(i18n.CATALOGS, copy)
    return copy


def _edit(path: Path, lang: str, domain: str, change: object) -> None:
    with path.open("rb") as fh:
        po = read_po(fh, locale=lang, domain=domain)
    change(po)  # type: ignore[operator]
    with path.open("wb") as fh:
        write_po(fh, po, width=100)


def test_every_language_has_every_message_with_every_placeholder() -> None:
    assert [str(p) for p in check.check()] == []


def test_every_language_with_catalogs_is_offered() -> None:
    assert i18n.LOCALES[0] == "en"
    assert set(i18n.LOCALES) >= {"en", "pl", "fr", "ar", "id"}


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_one_message_removed_from_one_language_fails_the_check(catalogs: Path, domain: str) -> None:
    path = catalogs / "pl" / "LC_MESSAGES" / f"{domain}.po"
    gone: list[str] = []

    def drop(po: object) -> None:
        message = next(m for m in po if m.id)  # type: ignore[attr-defined]
        gone.append(message.id if isinstance(message.id, str) else message.id[0])
        po.delete(message.id, context=message.context)  # type: ignore[attr-defined]

    _edit(path, "pl", domain, drop)
    problems = check.check(catalogs)
    assert len(problems) == 1, problems
    assert problems[0].lang == "pl" and problems[0].what == "missing message"
    assert gone[0] in problems[0].message
    assert check.main(["--catalogs", str(catalogs)]) == 1


def test_one_placeholder_removed_from_one_language_fails_the_check(catalogs: Path) -> None:
    path = catalogs / "fr" / "LC_MESSAGES" / "notices.po"

    def drop_placeholder(po: object) -> None:
        message = next(
            m
            for m in po  # type: ignore[attr-defined]
            if m.id and not m.pluralizable and "%(state)s" in m.string
        )
        message.string = message.string.replace("%(state)s", "")

    _edit(path, "fr", "notices", drop_placeholder)
    problems = check.check(catalogs)
    assert [p.what for p in problems] == ["translation lacks placeholder(s) ['state']"]
    assert problems[0].lang == "fr"


def test_an_invented_placeholder_and_a_missing_plural_form_fail_the_check(
    catalogs: Path,
) -> None:
    path = catalogs / "ar" / "LC_MESSAGES" / "notices.po"

    def damage(po: object) -> None:
        plural = next(m for m in po if m.pluralizable)  # type: ignore[attr-defined]
        plural.string = (*plural.string[:-1], "")
        single = next(m for m in po if m.id and not m.pluralizable)  # type: ignore[attr-defined]
        single.string = single.string + " %(secret)s"

    _edit(path, "ar", "notices", damage)
    whats = sorted(p.what for p in check.check(catalogs))
    assert whats == ["form 5 empty", "translation has unknown placeholder(s) ['secret']"]


def test_a_sixth_language_is_catalog_work_only(catalogs: Path) -> None:
    """`--init de` writes its catalogs from the extracted messages; until translated, the
    check names every message, and once they exist the language is discovered."""
    check.update(catalogs, "de")
    for domain in i18n.DOMAINS:
        assert (catalogs / "de" / "LC_MESSAGES" / f"{domain}.po").is_file()
    problems = check.check(catalogs)
    assert problems and {p.lang for p in problems} == {"de"}
    assert "de" in i18n.discover(catalogs)


def test_a_message_missing_at_run_time_is_logged_and_counted(
    catalogs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = catalogs / "id" / "LC_MESSAGES" / "web.po"
    _edit(path, "id", "web", lambda po: po.delete("Skip to content", context="skip"))
    words = i18n.load(path, "id", "web")
    before = i18n.missing_counts().get(("id", "web"), 0)
    assert words.pgettext("skip", "Skip to content") == "Skip to content"
    assert words.pgettext("language", "Language") != "Language"  # still translated
    assert i18n.missing_counts()[("id", "web")] == before + 1
    assert "translation missing" in caplog.text


def test_the_reader_language_is_negotiated_with_babel() -> None:
    pick = i18n.negotiate
    assert pick(i18n.parse_accept_language("de-DE, pl;q=0.8, en;q=0.5"), "en") == "pl"
    assert pick(i18n.parse_accept_language("fr-CA"), "en") == "fr"
    assert pick(i18n.parse_accept_language("pl;q=0, de"), "id") == "id"
    assert pick([], "ar_EG") == "ar"
    assert pick([], "xx") == "en"
