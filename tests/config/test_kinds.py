"""A probe or channel kind is one module registered once: models.py is never edited for it.

The kinds below are defined here and registered in a fresh interpreter, before the config models
are built (as a plugin would be); registering one in this process is refused, since its models
are built already. So nothing at module level here may import detector.config.models.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

import probes
from detector import channels
from detector.channels import ChannelKind
from detector.channels.base import Delivery, Envelope
from detector.config.fields import ChannelBase, Model, Secret
from probes import ProbeKind
from probes.base import ProbeContext, Result

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """\
service:
  name: Acme
  contact: {name: Jane, email: jane@acme.example}
components:
  - id: api
    name: API
    impact: You cannot reach the API.
    probes:
      - name: api-check
"""
PING_CONFIG = SERVICE + "        ping: {host: api.acme.example, count: 3}\n"
PAGER_CONFIG = SERVICE + (
    '        http: {url: "http://127.0.0.1:1/healthz"}\n'
    "channels:\n"
    "  - {type: pager, routing_key: rk-123, events: [incident.opened]}\n"
)


class PingSpec(Model):
    host: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)


async def ping(spec: PingSpec, ctx: ProbeContext) -> Result:
    return Result(True, 0.0, f"pong from {spec.host} x{spec.count}")


PING = ProbeKind("ping", PingSpec, ping)


class PagerChannel(ChannelBase):
    type: Literal["pager"]
    routing_key: Secret


class Pager:
    kind = "pager"
    max_batch = 0
    concurrency = 1

    def __init__(self, cfg: PagerChannel, name: str) -> None:
        self.cfg = cfg
        self.name = name

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event)

    async def send(self, envelope: Envelope) -> Delivery:
        return Delivery(True, "paged")

    async def close(self) -> None:
        return None


PAGER = ChannelKind("pager", PagerChannel, Pager)


def _errors(text: str) -> list[str]:
    from detector.config import ConfigError, parse_config

    try:
        parse_config(text, {})
    except ConfigError as e:
        return e.lines
    return []


def probe_kind_report() -> dict[str, Any]:
    """Run in a fresh interpreter: register PING once, then load, check and describe."""
    import asyncio

    probes.register(PING)
    from detector.config import parse_config
    from detector.config.schema import config_json_schema
    from probes.runner import run_once

    config = parse_config(PING_CONFIG, {})
    probe = config.components[0].probes[0]
    [(_, result)] = asyncio.run(run_once([probe], config.detection))
    defs = config_json_schema()["$defs"]
    return {
        "kind": probe.kind,
        "spec": probe.spec.model_dump(),
        "result": [result.ok, result.detail],
        "schema_key": defs["ProbeConfig"]["properties"]["ping"],
        "schema_spec": sorted(defs["PingSpec"]["properties"]),
        "bad_key": _errors(PING_CONFIG.replace("host:", "hots:")),
        "bad_value": _errors(PING_CONFIG.replace("count: 3", "count: 0")),
        "two_kinds": _errors(PING_CONFIG + "        tcp: {host: h, port: 1}\n"),
    }


def channel_kind_report() -> dict[str, Any]:
    """Run in a fresh interpreter: register PAGER once, then load, build and describe."""
    channels.register(PAGER)
    from detector.config import parse_config
    from detector.config.schema import config_json_schema
    from detector.config.secrets import secret_values

    config = parse_config(PAGER_CONFIG, {})
    [built] = channels.build(config)
    schema = config_json_schema()
    items = schema["properties"]["channels"]["items"]
    return {
        "model": type(config.channels[0]).__name__,
        "built": [
            type(built).__name__,
            built.name,
            built.wants("incident.opened"),
            built.wants("incident.resolved"),
        ],
        "secrets": secret_values(config),
        "mapping": items["discriminator"]["mapping"].get("pager"),
        "schema_spec": sorted(schema["$defs"]["PagerChannel"]["properties"]),
        "missing_key": _errors(PAGER_CONFIG.replace("routing_key: rk-123, ", "")),
        "empty_secret": _errors(PAGER_CONFIG.replace("rk-123", "' '")),
        "unknown_type": _errors(PAGER_CONFIG.replace("type: pager", "type: pagr")),
    }


def in_fresh_interpreter(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def report(function: str) -> dict[str, Any]:
    done = in_fresh_interpreter(
        f"import json; from tests.config.test_kinds import {function}; "
        f"print(json.dumps({function}()))"
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_probe_kind_registered_once_is_config_schema_and_check() -> None:
    got = report("probe_kind_report")
    assert got["kind"] == "ping"
    assert got["spec"] == {"host": "api.acme.example", "count": 3}
    assert got["result"] == [True, "pong from api.acme.example x3"]
    assert got["schema_key"] == {
        "anyOf": [{"$ref": "#/$defs/PingSpec"}, {"type": "null"}],
        "default": None,
    }
    assert got["schema_spec"] == ["count", "host"]
    where = "components[0].probes[0]"
    assert got["bad_key"] == [
        f"{where}.ping.host: required key is missing",
        f"{where}.ping.hots: unknown key (did you mean host?)",
    ]
    assert got["bad_value"] == [f"{where}.ping.count: must be at least 1"]
    assert got["two_kinds"] == [
        f"{where}: a probe has exactly one kind "
        "(http, tcp, tls, dns, statuspage, prometheus, icmp, grpc, ping), "
        "found tcp, ping"
    ]


def test_a_channel_kind_registered_once_is_config_schema_and_channel() -> None:
    got = report("channel_kind_report")
    assert got["model"] == "PagerChannel"
    assert got["built"] == ["Pager", "pager-0", True, False]
    assert got["secrets"] == ["rk-123"]
    assert got["mapping"] == "#/$defs/PagerChannel"
    assert got["schema_spec"] == ["api_base", "events", "routing_key", "type"]
    assert got["missing_key"] == ["channels[0].routing_key: required key is missing"]
    assert got["empty_secret"] == ["channels[0].routing_key: must not be empty"]
    assert got["unknown_type"] == [
        "channels[0].type: unknown channel type 'pagr' (webhook, sendgrid, twilio, console, "
        "statuspage_io, smtp, slack, teams, pagerduty, pager)"
    ]


def test_a_kind_registered_after_the_models_are_built_is_refused() -> None:
    import detector.config.models  # noqa: F401  (builds the models: the registries are sealed)

    with pytest.raises(RuntimeError, match=r"before detector\.config\.models is imported"):
        probes.register(PING)
    with pytest.raises(RuntimeError, match=r"before detector\.config\.models is imported"):
        channels.register(PAGER)
    assert "ping" not in probes.KINDS and "ping" not in probes.REGISTRY
    assert "pager" not in channels.KINDS


def test_a_kind_is_registered_under_one_name_and_its_own_tag() -> None:
    with pytest.raises(ValueError, match="'http' is already registered"):
        probes.register(ProbeKind("http", PingSpec, ping))
    with pytest.raises(ValueError, match=r"PagerChannel needs `type: Literal\['beeper'\]`"):
        channels.register(ChannelKind("beeper", PagerChannel, Pager))


# --- imports run one way ---------------------------------------------------------------------


def imported(path: Path) -> set[str]:
    """Every module or name a file imports, anywhere in it (functions, TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def outside(names: set[str], *allowed: str) -> list[str]:
    """The detector imports not under one of `allowed`."""
    return sorted(
        n
        for n in names
        if (n == "detector" or n.startswith("detector."))
        and not any(n == a or n.startswith(a + ".") for a in allowed)
    )


@pytest.mark.parametrize("path", sorted((ROOT / "probes").glob("*.py")), ids=lambda p: p.name)
def test_probes_import_only_the_config_fields_of_detector(path: Path) -> None:
    """detector.logs and the version (the runner's redacting logger and User-Agent) import
    nothing of probes or the config, so they close no cycle either."""
    names = imported(path)
    assert not [n for n in names if n.startswith("detector.config.models")]
    assert outside(names, "detector.config.fields", "detector.logs", "detector.__version__") == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "detector" / "channels").glob("*.py")), ids=lambda p: p.name
)
def test_channels_import_the_config_fields_not_the_models(path: Path) -> None:
    names = imported(path)
    assert [
        n
        for n in names
        if n.startswith("detector.config") and not n.startswith("detector.config.fields.")
    ] == []


def test_fields_import_nothing_of_probes_channels_or_the_models() -> None:
    names = imported(ROOT / "detector" / "config" / "fields.py")
    assert [n for n in names if n.split(".")[0] in ("detector", "probes")] == []


@pytest.mark.parametrize(
    "module",
    [
        "probes.http",
        "probes.runner",
        "detector.channels.webhook",
        "detector.config.fields",
        "detector.config.models",
    ],
)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """An import cycle only shows when its first module is imported first."""
    done = in_fresh_interpreter(f"import {module}")
    assert done.returncode == 0, done.stderr
