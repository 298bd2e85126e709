"""Prints each customer notice; what `detector demo` shows."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.channels.base import Delivery, Envelope
from detector.config.models import ConsoleChannel
from detector.notices.fanout import INTERNAL_EVENTS


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
        self.out.write(f"\n{bar}\n[{envelope.event}]  {m.subject}\n{bar}\n{m.text.strip()}\n")
        self.out.flush()
        return Delivery(True, "printed")

    async def close(self) -> None:
        return None
