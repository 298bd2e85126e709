"""JSON Schema of the config, generated from the models so editors and CI validate the same rules.

Regenerate the committed copy with `python -m detector.config.schema > config/schema.json`;
a test fails when it is out of date.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from detector.config.models import Config

_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))


def duration_text(seconds: float) -> str:
    """900.0 → '15m': defaults shown in the units a user writes."""
    for unit, size in _UNITS:
        count = seconds / size
        if seconds >= size and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds else "0s"


def _fix_duration_defaults(node: Any) -> None:
    """Durations are strings in YAML, but pydantic writes their float defaults (900.0)."""
    if isinstance(node, dict):
        pattern = node.get("pattern", "") or "".join(
            str(a.get("pattern", "")) for a in node.get("anyOf", []) if isinstance(a, dict)
        )
        if "(ms|s|m|h|d)" in pattern and isinstance(node.get("default"), int | float):
            node["default"] = duration_text(float(node["default"]))
        for value in node.values():
            _fix_duration_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _fix_duration_defaults(value)


def config_json_schema() -> dict[str, Any]:
    """The schema as a dict: YAML keys (aliases such as `from`, `json`), validation mode."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    _fix_duration_defaults(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "outage-detector configuration",
        "description": "Strings may hold ${NAME} references to environment variables; "
        "durations are strings with a unit: 250ms, 10s, 15m, 2h, 5d.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def render() -> str:
    """Stable text: the committed file is compared byte for byte."""
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
