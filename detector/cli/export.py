"""`detector export DIR -c FILE`: the status page, feed, banner and status JSON, and their assets,
written from the store into DIR as static files (detector.web.export), for hosting elsewhere.

It reads the store as it is (never creates it) and may run beside the daemon. Exit codes: 0
written, 1 the store or DIR could not be used, 2 bad usage or an invalid config.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from detector.cli.incidents import Failure, load_config, main, open_store
from detector.clock import SystemClock
from detector.incidents.engine import Engine
from detector.metrics import Metrics
from detector.store import STORE_ERRORS
from detector.web.app import Services
from detector.web.export import export
from detector.web.public import Messages
from detector.web.uptime import UptimeCache


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export", help="write the status page, feed and JSON as static files for hosting elsewhere"
    )
    p.add_argument("dir", metavar="DIR", help="the folder to write (created if missing)")
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration file")


def run(args: argparse.Namespace) -> int:
    return main(args, _export)


async def _export(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if directory.exists() and not directory.is_dir():
        raise Failure(f"{directory} is not a folder")
    config = load_config(args)
    store = await open_store(config)
    try:
        # the engine's view (open incidents, component states, maintenance) as the daemon
        # resumes it after a restart: read from the store, nothing written
        engine = Engine(config, store, [], [], Metrics(), SystemClock())
        await engine.load()
        services = Services(config, store, engine, Metrics())
        files = await export(
            services, UptimeCache(config, store), Messages(), directory, time.time()
        )
    except STORE_ERRORS as e:
        if isinstance(e, OSError) and e.filename is not None:
            raise Failure(f"cannot write {e.filename}: {e.strerror}") from None
        raise Failure(f"cannot read the store: {type(e).__name__}") from None
    finally:
        await store.close()
    print(f"exported to {directory}: {len(files)} file(s) changed")
    return 0
