"""tcp: can we open a connection? Connect, then close at once."""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from pydantic import Field

from detector.config.fields import Model
from probes.base import ProbeContext, Result
from probes.errors import fmt_duration


class TcpSpec(Model):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


class Connection(NamedTuple):
    transport: asyncio.Transport
    protocol: asyncio.Protocol
    seconds: float  # the connect alone: a (usually cached) name lookup is not the target's latency


async def connect(ctx: ProbeContext, host: str, port: int) -> Connection:
    """Open a bare TCP connection, trying each address of `host` in turn (cached lookups)."""
    ctx.phase = "DNS lookup"
    addresses = await ctx.addresses.resolve(host)
    ctx.phase = "connect"
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    error: OSError | None = None
    for address in addresses:
        try:
            # An IP literal: asyncio connects without a getaddrinfo thread hop.
            transport, protocol = await loop.create_connection(asyncio.Protocol, address, port)
        except OSError as e:
            error = error or e
            continue
        return Connection(transport, protocol, time.perf_counter() - start)
    assert error is not None  # resolve() never returns an empty list
    raise error


async def check(spec: TcpSpec, ctx: ProbeContext) -> Result:
    conn = await connect(ctx, spec.host, spec.port)
    conn.transport.close()
    return Result(ok=True, duration=0.0, detail=f"connected in {fmt_duration(conn.seconds)}")
