"""`detector` command line: one module per command, each with add_parser() and run()."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from detector import __version__

COMMANDS = {
    "run": "detector.cli.run",
    "check": "detector.cli.check",
    "probe": "detector.cli.probe",
    "demo": "detector.cli.demo",
    "incidents": "detector.cli.incidents",
    "postmortem": "detector.cli.postmortem",
    "maintenance": "detector.cli.maintenance",
    "export": "detector.cli.export",
    "migrate": "detector.cli.migrate",
    "cluster": "detector.cli.cluster",
}


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line that says what to do, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="detector", description="outage-detector")
    parser.add_argument("--version", action="version", version=f"detector {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    given = sys.argv[1:] if argv is None else argv
    # Import only the named command when there is one: the daemon's imports cost ~1 s that
    # `detector check` or `probe` should not pay. Without one (--help, typo), list them all.
    chosen = [given[0]] if given and given[0] in COMMANDS else list(COMMANDS)
    for name, modname in ((n, COMMANDS[n]) for n in chosen):
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
            continue
        modules[name] = mod
        mod.add_parser(sub)
    args = parser.parse_args(argv)
    code: int = modules[args.command].run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
