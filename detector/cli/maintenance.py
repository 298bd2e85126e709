"""`detector maintenance add|list|cancel`: planned work, announced to subscribers.

`list` reads the store (`-c FILE`) or a running daemon (`--url URL`, with the admin token);
`add` and `cancel` go through the daemon only, which announces the window and keeps its
schedule. Dates are ISO 8601 with a time zone; they are checked here (a date, a zone, the end
after the start) and the daemon checks the rest against its own clock, which is the one that
matters. `-m TEXT` or `--message-in LANG TEXT` (repeated) as in `detector.cli.incidents`.
Errors and exit codes as in `detector.cli.incidents`: one line, 0 done, 1 failed
(unknown window, already over, unreachable), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

from detector.cli.incidents import (
    Failure,
    admin_token,
    check_target,
    component_ids,
    daemon_token,
    load_config,
    main,
    one_line,
    open_store,
    print_missing,
    request,
    target_args,
    title_text,
    words,
    words_args,
)

ISO_EXAMPLE = "e.g. 2026-11-23T22:00:00Z or 2026-11-23T23:00:00+01:00"
ADD_OPTIONS = {
    "title": "--title",
    "components": "--component",
    "starts_at": "--starts",
    "ends_at": "--ends",
    "message": "--message",
}
PATH = "/api/v1/admin/maintenance"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("maintenance", help="schedule, list or cancel maintenance windows")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="schedule a window and tell subscribers (needs --url)")
    target_args(add)
    add.add_argument("--title", required=True, help="a short title, for customers")
    add.add_argument(
        "--component",
        dest="components",
        action="append",
        required=True,
        metavar="ID",
        help="an affected component's id (repeat for several)",
    )
    add.add_argument("--starts", required=True, metavar="ISO", help=f"start, {ISO_EXAMPLE}")
    add.add_argument("--ends", required=True, metavar="ISO", help="end, ISO 8601 with a zone")
    words_args(add, "what to tell customers about the work")
    ls = actions.add_parser("list", help="upcoming and current windows, soonest first")
    target_args(ls)
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    cancel = actions.add_parser(
        "cancel",
        help="call a window off (before its start: tell "
        "subscribers; under way: end it now; needs --url)",
    )
    cancel.add_argument("id", metavar="ID")
    target_args(cancel)


def run(args: argparse.Namespace) -> int:
    return main(args, _maintenance)


async def _maintenance(args: argparse.Namespace) -> int:
    where = check_target(args)
    if args.action == "list":
        windows = await _list(args, where)
        if args.json:
            print(json.dumps({"maintenance": windows}, indent=2, ensure_ascii=False))
        else:
            print_list(windows)
        return 0
    token = daemon_token(args, where)
    if args.action == "add":
        return await _add(args, token)
    result = await request(args.url, "POST", f"{PATH}/{quote(args.id, safe='')}/cancel", token, {})
    m, notice = result["maintenance"], result.get("notice") or {}
    done = "cancelled before it began" if m["state"] == "cancelled" else "it had begun: ended now"
    print(
        f"{one_line(m['id'])}: {done}; published notice {notice.get('sequence', '?')} "
        f"({one_line(notice.get('subject', ''))})"
    )
    return 0


async def _add(args: argparse.Namespace, token: str) -> int:
    starts, ends = moment("--starts", args.starts), moment("--ends", args.ends)
    if ends <= starts:
        raise Failure("--ends: must be after --starts", 2)
    body: dict[str, Any] = {
        "title": title_text("--title", args.title),
        "components": component_ids(args.components),
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
    }
    message = words("--message", args.message, args.message_in)
    if message is not None:
        body["message"] = message
    result = await request(args.url, "POST", PATH, token, body, options=ADD_OPTIONS)
    m = result["maintenance"]
    print(
        f"{one_line(m['id'])}: scheduled from {m['starts_at']} to {m['ends_at']} (UTC); "
        f"subscribers are told now, at the start and at the end"
    )
    print_missing(result)
    return 0


def moment(option: str, value: str) -> datetime:
    """An ISO 8601 date and time with a zone: a window without one would start at a time that
    depends on where the daemon runs."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Failure(f"{option}: not an ISO 8601 date and time, {ISO_EXAMPLE}", 2) from None
    if when.utcoffset() is None:
        raise Failure(f"{option}: needs a time zone, {ISO_EXAMPLE}", 2)
    return when


async def _list(args: argparse.Namespace, where: str) -> list[dict[str, Any]]:
    if where == "url":
        data = await request(args.url, "GET", PATH, admin_token(args, required=True))
        windows: list[dict[str, Any]] = data["maintenance"]
        return windows
    from detector.web.admin import maintenance_json

    store = await open_store(load_config(args))
    try:
        now = time.time()
        rows = await store.maintenance_rows(ending_after=now)
        return [maintenance_json(m, now) for m in rows if m.ends_at > now]
    finally:
        await store.close()


def print_list(windows: list[dict[str, Any]]) -> None:
    if not windows:
        print("no maintenance scheduled")
        return
    rows = [("ID", "STATE", "STARTS (UTC)", "ENDS (UTC)", "COMPONENTS", "TITLE")] + [
        tuple(
            one_line(v)
            for v in (
                m["id"],
                m["state"],
                m["starts_at"],
                m["ends_at"],
                ", ".join(m["components"]),
                m["title"],
            )
        )
        for m in windows
    ]
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
