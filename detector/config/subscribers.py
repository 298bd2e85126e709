"""Subscribers: the inline ones plus every `{file: x.csv}` list, validated like the config.

A CSV keeps a long customer list out of the YAML. Its header names the columns
(`name,email,phone,locale,timezone,components`, any order, only `name` required); an empty cell
means "not given"; `components` holds ids separated by `;` or spaces, empty for all. Rows are
numbered by their line in the file, so an operator can jump straight to the fault.

The same e-mail address (compared without regard to case) or the same phone number listed more
than once, inline or in any file, is one subscriber: it is told once. The first listing keeps
its name, locale and time zone; the components are the union of all listings.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from detector import logs
from detector.config.loader import ConfigError, unknown_components, validation_lines
from detector.config.models import Config, Subscriber, SubscriberFile

COLUMNS = ("name", "email", "phone", "locale", "timezone", "components")
_SPLIT = re.compile(r"[;\s]+")
_SHOWN = 10  # duplicates named one by one; the rest are counted


@dataclass(frozen=True)
class Duplicate:
    """An e-mail address or phone number listed again: `where` says where, `first` where first."""

    contact: str
    first: str
    where: str

    def __str__(self) -> str:
        return f"{self.contact} is listed more than once ({self.first}; {self.where})"


def load_subscribers(config: Config, base_dir: Path) -> list[Subscriber]:
    """All subscribers, in config order, duplicates merged (logged once as a warning).

    CSV paths are relative to the config file's directory. Raises ConfigError with one line per
    bad row or field, across all files at once.
    """
    people, duplicates = read_subscribers(config, base_dir)
    if duplicates:
        logs.get("detector.config").warning(
            "duplicate subscribers merged, each is told once",
            count=len(duplicates),
            duplicates=duplicate_lines(duplicates),
        )
    return people


def read_subscribers(config: Config, base_dir: Path) -> tuple[list[Subscriber], list[Duplicate]]:
    """load_subscribers without the log line: the merged subscribers and what was merged."""
    listed: list[tuple[str, Subscriber]] = []
    errors: list[str] = []
    for n, entry in enumerate(config.subscribers):
        if isinstance(entry, SubscriberFile):
            found, lines = _read_file(config, base_dir, entry.file)
            listed += [(f"subscribers[{n}].file: {where}", person) for where, person in found]
            errors += [f"subscribers[{n}].file: {line}" for line in lines]
        else:
            listed.append((f"subscribers[{n}]", entry))
            errors += [
                f"subscribers[{n}].components[{i}]: {msg}"
                for i, msg in unknown_components(config, entry.components)
            ]
    if errors:
        raise ConfigError(errors)
    return merge_duplicates(listed)


def duplicate_lines(duplicates: list[Duplicate]) -> list[str]:
    """One line per duplicate, the first few only: a long list is counted, not printed."""
    lines = [f"subscriber {d}; merged into one" for d in duplicates[:_SHOWN]]
    if len(duplicates) > _SHOWN:
        lines.append(f"{len(duplicates) - _SHOWN} more duplicate subscribers merged")
    return lines


def merge_duplicates(
    listed: list[tuple[str, Subscriber]],
) -> tuple[list[Subscriber], list[Duplicate]]:
    """Each e-mail address and each phone number once, in order of first appearance.

    A listing whose address (or number) was seen before adds its components to that subscriber
    (no components, meaning all, wins); the first listing keeps its name, locale and time zone.
    A contact the earlier subscriber lacks is added to it; one it already has differently stays
    a subscriber of its own, so nobody who was listed stops being told.
    """
    merged: list[Subscriber] = []
    where_of: list[str] = []
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    duplicates: list[Duplicate] = []
    for where, person in listed:
        email = person.email.strip().lower() if person.email else None
        at_email = by_email.get(email) if email else None
        at_phone = by_phone.get(person.phone) if person.phone else None
        for at, contact in ((at_email, person.email), (at_phone, person.phone)):
            if at is not None and contact is not None:
                merged[at] = _with_components(merged[at], person.components)
                duplicates.append(Duplicate(contact, where_of[at], where))
        left_email = person.email if email and at_email is None else None
        left_phone = person.phone if person.phone and at_phone is None else None
        target = at_email if at_email is not None else at_phone
        if target is not None:
            update: dict[str, str] = {}
            if left_email and not merged[target].email:
                by_email[left_email.strip().lower()] = target
                update["email"], left_email = left_email, None
            if left_phone and not merged[target].phone:
                by_phone[left_phone] = target
                update["phone"], left_phone = left_phone, None
            if update:
                merged[target] = merged[target].model_copy(update=update)
            if not (left_email or left_phone):
                continue
            person = person.model_copy(update={"email": left_email, "phone": left_phone})
        if left_email:
            by_email[left_email.strip().lower()] = len(merged)
        if left_phone:
            by_phone[left_phone] = len(merged)
        merged.append(person)
        where_of.append(where)
    return merged, duplicates


def _with_components(person: Subscriber, more: list[str] | None) -> Subscriber:
    if person.components is None:
        return person
    if more is None:
        return person.model_copy(update={"components": None})
    union = list(dict.fromkeys([*person.components, *more]))
    return person if union == person.components else person.model_copy(update={"components": union})


def _read_file(
    config: Config, base_dir: Path, name: str
) -> tuple[list[tuple[str, Subscriber]], list[str]]:
    try:
        text = (base_dir / name).read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError:
        return [], [f"{name}: cannot read: not UTF-8 text"]
    except OSError as e:
        return [], [f"{name}: cannot read: {e.strerror or type(e).__name__}"]
    except ValueError:  # a NUL byte in the name
        return [], [f"{name!r}: cannot read: not a valid file name"]
    try:
        return _parse(config, name, text)
    except csv.Error as e:
        return [], [f"{name}: not valid CSV: {e}"]


def _parse(config: Config, name: str, text: str) -> tuple[list[tuple[str, Subscriber]], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        return [], [f"{name}: empty; the first line names the columns: {','.join(COLUMNS)}"]
    columns = [cell.strip().lower() for cell in header]
    errors = [_column_error(name, reader.line_num, c) for c in columns if c not in COLUMNS]
    errors += [
        f"{name} row {reader.line_num}: column {c!r} appears twice"
        for c in dict.fromkeys(c for c in columns if columns.count(c) > 1)
    ]
    if "name" not in columns:
        errors.append(f"{name} row {reader.line_num}: the header has no 'name' column")
    if errors:
        return [], errors
    people: list[tuple[str, Subscriber]] = []
    for row in reader:
        where = f"{name} row {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            errors.append(f"{where}: {len(row)} cells, but the header names {len(columns)}")
            continue
        fields: dict[str, object] = {
            c: v.strip() for c, v in zip(columns, row, strict=False) if v.strip()
        }
        if "components" in fields:
            fields["components"] = [c for c in _SPLIT.split(str(fields["components"])) if c]
        try:
            person = Subscriber.model_validate(fields)
        except ValidationError as e:
            errors += [
                f"{where}: {line.removeprefix('(top level): ')}"
                for line in validation_lines(e, Subscriber)
            ]
            continue
        bad = unknown_components(config, person.components)
        errors += [f"{where}: components: {msg}" for _, msg in bad]
        if not bad:
            people.append((where, person))
    return people, errors


def _column_error(name: str, line: int, column: str) -> str:
    close = difflib.get_close_matches(column, COLUMNS, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(COLUMNS)}"
    return f"{name} row {line}: unknown column {column!r} ({hint})"
