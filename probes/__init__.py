"""Probe kinds, one module each, all behind one signature (see `probes.base`).

`REGISTRY` maps a config kind (`http:`, `tcp:`, ...) to its check; `probes.runner` runs them.
"""

from __future__ import annotations

from probes import dns, http, statuspage, tcp, tls
from probes.base import Check

REGISTRY: dict[str, Check] = {
    "http": http.check,
    "tcp": tcp.check,
    "tls": tls.check,
    "dns": dns.check,
    "statuspage": statuspage.check,
}
