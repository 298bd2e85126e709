"""Shared test data: the example's environment and a minimal valid config."""

from __future__ import annotations

from pathlib import Path

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
