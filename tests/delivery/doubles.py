"""The provider doubles, slowed down and with every attempt on record (faulted ones too).

Subclasses only: `tests/doubles` stays as it is. `delay` is how long the provider takes to
answer each request, so a kill or a SIGTERM can land while requests are in flight; `attempts`
keeps arrival time, recipients and status of every request, which is what retry timing and
exactly-once counting need (the base doubles record only accepted requests).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from aiohttp import web

from tests.doubles import SendGridDouble, TwilioDouble
from tests.doubles._base import Handler


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float  # arrival, time.time()
    recipients: tuple[str, ...]  # e-mail addresses or the phone number, in request order
    status: int


def _emails(raw: bytes) -> tuple[str, ...]:
    try:
        body = json.loads(raw)
        return tuple(t["email"] for p in body["personalizations"] for t in p["to"])
    except (ValueError, KeyError, TypeError):
        return ()


def _phone(raw: bytes) -> tuple[str, ...]:
    return tuple(parse_qs(raw.decode(errors="replace")).get("To", []))


class SlowSendGrid(SendGridDouble):
    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.attempts: list[Attempt] = []
        self.inflight = 0  # requests arrived and not yet answered

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        at = time.time()
        who = _emails(await request.read())  # read() caches: the handler reads it again
        self.inflight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            resp = await super()._fault_middleware(request, handler)
        finally:
            self.inflight -= 1
        self.attempts.append(Attempt(at, who, resp.status))
        return resp

    def accepted(self) -> list[str]:
        """Every recipient of every accepted request, duplicates included."""
        return [
            t["email"] for r in self.requests for p in r.body["personalizations"] for t in p["to"]
        ]


class SlowTwilio(TwilioDouble):
    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.attempts: list[Attempt] = []
        self.inflight = 0  # requests arrived and not yet answered

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        at = time.time()
        who = _phone(await request.read())
        self.inflight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            resp = await super()._fault_middleware(request, handler)
        finally:
            self.inflight -= 1
        self.attempts.append(Attempt(at, who, resp.status))
        return resp

    def accepted(self) -> list[str]:
        return [m.to for m in self.requests]


async def start_sendgrid(delay: float = 0.0) -> SlowSendGrid:
    double = SlowSendGrid(delay)
    await double.start()
    return double


async def start_twilio(delay: float = 0.0) -> SlowTwilio:
    double = SlowTwilio(delay)
    await double.start()
    return double
