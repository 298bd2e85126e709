"""Webhook: CONTRACT §5 payload, HMAC-SHA256 signature, Idempotency-Key = notice id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Literal

import aiohttp
from pydantic import AnyHttpUrl

from detector import logs
from detector.channels.base import Delivery, Envelope, logged, redacted
from detector.config.fields import ChannelBase, Secret


class WebhookChannel(ChannelBase):
    type: Literal["webhook"]
    url: AnyHttpUrl
    secret: Secret | None = None  # absent: payloads are not signed; empty: an error


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    kind = "webhook"
    max_batch = 0
    concurrency = 4

    def __init__(self, cfg: WebhookChannel, name: str, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.name = name
        self.timeout = timeout
        self.url = str(cfg.api_base or cfg.url)
        self._session: aiohttp.ClientSession | None = None
        self._log = logs.get("detector.channels.webhook", channel=name)
        self._secrets = (cfg.secret.get_secret_value(),) if cfg.secret is not None else ()
        logs.register_secrets(self._secrets)

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event)

    async def send(self, envelope: Envelope) -> Delivery:
        delivery = await self._post(envelope)
        # every outcome leaves redacted, for the log and the outbox row (a receiver's words
        # may come to be part of a detail one day; the secret must never be)
        return logged(self._log, "webhook", envelope, redacted(delivery, *self._secrets))

    async def _post(self, envelope: Envelope) -> Delivery:
        body = json.dumps(envelope.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "outage-detector",
            "X-Detector-Event": envelope.event,
            "Idempotency-Key": envelope.notice_id,
        }
        if self.cfg.secret is not None:
            headers["X-Detector-Signature"] = sign(self.cfg.secret.get_secret_value(), body)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session.post(self.url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            return Delivery(False, f"webhook unreachable: {type(e).__name__}")
        if 200 <= status < 300:
            return Delivery(True, f"HTTP {status}")
        if status == 429 or status >= 500 or status == 408:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            return Delivery(False, f"HTTP {status}", retry_after=wait)
        return Delivery(False, f"HTTP {status}", permanent=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
