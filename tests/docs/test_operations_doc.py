"""docs/operations.md is the runbook the alerts link to: every link must land on a section.

Alert rules in deploy/prometheus/ carry `runbook_url: docs/operations.md#<anchor>`. Each must be
an anchor of the runbook: a heading's GitHub anchor, or an explicit `<a id="...">`. Until that
directory exists, the fixed list of alert anchors agreed with the rules is checked instead (it
is checked in any case: other tools may link to those names).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs._markdown import DOCS, ROOT, anchors, sections

RUNBOOK = DOCS / "operations.md"
RULES = ROOT / "deploy" / "prometheus"

# One section per alert; the Prometheus rules link to docs/operations.md#<anchor>.
ALERT_ANCHORS = (
    "detector-down",
    "detector-not-ready",
    "control-probes-failing",
    "notices-failing",
    "notices-dead",
    "outbox-backlog",
    "scheduler-lag",
    "incident-without-update",
    "report-overdue",
    "store-errors",
)
# Sections other docs and people link to: renaming one breaks their links.
SECTION_ANCHORS = (
    "deploy",
    "single-process-with-sqlite",
    "container",
    "kubernetes-sidecar",
    "upgrade",
    "back-up-and-restore-the-store",
    "back-up",
    "restore",
    "scale-out",
    "read-the-dashboard",
    "alerts",
)
PARTS = ("**What it means.**", "**How to check.**", "**What to do.**")


def doc_anchors(path: Path) -> set[str]:
    """Where a link `path#x` can land: heading anchors and explicit `<a id|name="x">`."""
    text = path.read_text()
    return set(anchors(text)) | set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))


def _runbook_urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "runbook_url" and isinstance(value, str):
                yield value
            else:
                yield from _runbook_urls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _runbook_urls(item)


def runbook_links() -> list[tuple[str, str]]:
    """(where, url) for every `runbook_url` in deploy/prometheus/**/*.yml (and .yaml); without
    that directory, the agreed alert anchors."""
    if not RULES.is_dir():
        return [("agreed alert anchors", f"docs/operations.md#{a}") for a in ALERT_ANCHORS]
    found = []
    for path in sorted([*RULES.rglob("*.yml"), *RULES.rglob("*.yaml")]):
        for document in yaml.safe_load_all(path.read_text()):
            found += [(str(path.relative_to(ROOT)), url) for url in _runbook_urls(document)]
    return found


def test_every_runbook_url_lands_on_a_section() -> None:
    have = doc_anchors(RUNBOOK)
    wrong = []
    for where, url in runbook_links():
        target, _, anchor = url.partition("#")
        if not target.endswith("operations.md") or not anchor:
            wrong.append(f"{where}: {url} is not docs/operations.md#<anchor>")
        elif anchor not in have:
            wrong.append(f"{where}: {url}: docs/operations.md has no anchor #{anchor}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("anchor", ALERT_ANCHORS + SECTION_ANCHORS)
def test_the_agreed_anchors_exist(anchor: str) -> None:
    assert anchor in set(anchors(RUNBOOK.read_text())), (
        f"docs/operations.md has no heading with the anchor #{anchor}"
    )


def test_each_alert_says_what_it_means_how_to_check_and_what_to_do() -> None:
    secs = sections(RUNBOOK.read_text())
    start = next(i for i, s in enumerate(secs) if s.level == 2 and s.title == "Alerts")
    alerts = []
    for sec in secs[start + 1 :]:
        if sec.level <= 2:
            break
        alerts.append(sec.title)
        missing = [p for p in PARTS if p not in sec.text]
        assert not missing, f"alert section {sec.title!r} lacks {missing}"
    assert set(ALERT_ANCHORS) <= set(alerts), (
        f"under 'Alerts' the runbook lacks {sorted(set(ALERT_ANCHORS) - set(alerts))}"
    )


def test_links_between_docs_land_on_anchors() -> None:
    """`[...](#x)`, `[...](operations.md#x)`, `[...](docs/configuration.md#x)` in README.md and
    docs/*.md: each anchor exists in the file it names."""
    wrong = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", path.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            doc = path if not target else (path.parent / target)
            if not doc.is_file():
                wrong.append(f"{path.relative_to(ROOT)}: links to {target}, which does not exist")
            elif anchor not in doc_anchors(doc):
                wrong.append(
                    f"{path.relative_to(ROOT)}: {target or '(itself)'}#{anchor} is no anchor there"
                )
    assert not wrong, "\n".join(wrong)


def test_without_the_rules_directory_the_agreed_anchors_are_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "RULES", tmp_path / "none")
    assert runbook_links() == [
        ("agreed alert anchors", f"docs/operations.md#{a}") for a in ALERT_ANCHORS
    ]


def test_a_rule_linking_nowhere_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rules = tmp_path / "prometheus"
    (rules / "more").mkdir(parents=True)
    (rules / "more" / "x.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"
        "    annotations: {runbook_url: docs/operations.md#no-such-section}\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "RULES", rules)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match=r"more/x\.yaml: .*has no anchor #no-such-section"):
        test_every_runbook_url_lands_on_a_section()
