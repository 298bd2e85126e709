"""Prints each customer notice; what `detector demo` shows."""

from __future__ import annotations

import sys
from typing import Literal, TextIO

from detector.channels.base import Delivery, Envelope
from detector.config.fields import ChannelBase
from detector.domain import INTERNAL_EVENTS


class ConsoleChannel(ChannelBase):
    """Prints customer notices to stdout; what `detector demo` uses."""

    type: Literal["console"]


def _clock(iso: str | None) -> str:
    """'2026-11-23T10:17:05.120Z' → '10:17:05 UTC': notices say minutes, the console seconds."""
    return f"{iso[11:19]} UTC" if iso else "?"


class Console:
    kind = "console"
    max_batch = 0
    concurrency = 1

    def __init__(self, cfg: ConsoleChannel, name: str, out: TextIO | None = None) -> None:
        self.cfg = cfg
        self.name = name
        self.out = out or sys.stdout

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event) and event not in INTERNAL_EVENTS

    async def send(self, envelope: Envelope) -> Delivery:
        m = envelope.message
        bar = "─" * 72
        notice = envelope.payload.get("notice") or {}
        when = f"published {_clock(notice.get('published_at'))}"
        if notice.get("next_update_at"):
            when += f" · next update due {_clock(notice['next_update_at'])}"
        self.out.write(
            f"\n{bar}\n[{envelope.event}]  {m.subject}\n({when}){chr(10)}{bar}\n{m.text.strip()}\n"
        )
        self.out.flush()
        return Delivery(True, "printed")

    async def close(self) -> None:
        return None
