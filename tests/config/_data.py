"""Shared test data: the example's environment and a minimal valid config."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.yaml"
SCHEMA = ROOT / "config" / "schema.json"

# Every variable config/example.yaml uses, with values that look like the real thing.
EXAMPLE_ENV = {
    "DETECTOR_ADMIN_TOKEN": "admin-token-for-tests",
    "WEBHOOK_SECRET": "webhook-secret-for-tests",
    "SENDGRID_API_KEY": "SG.key-for-tests",
    "TWILIO_ACCOUNT_SID": "AC0123456789abcdef",
    "TWILIO_AUTH_TOKEN": "twilio-token-for-tests",
}

MINIMAL = """\
service:
  name: Acme
  contact: {name: Jane, email: jane@acme.example}
components:
  - id: api
    name: API
    impact: You cannot reach the API.
    probes:
      - name: api-health
        http: {url: "http://127.0.0.1:1/healthz"}
"""


def config_models() -> list[type[BaseModel]]:
    """Every model a config can hold, found by walking from Config: probe and channel kinds own
    their models in their own modules, so no one module lists them all."""
    # imported here: test_kinds registers kinds in a fresh process before the models are built
    from detector.config.models import Config

    found: dict[type[BaseModel], None] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in found:
                return
            found[tp] = None
            for info in tp.model_fields.values():
                visit(info.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(Config)
    return list(found)
