"""Just enough Markdown for the docs tests: headings, their GitHub anchors, and tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Row:
    cells: list[str]
    line: int  # 1-based, in the file

    def codes(self, column: int) -> list[str]:
        """The `code` spans of one cell, in order."""
        return re.findall(r"`([^`]+)`", self.cells[column]) if column < len(self.cells) else []


@dataclass
class Table:
    header: list[str]
    rows: list[Row]
    line: int


@dataclass
class Section:
    level: int
    title: str  # the heading's text as written
    line: int
    body: list[str] = field(default_factory=list)  # lines up to the next heading of any level
    tables: list[Table] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.body)


def split_row(line: str) -> list[str]:
    """`| a | b |` → ['a', 'b']; a `|` inside a code span or escaped as `\\|` does not split."""
    cells, cur, code = [], [], False
    text = line.strip()
    text = text[1:] if text.startswith("|") else text
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == "|":
            cur.append("|")
            i += 2
            continue
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if "".join(cur).strip():
        cells.append("".join(cur).strip())
    return cells


def sections(text: str) -> list[Section]:
    """Every heading (outside code fences) with the lines and tables under it."""
    out: list[Section] = []
    fenced = False
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            out.append(Section(len(m.group(1)), m.group(2), number))
        elif out:
            out[-1].body.append(line)
    for sec in out:
        sec.tables = _tables(sec.body, sec.line + 1)
    return out


def _tables(body: list[str], first_line: int) -> list[Table]:
    tables: list[Table] = []
    current: Table | None = None
    for offset, line in enumerate(body):
        if not line.lstrip().startswith("|"):
            current = None
            continue
        cells = split_row(line)
        if current is None:
            current = Table(cells, [], first_line + offset)
            tables.append(current)
        elif all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue  # the |---| line
        else:
            current.rows.append(Row(cells, first_line + offset))
    return tables


def github_anchor(title: str) -> str:
    """The id GitHub gives a heading: lower case, markup and punctuation dropped (letters,
    digits, `_` and `-` kept), spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)  # [text](link) → text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> list[str]:
    """Every heading's anchor, in order; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = []
    for sec in sections(text):
        base = github_anchor(sec.title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if n == 0 else f"{base}-{n}")
    return out
