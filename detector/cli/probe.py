"""`detector probe -c FILE [NAME...]`: run probes once and show what each saw.

For an operator wiring up a config: does each probe pass from here, and if not, why.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from detector import logs
from detector.cli.common import add_config_arg, load_or_report
from detector.config.models import Config, ProbeConfig
from probes.base import Result
from probes.errors import fmt_duration
from probes.runner import run_once

HEADER = ("NAME", "KIND", "COMPONENT", "RESULT", "DURATION", "DETAIL")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("probe", help="run each probe once and print a table")
    add_config_arg(p)
    p.add_argument("names", nargs="*", metavar="NAME", help="only these probes (default: all)")


def _owners(config: Config) -> dict[str, str]:
    owners = {p.name: "control" for p in config.controls}
    owners.update({p.name: c.id for c in config.components for p in c.probes})
    return owners


def verdict(result: Result) -> str:
    if not result.ok:
        return "FAIL"
    return "degraded" if result.soft_fail else "ok"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last (detail) column is left ragged."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    )


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    logs.configure("warning")  # a crashing probe's traceback goes to stderr, not into the table
    probes = config.all_probes()
    if args.names:
        known = {p.name for p in probes}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            print(
                f"unknown probe {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}",
                file=sys.stderr,
            )
            return 2
        wanted = set(args.names)
        probes = [p for p in probes if p.name in wanted]
    results: list[tuple[ProbeConfig, Result]] = asyncio.run(run_once(probes, config.detection))
    owners = _owners(config)
    rows = [HEADER] + [
        (p.name, p.kind, owners[p.name], verdict(r), fmt_duration(r.duration), r.detail)
        for p, r in results
    ]
    print(table(rows))
    return 0 if all(r.ok for _, r in results) else 1
