"""A local Microsoft Teams incoming webhook that checks what Teams checks.

It takes both shapes Teams takes: a classic connector's MessageCard (`@type: MessageCard`, with
`text` or `summary`; facts are name/value strings), answered 200 `1`; and a workflow's
`message` whose attachments are Adaptive Cards, answered 202. A card needs `type:
AdaptiveCard`, a `version` Teams renders (up to 1.5) and a `body` of known elements:
TextBlock with non-empty `text`, FactSet with title/value strings, Container/ColumnSet holding
more; Action.OpenUrl needs an absolute `url`. A message over 28 KB is refused with 413. Unknown
paths get 404; other failures 400 with Teams-style words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_HOOK = "/workflows/d0ublef10w/triggers/manual/paths/invoke"
DEFAULT_SIG = "sig=d0ubleSignature0123456789abcdefABCDEF"
MAX_BYTES = 28 * 1024
CARD = "application/vnd.microsoft.card.adaptive"
_VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}
_ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Column", "Image", "ActionSet"}
_ACTIONS = {"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"}


@dataclass(frozen=True, slots=True)
class TeamsPost:
    hook: str
    body: dict[str, Any]

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards in a workflow message (none in a MessageCard)."""
        return [a["content"] for a in self.body.get("attachments", [])]


def _elements(items: Any, where: str) -> list[str]:
    if not isinstance(items, list):
        return [f"{where}: must be an array"]
    out: list[str] = []
    for i, e in enumerate(items):
        at = f"{where}[{i}]"
        kind = e.get("type") if isinstance(e, dict) else None
        if kind not in _ELEMENTS:
            out.append(f"{at}: unknown element type {kind!r}")
            continue
        assert isinstance(e, dict)
        if kind == "TextBlock" and not (isinstance(e.get("text"), str) and e["text"]):
            out.append(f"{at}: a TextBlock needs text")
        if kind == "FactSet":
            facts = e.get("facts")
            if not isinstance(facts, list) or not all(
                isinstance(f, dict)
                and isinstance(f.get("title"), str)
                and isinstance(f.get("value"), str)
                for f in facts
            ):
                out.append(f"{at}: facts are {{title, value}} strings")
        if kind in ("Container", "Column"):
            out += _elements(e.get("items"), f"{at}.items")
        if kind == "ColumnSet":
            out += _elements(e.get("columns", []), f"{at}.columns")
        if kind == "ActionSet":
            out += _actions(e.get("actions"), f"{at}.actions")
    return out


def _actions(actions: Any, where: str) -> list[str]:
    if not isinstance(actions, list):
        return [f"{where}: must be an array"]
    out: list[str] = []
    for i, a in enumerate(actions):
        kind = a.get("type") if isinstance(a, dict) else None
        if kind not in _ACTIONS:
            out.append(f"{where}[{i}]: unknown action type {kind!r}")
        elif kind == "Action.OpenUrl":
            assert isinstance(a, dict)
            url = a.get("url")
            if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
                out.append(f"{where}[{i}]: Action.OpenUrl needs an absolute url")
    return out


def card_problems(card: Any) -> list[str]:
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["content: type must be AdaptiveCard"]
    out: list[str] = []
    if card.get("version") not in _VERSIONS:
        out.append(f"content.version: {card.get('version')!r} is not one Teams renders")
    out += _elements(card.get("body"), "content.body")
    if "actions" in card:
        out += _actions(card["actions"], "content.actions")
    return out


def message_problems(body: Any) -> list[str]:
    """Every reason Teams would refuse this body."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    if body.get("@type") == "MessageCard":
        out = []
        if not (body.get("text") or body.get("summary")):
            out.append("Summary or Text is required.")
        for i, sec in enumerate(body.get("sections") or []):
            for j, f in enumerate(sec.get("facts") or [] if isinstance(sec, dict) else []):
                if not (isinstance(f, dict) and isinstance(f.get("name"), str)):
                    out.append(f"sections[{i}].facts[{j}]: name/value strings")
        return out
    if body.get("type") != "message":
        return ["type must be message (or @type MessageCard)"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments: at least one card"]
    out = []
    for i, a in enumerate(attachments):
        if not isinstance(a, dict) or a.get("contentType") != CARD:
            out.append(f"attachments[{i}].contentType must be {CARD}")
            continue
        out += [f"attachments[{i}].{p}" for p in card_problems(a.get("content"))]
    return out


class TeamsDouble(ProviderDouble):
    def __init__(self, hooks: tuple[str, ...] = (DEFAULT_HOOK,), sig: str = DEFAULT_SIG) -> None:
        super().__init__()
        self.hooks = set(hooks)
        self.sig = sig
        self.posts: list[TeamsPost] = []
        self.refused: list[tuple[int, list[str]]] = []

    def hook_url(self, hook: str = DEFAULT_HOOK) -> str:
        """A workflow URL as Teams gives it, on a real-looking host (point `api_base` here)."""
        return f"https://prod-00.westeurope.logic.azure.com{hook}?api-version=2016-06-01&{self.sig}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._receive)

    def error_response(self, status: int) -> web.Response:
        return web.json_response(
            {
                "error": {
                    "code": "TooManyRequests" if status == 429 else "ServiceError",
                    "message": f"HTTP {status}",
                }
            },
            status=status,
        )

    def _refuse(self, status: int, problems: list[str]) -> web.Response:
        self.refused.append((status, problems))
        return web.Response(status=status, text="; ".join(problems))

    async def _receive(self, request: web.Request) -> web.Response:
        if request.path not in self.hooks:
            return self._refuse(404, ["no such workflow"])
        if f"{request.query_string}".split("&").count(self.sig) != 1:
            return self._refuse(401, ["the request signature is missing or wrong"])
        raw = await request.read()
        if len(raw) > MAX_BYTES:
            return self._refuse(413, ["Message size too large"])
        if request.content_type != "application/json":
            return self._refuse(400, ["Content-Type must be application/json"])
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, ["the body is not JSON"])
        problems = message_problems(body)
        if problems:
            return self._refuse(400, problems)
        self.posts.append(TeamsPost(request.path, body))
        if body.get("@type") == "MessageCard":
            return web.Response(status=200, text="1")
        return web.Response(status=202)


async def start_teams_double(hooks: tuple[str, ...] = (DEFAULT_HOOK,)) -> TeamsDouble:
    """A running double; call `await double.stop()` when done."""
    double = TeamsDouble(hooks)
    await double.start()
    return double
