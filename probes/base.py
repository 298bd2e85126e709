"""The one probe signature: `async check(spec, ctx) -> Result`.

A probe does one thing: look at a target once and say what it saw in one line. The runner
(`probes.runner`) owns the timeout, the timing and turning exceptions into failed results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from probes.resolve import AddressCache


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    duration: float  # seconds, measured by the runner
    detail: str  # one line, for evidence and the post-mortem: "HTTP 503 in 41 ms"
    soft_fail: bool = False  # answered, but outside a soft expectation (degraded, not down)
    severity: str | None = None  # a failing probe's own view of the severity (e.g. a vendor's)


@dataclass(slots=True)
class ProbeContext:
    """Shared, long-lived resources, so a check costs little more than its request."""

    session: aiohttp.ClientSession
    timeout: float
    # Host-name lookups for tcp/tls probes, cached so a check is not a thread hop each time.
    addresses: AddressCache = field(default_factory=AddressCache)
    # What the check is doing now ("connect", "TLS handshake", ...), so a timeout can say where
    # it stopped. The runner gives each check its own copy of the context; probes set this.
    phase: str = "check"


class Check(Protocol):
    async def __call__(self, spec: Any, ctx: ProbeContext) -> Result: ...
