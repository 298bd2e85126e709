"""Issue 12: ordinary mistakes at start-up are one line that names the problem and what to do,
with exit 1 (2 for usage or an invalid config) and no traceback; `--version` answers; and a
daemon at debug level prints only JSON lines when not on a terminal, with secrets read from
files (`NAME_FILE`, `${file:PATH}`) never shown in any form."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import yaml

from detector import __version__
from tests.e2e.harness import SECRET, Receiver, Target, free_port, until

ADMIN = "adm-token-3b1f9c2e77"


def config(tmp: Path, *, listen: str, store: str, **extra: object) -> Path:
    raw = {
        "service": {"name": "Acme", "contact": {"name": "Jane Doe", "email": "ops@acme.example"}},
        "server": {"listen": listen},
        "storage": {"url": store},
        "components": [
            {
                "id": "api",
                "name": "API",
                "impact": "You cannot reach the API.",
                "probes": [{"name": "api", "tcp": {"host": "127.0.0.1", "port": 1}}],
            }
        ],
        **extra,
    }
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def detector(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def one_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "Traceback" not in out and "Unclosed" not in out
    return lines[0]


def test_version() -> None:
    code, out = detector("--version")
    assert code == 0 and one_line(out) == f"detector {__version__}"


def test_missing_config_file(tmp_path: Path) -> None:
    code, out = detector("run", "-c", str(tmp_path / "nowhere.yaml"))
    assert code == 1 and "nowhere.yaml" in one_line(out)


def test_unknown_flag(tmp_path: Path) -> None:
    code, out = detector("run", "-c", "x.yaml", "--bogus")
    assert code == 2 and "--bogus" in one_line(out)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = config(tmp_path, listen=f"127.0.0.1:{port}", store=f"sqlite:///{tmp_path / 'd.db'}")
        code, out = detector("run", "-c", str(path))
    line = one_line(out)
    assert code == 1 and f"127.0.0.1:{port}" in line and "in use" in line


def test_store_not_writable(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        listen=f"127.0.0.1:{free_port()}",
        store="sqlite:////proc/no-such-folder/detector.db",
    )
    code, out = detector("run", "-c", str(path))
    line = one_line(out)
    assert code == 1 and "store" in line and "writable" in line


def test_invalid_config_is_exit_2(tmp_path: Path) -> None:
    path = config(tmp_path, listen="nowhere", store=f"sqlite:///{tmp_path / 'd.db'}")
    code, out = detector("run", "-c", str(path))
    assert code == 2 and one_line(out).startswith("server.listen: ")


async def test_debug_for_20s_is_json_only_and_file_secrets_stay_hidden(tmp_path: Path) -> None:
    target, receiver = await Target().start(), await Receiver().start()
    (tmp_path / "admin_token").write_text(ADMIN + "\n")
    (tmp_path / "hook_secret").write_text(SECRET + "\n")
    port = free_port()
    raw = {
        "service": {"name": "Acme", "contact": {"name": "Jane Doe", "email": "ops@acme.example"}},
        "server": {"listen": f"127.0.0.1:{port}", "admin_token": "${ADMIN_TOKEN}"},
        "storage": {"url": f"sqlite:///{tmp_path / 'd.db'}"},
        "detection": {"interval": "300ms", "recheck_interval": "100ms", "stable_for": "1s"},
        "cadence": {"major_outage": "2s", "partial_outage": "3s", "degraded": "4s"},
        "components": [
            {
                "id": "api",
                "name": "API",
                "impact": "You cannot reach the API.",
                "probes": [
                    {"name": "api", "http": {"url": f"http://127.0.0.1:{target.port}/healthz"}}
                ],
            }
        ],
        "channels": [
            {
                "type": "webhook",
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "secret": "${file:hook_secret}",
            }
        ],
    }
    (tmp_path / "detector.yaml").write_text(yaml.safe_dump(raw))
    log = tmp_path / "out.log"
    env = {**os.environ, "ADMIN_TOKEN_FILE": str(tmp_path / "admin_token")}
    env.pop("ADMIN_TOKEN", None)
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "detector",
            "run",
            "-c",
            str(tmp_path / "detector.yaml"),
            "--log-level",
            "debug",
            stdout=sink,
            stderr=sink,
            env=env,
        )
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession() as s:

            async def ready() -> bool:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/readyz") as r:
                        return r.status == 200
                except OSError:
                    return False

            await until(ready, 15, "the daemon")
            target.healthy = False
            await until(lambda: bool(receiver.events("incident.opened")), 10, "an incident")
            [opened] = receiver.events("incident.opened")
            iid = opened.body["incident"]["id"]
            url = f"http://127.0.0.1:{port}/api/v1/admin/incidents/{iid}/updates"
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with s.post(url, json={"message": "We are on it."}, headers=auth) as r:
                assert r.status in (200, 201), await r.text()  # the file's token works
            target.healthy = True
            await asyncio.sleep(max(0.0, 20 - (time.monotonic() - started)))
    finally:
        proc.terminate()
        await proc.wait()
        await target.stop()
        await receiver.stop()
    assert receiver.bad_signatures == 0  # the webhook secret from the file signs
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 50
    for line in lines:
        json.loads(line)  # every line is one JSON object
    assert any('"check"' in line and '"debug"' in line for line in lines)  # per-check debug
    for secret in (ADMIN, SECRET):
        for form in (secret, quote(secret), base64.b64encode(secret.encode()).decode()):
            assert form not in text
