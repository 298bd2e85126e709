"""`detector check -c FILE`: validate a config (and its subscriber CSVs) before it goes live.

Valid: a short summary on stdout, exit 0 (warnings, such as a subscriber listed twice or a
component's impact missing in a language its subscribers read, are lines of the summary and do
not change it). Invalid: exactly one line per fault on stderr, each
naming its key path, exit 2 — so a script or a pre-deploy hook can show it as is.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from detector.config.languages import impact_warnings
from detector.config.loader import ConfigError, load_config
from detector.config.models import Config, Subscriber
from detector.config.subscribers import Duplicate, duplicate_lines, read_subscribers


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("check", help="validate the config and print a summary")
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="the YAML config file")


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    try:
        config = load_config(path)
        people, duplicates = read_subscribers(config, path.parent)
    except ConfigError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        return 2
    print(summary(config, people, str(path), duplicates))
    return 0


def summary(
    config: Config, people: list[Subscriber], name: str, duplicates: list[Duplicate] | None = None
) -> str:
    """What the daemon will do with this config, in a few lines an operator can eyeball."""
    probes = [p for c in config.components for p in c.probes]
    channels: Counter[str] = Counter(ch.type for ch in config.channels)
    lines = [
        f"{name}: valid",
        f"service: {config.service.name}",
        f"components: {len(config.components)} ({', '.join(c.id for c in config.components)})",
        f"probes: {len(probes)} ({_counts(Counter(p.kind for p in probes))})",
        f"controls: {len(config.controls)}",
        f"subscribers: {len(people)}",
        f"channels: {len(config.channels)} ({_counts(channels)})",
        f"storage: {safe_url(config.storage.url)}",
    ]
    if config.cluster is not None:
        from detector.cluster.node import vantage_name

        vantage = vantage_name(config.cluster)
        quorum = config.detection.quorum
        lines.append(
            f"cluster: vantage {vantage}, lease {config.cluster.lease:g}s (a new leader within "
            f"{2 * config.cluster.lease:g}s), quorum "
            + (f"{quorum} vantages" if isinstance(quorum, int) else "majority of live vantages")
        )
    lines += [f"warning: {w}" for w in _warnings(config, people, channels)]
    lines += [f"warning: {w}" for w in duplicate_lines(duplicates or [])]
    lines += [f"warning: {w}" for w in impact_warnings(config, people)]
    return "\n".join(lines)


def safe_url(url: str) -> str:
    """The storage URL with any password masked: `check` output ends up in CI logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return url.split("://", 1)[0] + "://***"
    return urlunsplit(parts._replace(netloc=netloc))


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counter.items())) or "none"


def _warnings(config: Config, people: list[Subscriber], channels: Counter[str]) -> list[str]:
    out = []
    if not config.channels:
        out.append("no channels: nobody will be told about an outage")
    if any(p.email for p in people) and not (channels["sendgrid"] or channels["smtp"]):
        out.append("subscribers have e-mail addresses, but there is no sendgrid or smtp channel")
    if any(p.phone for p in people) and not channels["twilio"]:
        out.append("subscribers have phone numbers, but there is no twilio channel")
    return out
