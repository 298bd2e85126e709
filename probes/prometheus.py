"""prometheus: does the monitoring ops already run say something is wrong?

An instant query (`GET {url}/api/v1/query`) whose answer is a non-empty vector is failing,
like an alerting rule's expression: `rate(http_errors_total[5m]) > 0.05` fires while it returns
series. With a `threshold`, the query returns the values themselves and the probe compares them:
`error_ratio` with `threshold: {above: 0.05}` fails while any series is above 0.05. Either way
the detail says how many series and the worst value: "3 series firing, max 0.12".

A query Prometheus cannot run (a syntax error, its own timeout, an overloaded server) is a failed
check with Prometheus' error type in the detail: a probe that cannot see must not say "fine".
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import AnyHttpUrl, Field, model_validator

from detector.config.fields import Headers, Model
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure
from probes.http import read_limited

MAX_ANSWER = 4 << 20  # a query answering more than this is not a health signal anyway
# Prometheus stops evaluating at its own `timeout`: set just inside ours, so a slow query comes
# back as Prometheus' "query timed out" rather than our cut-off, and frees the server too
_SERVER_SHARE = 0.9


class Threshold(Model):
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.above is None and self.below is None:
            raise ValueError("a threshold needs `above`, `below` or both")
        if self.above is not None and self.below is not None and self.below > self.above:
            # both: failing outside [below, above]; crossed bounds would fail on every value
            raise ValueError(
                f"below ({self.below:g}) must not be greater than above ({self.above:g})"
            )
        return self

    def breached(self, value: float) -> bool:
        return (self.above is not None and value > self.above) or (
            self.below is not None and value < self.below
        )

    def words(self) -> str:
        if self.above is not None and self.below is not None:
            return f"outside {_num(self.below)}..{_num(self.above)}"
        if self.above is not None:
            return f"above {_num(self.above)}"
        return f"below {_num(self.below)}"


class PrometheusSpec(Model):
    url: AnyHttpUrl
    query: str = Field(min_length=1)
    threshold: Threshold | None = None
    headers: Headers = Field(default_factory=dict)


def query_url(base: str) -> str:
    return f"{base.rstrip('/')}/api/v1/query"


def _num(value: float | None) -> str:
    """0.12 → '0.12', 3.0 → '3', 1e-07 → '1e-07', inf → '+Inf': short, as Prometheus writes."""
    if value is None:
        return "none"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _float(text: Any) -> float:
    try:
        return float(text)  # Prometheus writes values as strings: "0.12", "NaN", "+Inf"
    except (TypeError, ValueError):
        raise ProbeFailure(
            f"Prometheus answered a sample value that is not a number: {text!r}"
        ) from None


def _series_name(metric: Any) -> str:
    """{'__name__': 'up', 'job': 'api'} → 'up{job="api"}'."""
    if not isinstance(metric, dict):
        return "{}"
    name = str(metric.get("__name__", ""))
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels or not name else name


def _samples(data: Any) -> list[tuple[str, float]]:
    """(series, value) for each sample of an instant vector or a scalar."""
    if not isinstance(data, dict):
        raise ProbeFailure("Prometheus answered without a data object")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector" and isinstance(result, list):
        out = []
        for sample in result:
            if not isinstance(sample, dict) or not isinstance(sample.get("value"), list):
                raise ProbeFailure("Prometheus answered a malformed sample")
            value = sample["value"]
            out.append((_series_name(sample.get("metric")), _float(value[-1] if value else None)))
        return out
    if kind == "scalar" and isinstance(result, list) and result:
        return [("scalar", _float(result[-1]))]
    if kind == "matrix":
        raise ProbeFailure("query returns a range vector: use an instant one (no [5m] at the end)")
    if kind == "string":
        raise ProbeFailure("query returns a string, not a vector")
    raise ProbeFailure(f"Prometheus answered an unknown result type {kind!r}")


def _badness(value: float, threshold: Threshold | None) -> float:
    """How far past the threshold (how large, without one): the worst series has the most."""
    if threshold is None:
        return value
    past = []
    if threshold.above is not None:
        past.append(value - threshold.above)
    if threshold.below is not None:
        past.append(threshold.below - value)
    return max(past)


def _worst(samples: list[tuple[str, float]], threshold: Threshold | None) -> tuple[str, float]:
    """The worst series; a NaN sample (no value to compare) only when there is nothing else."""
    return max(samples, key=lambda s: (not math.isnan(s[1]), _badness(s[1], threshold)))


def _extreme(threshold: Threshold | None) -> str:
    if threshold is None or threshold.below is None:
        return "max"
    return "min" if threshold.above is None else "worst"


def evaluate(doc: Any, threshold: Threshold | None) -> Result:
    """The verdict on a parsed /api/v1/query answer; pure, so every shape is easy to test."""
    if not isinstance(doc, dict) or "status" not in doc:
        raise ProbeFailure("Prometheus answered JSON that is not a query result")
    if doc["status"] != "success":
        kind = doc.get("errorType") or "unknown"
        raise ProbeFailure(f"query error ({kind}): {doc.get('error') or 'no message'}")
    samples = _samples(doc.get("data"))
    if threshold is None:
        if not samples:
            return Result(ok=True, duration=0.0, detail="no series firing")
        if samples[0][0] == "scalar":  # a scalar is always "there": nothing to fire on
            raise ProbeFailure("query returns a scalar: give a threshold, or make it a vector")
        name, value = _worst(samples, None)
        detail = f"{_series(len(samples))} firing, max {_num(value)}: {name}"
        return Result(ok=False, duration=0.0, detail=detail)
    limit = threshold.words()
    if not samples:
        return Result(ok=True, duration=0.0, detail=f"no series (threshold: {limit})")
    breached = [s for s in samples if threshold.breached(s[1])]
    if not breached:
        _name, value = _worst(samples, threshold)
        detail = f"{_series(len(samples))}, none {limit} ({_extreme(threshold)} {_num(value)})"
        return Result(ok=True, duration=0.0, detail=detail)
    name, value = _worst(breached, threshold)
    of = f"{len(breached)} of {len(samples)} series" if len(samples) > 1 else "1 series"
    detail = f"{of} {limit}, {_extreme(threshold)} {_num(value)}: {name}"
    return Result(ok=False, duration=0.0, detail=detail)


def _series(n: int) -> str:
    return "1 series" if n == 1 else f"{n} series"


async def check(spec: PrometheusSpec, ctx: ProbeContext) -> Result:
    params = {
        "query": spec.query,
        "timeout": f"{max(1, int(ctx.timeout * _SERVER_SHARE * 1000))}ms",
    }
    ctx.phase = "request"
    async with ctx.session.get(
        query_url(str(spec.url)),
        params=params,
        headers={**spec.headers, "Accept": "application/json"},
        trace_request_ctx=ctx,
    ) as resp:
        ctx.phase = "body read"
        body, truncated = await read_limited(resp, MAX_ANSWER)
    if truncated:
        raise ProbeFailure(f"query answer is larger than {MAX_ANSWER >> 20} MiB")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    # Prometheus answers a failed query with 400/422/503 and a JSON error: say its words
    if isinstance(doc, dict) and doc.get("status") == "error":
        return evaluate(doc, spec.threshold)
    if resp.status != 200:
        raise ProbeFailure(f"Prometheus answered HTTP {resp.status}")
    if doc is None:
        raise ProbeFailure("Prometheus answered with malformed JSON")
    return evaluate(doc, spec.threshold)
