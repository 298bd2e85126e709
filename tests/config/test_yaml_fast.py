"""The loader's one-pass YAML reader (built from libyaml's events) against the full loader, and
what keeps a 20,000-probe config quick to load and small to hold.

Whatever the fast pass returns, the full loader (compose, check, construct) returns too, key
order and all; whatever it cannot judge it leaves to the full loader, which says what is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.config.loader import (
    ConfigError,
    _Decline,
    _fast_read,
    _Loader,
    _read_yaml,
    parse_config,
)
from probes.http import HttpSpec
from tests.config._data import EXAMPLE, MINIMAL

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def full(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def fast(text: str) -> Any | None:
    """The fast pass's document, or None when it leaves the text to the full loader."""
    try:
        doc, _aliased, _refs = _fast_read(text)
    except (_Decline, yaml.YAMLError):
        return None
    return (doc,)


def same(text: str, *, must_take: bool = True) -> None:
    got = fast(text)
    if got is None:
        assert not must_take, f"the fast pass declined {text!r}"
        return
    want = full(text)
    # repr: the same keys in the same order, the same types (True is not 1), nan as nan
    assert repr(got[0]) == repr(want)
    assert type(got[0]) is type(want)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 1_000\nf: +3\ng: 1:20\n",
        "a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 1e3\nf: 6.8523015e+5\n",
        "a: true\nb: False\nc: yes\nd: off\ne: ON\nf: n\n",
        "a: ~\nb: null\nc:\nd: Null\n",
        "a: 2024-01-02\nb: 2024-01-02T03:04:05Z\nc: 2024-01-02 03:04:05.5 +02:00\n",
        "a: '1'\nb: \"true\"\nc: 'null'\nd: |\n  line\n  two\ne: >\n  folded\n  text\n",
        'a: "\\u0024{HOME}"\nb: ${X}\nc: -${Y}\n',
        "- 1\n- [2, 3]\n- {x: y}\n- []\n- {}\n",
        "just text",
        "123",
        "",
        "# only a comment\n",
        "---\na: 1\n...\n",
        "3: one\n2.5: two\ntrue: three\n~: four\n2024-01-02: five\n",
        "a: &x {k: v, n: [1, 2]}\nb: *x\nc: [*x, *x]\n",
        "a: &s text\nb: *s\n",
        "d: &d {interval: 10s, timeout: 2s}\np: {<<: *d, timeout: 1s, name: x}\n",
        "a: &a {x: 1, y: 2}\nb: &b {zz: 4}\nc: {<<: [*a, *b], w: 0, x: 5}\nd: {<<: [*b, *a]}\n",
        "defaults: &d {interval: 10s}\np: [{<<: *d, name: a}, {<<: *d, name: b, interval: 1s}]\n",
        "a: {<<: {x: 1, y: 2}, y: 9}\n",
        "a: {<<: &m {x: 1}, <<: {y: 2}}\nb: *m\n",
        "k: 'caf\u00e9 \U0001f600'\nl: plain caf\u00e9\n",
        "a: " + "[" * 63 + "]" * 63 + "\n",
    ],
)
def test_what_the_fast_pass_reads_is_what_the_full_loader_reads(text: str) -> None:
    same(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 3\n",  # an explicit tag
        "a: ! x\n",
        "a: !!python/object:os.system x\n",
        "a: &a [*a]\n",  # an alias to an enclosing collection
        "a: *nope\n",  # to no anchor at all
        "a: &x 1\nb: &x 2\n",  # an anchor given twice
        "a: 1\na: 2\n",  # a key given twice
        "? [a]\n: 1\n",  # a key that is not a scalar
        "*k : 1\n",
        "a: <<\n",  # `<<` as a value
        "a: {<<: 1}\n",  # merging what is not a mapping
        # where PyYAML's merge hangs on which key strings are one object: the full loader's
        "a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc: {<<: [*a, *b], w: 0}\n",
        "a: &a {x: 1}\nb: &b {<<: *a, x: 2}\nc: {<<: *b, z: 3}\n",
        "a: &a {x: 1}\nc: {<<: [*a, *a]}\n",
        "=: 1\n",  # the `value` tag
        "a: 2024-13-45\n",  # a timestamp that is no date
        "a: 1\n---\nb: 2\n",  # two documents
        "a: [unclosed\n",  # not YAML
        "a: " + "[" * 65 + "]" * 65 + "\n",  # deeper than the limit
    ],
)
def test_what_it_cannot_judge_goes_to_the_full_loader(text: str) -> None:
    assert fast(text) is None


def test_it_reads_the_example_and_a_large_config() -> None:
    same(EXAMPLE.read_text())
    probes = "".join(f"      - {{name: p{i}, http: {{url: 'http://h/{i}'}}}}\n" for i in range(500))
    same(MINIMAL + "  - id: more\n    name: More\n    impact: x\n    probes:\n" + probes)


def test_aliases_are_reported_so_each_use_is_interpolated_on_its_own() -> None:
    assert _read_yaml("a: &x {k: v}\nb: *x\n")[1:] == (True, False)
    assert _read_yaml("a: {k: v}\nb: ${X}\n")[1:] == (False, True)
    assert _read_yaml("a: {k: v}\nb: '$x'\n")[1:] == (False, False)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.dates(),
    st.sampled_from(["<<", "=", "~", "yes", "0x1F", "1:20", ".inf", "${A}", "-${B}", "2024-13-45"]),
)
keys = st.one_of(st.text(max_size=6), st.integers(0, 3), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)


@FUZZ
@given(values, st.sampled_from([None, True, False]))
def test_random_documents(doc: Any, flow: bool | None) -> None:
    same(yaml.safe_dump(doc, allow_unicode=True, default_flow_style=flow), must_take=False)


@FUZZ
@given(st.lists(values, min_size=1, max_size=4), st.lists(st.integers(0, 3), max_size=8))
def test_random_documents_with_aliases(parts: list[Any], picks: list[int]) -> None:
    """safe_dump writes an anchor for a value used twice, and an alias for each other use."""
    shared = [p for p in parts if isinstance(p, dict | list)]
    doc = {"parts": parts, "again": [shared[i % len(shared)] for i in picks] if shared else []}
    same(yaml.safe_dump(doc, allow_unicode=True), must_take=False)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    same(text, must_take=False)


def test_a_value_its_type_cannot_hold_is_a_yaml_error_at_its_line() -> None:
    """Once an exception from inside PyYAML (ValueError, KeyError...), not a ConfigError."""
    for text, line in [
        (
            "a: 2024-13-45\n",
            "line 1, column 4: not valid YAML: not a valid timestamp: '2024-13-45'",
        ),
        ("a: !!int abc\n", "line 1, column 4: not valid YAML: not a valid int: 'abc'"),
        ("a: !!bool x\n", "line 1, column 4: not valid YAML: not a valid bool: 'x'"),
        ("a: !!timestamp x\n", "line 1, column 4: not valid YAML: not a valid timestamp: 'x'"),
        (
            "a: !!set [1]\n",
            "line 1, column 4: not valid YAML: expected a mapping node, but found sequence",
        ),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_config(text, {})
        assert info.value.lines == [line]


def test_probes_that_set_no_expect_share_one_default() -> None:
    """20,000 copies of the default `expect` were a quarter of such a config's memory."""
    text = MINIMAL + (
        "      - name: second\n        http: {url: 'http://127.0.0.1:2/'}\n"
        "      - name: third\n        http: {url: 'http://127.0.0.1:3/', expect: {status: [204]}}\n"
    )
    first, second, third = (p.spec for p in parse_config(text, {}).components[0].probes)
    assert isinstance(first, HttpSpec)
    assert isinstance(second, HttpSpec)
    assert isinstance(third, HttpSpec)
    assert first.expect is second.expect
    assert first.expect.status == [200]
    assert third.expect.status == [204]
