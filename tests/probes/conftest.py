"""Shared pieces for probe tests: a session, a runner shortcut, and servers that misbehave."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from detector.config.models import ProbeConfig
from probes.base import ProbeContext, Result
from probes.runner import make_session, run_check

Run = Callable[..., Awaitable[Result]]


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with make_session() as session:
        yield ProbeContext(session=session, timeout=2.0)


@pytest.fixture
def run(ctx: ProbeContext) -> Run:
    """run(kind, spec_dict, timeout=2.0): build the probe as the config would, run it once."""

    async def go(kind: str, spec: dict[str, Any], timeout: float = 2.0) -> Result:
        probe = ProbeConfig.model_validate({"name": f"t-{kind}", kind: spec})
        return await run_check(probe, ctx, timeout)

    return go


def unused_port() -> int:
    """A port nothing listens on: bound, then released (connection refused from then on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word: for response and handshake timeouts."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def garbage_server() -> AsyncIterator[int]:
    """Answers anything with bytes that are no protocol at all, then hangs up."""

    async def spew(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"\x00\xffnot a protocol\r\n\r\n")
        await w.drain()
        w.close()

    server = await asyncio.start_server(spew, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener with a full accept queue (Linux drops SYNs
    then), which is what a firewalled or dead host looks like: a connect timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    filler = socket.socket()
    filler.connect(("127.0.0.1", port))  # takes the one queue slot; nobody accepts it
    yield port
    filler.close()
    listener.close()
