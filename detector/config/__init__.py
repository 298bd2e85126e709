"""`from detector.config import Config, load_config` as ever, each loaded on first use.

Loading them here eagerly would close a cycle: probes and channels import
detector.config.fields, and the models (which the loader imports) import probes' and channels'
registries to assemble their unions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.config.loader import ConfigError, load_config, parse_config
    from detector.config.models import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

_HOMES = {
    "Config": "detector.config.models",
    "ConfigError": "detector.config.loader",
    "load_config": "detector.config.loader",
    "parse_config": "detector.config.loader",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
