"""http: does the endpoint answer as a customer's client expects, and fast enough?

Checks run in the order a person would debug: status, headers, body, JSON, then latency.
A slow answer that is otherwise right is a soft failure (degraded), not an outage.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any, Literal

import aiohttp
from pydantic import AnyHttpUrl, Field, field_validator

from detector.config.fields import Headers, Model, PositiveDuration
from probes.base import ProbeContext, Result
from probes.errors import fmt_duration

MAX_BODY = 1 << 20  # a health answer is small; never let a huge one cost memory per check

_MISSING = object()


class HttpExpect(Model):
    status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    body_regex: str | None = None
    json_: dict[str, Any] | None = Field(default=None, alias="json")
    headers: Headers | None = None
    max_latency: PositiveDuration | None = None

    @field_validator("status")
    @classmethod
    def _codes(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if not 100 <= c <= 599]
        if bad or not v:
            raise ValueError(f"HTTP status codes are 100-599, got {bad or v}")
        return v

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except (re.error, OverflowError, RecursionError) as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v


# The `expect` of every probe that sets none: one frozen instance, shared. A copy per probe was
# a quarter of a 20,000-probe config's memory (10 of 44 MB; bench/startup.py).
_EXPECT_DEFAULT = HttpExpect()


class HttpSpec(Model):
    url: AnyHttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = None
    expect: HttpExpect = Field(default_factory=lambda: _EXPECT_DEFAULT)
    follow_redirects: bool = True
    verify_tls: bool = True
    proxy: AnyHttpUrl | None = None
    # False: each check opens a new connection (DNS, TCP, TLS) and closes it, as a new
    # customer's client does, so a bad certificate, a refusing load balancer or a broken DNS
    # record is seen; True: pooled keep-alive connections, cheaper, but blind to those
    reuse_connections: bool = False


async def read_limited(resp: aiohttp.ClientResponse, limit: int = MAX_BODY) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether there was more."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = await resp.content.read(limit - len(buf))
        if not chunk:
            return bytes(buf), False
        buf += chunk
    return bytes(buf), not resp.content.at_eof()


def _decode(resp: aiohttp.ClientResponse, body: bytes) -> str:
    try:
        return body.decode(resp.charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def _index(part: str, size: int) -> bool:
    return part.lstrip("-").isdigit() and -size <= int(part) < size


def json_lookup(doc: Any, path: str) -> Any:
    """`checks.db` → doc['checks']['db']; list items by index (`items.0.status`)."""
    if isinstance(doc, dict) and path in doc:  # a key that itself contains dots
        return doc[path]
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and _index(part, len(doc)):
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and not isinstance(actual, str | dict | list):
        return json.dumps(actual) == expected  # YAML 'true' or '3' against JSON true or 3
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False  # JSON true is not 1
    return bool(actual == expected)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _headers_problem(expect: HttpExpect, resp: aiohttp.ClientResponse) -> str | None:
    for name, want in (expect.headers or {}).items():
        got = resp.headers.get(name)  # CIMultiDict: the name is case-insensitive
        if got is None:
            return f"header {name} missing"
        if got.strip() != want.strip():
            return f"header {name}={got!r}, expected {want!r}"
    return None


def _body_problem(
    expect: HttpExpect, resp: aiohttp.ClientResponse, body: bytes, truncated: bool
) -> str | None:
    if expect.body_contains is None and expect.body_regex is None and not expect.json_:
        return None
    text = _decode(resp, body)
    note = f" (first {MAX_BODY >> 20} MiB read)" if truncated else ""
    if expect.body_contains is not None and expect.body_contains not in text:
        return f"body lacks {expect.body_contains!r}{note}"
    if expect.body_regex is not None and not _regex(expect.body_regex).search(text):
        return f"body does not match /{expect.body_regex}/{note}"
    if expect.json_:
        try:
            doc = json.loads(text)
        except ValueError:
            return f"body is not JSON{note}"
        for path, want in expect.json_.items():
            got = json_lookup(doc, path)
            if got is _MISSING:
                return f"json {path} missing, expected {_show(want)}"
            if not _same(got, want):
                return f"json {path}={_show(got)}, expected {_show(want)}"
    return None


def _request_headers(spec: HttpSpec) -> dict[str, str] | None:
    if spec.reuse_connections:
        return spec.headers or None
    # `Connection: close` sends the request to make_session's pool-less connector: a new
    # connection for this check, closed after it (whatever Connection header the probe set)
    own = {k: v for k, v in spec.headers.items() if k.lower() != "connection"}
    return own | {"Connection": "close"}


async def check(spec: HttpSpec, ctx: ProbeContext) -> Result:
    expect = spec.expect
    # a reused keep-alive connection goes straight to the response; a new one passes through
    # "DNS lookup" and "connect" (make_session's tracer), then back to "response"
    ctx.phase = "response"
    start = time.perf_counter()
    async with ctx.session.request(
        spec.method,
        str(spec.url),
        headers=_request_headers(spec),
        data=spec.body,
        allow_redirects=spec.follow_redirects,
        ssl=spec.verify_tls,  # True: verify with system CAs; False: accept any certificate
        proxy=str(spec.proxy) if spec.proxy else None,
        trace_request_ctx=ctx,
    ) as resp:
        ctx.phase = "body read"
        body, truncated = (b"", False) if spec.method == "HEAD" else await read_limited(resp)
    elapsed = time.perf_counter() - start
    status = f"HTTP {resp.status} in {fmt_duration(elapsed)}"
    if resp.status not in expect.status:
        return Result(ok=False, duration=0.0, detail=status)
    problem = _headers_problem(expect, resp) or _body_problem(expect, resp, body, truncated)
    if problem:
        return Result(ok=False, duration=0.0, detail=problem)
    if expect.max_latency is not None and elapsed > expect.max_latency:
        slow = f"slow: {fmt_duration(elapsed)} > {fmt_duration(expect.max_latency)}"
        return Result(ok=True, duration=0.0, soft_fail=True, detail=slow)
    return Result(ok=True, duration=0.0, detail=status)
