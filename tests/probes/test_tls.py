"""tls probe against a real TLS server on 127.0.0.1 with trustme-made certificates."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme

from tests.probes.conftest import Run, unused_port

Serve = Callable[..., Awaitable[int]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[Serve]:
    """serve(*names, not_after=None) → port of a TLS server presenting that certificate."""
    servers: list[asyncio.Server] = []

    async def serve(*names: str, not_after: dt.datetime | None = None) -> int:
        cert = ca.issue_cert(*names, not_after=not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read()
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield serve
    for s in servers:
        s.close()


def _in(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


async def test_valid(run: Run, tls_server: Serve, ca_file: str) -> None:
    port = await tls_server("api.test", not_after=_in(90.5))
    r = await run(
        "tls", {"host": "127.0.0.1", "port": port, "server_name": "api.test", "ca_file": ca_file}
    )
    assert r.ok and not r.soft_fail, r.detail
    assert r.detail.startswith("handshake in ")
    assert r.detail.endswith(", certificate expires in 90 days")


async def test_ip_host_is_its_own_server_name(run: Run, tls_server: Serve, ca_file: str) -> None:
    port = await tls_server("127.0.0.1")
    assert (await run("tls", {"host": "127.0.0.1", "port": port, "ca_file": ca_file})).ok


async def test_about_to_expire_is_soft(run: Run, tls_server: Serve, ca_file: str) -> None:
    port = await tls_server("api.test", not_after=_in(3.5))
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "server_name": "api.test",
        "ca_file": ca_file,
        "min_days_left": 14,
    }
    r = await run("tls", spec)
    assert (r.ok, r.soft_fail, r.detail) == (True, True, "certificate expires in 3 days")


async def test_expired(run: Run, tls_server: Serve, ca_file: str) -> None:
    port = await tls_server("api.test", not_after=_in(-1))
    spec = {"host": "127.0.0.1", "port": port, "server_name": "api.test", "ca_file": ca_file}
    r = await run("tls", spec)
    assert (r.ok, r.severity, r.detail) == (False, "major_outage", "certificate has expired")


async def test_wrong_host(run: Run, tls_server: Serve, ca_file: str) -> None:
    port = await tls_server("other.test")
    spec = {"host": "127.0.0.1", "port": port, "server_name": "api.test", "ca_file": ca_file}
    r = await run("tls", spec)
    assert (r.ok, r.severity, r.detail) == (
        False,
        "major_outage",
        "certificate is not valid for api.test",
    )


async def test_unknown_issuer(run: Run, tls_server: Serve, tmp_path: Path) -> None:
    port = await tls_server("api.test")
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    spec = {"host": "127.0.0.1", "port": port, "server_name": "api.test", "ca_file": str(stranger)}
    r = await run("tls", spec)
    assert not r.ok and r.severity == "major_outage"
    assert r.detail.startswith("certificate invalid: unable to get local issuer"), r.detail


async def test_not_tls(run: Run, garbage_server: int, ca_file: str) -> None:
    r = await run("tls", {"host": "127.0.0.1", "port": garbage_server, "ca_file": ca_file})
    assert not r.ok and r.detail.startswith("TLS handshake failed"), r.detail


async def test_handshake_timeout(run: Run, silent_server: int, ca_file: str) -> None:
    spec = {"host": "127.0.0.1", "port": silent_server, "ca_file": ca_file}
    r = await run("tls", spec, timeout=0.2)
    assert (r.ok, r.detail) == (False, "TLS handshake timeout after 200 ms")


async def test_refused(run: Run, ca_file: str) -> None:
    r = await run("tls", {"host": "127.0.0.1", "port": unused_port(), "ca_file": ca_file})
    assert (r.ok, r.detail) == (False, "connection refused")


async def test_unreadable_ca_file(run: Run, tmp_path: Path) -> None:
    spec = {"host": "127.0.0.1", "port": unused_port(), "ca_file": str(tmp_path / "nope.pem")}
    r = await run("tls", spec)
    assert not r.ok and r.detail.startswith("cannot load ca_file "), r.detail
