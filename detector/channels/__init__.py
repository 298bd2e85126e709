"""Channels, one module each behind `detector.channels.base.Channel`."""

from __future__ import annotations

from detector.channels.base import Channel
from detector.config.models import Config


def build(config: Config) -> list[Channel]:
    from detector.channels.console import Console
    from detector.channels.sendgrid import SendGrid
    from detector.channels.twilio import Twilio
    from detector.channels.webhook import Webhook

    kinds: dict[str, type] = {
        "webhook": Webhook, "sendgrid": SendGrid, "twilio": Twilio, "console": Console
    }
    out: list[Channel] = []
    for i, cfg in enumerate(config.channels):
        out.append(kinds[cfg.type](cfg, f"{cfg.type}-{i}"))
    return out
