"""Runs one check: owns its timeout and timing, and never lets an exception escape.

The scheduler calls `run_check` thousands of times a second, so it adds little: a copy of the
context (so the probe can record which phase it is in), a deadline, two clock reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

import aiohttp
import dns.exception
from aiohttp import hdrs
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from detector import __version__, logs
from probes import REGISTRY
from probes.base import ProbeContext, Result
from probes.errors import MAX_DETAIL, ProbeFailure, describe, fmt_duration, one_line

# made at import, before logs.configure(): lazy and never cached, so each use goes through the
# configured (redacting) chain of that moment
log = logs.get("probes")

DNS_CACHE_TTL = 30  # seconds; dns probes watch DNS itself, uncached
USER_AGENT = f"outage-detector/{__version__}"
# what the network does to a check; anything else escaping a probe is a bug in it
_EXPECTED = (OSError, EOFError, aiohttp.ClientError, dns.exception.DNSException)


class Timeouts(Protocol):
    """The detection settings, as far as the runner reads them."""

    @property
    def timeout(self) -> float: ...


class Probe(Protocol):
    """What the runner needs of a configured probe (detector.config.models.ProbeConfig), said
    here because that model is assembled from this package's kinds and cannot be imported back."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def spec(self) -> Any: ...

    def detection(self, defaults: Any) -> Timeouts: ...


P = TypeVar("P", bound=Probe)


async def run_check(probe: Probe, ctx: ProbeContext, timeout: float) -> Result:
    """Run `probe` once within `timeout` seconds; a failed Result for anything that goes wrong."""
    check = REGISTRY.get(probe.kind)
    if check is None:
        return Result(False, 0.0, f"no probe for kind {probe.kind!r}")
    # built directly: dataclasses.replace walks the fields on every call, at every check
    own = ProbeContext(ctx.session, timeout, ctx.addresses, "check")
    start = time.perf_counter()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            result = await check(probe.spec, own)
        if not isinstance(result, Result):  # a buggy probe
            raise TypeError(f"returned {type(result).__name__}, not a Result")
        # a passing check's detail is the probe's own words ("HTTP 200 in 12 ms"), tidied only
        # if it needs it; a failing one may carry a server's text, always flattened and scrubbed
        detail = str(result.detail)
        if not result.ok or "\n" in detail or len(detail) > MAX_DETAIL:
            detail = one_line(detail)
        return Result(
            result.ok, time.perf_counter() - start, detail, result.soft_fail, result.severity
        )
    except ProbeFailure as e:
        return Result(False, time.perf_counter() - start, one_line(e.detail), severity=e.severity)
    except TimeoutError as e:
        elapsed = time.perf_counter() - start
        if deadline.expired():
            return Result(False, elapsed, f"{own.phase} timeout after {fmt_duration(timeout)}")
        return Result(False, elapsed, one_line(describe(e)))
    except Exception as e:
        elapsed = time.perf_counter() - start
        if not isinstance(e, _EXPECTED):  # a bug in a probe: worth a traceback in the log
            log.warning("probe crashed", probe=probe.name, kind=probe.kind, exc_info=True)
        return Result(False, elapsed, one_line(describe(e)))


async def run_once(probes: Sequence[P], defaults: Timeouts) -> list[tuple[P, Result]]:
    """Each probe once, concurrently, with its own effective timeout; results in input order."""
    async with make_session() as session:
        ctx = ProbeContext(session=session, timeout=defaults.timeout)
        results = await asyncio.gather(
            *(run_check(p, ctx, p.detection(defaults).timeout) for p in probes)
        )
    return list(zip(probes, results, strict=True))


def _phase(name: str) -> Any:
    async def mark(_session: Any, trace: SimpleNamespace, _params: Any) -> None:
        ctx = trace.trace_request_ctx
        if isinstance(ctx, ProbeContext):
            ctx.phase = name

    return mark


def _tracer() -> aiohttp.TraceConfig:
    """Tells a check's context where its request is, so a timeout says 'connect' or 'response'."""
    tc = aiohttp.TraceConfig()
    tc.on_connection_queued_start.append(_phase("connection pool wait"))
    tc.on_dns_resolvehost_start.append(_phase("DNS lookup"))
    tc.on_connection_create_start.append(_phase("connect"))
    tc.on_connection_create_end.append(_phase("response"))
    # no hook on connection reuse: it fires on every keep-alive check, and the check starts
    # in "response" anyway (probes.http), so a reused connection is already in the right phase
    tc.on_request_redirect.append(_phase("redirect"))
    return tc


class _ProbeConnector(aiohttp.TCPConnector):
    """Two pools behind one session. A request sent with `Connection: close` (probes.http does,
    unless a probe sets `reuse_connections`) goes to a connector that opens a new connection for
    it and closes it after, as a new customer's client would; any other request reuses pooled
    keep-alive connections. Kept apart so a fresh check never takes an idle connection a
    reusing probe left behind. Both cache DNS answers for DNS_CACHE_TTL seconds."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, ttl_dns_cache=DNS_CACHE_TTL)
        self.fresh = aiohttp.TCPConnector(
            limit=limit, ttl_dns_cache=DNS_CACHE_TTL, force_close=True
        )

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        if req.headers.get(hdrs.CONNECTION, "").lower() == "close":
            return await self.fresh.connect(req, traces, timeout)
        return await super().connect(req, traces, timeout)

    async def close(self, *, abort_ssl: bool = False) -> None:
        await asyncio.gather(
            super().close(abort_ssl=abort_ssl), self.fresh.close(abort_ssl=abort_ssl)
        )


def make_session(limit: int = 1000) -> aiohttp.ClientSession:
    """One session for every HTTP check: a new connection per check, or pooled keep-alive
    connections for probes that ask (_ProbeConnector; each pool holds at most `limit`), cached
    DNS, no cookies (a probe must not carry state from one check to the next), and no
    session-wide timeout: the runner owns it per check."""
    return aiohttp.ClientSession(
        connector=_ProbeConnector(limit),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
        headers={"User-Agent": USER_AGENT},
        trace_configs=[_tracer()],
    )
