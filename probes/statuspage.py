"""statuspage: what does a vendor say about itself? (Atlassian Statuspage `summary.json`)

A vendor's own word is the fastest signal that a dependency is down, and it carries a
severity: the probe passes it on in `Result.severity` so the component reflects it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AnyHttpUrl

from detector.config.fields import Model
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure
from probes.http import read_limited

MAX_SUMMARY = 4 << 20  # big vendors list hundreds of components
_SHOWN = 5  # affected components named in the detail

# indicator → (ok, soft_fail, severity, words)
_INDICATORS: dict[str, tuple[bool, bool, str | None, str]] = {
    "none": (True, False, None, "all systems operational"),
    "minor": (True, True, None, "minor issues"),
    "maintenance": (True, True, None, "maintenance"),
    "major": (False, False, "partial_outage", "major outage"),
    "critical": (False, False, "major_outage", "critical outage"),
}
# component status → (rank, ok, soft_fail, severity, words)
_COMPONENTS: dict[str, tuple[int, bool, bool, str | None, str]] = {
    "operational": (0, True, False, None, "operational"),
    "under_maintenance": (1, True, True, None, "maintenance"),
    "degraded_performance": (2, True, True, None, "degraded performance"),
    "partial_outage": (3, False, False, "partial_outage", "partial outage"),
    "major_outage": (4, False, False, "major_outage", "major outage"),
}
_UNKNOWN = (1, True, True, None, "an unknown status")


class StatuspageSpec(Model):
    url: AnyHttpUrl
    components: list[str] | None = None  # only these vendor components count


def summary_url(base: str) -> str:
    return f"{base.rstrip('/')}/api/v2/summary.json"


def _list(names: list[str]) -> str:
    more = f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _components(doc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(name, status, is_group) for each well-formed component."""
    out = []
    for comp in doc.get("components") or []:
        if isinstance(comp, dict) and isinstance(comp.get("name"), str):
            out.append((comp["name"], str(comp.get("status", "")), bool(comp.get("group"))))
    return out


def evaluate(doc: Any, wanted: list[str] | None, fallback_name: str) -> Result:
    """The verdict on a parsed summary.json; pure, so every vendor state is easy to test."""
    if not isinstance(doc, dict):
        raise ProbeFailure("status page summary is not a JSON object")
    status = doc.get("status")
    indicator = status.get("indicator") if isinstance(status, dict) else None
    if not isinstance(indicator, str):
        raise ProbeFailure("status page summary lacks status.indicator")
    page = doc.get("page")
    name = page.get("name") if isinstance(page, dict) else None
    vendor = name if isinstance(name, str) and name.strip() else fallback_name
    components = _components(doc)

    if not wanted:
        ok, soft, severity, words = _INDICATORS.get(
            indicator, (True, True, None, f"status {indicator!r}")
        )
        detail = f"{vendor} reports {words}"
        affected = [n for n, s, group in components if s != "operational" and not group]
        if affected and indicator != "none":
            detail += f": {_list(affected)}"
        return Result(ok=ok, duration=0.0, detail=detail, soft_fail=soft, severity=severity)

    by_name: dict[str, list[str]] = {}
    for comp_name, comp_status, _group in components:
        by_name.setdefault(comp_name.strip().casefold(), []).append(comp_status)
    missing = [w for w in wanted if w.strip().casefold() not in by_name]
    if missing:
        return Result(
            ok=False,
            duration=0.0,
            detail=f"{vendor} status page has no component named {_list(missing)}",
        )
    ranked = [
        (_COMPONENTS.get(s, _UNKNOWN), w) for w in wanted for s in by_name[w.strip().casefold()]
    ]
    worst = max(r[0] for r in ranked)
    rank, ok, soft, severity, words = worst
    if rank == 0:
        return Result(ok=True, duration=0.0, detail=f"{vendor} reports {_list(wanted)} operational")
    affected = list(dict.fromkeys(w for info, w in ranked if info[0] > 0))
    return Result(
        ok=ok,
        duration=0.0,
        soft_fail=soft,
        severity=severity,
        detail=f"{vendor} reports {words}: {_list(affected)}",
    )


async def check(spec: StatuspageSpec, ctx: ProbeContext) -> Result:
    ctx.phase = "request"
    async with ctx.session.get(
        summary_url(str(spec.url)), headers={"Accept": "application/json"}, trace_request_ctx=ctx
    ) as resp:
        ctx.phase = "body read"
        body, truncated = await read_limited(resp, MAX_SUMMARY)
    if resp.status != 200:
        raise ProbeFailure(f"status page answered HTTP {resp.status}")
    if truncated:
        raise ProbeFailure(f"status page summary is larger than {MAX_SUMMARY >> 20} MiB")
    try:
        doc = json.loads(body)
    except ValueError:
        raise ProbeFailure("status page answered with malformed JSON") from None
    return evaluate(doc, spec.components, spec.url.host or str(spec.url))
