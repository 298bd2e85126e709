"""Every metric of CONTRACT §6, in one place with its own registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from detector import __version__
from detector.domain import Severity


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "detector_"
        self.probe_duration = Histogram(
            p + "probe_duration_seconds",
            "Time a probe check took.",
            ["probe", "component", "kind"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.probe_success = Gauge(
            p + "probe_success",
            "1 if the last check passed.",
            ["probe", "component", "kind"],
            registry=r,
        )
        self.probe_checks = Counter(
            p + "probe_checks", "Checks run, by result.", ["result"], registry=r
        )
        self.component_status = Gauge(
            p + "component_status",
            "0 operational, 1 degraded, 2 partial outage, 3 major outage.",
            ["component"],
            registry=r,
        )
        self.incidents_open = Gauge(p + "incidents_open", "Incidents not yet resolved.", registry=r)
        self.incidents = Counter(p + "incidents", "Incidents opened.", registry=r)
        self.notices = Counter(
            p + "notices",
            "Notice deliveries by outcome.",
            ["channel", "event", "outcome"],
            registry=r,
        )
        self.time_to_notice = Histogram(
            p + "time_to_notice_seconds",
            "First failed check to the first notice accepted by a channel.",
            registry=r,
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
        )
        self.notices_superseded = Counter(
            p + "notices_superseded",
            "Notices not sent because a newer notice of the same incident replaced them.",
            ["channel"],
            registry=r,
        )
        self.store_errors = Counter(
            p + "store_errors", "Store calls that failed, by operation.", ["op"], registry=r
        )
        self.incident_next_update = Gauge(
            p + "incident_next_update_timestamp_seconds",
            "Unix time of the next customer update promised for each open incident.",
            ["incident"],
            registry=r,
        )
        self.reports_overdue = Gauge(
            p + "reports_overdue",
            "Resolved incidents past their promised report date without a published post-mortem.",
            registry=r,
        )
        self.outbox_pending = Gauge(p + "outbox_pending", "Notices waiting to be sent.", registry=r)
        self.scheduler_lag = Histogram(
            p + "scheduler_lag_seconds",
            "How late checks start.",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.control_ok = Gauge(
            p + "control_ok", "1 while the detector's own connectivity checks pass.", registry=r
        )
        self.control_ok.set(1)
        self.leader = Gauge(
            p + "leader", "1 on the instance that runs incidents and notices.", registry=r
        )
        self.leader.set(1)
        Info(p + "build", "Version of outage-detector.", registry=r).info({"version": __version__})
        self._children: dict[str, tuple[Any, Any]] = {}
        self._results = {r: self.probe_checks.labels(r) for r in ("ok", "soft_fail", "fail")}

    def observe_check(
        self, probe: str, component: str, kind: str, ok: bool, soft: bool, duration: float
    ) -> None:
        """The one place probe results become metrics.

        Labelled children are looked up once per probe: at thousands of checks a second,
        `labels()` (a lock and a dict walk per metric) would cost as much as the rest.
        """
        children = self._children.get(probe)
        if children is None:
            labels = (probe, component, kind)
            children = self._children[probe] = (
                self.probe_duration.labels(*labels),
                self.probe_success.labels(*labels),
            )
        children[0].observe(duration)
        children[1].set(1 if ok else 0)
        self._results["fail" if not ok else "soft_fail" if soft else "ok"].inc()

    def set_component(self, component: str, severity: str) -> None:
        self.component_status.labels(component).set(Severity(severity).rank)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
