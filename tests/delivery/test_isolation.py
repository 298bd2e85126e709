"""Issue 4: a channel that always fails does not hold up the others, and after the give-up age
its row is `dead`, counted in `detector_notices_total{outcome="dead"}`, never silently dropped.

Two ways to fail: the webhook endpoint answers 500 at once, or it never answers (the send only
ends at the channel's timeout). Either way the e-mails go out while the webhook is still trying.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp import web

from detector.channels.base import Channel
from detector.channels.sendgrid import SendGrid
from detector.channels.webhook import Webhook
from detector.clock import SystemClock
from detector.config.models import SendgridChannel, WebhookChannel
from tests.delivery.doubles import start_sendgrid
from tests.delivery.stack import Stack, build_config, channel_configs, crowd, write_csv
from tests.e2e.harness import until

GIVE_UP = 1.5
WEBHOOK_TIMEOUT = 1.0


class BrokenHook:
    """A webhook endpoint that answers 500, or never answers; every arrival is timed."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.arrivals: list[float] = []
        self.waiting = 0  # requests it holds unanswered right now
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.time())
        await request.read()
        if self.mode == "hang":
            self.waiting += 1
            try:
                await self._release.wait()
            finally:
                self.waiting -= 1
        return web.Response(status=500, text="internal error")

    async def start(self) -> BrokenHook:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.mark.parametrize("mode", ["500", "hang"])
async def test_failing_webhook_does_not_delay_emails_and_dies_counted(
    tmp_path: Path, mode: str
) -> None:
    hook = await BrokenHook(mode).start()
    sendgrid = await start_sendgrid()
    people = crowd(2500, phone=False, locales=["en", "fr"])
    write_csv(tmp_path / "subscribers.csv", people)
    config = build_config(
        tmp_path,
        channel_configs(webhook=hook.url, sendgrid=sendgrid.url),
        [{"file": "subscribers.csv"}],
    )
    hook_cfg, mail_cfg = config.channels
    assert isinstance(hook_cfg, WebhookChannel) and isinstance(mail_cfg, SendgridChannel)
    channels: list[Channel] = [
        Webhook(hook_cfg, "webhook-0", timeout=WEBHOOK_TIMEOUT),
        SendGrid(mail_cfg, "sendgrid-1"),
    ]
    stack = await Stack.start(
        config,
        tmp_path,
        SystemClock(),
        channels=channels,
        give_up_after=GIVE_UP,
        base_backoff=0.05,
        max_backoff=0.2,
    )
    try:
        warm_templates()  # first use compiles them (~1 s): not what this test is about
        await stack.outage("api")

        async def emails_sent() -> bool:
            rows = await stack.rows("sendgrid-1")
            return bool(rows) and all(r.state == "sent" for r in rows)

        await until(emails_sent, 10, "every e-mail row sent")
        # ...while the webhook is still at it: its row pending, and (hang) a request unanswered
        [webhook_row] = await stack.rows("webhook-0")
        assert webhook_row.state == "pending"
        assert sorted(sendgrid.accepted()) == sorted(p["email"] for p in people)
        emails_done = time.time()

        async def webhook_dead() -> bool:
            [row] = await stack.rows("webhook-0")
            return row.state == "dead"

        await until(webhook_dead, 10, "the webhook row to be given up")
    finally:
        await stack.close()
        await sendgrid.stop()
        await hook.stop()

    [row] = await stack.rows("webhook-0")
    assert row.attempts == len(hook.arrivals) >= 2  # retried before giving up
    assert hook.arrivals[-1] > emails_done  # and kept trying after the e-mails were out
    sent = await stack.rows("sendgrid-1")
    if mode == "hang":  # every e-mail went out while the first webhook request hung
        assert max(r.sent_at or 0 for r in sent) < hook.arrivals[0] + WEBHOOK_TIMEOUT
    assert row.last_error and ("500" in row.last_error or "unreachable" in row.last_error)
    assert stack.count("webhook-0", "incident.opened", "dead") == 1
    assert stack.count("webhook-0", "incident.opened", "retry") == row.attempts - 1
    assert stack.count("sendgrid-1", "incident.opened", "sent") == len(sent) == 4
    assert all(r.sent_at is not None and r.sent_at - r.created_at < GIVE_UP for r in sent)


def warm_templates() -> None:
    from detector.notices.compose import compose
    from tests.notices.factory import facts

    for locale in ("en", "fr"):
        compose(facts("opened"), locale, "UTC")
