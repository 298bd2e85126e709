"""Probe kinds, one module each, all behind one signature (see `probes.base`).

This is the probe kinds' registry: each kind is listed once below as (config key, the spec model
its module owns, its check). `detector.config.models` assembles ProbeConfig from it, one
optional key (`http:`, `tcp:`, ...) per kind, so a new kind touches its module and one line here.
`REGISTRY` maps a kind to its check; `probes.runner` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.config.fields import Model
from probes import dns, grpc_health, http, icmp, prometheus, statuspage, tcp, tls
from probes.base import Check


@dataclass(frozen=True, slots=True)
class ProbeKind:
    name: str  # the probe's config key: `http:`, `tcp:`, ...
    spec: type[Model]  # what goes under that key
    check: Check


KINDS: dict[str, ProbeKind] = {}
REGISTRY: dict[str, Check] = {}
_sealed = False


def register(kind: ProbeKind) -> ProbeKind:
    """Add a probe kind; it must happen before the config models are built (see `seal`)."""
    if kind.name in KINDS:
        raise ValueError(f"probe kind {kind.name!r} is already registered")
    if _sealed:
        raise RuntimeError(
            f"probe kind {kind.name!r} registered after the config models were built; "
            "register it before detector.config.models is imported"
        )
    KINDS[kind.name] = kind
    REGISTRY[kind.name] = kind.check
    return kind


def seal() -> tuple[ProbeKind, ...]:
    """The registered kinds, in order, and no more from now on: the config models are built
    from them once, so a kind registered later would be silently unknown to the config."""
    global _sealed
    _sealed = True
    return tuple(KINDS.values())


for _kind in (
    ProbeKind("http", http.HttpSpec, http.check),
    ProbeKind("tcp", tcp.TcpSpec, tcp.check),
    ProbeKind("tls", tls.TlsSpec, tls.check),
    ProbeKind("dns", dns.DnsSpec, dns.check),
    ProbeKind("statuspage", statuspage.StatuspageSpec, statuspage.check),
    ProbeKind("prometheus", prometheus.PrometheusSpec, prometheus.check),
    ProbeKind("icmp", icmp.IcmpSpec, icmp.check),
    ProbeKind("grpc", grpc_health.GrpcSpec, grpc_health.check),
):
    register(_kind)
