"""Operator text at the door: what a person types (admin API, CLI) before it reaches a notice.

Messages, titles, causes, corrective actions and maintenance text end up in HTML, e-mail, SMS,
the Atom feed, webhooks and the post-mortem. None of those wants a NUL, an escape sequence or a
bell in the middle of a sentence, and some cannot carry them at all. So, before the engine sees
the text:

- C0 controls (U+0000-U+001F), DEL (U+007F) and C1 controls (U+0080-U+009F) are removed, except
  tab and newline;
- line breaks are normalised: CRLF and a lone CR become one LF;
- lone surrogates (which no UTF-8 encoder accepts) and the noncharacters U+FFFE/U+FFFF (which
  XML cannot carry) are removed.

A title is one line: `single_line=True` also turns every run of whitespace (newlines and tabs
included) into one space.
"""

from __future__ import annotations

import re

# C0 except \t (09) and \n (0A); DEL; C1; lone surrogates; the two XML-forbidden noncharacters.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK = re.compile("\r\n?")
_SPACE_RUN = re.compile(r"\s+")


def clean_operator_text(value: str, *, single_line: bool = False) -> str:
    """`value` without control characters; newlines normalised (or folded, for one line)."""
    text = _UNWANTED.sub("", _LINE_BREAK.sub("\n", value))
    if single_line:
        text = _SPACE_RUN.sub(" ", text).strip()
    return text


def clean_line(value: str) -> str:
    """One line of operator text, e.g. a title: `clean_operator_text(value, single_line=True)`."""
    return clean_operator_text(value, single_line=True)
