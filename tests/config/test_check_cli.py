"""`detector check` as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from detector.cli.check import safe_url, summary
from detector.config import load_config
from detector.config.subscribers import load_subscribers
from tests.config._data import EXAMPLE, EXAMPLE_ENV, ROOT

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))
SECRETS = ("8675309123456789", "pw-s3cret", "secret-for-tests", "token-for-tests")
UNSET = ("DETECTOR_TEST_UNSET_TOKEN", "DETECTOR_TEST_EMPTY_SECRET")  # the broken files rely on it


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _check(path: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detector", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(extra),
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """All files checked at once: each run is a fresh interpreter, so run them side by side."""
    jobs: dict[str, tuple[Path, dict[str, str]]] = {p.name: (p, {}) for p in BROKEN}
    jobs["example"] = (EXAMPLE, EXAMPLE_ENV)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {name: pool.submit(_check, *job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def test_there_are_enough_broken_configs() -> None:
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_config_gives_one_line_and_exit_2(
    path: Path, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    result = runs[path.name]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""
    assert not any(s in result.stderr for s in SECRETS)


def test_example_is_valid_and_summarised(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["example"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "service: Acme Cloud" in out
    assert "components: 2 (api, payments)" in out
    assert "probes: 4 (http 1, statuspage 1, tcp 1, tls 1)" in out
    assert "controls: 1" in out
    assert "subscribers: 5" in out
    assert "channels: 3 (sendgrid 1, twilio 1, webhook 1)" in out
    assert "storage: sqlite:///detector.db" in out
    assert not any(s in out for s in SECRETS)


def test_summary_warns_when_nobody_can_be_told(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().split("\nchannels:")[0]
    path = tmp_path / "c.yaml"
    csv = EXAMPLE.parent / "subscribers.example.csv"
    path.write_text(text.replace("subscribers.example.csv", str(csv)))
    config = load_config(path, EXAMPLE_ENV)
    out = summary(config, load_subscribers(config, tmp_path), "c.yaml")
    assert "warning: no channels: nobody will be told about an outage" in out
    assert (
        "warning: subscribers have e-mail addresses, but there is no sendgrid or smtp channel"
        in out
    )
    assert "warning: subscribers have phone numbers, but there is no twilio channel" in out


def test_duplicate_subscribers_are_a_warning_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "name,email,phone\nGlobex,ops@globex.example,\nWayne,bruce@wayne.example,+15550100200\n"
    )
    config = EXAMPLE.read_text().split("\nsubscribers:")[0] + (
        "\nsubscribers:\n"
        "  - {name: Globex, email: ops@globex.example, components: [api]}\n"
        "  - {file: people.csv}\n"
        "  - {name: Wayne SMS, phone: '+1 555 010 0200'}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(config)
    result = _check(path, EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert "subscribers: 2" in lines
    assert [line for line in lines if "listed more than once" in line] == [
        "warning: subscriber ops@globex.example is listed more than once (subscribers[0]; "
        "subscribers[1].file: people.csv row 2); merged into one",
        "warning: subscriber +15550100200 is listed more than once (subscribers[1].file: "
        "people.csv row 3; subscribers[2]); merged into one",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///detector.db", "sqlite:///detector.db"),
        (
            "postgresql://app:hunter2@db.internal:5432/od",
            "postgresql://app:***@db.internal:5432/od",
        ),
        ("postgresql://app@db/od", "postgresql://app@db/od"),
        ("postgresql://app:hunter2@db:99999/od", "postgresql://***"),
    ],
)
def test_storage_password_is_masked(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_check_reports_every_fault_in_one_run(tmp_path: Path) -> None:
    """Issue 12: a duplicate probe name must not hide an unknown component, nor a bad value
    either of them: one run of `check` lists every fault it can find."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "service: {name: Acme, contact: {name: Jane Doe, email: ops@acme.example}}\n"
        "components:\n"
        "  - {id: api, name: API, impact: x, probes: [\n"
        "      {name: p1, tcp: {host: 127.0.0.1, port: 1}},\n"
        "      {name: p1, tcp: {host: 127.0.0.1, port: 2}}]}\n"
        "subscribers:\n"
        "  - {name: A, email: a@x.example, components: [nope]}\n"
        "detection: {interval: 10}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "detector", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "detection.interval",
        "components[0].probes[1].name",
        "subscribers[0].components[0]",
    ], lines


def test_summary_says_how_several_instances_will_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DETECTOR_VANTAGE", "eu-west")
    text = EXAMPLE.read_text().split("\nchannels:")[0]
    path = tmp_path / "c.yaml"
    csv = EXAMPLE.parent / "subscribers.example.csv"
    text = re.sub(r"\nstorage:\n(  .*\n)+", "\n", text)
    path.write_text(
        text.replace("subscribers.example.csv", str(csv))
        + "\nstorage: {url: 'postgresql://detector@127.0.0.1/detector'}\ncluster: {lease: 5s}\n"
    )
    config = load_config(path, EXAMPLE_ENV)
    out = summary(config, [], "c.yaml")
    assert (
        "cluster: vantage eu-west, lease 5s (a new leader within 10s), quorum majority of live "
        "vantages"
    ) in out.splitlines()
