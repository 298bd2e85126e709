"""deploy/grafana/dashboard.json: the panels the issue asks for, well formed, every expression
valid PromQL over metric names a live detector's /metrics has."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_prometheus import (
    exposed_names,
    live_exposition,
    metric_names,
    needs_promtool,
    promtool,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Grafana's variables, as Prometheus would see them once Grafana filled them in
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "6h",
    "$job": ".*",
    "$component": ".*",
}

# What the issue asks the dashboard to show: a panel title and the metric it must read
REQUIRED = {
    "Status per component": "detector_component_status",
    "Probe latency (p50, p95)": "detector_probe_duration_seconds_bucket",
    "Probe success": "detector_probe_success",
    "Time to notice (median, p90)": "detector_time_to_notice_seconds_bucket",
    "Notices by channel and outcome": "detector_notices_total",
    "Outbox backlog": "detector_outbox_pending",
    "Scheduler lag (p50, p99)": "detector_scheduler_lag_seconds_bucket",
}


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in doc["panels"]:
        yield p
        yield from p.get("panels", [])  # a collapsed row keeps its panels inside


def expressions(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query: panels, annotations, and template variables
    (`label_values(selector, label)` reads `selector`)."""
    for p in panels(doc):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} {t['refId']}", t["expr"]
    for a in doc["annotations"]["list"]:
        if "expr" in a:
            yield f"annotation {a['name']!r}", a["expr"]
    for v in doc["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
            assert m, f"variable {v['name']}: {query}"
            yield f"variable {v['name']!r}", m.group(1)


def substituted(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def test_the_panels_the_issue_asks_for() -> None:
    by_title = {p["title"]: p for p in panels(dashboard())}
    for title, metric in REQUIRED.items():
        assert title in by_title, title
        used = set().union(*(metric_names(t["expr"]) for t in by_title[title]["targets"]))
        assert metric in used, (title, used)
    notices = by_title["Notices by channel and outcome"]["targets"][0]["expr"]
    assert "by (channel, outcome)" in notices
    assert "{{channel}}" in by_title["Notices by channel and outcome"]["targets"][0]["legendFormat"]
    status = by_title["Status per component"]
    assert "by (component)" in status["targets"][0]["expr"]
    texts = {
        m["text"]
        for mapping in status["fieldConfig"]["defaults"]["mappings"]
        for m in mapping["options"].values()
    }
    assert texts == {"Operational", "Degraded", "Partial outage", "Major outage"}


def test_the_dashboard_is_well_formed() -> None:
    doc = dashboard()
    assert doc["uid"] and doc["title"] and isinstance(doc["schemaVersion"], int)
    ds = [v for v in doc["templating"]["list"] if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in ds] == [("datasource", "prometheus")]
    all_panels = list(panels(doc))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), ids
    cells: dict[tuple[int, int], str] = {}
    for p in all_panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == DATASOURCE, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE and t["expr"].strip(), p["title"]


@needs_promtool
def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each one, as the expression of a recording rule."""
    exprs = list(expressions(dashboard()))
    rules = [
        {"record": f"dashboard:expr_{i}", "expr": substituted(e)} for i, (_, e) in enumerate(exprs)
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = promtool("check", "rules", str(path))
    assert out.returncode == 0, (
        out.stdout
        + out.stderr
        + "\n"
        + "\n".join(f"dashboard:expr_{i}: {where}" for i, (where, _) in enumerate(exprs))
    )


@pytest.fixture(scope="module")
def live_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return exposed_names(live_exposition(tmp_path_factory.mktemp("live-metrics")))


def test_every_expression_reads_metrics_a_live_detector_exports(live_names: set[str]) -> None:
    used: dict[str, list[str]] = {}
    for where, expr in expressions(dashboard()):
        names = metric_names(substituted(expr))
        assert names, f"{where}: no metric in {expr}"
        for name in names:
            used.setdefault(name, []).append(where)
    unknown = {name: wheres for name, wheres in used.items() if name not in live_names}
    assert unknown == {}, f"not in a live /metrics: {unknown}"
