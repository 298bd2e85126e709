"""The committed JSON Schema, the example and the docs stay in step with the models."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from detector.config.loader import parse_config
from detector.config.schema import config_json_schema, duration_text, render
from tests.config._data import EXAMPLE, EXAMPLE_ENV, MINIMAL, ROOT, SCHEMA, config_models

DOCS = ROOT / "docs" / "configuration.md"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def substitute(node: Any) -> Any:
    """${VAR} replaced in string values, as the loader does (comments are not values)."""
    if isinstance(node, str):
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: EXAMPLE_ENV[m.group(1)], node)
    if isinstance(node, dict):
        return {k: substitute(v) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v) for v in node]
    return node


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA.read_text() == render(), (
        "config/schema.json is stale: run `python -m detector.config.schema > config/schema.json`"
    )


def test_example_validates_against_the_schema() -> None:
    errors = list(validator().iter_errors(substitute(yaml.safe_load(EXAMPLE.read_text()))))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_example_validates_before_interpolation_too() -> None:
    """Every ${VAR} in the example sits in a string field, so an editor does not flag it."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert not list(validator().iter_errors(raw))


def test_minimal_validates_and_a_typo_does_not() -> None:
    v = validator()
    assert v.is_valid(yaml.safe_load(MINIMAL))
    broken = yaml.safe_load(MINIMAL.replace("impact:", "impakt:"))
    assert not v.is_valid(broken)
    broken = yaml.safe_load(MINIMAL + "detection: {interval: 30}\n")
    assert not v.is_valid(broken)


def test_schema_uses_yaml_keys_and_duration_strings() -> None:
    schema = config_json_schema()
    defs = schema["$defs"]
    assert "from" in defs["SendgridChannel"]["properties"]
    assert "json" in defs["HttpExpect"]["properties"]
    assert defs["Cadence"]["properties"]["major_outage"]["default"] == "15m"
    assert defs["Service"]["properties"]["report_within"]["default"] == "5d"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (10, "10s"), (90, "90s"), (900, "15m"), (7200, "2h")]
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert (
        parse_config(MINIMAL + f"detection: {{interval: {text}}}\n", {}).detection.interval
        == seconds
    )


def test_every_key_is_documented() -> None:
    docs = DOCS.read_text()
    missing = []
    for obj in config_models():
        for name, info in obj.model_fields.items():
            key = info.alias or name
            if f"`{key}`" not in docs and f"`{key}." not in docs and f".{key}`" not in docs:
                missing.append(f"{obj.__name__}.{key}")
    assert not missing, f"docs/configuration.md does not mention: {missing}"
