"""Test stand-ins shared across test packages."""

from __future__ import annotations

from detector.channels.base import Delivery, Envelope


class Accepting:
    """A channel that accepts everything: for tests that read the outbox, not a provider."""

    concurrency = 1

    def __init__(self, name: str = "hook", kind: str = "webhook", max_batch: int = 0) -> None:
        self.name, self.kind, self.max_batch = name, kind, max_batch

    def wants(self, event: str) -> bool:
        return True

    async def send(self, envelope: Envelope) -> Delivery:
        return Delivery(True)

    async def close(self) -> None:
        return None
