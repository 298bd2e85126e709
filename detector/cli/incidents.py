"""`detector incidents list|show|open|update|cause|resolve`: on the store (`-c FILE`) or a
running daemon (`--url URL`, admin token from `--token` or DETECTOR_ADMIN_TOKEN).

Reading works either way. Writing (open, update, cause, resolve) goes through the daemon only:
it owns the schedule and the outbox, and a second writer would publish notices it does not know
about. Every error is one line on stderr naming the problem (an option, or the daemon's answer).
Exit codes: 0 done, 1 the action failed (unknown incident, refused, unreachable), 2 bad usage.

Words for customers (a message, the cause, corrective actions) are one text with `-m TEXT`
(written in the service's language, `service.locale`), or one per language with
`--message-in LANG TEXT` repeated (`--actions-in` for actions): `--message-in en "We are on
it." --message-in fr "Nous y travaillons."`. A reader whose language is not given gets the
notice without these words (never another language's), so after each action the command
prints the subscribers' languages the text does not reach.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from detector.cli.common import load_or_report
from detector.config import Config
from detector.domain import Severity
from detector.store import Store
from detector.text import Localized, clean_line, clean_operator_text, is_language_tag

TOKEN_ENV = "DETECTOR_ADMIN_TOKEN"
MAX_TEXT = 5000  # as the admin API allows
MAX_TITLE = 200  # as the admin API allows
SEVERITIES = ("major_outage", "partial_outage", "degraded")
WRITES = ("open", "update", "cause", "resolve")
# the admin API's field names → this command's options, so a refusal names what was typed
OPEN_OPTIONS = {
    "title": "--title",
    "components": "--component",
    "severity": "--severity",
    "message": "--message",
}
TIMEOUT = aiohttp.ClientTimeout(total=15)


class Failure(Exception):
    """A user-facing failure: message and exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where (one of)")
    g.add_argument("-c", "--config", metavar="FILE", help="read the store named in this config")
    g.add_argument("--url", metavar="URL", help="a running daemon, e.g. http://127.0.0.1:9478")
    g.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"admin token (default: the {TOKEN_ENV} environment variable)",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "incidents", help="list, show, open, update, set the cause of, or resolve incidents"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="recent incidents, newest first")
    target_args(ls)
    ls.add_argument("--limit", type=int, default=20, help="how many (1-500, default 20)")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    show = actions.add_parser("show", help="one incident and its update timeline")
    show.add_argument("id", metavar="ID")
    target_args(show)
    show.add_argument("--json", action="store_true", help="print the API's JSON")
    op = actions.add_parser(
        "open", help="open an incident the probes cannot see, and tell customers (needs --url)"
    )
    target_args(op)
    op.add_argument("--title", required=True, help="a short title, for customers")
    op.add_argument(
        "--component",
        dest="components",
        action="append",
        required=True,
        metavar="ID",
        help="an affected component's id (repeat for several)",
    )
    op.add_argument("--severity", required=True, choices=SEVERITIES)
    words_args(op, "what to tell customers")
    up = actions.add_parser("update", help="publish a human update (needs --url)")
    up.add_argument("id", metavar="ID")
    target_args(up)
    words_args(up, "what to tell customers (required: -m or --message-in)")
    up.add_argument("-s", "--status", choices=["investigating", "identified", "monitoring"])
    cause = actions.add_parser(
        "cause", help="name the cause: published to customers at once as 'identified' (needs --url)"
    )
    cause.add_argument("id", metavar="ID")
    target_args(cause)
    words_args(cause, "the cause, in words customers understand (required: -m or --message-in)")
    words_args(
        cause,
        "corrective actions, for the post-mortem report",
        option="--actions",
        short=None,
    )
    res = actions.add_parser("resolve", help="resolve an incident (needs --url)")
    res.add_argument("id", metavar="ID")
    target_args(res)
    words_args(res, "a closing word to customers")


def run(args: argparse.Namespace) -> int:
    return main(args, _incidents)


Action = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def main(args: argparse.Namespace, action: Action) -> int:
    try:
        return asyncio.run(action(args))
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code


async def _incidents(args: argparse.Namespace) -> int:
    where = check_target(args)
    if args.action in WRITES:
        return await _write(args, daemon_token(args, where))
    if args.action == "list":
        if not 1 <= args.limit <= 500:
            raise Failure("--limit: must be 1-500", 2)
        incs = await _list(args, where)
        if args.json:
            print(json.dumps({"incidents": incs}, indent=2, ensure_ascii=False))
        else:
            print_list(incs)
        return 0
    inc = await _show(args, where)
    if args.json:
        print(json.dumps(inc, indent=2, ensure_ascii=False))
    else:
        print_incident(inc)
    return 0


async def _write(args: argparse.Namespace, token: str) -> int:
    """One person's action through the admin API; prints what was published."""
    if args.action == "open":
        body: dict[str, Any] = {
            "title": title_text("--title", args.title),
            "components": component_ids(args.components),
            "severity": args.severity,
        }
        message = words("--message", args.message, args.message_in)
        if message is not None:
            body["message"] = message
        result = await request(
            args.url, "POST", "/api/v1/admin/incidents", token, body, options=OPEN_OPTIONS
        )
        iid = str(result["incident"]["id"])
        print(f"{one_line(iid)}: opened; {published(result.get('notice'))}")
        print_missing(result)
        return 0
    path = f"/api/v1/admin/incidents/{quote(args.id, safe='')}"
    message = words("--message", args.message, args.message_in)
    options = {"message": "--message"}
    if args.action in ("update", "cause") and message is None:
        given = args.message is not None or args.message_in
        raise Failure(
            "--message: must not be empty"
            if given
            else "--message: required (-m TEXT, or --message-in LANG TEXT per language)",
            2,
        )
    if args.action == "update":
        path += "/updates"
        body = {"message": message, **({"status": args.status} if args.status else {})}
    elif args.action == "cause":
        actions = words("--actions", args.actions, args.actions_in)
        path += "/cause"
        body = {"cause": message, **({"actions": actions} if actions is not None else {})}
        options = {"cause": "--message", "actions": "--actions"}
    else:
        path += "/resolve"
        body = {"message": message} if message is not None else {}
    result = await request(args.url, "POST", path, token, body, options=options)
    print(f"{one_line(args.id)}: {published(result.get('notice'))}")
    print_missing(result)
    return 0


def words_args(
    p: argparse.ArgumentParser, what: str, option: str = "--message", short: str | None = "-m"
) -> None:
    """`--message TEXT` (the service's language) and `--message-in LANG TEXT` (repeatable)."""
    names = [short, option] if short else [option]
    p.add_argument(*names, metavar="TEXT", help=f"{what}, in the service's language")
    p.add_argument(
        f"{option}-in",
        nargs=2,
        action="append",
        metavar=("LANG", "TEXT"),
        help=f"{what}, in language LANG (e.g. fr); repeat for each language, instead of {option}",
    )


def words(option: str, plain: str | None, per_language: list[list[str]] | None) -> Localized | None:
    """A person's words: `plain` (one text), or {LANG: TEXT} from `OPTION-in LANG TEXT`."""
    if not per_language:
        return operator_text(option, plain)
    if plain is not None:
        raise Failure(
            f"{option}: give the text once ({option} TEXT, in the service's language) or per "
            f"language ({option}-in LANG TEXT, repeated, the service's language among them), "
            "not both",
            2,
        )
    out: dict[str, str] = {}
    for lang, value in per_language:
        tag = lang.strip()
        where = f"{option}-in {one_line(lang)[:32]}"
        if not is_language_tag(tag):
            raise Failure(f"{where}: not a language (write e.g. en, fr, pt_BR)", 2)
        if tag in out:
            raise Failure(f"{where}: given twice", 2)
        text = operator_text(where, value)
        if text is None:
            raise Failure(f"{where}: must not be empty", 2)
        out[tag] = text
    return out


def print_missing(result: dict[str, Any]) -> None:
    """The subscribers' languages the words just given do not reach, if any."""
    missing = [one_line(m) for m in result.get("missing_languages") or []]
    if missing:
        print(
            f"not in {', '.join(missing)}: subscribers reading "
            + ("it" if len(missing) == 1 else "these")
            + " get the notice without these words (add them with --message-in LANG TEXT)"
        )


def published(notice: dict[str, Any] | None) -> str:
    """What an action told customers, for the person who took it."""
    if not notice:
        return "recorded; no notice published (the incident is resolved)"
    return f"published notice {notice.get('sequence', '?')} ({one_line(notice.get('subject', ''))})"


def daemon_token(args: argparse.Namespace, where: str) -> str:
    """The admin token for a write, which only the running daemon may make."""
    if where == "store":
        raise Failure(
            f"'{args.action}' needs the running daemon, which publishes the notice: "
            f"use --url URL (and --token or {TOKEN_ENV}) instead of -c",
            2,
        )
    token = admin_token(args, required=False)
    if token is None:
        raise Failure(f"the admin API needs a token: --token TOKEN or {TOKEN_ENV}", 2)
    return token


def title_text(option: str, value: str) -> str:
    """A title: one line, not empty, as long as the admin API takes."""
    text = clean_line(value)
    if not text:
        raise Failure(f"{option}: must not be empty", 2)
    if len(text) > MAX_TITLE:
        raise Failure(f"{option}: must be at most {MAX_TITLE} characters", 2)
    return text


def component_ids(values: list[str]) -> list[str]:
    """Component ids as typed; the daemon knows which exist and names an unknown one."""
    ids = [clean_line(v) for v in values]
    if not all(ids):
        raise Failure("--component: must not be empty", 2)
    return ids


def operator_text(option: str, value: str | None) -> str | None:
    """A person's words from the command line, without control characters (`detector.text`);
    None when nothing is left (or nothing was given)."""
    if value is None:
        return None
    text = clean_operator_text(value).strip()
    if len(text) > MAX_TEXT:
        raise Failure(f"{option}: must be at most {MAX_TEXT} characters", 2)
    return text or None


def check_target(args: argparse.Namespace) -> str:
    if bool(args.config) == bool(args.url):
        raise Failure("name one of -c FILE (read the store) or --url URL (a running daemon)", 2)
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Failure(f"--url: not an http(s) URL: {args.url!r}", 2)
        return "url"
    return "store"


def admin_token(args: argparse.Namespace, required: bool) -> str | None:
    token: str | None = args.token or os.environ.get(TOKEN_ENV) or None
    if token is None and required:
        raise Failure(f"the admin API needs a token: --token TOKEN or {TOKEN_ENV}", 2)
    return token


def load_config(args: argparse.Namespace) -> Config:
    config = load_or_report(args.config)
    if config is None:
        raise Failure("the configuration is not valid (see above)", 2)
    return config


async def open_store(config: Config) -> Store:
    """The configured store, read as it is: never created here (that is the daemon's job)."""
    url = config.storage.url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise Failure(f"no store at {path}: has the daemon run with this configuration?")
    store = Store(url)
    if not await store.ping():
        await store.close()
        raise Failure("cannot reach the store named in storage.url")
    return store


async def request(
    url: str,
    method: str,
    path: str,
    token: str | None,
    body: dict[str, Any] | None = None,
    *,
    text: bool = False,
    options: dict[str, str] | None = None,
) -> Any:
    """The daemon's answer; a refusal becomes a Failure (a 400 is bad usage: exit 2).
    `options` maps the API's field names to this command's options for the message."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.request(method, url.rstrip("/") + path, json=body, headers=headers) as resp,
        ):
            raw = await resp.text()
            if resp.status >= 400:
                raise Failure(
                    _server_error(resp.status, raw, options or {}), 2 if resp.status == 400 else 1
                )
            return raw if text else json.loads(raw)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise Failure(
            f"cannot reach the daemon at {url}: {type(e).__name__} {str(e)[:200]}".rstrip()
        ) from None
    except ValueError:
        raise Failure(f"the daemon at {url} did not answer with JSON") from None


_FIELD = re.compile(r"([A-Za-z_]+)(?:\[\d+\])*: ")


def _server_error(status: int, raw: str, options: dict[str, str]) -> str:
    try:
        message = json.loads(raw).get("error") or raw
    except (ValueError, AttributeError):
        message = raw
    message = one_line(message)[:500]
    field = _FIELD.match(message)
    if status == 400 and field and field.group(1) in options:
        rest = message[field.end() :]
        for name, option in options.items():
            if "_" in name:  # "... after starts_at": the option typed, not the API field
                rest = rest.replace(name, option)
        return options[field.group(1)] + ": " + rest
    hint = {401: " (check --token or " + TOKEN_ENV + ")"}.get(status, "")
    return f"HTTP {status}: {message}{hint}"


async def _list(args: argparse.Namespace, where: str) -> list[dict[str, Any]]:
    if where == "url":
        data = await request(args.url, "GET", f"/api/v1/incidents?limit={args.limit}", None)
        incidents: list[dict[str, Any]] = data["incidents"]
        return incidents
    from detector.incidents.payload import incident_json

    store = await open_store(load_config(args))
    try:
        return [incident_json(i) for i in await store.incidents(limit=args.limit)]
    finally:
        await store.close()


async def _show(args: argparse.Namespace, where: str) -> dict[str, Any]:
    if where == "url":
        data: dict[str, Any] = await request(
            args.url, "GET", f"/api/v1/incidents/{quote(args.id, safe='')}", None
        )
        return data
    from detector.incidents.payload import incident_json
    from detector.web.api import notice_json

    store = await open_store(load_config(args))
    try:
        inc = await store.incident(args.id)
        if inc is None:
            raise Failure(f"no incident {args.id!r}")
        notices = (await store.notices([inc.id]))[inc.id]
        return {**incident_json(inc), "updates": [notice_json(n) for n in notices]}
    finally:
        await store.close()


def print_list(incs: list[dict[str, Any]]) -> None:
    if not incs:
        print("no incidents")
        return
    rows = [("ID", "STATUS", "SEVERITY", "STARTED (UTC)", "TITLE")] + [
        tuple(
            one_line(v)
            for v in (
                i["id"],
                i["status"] + (" (held)" if i.get("held_until") else ""),
                severity_shown(i),
                i["started_at"] or "-",
                i["title"],
            )
        )
        for i in incs
    ]
    widths = [max(len(str(r[k])) for r in rows) for k in range(4)]
    for r in rows:
        print(
            "  ".join(str(v).ljust(w) for v, w in zip(r[:4], widths, strict=True))
            + "  "
            + one_line(r[4])
        )


def severity_shown(inc: dict[str, Any]) -> str:
    """The worst severity customers were told of, as the post-mortem and the public report say
    it; while the incident is open and now better or worse than that, the current one too."""
    told = [u.get("severity") for u in inc.get("updates", [])]
    worst = Severity.worst([inc["severity"], *told])
    if inc.get("resolved_at") or worst == inc["severity"]:
        return str(worst)
    return f"{worst} (now {inc['severity']})"


def one_line(text: object) -> str:
    """One line for the terminal: stored text never moves the cursor or rings a bell."""
    return clean_line(str(text))


def print_incident(inc: dict[str, Any]) -> None:
    print(f"{one_line(inc['id'])}: {one_line(inc['title'])}")
    fields = [
        ("status", inc["status"]),
        ("severity", severity_shown(inc)),
        ("components", ", ".join(inc["components"])),
        ("vendor", inc.get("vendor")),
        ("started", inc["started_at"]),
        ("detected", inc["detected_at"]),
        ("recovered", inc.get("recovered_at")),
        ("resolved", inc.get("resolved_at")),
        ("next update", inc.get("next_update_at")),
        ("held until", inc.get("held_until")),
        ("cause", inc.get("cause")),
        ("report by", inc.get("report_by")),
        ("post-mortem published", inc.get("postmortem_published_at")),
    ]
    for name, value in fields:
        if isinstance(value, dict):  # text given per language
            value = "; ".join(f"{lang}: {text}" for lang, text in value.items())
        if value:
            print(f"  {name + ':':<24}{one_line(str(value))}")
    updates = inc.get("updates", [])
    print(f"updates ({len(updates)}):")
    for n in updates:
        print(
            f"  #{n['sequence']} {n['published_at']} {n['event']} ({n['kind']}): "
            f"{one_line(n['subject'])}"
        )
        if n.get("next_update_at"):
            print(f"     next update by {n['next_update_at']}")
