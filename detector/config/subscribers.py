"""Subscribers: the inline ones plus every `{file: x.csv}` list, validated like the config.

A CSV keeps a long customer list out of the YAML. Its header names the columns
(`name,email,phone,locale,timezone,components`, any order, only `name` required); an empty cell
means "not given"; `components` holds ids separated by `;` or spaces, empty for all. Rows are
numbered by their line in the file, so an operator can jump straight to the fault.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from pathlib import Path

from pydantic import ValidationError

from detector.config.loader import ConfigError, unknown_components, validation_lines
from detector.config.models import Config, Subscriber, SubscriberFile

COLUMNS = ("name", "email", "phone", "locale", "timezone", "components")
_SPLIT = re.compile(r"[;\s]+")


def load_subscribers(config: Config, base_dir: Path) -> list[Subscriber]:
    """All subscribers, in config order; CSV paths are relative to the config file's directory.

    Raises ConfigError with one line per bad row or field, across all files at once.
    """
    people: list[Subscriber] = []
    errors: list[str] = []
    for n, entry in enumerate(config.subscribers):
        if isinstance(entry, SubscriberFile):
            found, lines = _read_file(config, base_dir, entry.file)
            people += found
            errors += [f"subscribers[{n}].file: {line}" for line in lines]
        else:
            people.append(entry)
            errors += [
                f"subscribers[{n}].components[{i}]: {msg}"
                for i, msg in unknown_components(config, entry.components)
            ]
    if errors:
        raise ConfigError(errors)
    return people


def _read_file(config: Config, base_dir: Path, name: str) -> tuple[list[Subscriber], list[str]]:
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


def _parse(config: Config, name: str, text: str) -> tuple[list[Subscriber], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        return [], [f"{name}: empty; the first line names the columns: {','.join(COLUMNS)}"]
    columns = [cell.strip().lower() for cell in header]
    errors = [_column_error(name, reader.line_num, c) for c in columns if c not in COLUMNS]
    errors += [f"{name} row {reader.line_num}: column {c!r} appears twice"
               for c in dict.fromkeys(c for c in columns if columns.count(c) > 1)]
    if "name" not in columns:
        errors.append(f"{name} row {reader.line_num}: the header has no 'name' column")
    if errors:
        return [], errors
    people: list[Subscriber] = []
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
            people.append(person)
    return people, errors


def _column_error(name: str, line: int, column: str) -> str:
    close = difflib.get_close_matches(column, COLUMNS, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(COLUMNS)}"
    return f"{name} row {line}: unknown column {column!r} ({hint})"
