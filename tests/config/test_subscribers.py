from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from detector.config import ConfigError, load_config, parse_config
from detector.config.models import Config, Subscriber
from detector.config.subscribers import (
    Duplicate,
    duplicate_lines,
    load_subscribers,
    read_subscribers,
)
from tests.config._data import EXAMPLE, EXAMPLE_ENV, MINIMAL

HEADER = "name,email,phone,locale,timezone,components\n"


def config_with(entries: str) -> Config:
    text = MINIMAL + "  - id: web\n    name: Web\n    impact: x\n    probes:\n"
    text += "      - {name: web, tcp: {host: h, port: 1}}\n"
    return parse_config(text + "subscribers:\n" + entries, {})


def load(tmp_path: Path, csv_text: str, name: str = "people.csv") -> list[Subscriber]:
    (tmp_path / name).write_text(csv_text, encoding="utf-8")
    return load_subscribers(config_with(f"  - {{file: {name}}}\n"), tmp_path)


def fail(tmp_path: Path, csv_text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, csv_text)
    return info.value.lines


def test_example_subscribers() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    people = load_subscribers(config, EXAMPLE.parent)
    assert [p.name for p in people] == [
        "Globex",
        "Initech",
        "Wayne Enterprises",
        "Kowalski Sp. z o.o.",
        "PT Nusantara",
    ]
    wayne = people[2]
    assert wayne.phone == "+15550100200"
    assert wayne.components == ["api", "payments"]
    assert people[1].components is None  # empty cell: all components
    assert people[1].phone is None


def test_inline_and_files_keep_config_order(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "A,a@x.example,,,,\n")
    (tmp_path / "b.csv").write_text("email,name\nb@x.example,B\n")
    config = config_with(
        "  - {file: a.csv}\n  - {name: Inline, email: i@x.example}\n  - {file: b.csv}\n"
    )
    assert [p.name for p in load_subscribers(config, tmp_path)] == ["A", "Inline", "B"]


def test_components_split_on_semicolons_or_spaces(tmp_path: Path) -> None:
    [person] = load(tmp_path, HEADER + 'A,a@x.example,,,,"api; web"\n')
    assert person.components == ["api", "web"]
    [person] = load(tmp_path, HEADER + "A,a@x.example,,,,api web;\n")
    assert person.components == ["api", "web"]


def test_bom_blank_lines_and_header_case(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_bytes(b"\xef\xbb\xbf Name , EMAIL\n\nA,a@x.example\n\n")
    [person] = load_subscribers(config_with("  - {file: p.csv}\n"), tmp_path)
    assert person.email == "a@x.example"


def test_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    lines = fail(tmp_path, HEADER + "Alice,alice@x.example,,,,\nBob,bob@,,,,\n")
    assert lines == ["subscribers[0].file: people.csv row 3: email: not an e-mail address: 'bob@'"]


def test_every_bad_row_is_reported(tmp_path: Path) -> None:
    lines = fail(
        tmp_path,
        HEADER
        + "A,,,,,\n"  # row 2: neither email nor phone
        + "B,b@x.example,12,,,\n"  # row 3: bad phone
        + "C,c@x.example,,,Mars/Base,\n"  # row 4: bad time zone
        + "D,d@x.example,,,,billing\n"  # row 5: unknown component
        + "E,e@x.example,,,,,extra\n",  # row 6: too many cells
    )
    assert lines == [
        "subscribers[0].file: people.csv row 2: a subscriber needs an email or a phone",
        "subscribers[0].file: people.csv row 3: phone: not an E.164 phone number "
        "(+ and 7-15 digits): '12'",
        "subscribers[0].file: people.csv row 4: timezone: unknown time zone 'Mars/Base' "
        "(use an IANA name like Europe/Warsaw)",
        "subscribers[0].file: people.csv row 5: components: unknown component 'billing' "
        "(known: api, web)",
        "subscribers[0].file: people.csv row 6: 7 cells, but the header names 6",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "",
            "people.csv: empty; the first line names the columns: "
            "name,email,phone,locale,timezone,components",
        ),
        ("name,e-mail\n", "people.csv row 1: unknown column 'e-mail' (did you mean email?)"),
        ("email,phone\n", "people.csv row 1: the header has no 'name' column"),
        ("name,name\n", "people.csv row 1: column 'name' appears twice"),
        (
            "name\n" + "x" * 200_000,
            "people.csv: not valid CSV: field larger than field limit (131072)",
        ),
    ],
)
def test_bad_files(tmp_path: Path, text: str, line: str) -> None:
    assert fail(tmp_path, text) == [f"subscribers[0].file: {line}"]


def test_unreadable_files(tmp_path: Path) -> None:
    config = config_with(
        '  - {file: missing.csv}\n  - {file: latin.csv}\n  - {file: "a\\0b"}\n  - {file: .}\n'
    )
    (tmp_path / "latin.csv").write_bytes("name\nCaf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_subscribers(config, tmp_path)
    assert info.value.lines == [
        "subscribers[0].file: missing.csv: cannot read: No such file or directory",
        "subscribers[1].file: latin.csv: cannot read: not UTF-8 text",
        "subscribers[2].file: 'a\\x00b': cannot read: not a valid file name",
        "subscribers[3].file: .: cannot read: Is a directory",
    ]


def test_path_is_relative_to_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "p.csv").write_text("name,phone\nA,+48 22 555 0100\n")
    (tmp_path / "c.yaml").write_text(MINIMAL + "subscribers:\n  - {file: lists/p.csv}\n")
    config = load_config(tmp_path / "c.yaml", {})
    [person] = load_subscribers(config, (tmp_path / "c.yaml").parent)
    assert person.phone == "+48225550100"


def test_many_rows_are_quick(tmp_path: Path) -> None:
    rows = "".join(f"P{i},p{i}@x.example,,,,api\n" for i in range(5000))
    assert len(load(tmp_path, HEADER + rows)) == 5000


# --- duplicates ----------------------------------------------------------------------------------


def test_duplicates_inline_and_in_files_are_merged(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        HEADER + "Globex again,OPS@globex.example,,pl,Asia/Tokyo,web\n"
        "Initech,it@initech.example,+48 22 555 0100,,,api\n"
    )
    config = config_with(
        "  - {name: Globex, email: ops@globex.example, locale: fr, timezone: Europe/Paris, "
        "components: [api]}\n"
        "  - {file: a.csv}\n"
        "  - {name: Initech SMS, phone: '+48225550100', components: [web]}\n"
    )
    people, duplicates = read_subscribers(config, tmp_path)
    assert [(p.name, p.email, p.phone, p.locale, p.timezone, p.components) for p in people] == [
        ("Globex", "ops@globex.example", None, "fr", "Europe/Paris", ["api", "web"]),
        ("Initech", "it@initech.example", "+48225550100", None, None, ["api", "web"]),
    ]
    assert [str(d) for d in duplicates] == [
        "OPS@globex.example is listed more than once (subscribers[0]; "
        "subscribers[1].file: a.csv row 2)",
        "+48225550100 is listed more than once (subscribers[1].file: a.csv row 3; subscribers[2])",
    ]


def test_all_components_wins_over_a_list(tmp_path: Path) -> None:
    rows = HEADER + "A,a@x.example,,,,api\nA,a@x.example,,,,\nA,a@x.example,,,,web\n"
    people = load(tmp_path, rows)
    assert [(p.email, p.components) for p in people] == [("a@x.example", None)]


def test_a_duplicate_adds_the_contact_the_first_lacks(tmp_path: Path) -> None:
    rows = HEADER + "A,a@x.example,,,,api\nA by phone,a@x.example,+15550100200,,,\n"
    [person] = load(tmp_path, rows)
    assert (person.name, person.email, person.phone, person.components) == (
        "A",
        "a@x.example",
        "+15550100200",
        None,
    )


def test_a_different_second_contact_is_kept_not_dropped(tmp_path: Path) -> None:
    """Same e-mail, another phone: the e-mail is told once, and both phones still are."""
    rows = HEADER + "A,a@x.example,+15550100200,,,api\nB,a@x.example,+15550100300,fr,,web\n"
    people = load(tmp_path, rows)
    assert [(p.name, p.email, p.phone, p.locale, p.components) for p in people] == [
        ("A", "a@x.example", "+15550100200", None, ["api", "web"]),
        ("B", None, "+15550100300", "fr", ["web"]),
    ]


def test_a_listing_matching_two_subscribers_joins_both(tmp_path: Path) -> None:
    rows = HEADER + (
        "A,a@x.example,,,,api\nB,,+15550100200,,,api\nAB,a@x.example,+15550100200,,,web\n"
    )
    people = load(tmp_path, rows)
    assert [(p.name, p.email, p.phone, p.components) for p in people] == [
        ("A", "a@x.example", None, ["api", "web"]),
        ("B", None, "+15550100200", ["api", "web"]),
    ]


def test_no_duplicates_no_warning(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(HEADER + "A,a@x.example,,,,\nB,b@x.example,,,,\n")
    people, duplicates = read_subscribers(config_with("  - {file: p.csv}\n"), tmp_path)
    assert len(people) == 2
    assert duplicates == []


def test_load_subscribers_logs_the_merge_once(tmp_path: Path) -> None:
    rows = HEADER + "".join(f"P,p{i % 12}@x.example,,,,\n" for i in range(40))
    with capture_logs() as logged:
        people = load(tmp_path, rows)
    assert len(people) == 12
    [entry] = logged
    assert entry["log_level"] == "warning"
    assert entry["count"] == 28
    assert entry["duplicates"][0] == (
        "subscriber p0@x.example is listed more than once (subscribers[0].file: people.csv "
        "row 2; subscribers[0].file: people.csv row 14); merged into one"
    )
    assert entry["duplicates"][-1] == "18 more duplicate subscribers merged"
    assert len(entry["duplicates"]) == 11


def test_duplicate_lines_read_as_sentences() -> None:
    dups = [
        Duplicate(f"p{i}@x.example", "subscribers[0]", f"subscribers[{i}]") for i in range(1, 4)
    ]
    assert duplicate_lines(dups) == [
        f"subscriber p{i}@x.example is listed more than once (subscribers[0]; "
        f"subscribers[{i}]); merged into one"
        for i in range(1, 4)
    ]
