"""`detector demo`: a self-contained tour of the whole cycle."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("demo", help="a local service breaks and recovers; watch the notices")


def run(args: argparse.Namespace) -> int:
    from detector.demo import main

    return main()
