"""tcp probe against a real asyncio server on 127.0.0.1, and the cached name lookups."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from probes.base import ProbeContext
from probes.resolve import AddressCache
from tests.probes.conftest import Run, unused_port


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def greet(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    srv = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()


async def test_connects(run: Run, server: int) -> None:
    r = await run("tcp", {"host": "127.0.0.1", "port": server})
    assert r.ok and r.detail.startswith("connected in ") and r.detail.endswith(" ms")


async def test_connects_by_name(run: Run, server: int) -> None:
    """'localhost' may resolve to ::1 first, where nothing listens: the next address is tried."""
    assert (await run("tcp", {"host": "localhost", "port": server})).ok


async def test_refused(run: Run) -> None:
    r = await run("tcp", {"host": "127.0.0.1", "port": unused_port()})
    assert (r.ok, r.detail) == (False, "connection refused")


async def test_connect_timeout(run: Run, unanswered_port: int) -> None:
    r = await run("tcp", {"host": "127.0.0.1", "port": unanswered_port}, timeout=0.2)
    assert (r.ok, r.detail) == (False, "connect timeout after 200 ms")


async def test_lookup_failure(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*_a: Any, **_k: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fail)
    r = await run("tcp", {"host": "api.example.test", "port": 443})
    assert (r.ok, r.detail) == (
        False,
        "DNS lookup failed for api.example.test: Name or service not known",
    )


async def test_lookups_are_cached_and_shared(
    monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext
) -> None:
    calls: list[str] = []
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def counting(host: Any, *a: Any, **k: Any) -> Any:
        calls.append(host)
        await asyncio.sleep(0)
        return await real(host, *a, **k)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    cache = AddressCache(ttl=60)
    first = await asyncio.gather(*(cache.resolve("localhost") for _ in range(5)))
    again = await cache.resolve("localhost")
    assert calls == ["localhost"]  # five concurrent callers and a later one: one lookup
    assert all(a == again for a in first) and again
    assert await cache.resolve("::1") == ["::1"] and await cache.resolve("[::1]") == ["::1"]
    assert calls == ["localhost"]  # literals never look anything up
    expired = AddressCache(ttl=0)
    await expired.resolve("localhost")
    await expired.resolve("localhost")
    assert calls.count("localhost") == 3
