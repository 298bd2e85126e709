"""YAML → frozen Config, with ${ENV} interpolation. Errors name the key path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from detector.config.models import Config

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """A user error in the config: one line per problem, each naming its key path."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _interpolate(node: Any, env: Mapping[str, str], loc: tuple[Any, ...]) -> Any:
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise ConfigError([f"{_path(loc)}: environment variable {m.group(1)} is not set"])
            return env[m.group(1)]
        return _ENV_RE.sub(sub, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, env, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, (*loc, i)) for i, v in enumerate(node)]
    return node


def parse_config(text: str, env: Mapping[str, str] | None = None) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError([f"(file): not valid YAML: {str(e).splitlines()[0]}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping of settings"])
    raw = _interpolate(raw, os.environ if env is None else env, ())
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{_path(loc)}: {msg}")
        raise ConfigError(lines) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"(file): cannot read {path}: {e.strerror}"]) from None
    return parse_config(text, env)
