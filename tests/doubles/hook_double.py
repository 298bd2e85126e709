"""A local webhook receiver with the provider doubles' faults (queued, or a storm).

It checks what a careful receiver checks (the HMAC signature when given a secret, the
Idempotency-Key against the body's notice_id) and keeps every accepted body in arrival order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles._base import ProviderDouble


@dataclass(frozen=True, slots=True)
class HookCall:
    """One accepted delivery."""

    notice_id: str
    event: str
    body: dict[str, Any]


class HookDouble(ProviderDouble):
    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret
        self.calls: list[HookCall] = []
        self.refused = 0  # bad signature or key

    @property
    def hook_url(self) -> str:
        return self.url + "/hook"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hook", self._receive)

    def error_response(self, status: int) -> web.Response:
        return web.Response(status=status, text="receiver error")

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("X-Detector-Signature", "")):
                self.refused += 1
                return web.Response(status=401)
        body = json.loads(raw)
        if request.headers.get("Idempotency-Key") != body.get("notice_id"):
            self.refused += 1
            return web.Response(status=400)
        self.calls.append(HookCall(body["notice_id"], body["event"], body))
        return web.Response(status=204)


async def start_hook_double(secret: str | None = None) -> HookDouble:
    """A running receiver; call `await double.stop()` when done."""
    double = HookDouble(secret)
    await double.start()
    return double
