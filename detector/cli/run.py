"""`detector run -c FILE`: the daemon until SIGTERM/SIGINT; SIGHUP reloads the config."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from detector import logs
from detector.cli.common import add_config_arg, load_or_report
from detector.config import ConfigError, load_config
from detector.daemon import Daemon


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon")
    add_config_arg(p)
    p.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=("debug", "info", "warning", "error", "critical"),
        help="every logger's threshold, ours and the libraries' (default: info)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    # before anything logs: every logger, structlog or stdlib, becomes redacted JSON on stderr
    logs.configure(args.log_level)
    return asyncio.run(_serve(args.config))


async def _serve(path: str) -> int:
    log = logs.get("detector")
    base = Path(path).resolve().parent
    daemon = Daemon(load_config(path), base)
    await daemon.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    while True:
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(reload.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if stop.is_set():
            break
        reload.clear()
        try:
            new = load_config(path)
        except ConfigError as e:
            log.error("reload refused: invalid configuration", errors=e.lines)
            continue
        log.info("reloading configuration")
        if not await daemon.reload(new):  # another store or address: only a restart does it
            log.info("restarting: the store or the listen address changed")
            await daemon.stop()
            daemon = Daemon(new, base)
            await daemon.start()
    await daemon.stop()
    return 0
