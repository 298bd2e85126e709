"""The metrics of CONTRACT §6: every name present, and `promtool check metrics` passes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from detector.metrics import Metrics

CONTRACT_NAMES = [
    "detector_probe_duration_seconds",
    "detector_probe_success",
    "detector_probe_checks_total",
    "detector_component_status",
    "detector_incidents_open",
    "detector_incidents_total",
    "detector_notices_total",
    "detector_time_to_notice_seconds",
    "detector_outbox_pending",
    "detector_scheduler_lag_seconds",
    "detector_control_ok",
    "detector_leader",
    "detector_build_info",
]


def populated() -> Metrics:
    m = Metrics()
    m.observe_check("api-health", "api", "http", True, False, 0.041)
    m.observe_check("api-health", "api", "http", False, False, 0.2)
    m.set_component("api", "major_outage")
    m.incidents.inc()
    m.incidents_open.set(1)
    m.notices.labels("webhook-0", "incident.opened", "sent").inc()
    m.time_to_notice.observe(7.5)
    m.scheduler_lag.observe(0.002)
    return m


def test_every_contract_metric_is_exposed() -> None:
    text = populated().exposition().decode()
    for name in CONTRACT_NAMES:
        assert f"\n{name}" in text or text.startswith(name), name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_passes() -> None:
    out = subprocess.run(
        ["promtool", "check", "metrics"],
        input=populated().exposition(),
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == b"" and out.stderr.strip() == b"", out.stdout + out.stderr


def test_probe_series_are_cumulative_buckets_with_escaped_labels() -> None:
    m = Metrics()
    odd = 'say "hi"\\now\nthen'
    for d in (0.004, 0.005, 0.3, 12.0):
        m.observe_check(odd, "api", "http", True, False, d)
    m.observe_check(odd, "api", "http", False, False, 0.02)
    text = m.exposition().decode()
    labels = 'probe="say \\"hi\\"\\\\now\\nthen",component="api",kind="http"'
    name = "detector_probe_duration_seconds"
    assert f'{name}_bucket{{{labels},le="0.005"}} 2\n' in text  # le is inclusive
    assert f'{name}_bucket{{{labels},le="0.025"}} 3\n' in text
    assert f'{name}_bucket{{{labels},le="0.5"}} 4\n' in text
    assert f'{name}_bucket{{{labels},le="+Inf"}} 5\n' in text
    assert f"{name}_count{{{labels}}} 5\n" in text
    assert f"detector_probe_success{{{labels}}} 0\n" in text
    sums = [line for line in text.splitlines() if line.startswith(f"{name}_sum")]
    assert len(sums) == 1 and abs(float(sums[0].rsplit(" ", 1)[1]) - 12.329) < 1e-9


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_odd_probe_names() -> None:
    m = populated()
    m.observe_check('a "quoted"\\name\nwith a newline', "api", "http", True, False, 0.1)
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=m.exposition(), capture_output=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
