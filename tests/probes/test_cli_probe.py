"""`detector probe` as a user runs it: a subprocess, a config file, local servers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from detector.cli import main
from tests.probes.conftest import unused_port

CONFIG = """
service:
  name: Test Cloud
  contact: {{name: Jane Doe, email: jane@example.test}}
detection: {{timeout: 2s}}
controls:
  - name: loopback
    tcp: {{host: 127.0.0.1, port: {port}}}
components:
  - id: api
    name: Public API
    impact: You cannot use the API.
    probes:
      - name: api-health
        http: {{url: "{base}/ok", expect: {{body_contains: ok}}}}
      - name: api-slow
        http: {{url: "{base}/slow", expect: {{max_latency: 1ms}}}}
      - name: api-down
        http: {{url: "{base}/down"}}
      - name: api-closed
        tcp: {{host: 127.0.0.1, port: {closed}}}
        timeout: 500ms
"""


async def _ok(_r: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _slow(_r: web.Request) -> web.Response:
    await asyncio.sleep(0.01)
    return web.Response(text="ok")


async def _down(_r: web.Request) -> web.Response:
    return web.Response(status=503)


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[Path]:
    app = web.Application()
    app.router.add_get("/ok", _ok)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/down", _down)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        path = tmp_path / "detector.yaml"
        path.write_text(CONFIG.format(base=base, port=server.port, closed=unused_port()))
        yield path


async def detector(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "detector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_command(config: Path) -> None:
    passing, failing = await asyncio.gather(
        detector("probe", "-c", str(config), "loopback", "api-health", "api-slow"),
        detector("probe", "-c", str(config)),
    )

    code, out, err = passing
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "COMPONENT", "RESULT", "DURATION", "DETAIL"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["loopback", "tcp", "control", "ok"],
        ["api-health", "http", "api", "ok"],
        ["api-slow", "http", "api", "degraded"],
    ]
    assert "connected in" in lines[1] and "HTTP 200 in" in lines[2] and "slow: " in lines[3]

    code, out, err = failing
    assert code == 1, out + err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert list(rows) == ["loopback", "api-health", "api-slow", "api-down", "api-closed"]
    assert " FAIL " in rows["api-down"] and "HTTP 503 in" in rows["api-down"]
    assert rows["api-closed"].endswith("connection refused")


# User errors stop before any probe runs, so these need no subprocess (and no event loop).


def test_unknown_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "detector.yaml"
    path.write_text(CONFIG.format(base="http://127.0.0.1:1", port=1, closed=1))
    assert main(["probe", "-c", str(path), "api-health", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("unknown probe 'nope'; known: api-closed, api-down")


def test_invalid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "detector.yaml"
    text = CONFIG.format(base="http://127.0.0.1:1", port=1, closed=1)
    path.write_text(text.replace("name: api-down", "name: bad name"))
    assert main(["probe", "-c", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("components[0].probes[2].name")
