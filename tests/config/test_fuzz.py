"""Any input at all gives a Config or a ConfigError: never another exception, never a traceback."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.config import Config, ConfigError, parse_config
from tests.config._data import EXAMPLE, EXAMPLE_ENV

# Deterministic (the same examples every run) and quick: a few seconds for the whole file.
FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())

# Keys the models know, so generated documents reach deep into validation, not just "unknown key".
KEYS = sorted(
    {
        "service",
        "server",
        "storage",
        "cluster",
        "detection",
        "cadence",
        "notify",
        "controls",
        "components",
        "subscribers",
        "channels",
        "name",
        "contact",
        "email",
        "phone",
        "id",
        "impact",
        "probes",
        "http",
        "tcp",
        "tls",
        "dns",
        "statuspage",
        "url",
        "host",
        "port",
        "type",
        "file",
        "interval",
        "timeout",
        "quorum",
        "expect",
        "status",
        "api_key",
        "secret",
        "from",
        "events",
        "timezone",
        "locale",
        "listen",
        "admin_token",
        "json",
        "headers",
        "body_regex",
    }
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "30s",
            "0s",
            "-1s",
            "250ms",
            "majority",
            "http://127.0.0.1/",
            "not a url",
            "${UNSET}",
            "${A:-x}",
            "$${A}",
            "${",
            "Europe",
            "Europe/Warsaw",
            "webhook",
            "sendgrid",
            "+48225550100",
            "a@b.example",
            "(",
            "a{99999999999}",
            "sqlite:///x.db",
            "127.0.0.1:0",
        ]
    ),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(0, 3), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


def outcome(text: str, env: dict[str, str] | None = None) -> None:
    try:
        config = parse_config(text, env if env is not None else {})
    except ConfigError as e:
        assert e.lines
        assert all(isinstance(line, str) and line and "\n" not in line for line in e.lines)
        assert not any("Traceback" in line for line in e.lines)
    else:
        assert isinstance(config, Config)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    outcome(text)


@FUZZ
@given(st.dictionaries(keys, values, max_size=6))
def test_random_yaml_documents(doc: dict[Any, Any]) -> None:
    outcome(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(values)
def test_random_yaml_values(doc: Any) -> None:
    outcome(yaml.safe_dump(doc))


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in the document (dict keys and list indexes)."""
    out = [here] if here else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


PATHS = _paths(EXAMPLE_DATA)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PATHS),
            st.sampled_from(["delete", "replace", "rename"]),
            values,
            st.sampled_from(KEYS),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutations_of_the_example(mutations: list[tuple[tuple[Any, ...], str, Any, str]]) -> None:
    doc = copy.deepcopy(EXAMPLE_DATA)
    for path, action, value, new_key in mutations:
        parent: Any = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            _ = parent[last]  # an earlier mutation may have removed it
        except (KeyError, IndexError, TypeError):
            continue
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = value
        elif isinstance(parent, dict):
            parent[new_key] = parent.pop(last)
    outcome(yaml.safe_dump(doc, allow_unicode=True), EXAMPLE_ENV)


def test_the_example_itself_is_valid() -> None:
    """The mutations start from a valid document, so the errors they find are their own."""
    assert isinstance(parse_config(EXAMPLE.read_text(), EXAMPLE_ENV), Config)
