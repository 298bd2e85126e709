"""What is wrong right now, for `/readyz` and for one log line per change (not per attempt).

Any part that depends on something that can fail (the store, a delivery loop) reports here:
`failed(key, reason)` while it fails, `ok(key)` when it works again. Readiness is the list of
current problems; the log says when a problem starts and when it ends, once each.
"""

from __future__ import annotations

from typing import Any

from detector import logs


class Health:
    def __init__(self, metrics: Any = None) -> None:
        self.problems: dict[str, str] = {}
        self.metrics = metrics
        self.log = logs.get("detector.health")

    def failed(self, key: str, reason: str) -> None:
        """`key` is e.g. "store" or "delivery:sendgrid"; counted per call, logged per change."""
        if self.metrics is not None and key.startswith("store"):
            self.metrics.store_errors.labels(key.partition(":")[2] or "write").inc()
        if self.problems.get(key) == reason:
            return
        first = key not in self.problems
        self.problems[key] = reason
        if first:
            self.log.error("not ready", part=key, reason=reason)

    def ok(self, key: str) -> None:
        if self.problems.pop(key, None) is not None:
            self.log.warning("ready again", part=key)

    def clear(self, prefix: str) -> None:
        """A part that is gone (a former leader's delivery) is no problem any more."""
        for key in [k for k in self.problems if k.startswith(prefix)]:
            self.ok(key)

    def ready(self) -> bool:
        return not self.problems

    def reasons(self) -> list[str]:
        return [f"{k}: {v}" for k, v in sorted(self.problems.items())]


def describe(e: BaseException) -> str:
    """One line for /readyz and the log: the driver's words, without a traceback."""
    text = str(getattr(e, "orig", None) or e).splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
