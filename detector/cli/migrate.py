"""`detector migrate -c FILE`: bring the configured store to the newest schema revision.

`detector run` does the same on start; this is for doing it ahead of a rollout (one instance
migrating a shared PostgreSQL before the new version starts everywhere) or to see where a
store stands. Prints what it found and what it left (exit 0); a store that cannot be reached
or migrated is one line (exit 1) and changes nothing; an invalid config exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from detector.cli.check import safe_url
from detector.cli.common import add_config_arg, first_line, read_config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="bring the store's schema to this version's")
    add_config_arg(p)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    if isinstance(config, int):
        return config
    return asyncio.run(_migrate(config.storage.url))


async def _migrate(url: str) -> int:
    # here, not at the top: `detector --help` should not pay for SQLAlchemy and Alembic
    from detector.store import STORE_ERRORS
    from detector.store.migrations import upgrade
    from detector.store.store import create_engine

    name = safe_url(url)
    folder = _sqlite_folder(url)
    if folder is not None and not folder.is_dir():
        print(f"detector: cannot migrate the store {name}: no folder {folder}", file=sys.stderr)
        return 1
    engine = create_engine(url)
    try:
        migrated = await upgrade(engine)
    except STORE_ERRORS as e:
        why = first_line(e)
        print(f"detector: cannot migrate the store {name}: {why}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"store {name}: {migrated.describe()}")
    return 0


def _sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite file (which `migrate`, like `run`, creates if it is missing)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).parent
