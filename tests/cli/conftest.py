"""What the command-line tests share: the CLI run in a worker thread (it owns its event loop)
while a real app keeps serving on the test's loop, and a world whose notices really go out to
a webhook receiver, a SendGrid double and a Twilio double."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector import channels as channel_kinds
from detector.config import parse_config
from detector.config.models import Subscriber
from detector.metrics import Metrics
from detector.outbox import OutboxWorker
from tests.doubles.sendgrid_double import DEFAULT_KEY, SendGridDouble, start_sendgrid_double
from tests.doubles.twilio_double import (
    DEFAULT_SID,
    DEFAULT_TOKEN,
    TwilioDouble,
    start_twilio_double,
)
from tests.e2e.harness import SECRET, Receiver, until
from tests.web.conftest import TOKEN, MakeWorld, World, make_world, raw_config  # noqa: F401

Cli = Callable[..., Awaitable[tuple[int, str, str]]]


def write_config(world: World, path: Path) -> Path:
    """The world's configuration as the YAML file an operator would pass with -c."""
    cfg = path / "detector.yaml"
    cfg.write_text(yaml.safe_dump(world.raw))
    return cfg


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`detector ARGS...` → (exit code, stdout, stderr); the token never shows in either."""
    from detector.cli import main

    monkeypatch.setenv("ADMIN", TOKEN)
    monkeypatch.delenv("DETECTOR_ADMIN_TOKEN", raising=False)

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        assert TOKEN not in out + err
        return code, out, err

    return run


@dataclass
class Live:
    """A world that delivers: the CLI's actions reach every channel."""

    world: World
    config: Path
    receiver: Receiver
    sendgrid: SendGridDouble
    twilio: TwilioDouble

    async def delivered(self, kind: str, texts: int) -> dict[str, Any]:
        """The webhook body of the notice of `kind`, once it has reached every channel: its
        e-mail (which carries the notice id) and `texts` SMS in all (one per notice so far;
        an SMS carries no id)."""

        def arrived() -> bool:
            hooks = [h for h in self.receiver.hooks if h.body["notice"]["kind"] == kind]
            if not hooks:
                return False
            nid = hooks[0].body["notice_id"]
            return (
                any(r.body["custom_args"]["notice_id"] == nid for r in self.sendgrid.requests)
                and len(self.twilio.requests) >= texts
            )

        await until(arrived, 10, f"a {kind!r} notice on every channel")
        return next(h.body for h in self.receiver.hooks if h.body["notice"]["kind"] == kind)


@pytest.fixture
async def live(make_world: MakeWorld, tmp_path: Path) -> AsyncIterator[Live]:  # noqa: F811
    receiver = await Receiver().start()
    sendgrid = await start_sendgrid_double()
    twilio = await start_twilio_double()
    home = tmp_path / "live"
    home.mkdir()
    raw = raw_config(
        home,
        channels=[
            {"type": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET},
            {
                "type": "sendgrid",
                "api_key": DEFAULT_KEY,
                "from": "status@acme.example",
                "api_base": sendgrid.url,
            },
            {
                "type": "twilio",
                "account_sid": DEFAULT_SID,
                "auth_token": DEFAULT_TOKEN,
                "from": "+15550100",
                "api_base": twilio.url,
            },
        ],
    )
    path = home / "detector.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = parse_config(path.read_text(), env={"ADMIN": TOKEN})
    chans = channel_kinds.build(cfg)
    subs = [Subscriber(name="Initech", email="it@initech.example", phone="+48225550199")]
    w = await make_world(config=cfg, channels=chans, subscribers=subs)
    # the wall clock of now: `maintenance list -c` reads the store against the real time
    w.clock.t = time.time()
    worker = OutboxWorker(w.store, chans, Metrics(), w.clock, base_backoff=0.01, poll=0.02)
    worker.start()
    try:
        yield Live(w, path, receiver, sendgrid, twilio)
    finally:
        await worker.stop(1)
        for ch in chans:
            await ch.close()
        await receiver.stop()
        await sendgrid.stop()
        await twilio.stop()
