"""`detector postmortem ID`: print the post-mortem draft (Markdown), from the store (`-c FILE`)
or from a running daemon (`--url URL`; an unpublished draft needs the admin token)."""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import quote

from detector.cli.incidents import (
    Failure,
    admin_token,
    check_target,
    load_config,
    main,
    open_store,
    request,
    target_args,
)
from detector.postmortem import build_postmortem


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("postmortem", help="print an incident's post-mortem draft (Markdown)")
    p.add_argument("id", metavar="ID")
    target_args(p)


def run(args: argparse.Namespace) -> int:
    return main(args, _postmortem)


async def _postmortem(args: argparse.Namespace) -> int:
    if check_target(args) == "url":
        text = await request(
            args.url,
            "GET",
            f"/api/v1/incidents/{quote(args.id, safe='')}/postmortem",
            admin_token(args, required=False),
            text=True,
        )
    else:
        config = load_config(args)
        store = await open_store(config)
        try:
            text = await build_postmortem(store, config, args.id, time.time())
        except KeyError:
            raise Failure(f"no incident {args.id!r}") from None
        finally:
            await store.close()
    sys.stdout.write(text)
    return 0
