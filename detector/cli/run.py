"""`detector run -c FILE`: the daemon until SIGTERM/SIGINT; SIGHUP reloads the config."""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from detector import logs
from detector.cli.common import add_config_arg, first_line, read_config
from detector.config import Config, ConfigError, load_config
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
    p.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default=None,
        help="the event loop (default: uvloop where it is installed, else asyncio's own)",
    )
    p.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=None,
        help="json lines, or console for a person (default: console on a terminal, else json)",
    )


class StartupFailure(Exception):
    """Why the daemon could not start, in one line that says what to do."""


def fail(message: str) -> int:
    print(f"detector: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    if isinstance(config, int):
        return config
    # before anything logs: every logger, structlog or stdlib, becomes redacted JSON on stderr
    logs.configure(args.log_level, fmt=args.log_format)
    try:
        factory = loop_factory(args.loop)
    except ImportError:
        return fail("--loop uvloop: uvloop is not installed (install it, or use --loop asyncio)")
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_serve(args.config, config))
    except StartupFailure as e:
        return fail(str(e))


def loop_factory(name: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop by default where it is installed: at 20,000 probes, each a new connection per
    check, asyncio's own loop fell behind on two cores and uvloop kept every start on time, at
    ~20% less CPU per check (bench/scale.py). None: asyncio's own loop."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


async def _start(daemon: Daemon) -> None:
    """Start, or raise StartupFailure naming the problem, with what was opened closed again."""
    from detector.store import STORE_ERRORS

    config = daemon.config
    try:
        await daemon.start()
        return
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            why = (
                f"cannot listen on {config.server.listen}: the address is already in use "
                "(stop the other process, or change server.listen or DETECTOR_LISTEN)"
            )
        elif e.errno in (errno.EACCES, errno.EADDRNOTAVAIL):
            why = (
                f"cannot listen on {config.server.listen}: {e.strerror} "
                "(change server.listen or DETECTOR_LISTEN)"
            )
        else:
            why = f"cannot start: {e.strerror or e}"
    except STORE_ERRORS as e:
        why = (
            f"cannot open the store {store_name(config.storage.url)}: {first_line(e)} "
            "(check storage.url, and that its folder exists and is writable)"
        )
    await daemon.abort()
    await _sqlite_threads_done()
    raise StartupFailure(why)


async def _sqlite_threads_done(timeout: float = 2.0) -> None:
    """aiosqlite hands a failed connection's stop to its worker thread without waiting for
    it; if the loop closes first, the thread's late answer prints a traceback after our one
    line. Wait (the loop still running) until those threads have finished."""
    import threading

    try:
        from aiosqlite import core
    except ImportError:
        return
    worker = getattr(core, "_connection_worker_thread", None)
    for t in threading.enumerate():
        if worker is not None and getattr(t, "_target", None) is worker:
            await asyncio.to_thread(t.join, timeout)


def store_name(url: str) -> str:
    """The store's URL without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


async def _serve(path: str, config: Config) -> int:
    """`config` is the one `run` already loaded and checked: loading 20,000 probes again would
    double the start-up time and leave the first copy's garbage in the heap."""
    log = logs.get("detector")
    base = Path(path).resolve().parent
    daemon = Daemon(config, base)
    await _start(daemon)
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
            try:
                await _start(daemon)
            except StartupFailure as e:
                log.error("restart failed", reason=str(e))
                raise
    await daemon.stop()
    return 0
