"""What the commands share: loading a config the user named, reporting its errors plainly."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.config import Config, ConfigError, load_config


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration file")


def read_config(path: str) -> Config | int:
    """The config a command was given, or its exit code after saying what is wrong: 1 for a
    file that is not there, 2 for a config that is not valid."""
    if not Path(path).is_file():
        why = f"cannot read the configuration {path}: no such file (give it with -c)"
        print(f"detector: {why}", file=sys.stderr)
        return 1
    config = load_or_report(path)
    return 2 if config is None else config


def first_line(e: BaseException) -> str:
    """The driver's first line of an error, for a one-line message."""
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return text[0] if text else type(e).__name__


def load_or_report(path: str) -> Config | None:
    """The config, or None after printing one line per problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        return None
