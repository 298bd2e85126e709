"""grpc probe against real grpc.aio servers on 127.0.0.1 running the standard health servicer
(grpcio-health-checking), whose statuses the tests set; TLS with a throwaway CA (trustme)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from detector.config.loader import ConfigError, parse_config
from tests.probes.conftest import Run, unused_port

Status = health_pb2.HealthCheckResponse
ROOT = Path(__file__).resolve().parents[2]


class Health:
    def __init__(self, servicer: health.aio.HealthServicer, port: int) -> None:
        self.servicer = servicer
        self.target = f"127.0.0.1:{port}"

    async def set(self, service: str, status: Any) -> None:
        await self.servicer.set(service, status)


async def _serve(
    servicer: health_pb2_grpc.HealthServicer | None,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    if servicer is not None:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, port


@pytest.fixture
async def server() -> AsyncIterator[Health]:
    servicer = health.aio.HealthServicer()  # "" (the whole server) starts SERVING
    srv, port = await _serve(servicer)
    yield Health(servicer, port)
    await srv.stop(None)


async def test_serving_fails_and_recovers(run: Run, server: Health) -> None:
    spec = {"target": server.target}
    r = await run("grpc", spec)
    assert r.ok and r.detail.startswith("server SERVING in ") and r.detail.endswith(" ms"), r
    await server.set("", Status.NOT_SERVING)
    r = await run("grpc", spec)
    assert (r.ok, r.detail) == (False, "server NOT_SERVING")
    await server.set("", Status.SERVING)
    assert (await run("grpc", spec)).ok


@pytest.mark.parametrize("status", ["UNKNOWN", "NOT_SERVING", "SERVICE_UNKNOWN"])
async def test_a_named_service_not_serving(run: Run, server: Health, status: str) -> None:
    spec = {"target": server.target, "service": "acme.billing.v1.Billing"}
    await server.set("acme.billing.v1.Billing", Status.SERVING)
    r = await run("grpc", spec)
    assert r.ok and r.detail.startswith("service acme.billing.v1.Billing SERVING in "), r
    await server.set("acme.billing.v1.Billing", Status.ServingStatus.Value(status))
    r = await run("grpc", spec)
    assert (r.ok, r.detail) == (False, f"service acme.billing.v1.Billing {status}")


async def test_a_service_the_server_does_not_know(run: Run, server: Health) -> None:
    r = await run("grpc", {"target": server.target, "service": "nope.v1.Nope"})
    assert (r.ok, r.detail) == (False, "the health server does not know the service 'nope.v1.Nope'")


async def test_a_server_without_health_checking(run: Run) -> None:
    srv, port = await _serve(None)
    try:
        r = await run("grpc", {"target": f"127.0.0.1:{port}"})
    finally:
        await srv.stop(None)
    assert (r.ok, r.detail) == (
        False,
        "the server does not implement grpc.health.v1 health checking",
    )


async def test_unreachable(run: Run) -> None:
    r = await run("grpc", {"target": f"127.0.0.1:{unused_port()}"})
    assert not r.ok and r.detail.startswith("unreachable (UNAVAILABLE): "), r


async def test_a_server_that_never_answers(run: Run, silent_server: int) -> None:
    """A TCP listener that never speaks HTTP/2: the check is cut at its timeout."""
    r = await run("grpc", {"target": f"127.0.0.1:{silent_server}"}, timeout=0.3)
    assert (r.ok, r.detail) == (False, "health check timeout after 300 ms")


class Stuck(health_pb2_grpc.HealthServicer):
    """A health service that takes the call and never answers it."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> Any:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()


async def test_a_health_check_that_hangs(run: Run) -> None:
    stuck = Stuck()
    srv, port = await _serve(stuck)
    try:
        r = await run("grpc", {"target": f"127.0.0.1:{port}"}, timeout=0.3)
        assert (r.ok, r.detail) == (False, "health check timeout after 300 ms")
        # the deadline went with the call: the server stopped waiting on it too
        await asyncio.wait_for(stuck.cancelled.wait(), 5)
    finally:
        await srv.stop(None)


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[Health, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("health.acme.test")
    credentials = grpc.ssl_server_credentials(
        [(cert.private_key_pem.bytes(), cert.cert_chain_pems[0].bytes())]
    )
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    servicer = health.aio.HealthServicer()
    srv, port = await _serve(servicer, credentials)
    yield Health(servicer, port), ca_file
    await srv.stop(None)


async def test_tls(run: Run, tls_server: tuple[Health, Path]) -> None:
    server, ca_file = tls_server
    spec = {
        "target": server.target,
        "tls": True,
        "server_name": "health.acme.test",
        "ca_file": str(ca_file),
    }
    r = await run("grpc", spec)
    assert r.ok and r.detail.startswith("server SERVING in "), r
    # the system's roots do not trust a private CA; plaintext is not TLS
    untrusted = {k: v for k, v in spec.items() if k != "ca_file"}
    r = await run("grpc", untrusted)
    assert not r.ok and r.detail.startswith("unreachable (UNAVAILABLE): "), r
    r = await run("grpc", {"target": server.target}, timeout=1.0)
    assert not r.ok, r


async def test_unreadable_ca_file(run: Run, tmp_path: Path) -> None:
    spec = {"target": "127.0.0.1:1", "tls": True, "ca_file": str(tmp_path / "missing.pem")}
    r = await run("grpc", spec)
    assert not r.ok and r.detail.startswith(f"cannot read ca_file {tmp_path / 'missing.pem'}: "), r


# --- config ---------------------------------------------------------------------------------

CONFIG = """
service: {name: Acme, contact: {name: Jane, email: jane@example.test}}
components:
  - id: billing
    name: Billing
    impact: You cannot see your invoices.
    probes:
      - name: billing-health
        grpc: %s
"""


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ("{target: billing}", "grpc.target: not host:port: 'billing'"),
        ("{target: 'billing:0'}", "grpc.target: not host:port: 'billing:0'"),
        ("{target: ':50051'}", "grpc.target: not host:port: ':50051'"),
        ("{target: 'h:1', ca_file: ca.pem}", "grpc: ca_file needs tls: true"),
        ("{target: 'h:1', server_name: h, ca_file: c}", "grpc: server_name and ca_file need tls"),
        ("{target: 'h:1', tls: maybe}", "grpc.tls: expected true or false, got text"),
        ("{service: x}", "grpc.target: required key is missing"),
    ],
)
def test_config_errors_name_the_key(spec: str, line: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG % spec, env={})
    where = "components[0].probes[0]."
    assert any(got.startswith(where + line) for got in e.value.lines), e.value.lines


def test_targets_accepted() -> None:
    for target in ("127.0.0.1:50051", "[::1]:50051", "billing.internal:443"):
        parse_config(CONFIG % f"{{target: '{target}'}}", env={})


# --- `detector probe` shows the three new kinds ---------------------------------------------

PROBE_CONFIG = """
service: {{name: Acme, contact: {{name: Jane, email: jane@example.test}}}}
detection: {{timeout: 2s}}
components:
  - id: billing
    name: Billing
    impact: You cannot see your invoices.
    probes:
      - name: billing-grpc
        grpc: {{target: "{target}"}}
      - name: billing-grpc-tls
        grpc: {{target: "{target}", tls: true}}
      - name: billing-ping
        icmp: {{host: 127.0.0.1, count: 1}}
      - name: billing-errors
        prometheus: {{url: "{prom}", query: "billing_errors > 0"}}
"""


async def test_detector_probe_shows_the_new_kinds(tmp_path: Path, server: Health) -> None:
    firing = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"__name__": "billing_errors"}, "value": [1, "4"]}],
        },
    }

    async def query(_r: web.Request) -> web.Response:
        return web.json_response(firing)

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    async with TestServer(app, host="127.0.0.1") as prom:
        path = tmp_path / "detector.yaml"
        url = str(prom.make_url("")).rstrip("/")
        path.write_text(PROBE_CONFIG.format(target=server.target, prom=url))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "detector",
            "probe",
            "-c",
            str(path),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    assert proc.returncode == 1, out.decode() + err.decode()  # the Prometheus one fails
    rows = {line.split()[0]: line for line in out.decode().splitlines()[1:]}
    assert rows["billing-grpc"].split()[1:4] == ["grpc", "billing", "ok"]
    assert "server SERVING in" in rows["billing-grpc"]
    assert rows["billing-grpc-tls"].split()[1:4] == ["grpc", "billing", "FAIL"]
    assert "unreachable (UNAVAILABLE): " in rows["billing-grpc-tls"]
    assert rows["billing-ping"].split()[1:4] == ["icmp", "billing", "ok"]
    assert "1 of 1 replies, avg" in rows["billing-ping"]
    assert rows["billing-errors"].split()[1:4] == ["prometheus", "billing", "FAIL"]
    assert rows["billing-errors"].endswith("1 series firing, max 4: billing_errors")
    assert err == b""  # grpc-core's own log lines (a failed TLS handshake) stay out of it
