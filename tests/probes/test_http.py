"""http probe against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from probes.base import ProbeContext
from probes.runner import make_session, run_check
from tests.probes.conftest import Run, unused_port


async def _ok(_r: web.Request) -> web.Response:
    return web.Response(text="status: ok")


async def _status(r: web.Request) -> web.Response:
    return web.Response(status=int(r.match_info["code"]), text="nope")


async def _json(_r: web.Request) -> web.Response:
    return web.json_response(
        {
            "status": "UP",
            "checks": {"db": "ok"},
            "items": [{"n": 1}],
            "up": True,
            "count": 3,
            "a.b": "dotted",
        },
        headers={"X-Version": "1.2"},
    )


async def _down(_r: web.Request) -> web.Response:
    return web.json_response({"status": "DOWN"})


async def _html(_r: web.Request) -> web.Response:
    return web.Response(text="<html>not json</html>", content_type="text/html")


async def _slow(_r: web.Request) -> web.Response:
    await asyncio.sleep(0.05)
    return web.Response(text="ok")


async def _redirect(_r: web.Request) -> web.Response:
    raise web.HTTPFound("/ok")


async def _echo(r: web.Request) -> web.Response:
    return web.Response(text=f"{r.method} {await r.text()} {r.headers.get('X-Probe')}")


async def _big(_r: web.Request) -> web.Response:
    return web.Response(body=b"a" * (2 << 20) + b"needle")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ok", _ok)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/json", _json)
    app.router.add_get("/down", _down)
    app.router.add_get("/html", _html)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/redirect", _redirect)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/big", _big)
    return app


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async with TestServer(_app(), host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


async def test_pass(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/ok", "expect": {"body_contains": "ok"}})
    assert r.ok and not r.soft_fail
    assert r.detail.startswith("HTTP 200 in ") and r.detail.endswith(" ms")
    assert r.duration > 0


async def test_unexpected_status(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/status/503"})
    assert not r.ok and r.detail.startswith("HTTP 503 in ")
    assert (await run("http", {"url": f"{base}/status/503", "expect": {"status": [503]}})).ok


async def test_body_expectations(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/ok", "expect": {"body_contains": "healthy"}})
    assert (r.ok, r.detail) == (False, "body lacks 'healthy'")
    r = await run("http", {"url": f"{base}/ok", "expect": {"body_regex": r"status:\s+ok$"}})
    assert r.ok
    r = await run("http", {"url": f"{base}/ok", "expect": {"body_regex": r"^\d+$"}})
    assert (r.ok, r.detail) == (False, r"body does not match /^\d+$/")


async def test_json_paths(run: Run, base: str) -> None:
    good = {
        "status": "UP",
        "checks.db": "ok",
        "items.0.n": 1,
        "up": True,
        "count": "3",
        "a.b": "dotted",
    }
    assert (await run("http", {"url": f"{base}/json", "expect": {"json": good}})).ok
    r = await run("http", {"url": f"{base}/down", "expect": {"json": {"status": "UP"}}})
    assert (r.ok, r.detail) == (False, "json status='DOWN', expected 'UP'")
    r = await run("http", {"url": f"{base}/json", "expect": {"json": {"checks.cache": "ok"}}})
    assert (r.ok, r.detail) == (False, "json checks.cache missing, expected 'ok'")
    r = await run("http", {"url": f"{base}/json", "expect": {"json": {"up": 1}}})
    assert (r.ok, r.detail) == (False, "json up=true, expected 1")


async def test_malformed_json_answer(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/html", "expect": {"json": {"status": "UP"}}})
    assert (r.ok, r.detail) == (False, "body is not JSON")


async def test_headers_case_insensitive(run: Run, base: str) -> None:
    spec = {"url": f"{base}/json", "expect": {"headers": {"x-version": "1.2"}}}
    assert (await run("http", spec)).ok
    spec = {"url": f"{base}/json", "expect": {"headers": {"X-VERSION": "2.0"}}}
    r = await run("http", spec)
    assert (r.ok, r.detail) == (False, "header X-VERSION='1.2', expected '2.0'")
    r = await run("http", {"url": f"{base}/json", "expect": {"headers": {"X-Missing": "1"}}})
    assert (r.ok, r.detail) == (False, "header X-Missing missing")


async def test_slow_answer_is_soft(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/slow", "expect": {"max_latency": "10ms"}})
    assert r.ok and r.soft_fail
    assert r.detail.startswith("slow: ") and r.detail.endswith(" > 10 ms")


async def test_redirects(run: Run, base: str) -> None:
    assert (await run("http", {"url": f"{base}/redirect"})).ok
    r = await run("http", {"url": f"{base}/redirect", "follow_redirects": False})
    assert not r.ok and r.detail.startswith("HTTP 302")
    spec = {"url": f"{base}/redirect", "follow_redirects": False, "expect": {"status": [302]}}
    assert (await run("http", spec)).ok


async def test_method_headers_body(run: Run, base: str) -> None:
    spec = {
        "url": f"{base}/echo",
        "method": "POST",
        "headers": {"X-Probe": "yes"},
        "body": "ping",
        "expect": {"body_contains": "POST ping yes"},
    }
    r = await run("http", spec)
    assert r.ok, r.detail


async def test_reads_at_most_a_mebibyte(run: Run, base: str) -> None:
    r = await run("http", {"url": f"{base}/big", "expect": {"body_contains": "needle"}})
    assert (r.ok, r.detail) == (False, "body lacks 'needle' (first 1 MiB read)")


async def test_connection_refused(run: Run) -> None:
    r = await run("http", {"url": f"http://127.0.0.1:{unused_port()}/"})
    assert (r.ok, r.detail) == (False, "connection refused")


async def test_timeout_says_where(run: Run, silent_server: int) -> None:
    r = await run("http", {"url": f"http://127.0.0.1:{silent_server}/"}, timeout=0.2)
    assert (r.ok, r.detail) == (False, "response timeout after 200 ms")
    assert 0.2 <= r.duration < 1


async def test_pool_exhaustion_is_named(silent_server: int) -> None:
    """A saturated pool is the detector's own problem; the detail must not blame the target."""
    from detector.config.models import ProbeConfig

    probe = ProbeConfig.model_validate(
        {"name": "p", "http": {"url": f"http://127.0.0.1:{silent_server}/"}}
    )
    async with make_session(limit=1) as session:
        ctx = ProbeContext(session=session, timeout=1.0)
        first, second = await asyncio.gather(run_check(probe, ctx, 0.2), run_check(probe, ctx, 0.1))
    assert first.detail == "response timeout after 200 ms"
    assert second.detail == "connection pool wait timeout after 100 ms"


async def test_malformed_http_answer(run: Run, garbage_server: int) -> None:
    r = await run("http", {"url": f"http://127.0.0.1:{garbage_server}/"})
    assert not r.ok and r.detail.startswith("malformed HTTP response"), r.detail


async def test_proxy(run: Run) -> None:
    async def via(r: web.Request) -> web.Response:
        return web.Response(text=f"via proxy for {r.host}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", via)
    async with TestServer(app, host="127.0.0.1") as proxy:
        target = f"http://127.0.0.1:{unused_port()}/x"
        spec = {
            "url": target,
            "proxy": str(proxy.make_url("")),
            "expect": {"body_contains": "via proxy"},
        }
        r = await run("http", spec)
    assert r.ok, r.detail


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_verification_and_verify_off(run: Run, ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"https://127.0.0.1:{port}/ok"
        r = await run("http", {"url": url})  # our test CA is not in the system store
        assert not r.ok and r.detail.startswith("certificate invalid: "), r.detail
        r = await run("http", {"url": url, "verify_tls": False})
        assert r.ok, r.detail
    finally:
        await runner.cleanup()


async def test_credentials_in_url_never_in_detail(run: Run) -> None:
    r = await run("http", {"url": f"http://user:s3cret@127.0.0.1:{unused_port()}/?token=abc"})
    assert not r.ok and "s3cret" not in r.detail and "abc" not in r.detail


class Connections:
    """A server that tells its connections apart: each request records the one it came on,
    kept alive here so that no two connections can share an identity."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    async def handle(self, r: web.Request) -> web.Response:
        self.seen.append(r.protocol)
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app

    @property
    def count(self) -> int:
        return len({id(p) for p in self.seen})


async def test_new_connection_per_check_by_default(run: Run) -> None:
    conns = Connections()
    async with TestServer(conns.app(), host="127.0.0.1") as server:
        url = str(server.make_url("/"))
        for _ in range(3):
            assert (await run("http", {"url": url})).ok
        # a Connection header of the probe's own does not bring keep-alive back
        r = await run("http", {"url": url, "headers": {"connection": "keep-alive"}})
        assert r.ok, r.detail
    assert (len(conns.seen), conns.count) == (4, 4)


async def test_reuse_connections_keeps_one(run: Run) -> None:
    conns = Connections()
    async with TestServer(conns.app(), host="127.0.0.1") as server:
        spec = {"url": str(server.make_url("/")), "reuse_connections": True}
        for _ in range(3):
            assert (await run("http", spec)).ok
    assert (len(conns.seen), conns.count) == (3, 1)


async def test_default_check_never_takes_a_reusing_probes_connection(run: Run) -> None:
    conns = Connections()
    async with TestServer(conns.app(), host="127.0.0.1") as server:
        url = str(server.make_url("/"))
        assert (await run("http", {"url": url, "reuse_connections": True})).ok
        assert (await run("http", {"url": url})).ok  # the pooled connection sits idle meanwhile
        assert (await run("http", {"url": url, "reuse_connections": True})).ok
    first, fresh, again = conns.seen
    assert first is again and fresh is not first


async def test_replaced_certificate_seen_by_the_next_default_check(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reusing probe stays on its old TLS session; a default one handshakes each time, so it
    meets the certificate the server serves now."""
    import aiohttp.connector

    ca = trustme.CA()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    # the probe verifies with the system's CAs: for this test only, with our CA among them
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", trusting)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    conns = Connections()
    runner = web.AppRunner(conns.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    try:
        url = f"https://127.0.0.1:{runner.addresses[0][1]}/"
        assert (await run("http", {"url": url})).ok
        assert (await run("http", {"url": url, "reuse_connections": True})).ok
        ca.issue_cert("other.example").configure_cert(server_ctx)  # new handshakes get this
        r = await run("http", {"url": url})
        assert not r.ok and r.detail.startswith("certificate invalid: "), r.detail
        r = await run("http", {"url": url, "reuse_connections": True})
        assert r.ok, r.detail  # blind to it: its connection was made with the old certificate
    finally:
        await runner.cleanup()
    assert conns.seen[1] is conns.seen[2]


async def test_closing_the_session_closes_both_pools() -> None:
    async with make_session() as session:
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        fresh = getattr(connector, "fresh", None)
        assert isinstance(fresh, aiohttp.TCPConnector) and fresh.force_close
    assert connector.closed and fresh.closed
