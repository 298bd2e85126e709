"""Issue 10: a PostgreSQL store that fails is a store error like SQLite's, never a crash.

The server is reached through a relay this test can cut (every connection dropped, new ones
refused) and restore on the same port, so the driver meets real refused and lost connections.
What it raises is in `STORE_ERRORS` (a refused connection, one terminated mid-transaction, a
serialization failure, a port nobody listens on); readiness says the store is not reachable;
a daemon whose store goes away keeps running, serves its page, and carries on, with no second
incident, once the store is back. `detector run` against an unreachable server is one line,
exit 1. Skipped, with the reason, without a PostgreSQL server (tests/store/backends.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from detector.config import parse_config
from detector.daemon import Daemon
from detector.store import STORE_ERRORS, Change, IncidentRow, Store
from detector.store.store import async_url
from tests.e2e.harness import SECRET, Receiver, Target, free_port, until, write_config
from tests.store.backends import admin_url, postgres_database

NOW = 1_795_000_000.0


class Relay:
    """A TCP relay to the server on a port of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> Relay:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        return self

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self.links.discard(writer)

    async def cut(self) -> None:
        """Drop every connection at once and refuse new ones."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in list(self.links):
            w.transport.abort()
        self.links.clear()

    def url(self, url: str) -> str:
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(False)


@pytest.fixture
async def relayed() -> AsyncIterator[tuple[Relay, str]]:
    """(the relay, a new database's URL through it)."""
    async with postgres_database() as url:
        parsed = make_url(url)
        relay = await Relay(parsed.host or "127.0.0.1", parsed.port or 5432).start()
        try:
            yield relay, relay.url(url)
        finally:
            await relay.cut()


def incident(iid: str) -> IncidentRow:
    return IncidentRow(
        id=iid,
        component_ids=["api"],
        title="API",
        status="investigating",
        severity="major_outage",
        started_at=NOW,
        detected_at=NOW + 1,
    )


async def test_refused_and_lost_connections_are_store_errors(
    relayed: tuple[Relay, str],
) -> None:
    relay, url = relayed
    store = Store(url)
    try:
        await store.open()
        await store.commit(Change(incidents=[incident("a")]), NOW)
        await relay.cut()  # the pooled connection is lost, a new one is refused
        with pytest.raises(STORE_ERRORS):
            await store.commit(Change(incidents=[incident("b")]), NOW)
        with pytest.raises(STORE_ERRORS):
            await store.open_incidents()
        assert await store.ping() is False
        await relay.start()  # back: the same store works again, nothing half-written
        assert await store.ping() is True
        await store.commit(Change(incidents=[incident("c")]), NOW)
        assert [i.id for i in await store.open_incidents()] == ["a", "c"]
    finally:
        await store.close()


async def test_a_connection_terminated_mid_transaction_is_a_store_error(
    relayed: tuple[Relay, str],
) -> None:
    _, url = relayed
    store = Store(url)
    admin = create_async_engine(async_url(admin_url()), isolation_level="AUTOCOMMIT")
    database = make_url(url).database
    try:
        await store.open()
        with pytest.raises(STORE_ERRORS) as caught:
            async with store.write() as conn:
                await conn.execute(text("SELECT 1"))
                async with admin.connect() as a:  # an operator, a failover: the server ends it
                    await a.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": database},
                    )
                await conn.execute(text("SELECT 1"))
        print(f"\nterminated mid-transaction: {type(caught.value).__name__}: {caught.value}")
        await store.commit(Change(incidents=[incident("after")]), NOW)  # a new connection
        assert [i.id for i in await store.open_incidents()] == ["after"]
    finally:
        await store.close()
        await admin.dispose()


async def test_a_serialization_failure_is_a_store_error(relayed: tuple[Relay, str]) -> None:
    _, url = relayed
    store = Store(url)
    await store.open()
    await store.commit(Change(incidents=[incident("a")]), NOW)
    engine = store.engine.execution_options(isolation_level="SERIALIZABLE")
    bump = text("UPDATE incidents SET sequence = sequence + 1 WHERE id = 'a'")
    one: AsyncConnection = await engine.connect()
    two: AsyncConnection = await engine.connect()
    try:
        for conn in (one, two):
            await conn.begin()
            await conn.execute(text("SELECT sequence FROM incidents"))
        await one.execute(bump)
        await one.commit()
        with pytest.raises(STORE_ERRORS, match="could not serialize"):
            await two.execute(bump)
    finally:
        await two.close()
        await one.close()
        await store.close()


async def test_nobody_listening_is_a_store_error_and_not_ready() -> None:
    url = make_url(admin_url()).set(host="127.0.0.1", port=free_port())
    store = Store(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(STORE_ERRORS):
            await store.open()
        assert await store.ping() is False
    finally:
        await store.close()


def test_run_against_an_unreachable_server_is_one_line_exit_1(tmp_path: Path) -> None:
    url = make_url(admin_url()).set(host="127.0.0.1", port=free_port())
    config = tmp_path / "detector.yaml"
    config.write_text(
        "service: {name: Acme, contact: {name: Jane Doe, email: ops@acme.example}}\n"
        f"storage: {{url: '{url.render_as_string(hide_password=False)}'}}\n"
        "server: {listen: '127.0.0.1:0'}\n"
        "components: [{id: api, name: API, impact: You cannot reach the API.,"
        " probes: [{name: api, tcp: {host: 127.0.0.1, port: 1}}]}]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "detector", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("detector: cannot open the store postgresql://")
    assert "Traceback" not in done.stderr
    assert url.password is None or url.password not in done.stderr + done.stdout


async def test_a_daemon_whose_store_goes_away_is_not_ready_then_carries_on(
    tmp_path: Path, relayed: tuple[Relay, str]
) -> None:
    relay, url = relayed
    tmp = tmp_path
    target, receiver = await Target().start(), await Receiver().start()
    path, port = write_config(tmp, target, receiver, storage=url)
    config = parse_config(path.read_text(), env={"WEBHOOK_SECRET": SECRET})
    daemon = Daemon(config, tmp, history_flush=0.2)
    await daemon.start()
    base = f"http://127.0.0.1:{port}"
    try:
        target.healthy = False
        await until(lambda: bool(receiver.events("incident.opened")), 10, "incident.opened")
        await relay.cut()
        async with aiohttp.ClientSession() as s:

            async def ready() -> tuple[int, list[str]]:
                async with s.get(base + "/readyz") as r:
                    return r.status, (await r.json())["problems"]

            async def not_ready() -> bool:
                status, problems = await ready()
                return status == 503 and any(p.startswith("store") for p in problems)

            await until(not_ready, 15, "readiness to fail")
            async with s.get(base + "/") as r:
                assert r.status in (200, 503)  # the last good view, or a plain "try again"
            async with s.get(base + "/api/v1/incidents") as r:
                assert r.status == 503
            assert not any(t.done() for t in daemon._tasks)  # nothing crashed
            updates = len(receiver.events("incident.updated"))
            await relay.start()

            async def ready_again() -> bool:
                return (await ready())[0] == 200

            await until(ready_again, 15, "readiness to come back")
            await until(
                lambda: len(receiver.events("incident.updated")) > updates,
                10,
                "the next update once the store is back",
            )
        assert len(receiver.events("incident.opened")) == 1
    finally:
        with contextlib.suppress(Exception):
            await relay.start()
        await daemon.stop(1.0)
        await target.stop()
        await receiver.stop()
