"""deploy/prometheus: the scrape config, the detector's own recording and alerting rules and
their promtool unit tests; and a real Prometheus on loopback scraping a running detector."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession

from tests.e2e.harness import DaemonProcess, Receiver, Target, free_port, until, write_config

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "detector.rules.yml"
RULE_TESTS = PROM / "tests" / "detector.test.yml"
SCRAPE = PROM / "prometheus.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
JOB = "outage-detector"

# The issue's list: each thing to alert on, and the alert(s) that do.
ISSUE_ALERTS = {
    "detector absent": "DetectorAbsent",
    "detector down": "DetectorTargetDown",
    "control probes failing": "DetectorControlsFailing",
    "notices failing": "DetectorNoticesFailing",
    "notices dead": "DetectorNoticesDead",
    "outbox backing up": "DetectorOutboxBackingUp",
    "scheduler lag": "DetectorSchedulerLag",
    "incident open longer than its cadence without an update": "DetectorIncidentUpdateOverdue",
    "report overdue": "DetectorReportOverdue",
}
SEVERITIES = {"critical", "warning"}
RUNBOOK = re.compile(r"^docs/operations\.md#([a-z0-9]+(?:-[a-z0-9]+)*)$")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not on PATH (CI installs the Debian package `prometheus`)",
)
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="prometheus is not on PATH (CI installs the Debian package `prometheus`)",
)


# --- helpers (test_grafana uses them too) -------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: not functions, keywords or labels."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    return {
        m.group(1)
        for m in _IDENT.finditer(text)
        if m.group(2) is None and m.group(1).lower() not in _KEYWORDS
    }


def exposed_names(exposition: str) -> set[str]:
    """Every series name a /metrics text can carry: its samples, and for each family the names
    its samples take (a labelled family without children shows only # TYPE)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind.strip() in ("histogram", "summary"):
                names |= {name + "_sum", name + "_count"}
            if kind.strip() == "histogram":
                names.add(name + "_bucket")
        elif line and not line.startswith("#"):
            m = re.match(r"[A-Za-z_:][\w:]*", line)
            assert m, line
            names.add(m.group())
    return names


async def _fetch_metrics(tmp: Path) -> str:
    target = await Target().start()
    receiver = await Receiver().start()
    config, port = write_config(tmp, target, receiver)
    daemon = DaemonProcess(config, port, tmp / "daemon.log")
    try:
        await daemon.start()
        await until(lambda: len(target.requests) >= 2, 10, "the first checks")
        async with ClientSession() as s, s.get(daemon.url("/metrics")) as r:
            assert r.status == 200
            return await r.text()
    finally:
        await daemon.stop()
        await target.stop()
        await receiver.stop()


def live_exposition(tmp: Path) -> str:
    """/metrics of a real `detector run` that has run its first checks."""
    return asyncio.run(_fetch_metrics(tmp))


def load_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in load_rules() if "alert" in r]


def runbook_anchor(alert: dict[str, Any]) -> str:
    m = RUNBOOK.match(alert["annotations"]["runbook_url"])
    assert m, (alert["alert"], alert["annotations"]["runbook_url"])
    return m.group(1)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def github_anchors(markdown: str) -> set[str]:
    """The anchors a Markdown file offers: GitHub's heading slugs and explicit ids."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            heading = m.group(1)
            explicit = re.search(r"\{#([\w-]+)\}\s*$", heading)
            if explicit:
                anchors.add(explicit.group(1))
                heading = heading[: explicit.start()]
            heading = re.sub(r"<[^>]+>", "", heading)
            heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
            slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
        anchors |= set(re.findall(r"<a\s+(?:id|name)=[\"']([^\"']+)[\"']", line))
    return anchors


@pytest.fixture(scope="module")
def live_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return exposed_names(live_exposition(tmp_path_factory.mktemp("live-metrics")))


# --- the files -------------------------------------------------------------------------------


def test_metric_names_reads_promql() -> None:
    assert metric_names(
        'sum by (job, le) (rate(a_bucket{job=~"x|y", le="+Inf"}[5m] offset 1h))'
        " / on (job) group_left (le) b unless c:rec > bool 0.5e3 and time() - d{x='{'} > 60"
    ) == {"a_bucket", "b", "c:rec", "d"}
    assert metric_names("histogram_quantile(0.9, sum(rate(x[$__rate_interval])) by (le))") == {"x"}
    assert metric_names('absent(up{job="outage-detector"})') == {"up"}


def test_github_anchors_reads_headings() -> None:
    doc = (
        "# Operations\n## Detector down\n```\n# not a heading\n```\n"
        "### `DetectorNoLeader`: no leader!\n## Detector down\n"
        '<a id="report-overdue"></a>\n## Custom {#incident-update-overdue}\n'
    )
    assert github_anchors(doc) == {
        "operations",
        "detector-down",
        "detectornoleader-no-leader",
        "detector-down-1",
        "report-overdue",
        "incident-update-overdue",
        "custom",
    }


def test_every_alert_has_severity_summary_and_runbook() -> None:
    rules = alerts()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), names
    for thing, name in ISSUE_ALERTS.items():
        assert name in names, f"no alert for {thing!r}"
    for rule in rules:
        where = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, where
        notes = rule["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), where
        runbook_anchor(rule)


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alerts()}
    assert names - fires == set(), "alerts no test fires"
    assert names - quiet == set(), "alerts no test keeps quiet"
    assert (fires | quiet) - names == set(), "tests of alerts that do not exist"


def test_the_old_alert_file_is_gone() -> None:
    assert not (ROOT / "deploy" / "prometheus-alerts.yaml").exists()


@needs_promtool
def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    out = promtool("test", "rules", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_check_config_of_the_scrape_config() -> None:
    out = promtool("check", "config", str(SCRAPE))
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = [j["job_name"] for j in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]]
    assert jobs == [JOB]


def test_runbook_anchors_exist_in_the_operations_doc() -> None:
    wanted = {runbook_anchor(r) for r in alerts()}
    if not OPERATIONS.exists():
        pytest.xfail(f"docs/operations.md is not written yet; it needs: {sorted(wanted)}")
    missing = wanted - github_anchors(OPERATIONS.read_text())
    assert missing == set(), f"runbook anchors missing from docs/operations.md: {sorted(missing)}"


# --- against a running detector --------------------------------------------------------------


def test_rules_use_metrics_a_live_detector_exports(live_names: set[str]) -> None:
    recorded = {r["record"] for r in load_rules() if "record" in r}
    used: dict[str, set[str]] = {}
    for rule in load_rules():
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(rule.get("alert") or rule["record"])
    unknown = {
        name: sorted(rules)
        for name, rules in used.items()
        if name not in live_names | recorded | {"up"}
    }
    assert unknown == {}, "metrics neither exported nor recorded"


class Prometheus:
    """`prometheus` from PATH on 127.0.0.1, with the shipped scrape config and rules, scraping
    one target every second."""

    def __init__(self, tmp: Path, target: str) -> None:
        self.tmp = tmp
        self.target = target
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.log = tmp / "prometheus.log"

    def _config(self) -> Path:
        cfg = yaml.safe_load(SCRAPE.read_text())
        cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        cfg["rule_files"] = [str(RULES)]
        (job,) = cfg["scrape_configs"]
        job.update(
            scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [self.target]}]
        )
        path = self.tmp / "prometheus.yml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    async def start(self) -> Prometheus:
        config = self._config()
        for _ in range(3):  # a free port taken by someone else in between: try another
            self.port = free_port()
            with self.log.open("ab") as log:
                self.proc = await asyncio.create_subprocess_exec(
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    stdout=log,
                    stderr=log,
                    cwd=str(self.tmp),
                )
            try:
                await until(self._ready, 30, "prometheus to be ready")
                return self
            except _Exited:
                if "address already in use" not in self.log.read_text():
                    raise
        raise AssertionError(f"prometheus did not start: {self.log.read_text()[-3000:]}")

    async def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise _Exited(
                f"prometheus exited {self.proc.returncode}: {self.log.read_text()[-3000:]}"
            )
        try:
            async with ClientSession() as s, s.get(self.url("/-/ready")) as r:
                return r.status == 200
        except OSError:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def api(self, path: str, **params: str) -> Any:
        async with ClientSession() as s, s.get(self.url(path), params=params) as r:
            body = await r.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        data = await self.api("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class _Exited(AssertionError):
    pass


@pytest.fixture
async def detector(tmp_path: Path) -> AsyncIterator[tuple[Target, DaemonProcess]]:
    target = await Target().start()
    receiver = await Receiver().start()
    config, port = write_config(tmp_path, target, receiver)
    daemon = DaemonProcess(config, port, tmp_path / "daemon.log")
    try:
        await daemon.start()
        yield target, daemon
    finally:
        await daemon.stop()
        await target.stop()
        await receiver.stop()


@needs_prometheus
async def test_a_real_prometheus_scrapes_the_detector(
    detector: tuple[Target, DaemonProcess], tmp_path: Path
) -> None:
    target, daemon = detector
    instance = f"127.0.0.1:{daemon.port}"
    prom = Prometheus(tmp_path, instance)
    try:
        await prom.start()

        async def value(promql: str) -> str | None:
            result = await prom.query(promql)
            return str(result[0]["value"][1]) if result else None

        async def up() -> bool:
            return await value(f'up{{job="{JOB}"}}') == "1"

        async def major_outage() -> bool:
            return await value("detector_component_status") == "3"

        async def scraped() -> bool:
            return await value("detector_component_status") is not None

        await until(up, 20, "the target to be up")
        await until(scraped, 20, "detector_component_status in Prometheus")
        (series,) = await prom.query("detector_component_status")
        assert series["metric"] == {
            "__name__": "detector_component_status",
            "component": "api",
            "job": JOB,
            "instance": instance,
        }
        assert series["value"][1] == "0"  # operational

        # every rule loads and evaluates without error against real series
        names = {r.get("alert") or r["record"] for r in load_rules()}

        async def evaluated() -> list[dict[str, Any]] | None:
            groups = (await prom.api("/api/v1/rules"))["groups"]
            rules = [rule for g in groups for rule in g["rules"]]
            return rules if all(r["health"] != "unknown" for r in rules) else None

        async def all_evaluated() -> bool:
            return await evaluated() is not None

        await until(all_evaluated, 20, "every rule to be evaluated")
        rules = await evaluated()
        assert rules is not None and {r["name"] for r in rules} == names
        assert [
            (r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"
        ] == []

        async def recorded() -> bool:  # a recording rule, evaluated on scraped series
            return await value('detector:component_status:max{component="api"}') == "0"

        await until(recorded, 20, "detector:component_status:max to be recorded")
        firing = [a for a in (await prom.api("/api/v1/alerts"))["alerts"] if a["state"] == "firing"]
        assert firing == []  # a healthy detector raises nothing

        # the service breaks: Prometheus sees the component in a major outage
        target.healthy = False
        await until(major_outage, 20, "detector_component_status 3 in Prometheus")
        assert (await daemon.get_json("/api/v1/status"))["components"][0]["status"] == (
            "major_outage"
        )
    finally:
        await prom.stop()
