"""What the commands share: loading a config the user named, reporting its errors plainly."""

from __future__ import annotations

import argparse
import sys

from detector.config import Config, ConfigError, load_config


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration file")


def load_or_report(path: str) -> Config | None:
    """The config, or None after printing one line per problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        return None
