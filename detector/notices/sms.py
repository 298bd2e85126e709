"""SMS length rules: GSM-7 vs UCS-2, segments, and fitting a notice into as few as it can.

An SMS is billed and delivered per segment: 160 GSM-7 septets (extension characters such as
`{}[]~^|€\\` take two) or 70 UCS-2 units in one segment; a longer message is split into
153-septet / 67-unit parts. One character outside GSM-7 turns the whole message into UCS-2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

GSM7 = "GSM-7"
UCS2 = "UCS-2"

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}

# Typography that looks the same to a reader but would force UCS-2 (Babel puts U+202F in
# "11:17 AM"); an SMS swaps it for GSM-7 so a message stays at 160, not 70, characters.
_PLAIN = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2007": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)
_SPACES = re.compile(r"\s+")
_ISOLATES = ("\u2066", "\u2067", "\u2068")  # LRI, RLI, FSI (see compose: right-to-left text)
_POP = "\u2069"  # PDI

MIN_KEPT = 20
"""A headline is cut with "…" only if at least this many of its characters stay readable."""


def sms_encoding(text: str) -> str:
    """ "GSM-7" when every character is in the GSM 03.38 alphabet (with extension), else "UCS-2"."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text):
        return GSM7
    return UCS2


def _cost(ch: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if ch in _GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # UTF-16 code units: outside the BMP is a pair


def sms_length(text: str) -> int:
    """Length as the network counts it: GSM-7 septets or UCS-2 (UTF-16) units."""
    encoding = sms_encoding(text)
    return sum(_cost(ch, encoding) for ch in text)


def segments(text: str) -> int:
    """How many segments the network sends `text` as (an empty message still costs one).

    A multi-part message never splits an escape sequence or a surrogate pair, so the parts
    are filled character by character rather than by dividing the length.
    """
    encoding = sms_encoding(text)
    costs = [_cost(ch, encoding) for ch in text]
    if sum(costs) <= _SINGLE[encoding]:
        return 1
    part, count, used = _PART[encoding], 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def plain(text: str) -> str:
    """One line, single spaces, GSM-7 look-alikes for typographic characters."""
    return _SPACES.sub(" ", text.translate(_PLAIN)).strip()


def _sentences(text: str) -> list[str]:
    return [line for line in (plain(raw) for raw in text.splitlines()) if line]


def _join(parts: list[str], link: str | None, sep: str = " ") -> str:
    return sep.join([*parts, link] if link else parts)


def _fit(lines: list[str], link: str | None, sep: str) -> str | None:
    """`lines` in one segment, dropping optional middle lines from the end; None if not."""
    head, middle, tail = lines[0], lines[1:-1], lines[1:][-1:]
    for kept in range(len(middle), -1, -1):
        candidate = _join([head, *middle[:kept], *tail], link, sep)
        if segments(candidate) == 1:
            return candidate
    return None


def fit_sms(
    text: str,
    link: str | None,
    *,
    terse: str | Sequence[str] | None = None,
    sep: str = " ",
    cut: bool | None = None,
) -> str:
    """The SMS for `text` plus `link`, in one segment wherever that is possible.

    `text` holds one sentence per line. The first (what is wrong) and the last (what comes
    next: the next update, the report date) are kept; the ones between are optional, least
    important last, and are dropped from the end until the message fits one segment. The link
    is never cut. `terse` gives shorter wordings of the same facts, shortest last. The first
    wording that fits whole is sent, else the first that fits without some of its middle lines:
    a shorter wording with its apology is worth more than a fuller one without. Lines and the
    link are joined with `sep`: a space, or a line break where each line should be laid out on
    its own (right-to-left text: the link on a line of its own needs no isolate).

    If no wording fits:
    - with `cut` (a person's words, the one thing an SMS may shorten; the default when there
      is no `terse`), the first line of the fullest wording that can keep MIN_KEPT characters
      of it in one segment is cut at a word with "…" ("..." when the rest is GSM-7, so the
      ellipsis does not halve the room); when none can, the last wording's first line is sent
      whole, or cut, over the fewest segments;
    - without it, the shortest wording's first and last lines are sent whole over the fewest
      segments: every fact in them must arrive.
    """
    forms = [_sentences(text)]
    if not forms[0]:
        raise ValueError("SMS text is empty")
    shorter = [terse] if isinstance(terse, str) else list(terse or [])
    forms += [lines for lines in map(_sentences, shorter) if lines]
    link = plain(link) if link else None
    # an apology (a middle line) outweighs fuller wording: every wording whole first
    for lines in forms:
        whole = _join(lines, link, sep)
        if segments(whole) == 1:
            return whole
    for lines in forms:
        fitted = _fit(lines, link, sep)
        if fitted is not None:
            return fitted
    if terse is None if cut is None else cut:
        cuts = [_cut(lines[0], _join(lines[1:][-1:], link, sep), sep) for lines in forms]
        enough = (text for text, kept in cuts if kept >= MIN_KEPT and segments(text) == 1)
        return next(enough, cuts[-1][0])
    last = forms[-1]
    return _join([last[0], *last[1:][-1:]], link, sep)


def _cut(head: str, rest: str, sep: str = " ") -> tuple[str, int]:
    """`head` shortened with an ellipsis so that "head… rest" takes the fewest segments, and
    how many characters of `head` it keeps.

    One segment if that leaves MIN_KEPT characters of `head`; otherwise as many as it takes.
    A cut never ends inside an isolated name: it ends before it.
    """
    suffix = f"{sep}{rest}" if rest else ""
    encoding = sms_encoding(head + suffix)
    ellipsis = "…" if encoding == UCS2 else "..."
    fixed = sum(_cost(ch, encoding) for ch in ellipsis + suffix)
    costs = [_cost(ch, encoding) for ch in head]
    parts = 1
    while True:
        capacity = _SINGLE[encoding] if parts == 1 else parts * _PART[encoding]
        if sum(costs) + fixed - len(ellipsis) <= capacity:
            return head + suffix, len(head)  # fits whole in this many segments
        if capacity - fixed >= MIN_KEPT:
            break
        parts += 1
    room, kept, used = capacity - fixed, [], 0
    for ch, cost in zip(head, costs, strict=True):
        used += cost
        if used > room:
            break
        kept.append(ch)
    cut = "".join(kept)
    if " " in cut[MIN_KEPT // 2 :]:  # end on a whole word when one is near
        cut = cut[: cut.rindex(" ")]
    opened = max(cut.rfind(o) for o in _ISOLATES)
    if opened > cut.rfind(_POP):  # never inside an isolated name: before it
        cut = cut[:opened]
    cut = cut.rstrip(" ,;:.-،؛")
    while cut and segments(cut + ellipsis + suffix) > parts:  # a split escape or pair
        cut = cut[:-1]
    return cut + ellipsis + suffix, len(cut)


__all__ = [
    "GSM7",
    "MIN_KEPT",
    "UCS2",
    "fit_sms",
    "plain",
    "segments",
    "sms_encoding",
    "sms_length",
]
