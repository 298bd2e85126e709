"""A local Slack incoming webhook (`/services/T…/B…/<token>`) that checks what Slack checks.

A hook it does not know: 404 `no_service`. The body must be JSON (Content-Type
application/json, else 400 `invalid_payload`) with `text` or `blocks` (else 400 `no_text`).
Blocks are checked against Block Kit's rules that a message from a webhook can break, each
failure a 400 `invalid_blocks`: at most 50 blocks, a known type each; a header's text is
plain_text of at most 150 characters; a section has text (at most 3000) or fields (at most 10,
each at most 2000); a context has 1 to 10 elements; every text object is
`{"type": "mrkdwn" | "plain_text", "text": non-empty}`. Accepted: 200 `ok`. Injected failures
answer in Slack's words (429 `rate_limited` with Retry-After, 500 `rollup_error`...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble

DEFAULT_HOOK = "/services/T0DOUBLE1/B0DOUBLE1/d0ubleHookToken0123456789"
_WORDS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "rollup_error",
    502: "bad_gateway",
    503: "service_unavailable",
}
_BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "rich_text", "input"}


@dataclass(frozen=True, slots=True)
class SlackPost:
    """One accepted message."""

    hook: str  # the path it was posted to
    body: dict[str, Any]


def _text_object(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        return [f"{where}: a text object needs type mrkdwn or plain_text"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    if len(text) > limit:
        return [f"{where}: text longer than {limit} characters"]
    return []


def block_problems(blocks: Any) -> list[str]:
    """Every reason Slack would refuse these blocks."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    if len(blocks) > 50:
        return ["more than 50 blocks"]
    out: list[str] = []
    for i, b in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind not in _BLOCK_TYPES:
            out.append(f"{where}: unknown block type {kind!r}")
            continue
        assert isinstance(b, dict)
        if kind == "header":
            out += _text_object(b.get("text"), f"{where}.text", 150, plain_only=True)
        elif kind == "section":
            if "text" not in b and "fields" not in b:
                out.append(f"{where}: a section needs text or fields")
            if "text" in b:
                out += _text_object(b["text"], f"{where}.text", 3000)
            if "fields" in b:
                fields = b["fields"]
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    out.append(f"{where}.fields: 1 to 10 fields")
                else:
                    for j, f in enumerate(fields):
                        out += _text_object(f, f"{where}.fields[{j}]", 2000)
        elif kind == "context":
            elements = b.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                out.append(f"{where}.elements: 1 to 10 elements")
            else:
                for j, e in enumerate(elements):
                    out += _text_object(e, f"{where}.elements[{j}]", 3000)
    return out


class SlackDouble(ProviderDouble):
    def __init__(self, hooks: tuple[str, ...] = (DEFAULT_HOOK,)) -> None:
        super().__init__()
        self.hooks = set(hooks)
        self.posts: list[SlackPost] = []
        self.refused: list[tuple[int, str, list[str]]] = []  # (status, word, problems)

    def hook_url(self, hook: str = DEFAULT_HOOK) -> str:
        """The URL Slack would give for `hook`, on the real host (point `api_base` here)."""
        return "https://hooks.slack.com" + hook

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{team}/{bot}/{token}", self._receive)

    def error_response(self, status: int) -> web.Response:
        return web.Response(status=status, text=_WORDS.get(status, "internal_error"))

    def _refuse(self, status: int, word: str, problems: list[str] | None = None) -> web.Response:
        self.refused.append((status, word, problems or []))
        return web.Response(status=status, text=word)

    async def _receive(self, request: web.Request) -> web.Response:
        if request.path not in self.hooks:
            return self._refuse(404, "no_service")
        raw = await request.read()
        if request.content_type != "application/json":
            return self._refuse(400, "invalid_payload", ["not application/json"])
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, "invalid_payload", ["not JSON"])
        if not isinstance(body, dict):
            return self._refuse(400, "invalid_payload", ["not an object"])
        text, blocks = body.get("text"), body.get("blocks")
        if not (isinstance(text, str) and text.strip()) and not blocks:
            return self._refuse(400, "no_text")
        if blocks is not None:
            problems = block_problems(blocks)
            if problems:
                return self._refuse(400, "invalid_blocks", problems)
        self.posts.append(SlackPost(request.path, body))
        return web.Response(status=200, text="ok")


async def start_slack_double(hooks: tuple[str, ...] = (DEFAULT_HOOK,)) -> SlackDouble:
    """A running double; call `await double.stop()` when done."""
    double = SlackDouble(hooks)
    await double.start()
    return double
