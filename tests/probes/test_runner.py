"""The runner: timing, timeouts, and no exception ever escaping a check."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

import probes
from detector.config.models import Detection, ProbeConfig
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure, fmt_duration, one_line
from probes.runner import make_session, run_check, run_once
from tests.probes.conftest import unused_port

TCP = ProbeConfig.model_validate({"name": "t", "tcp": {"host": "127.0.0.1", "port": 1}})


async def _zero(_spec: Any, _ctx: ProbeContext) -> Result:
    return Result(ok=True, duration=0.0, detail=str(1 / 0))


async def test_a_crashing_probe_gives_a_failed_result(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(probes.REGISTRY, "tcp", _zero)
    r = await run_check(TCP, ctx, 1.0)
    assert (r.ok, r.detail) == (False, "probe error: ZeroDivisionError: division by zero")
    assert r.duration >= 0


async def test_probe_failure_keeps_its_severity(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def vendor_down(_spec: Any, _ctx: ProbeContext) -> Result:
        raise ProbeFailure("vendor says\nmajor outage", severity="major_outage")

    monkeypatch.setitem(probes.REGISTRY, "tcp", vendor_down)
    r = await run_check(TCP, ctx, 1.0)
    assert (r.ok, r.severity, r.detail) == (False, "major_outage", "vendor says major outage")


async def test_runner_measures_and_tidies(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def chatty(_spec: Any, c: ProbeContext) -> Result:
        assert c is not ctx and c.timeout == 0.5 and c.session is ctx.session
        c.phase = "mine"  # a per-check copy: the shared context is untouched
        return Result(ok=True, duration=123.0, detail="line one\n  line two")

    monkeypatch.setitem(probes.REGISTRY, "tcp", chatty)
    r = await run_check(TCP, ctx, 0.5)
    assert (r.ok, r.detail) == (True, "line one line two")
    assert r.duration < 1 and ctx.phase == "check"


async def test_a_hanging_probe_times_out(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang(_spec: Any, _ctx: ProbeContext) -> Result:
        await asyncio.Event().wait()
        raise AssertionError

    monkeypatch.setitem(probes.REGISTRY, "tcp", hang)
    r = await run_check(TCP, ctx, 0.05)
    assert (r.ok, r.detail) == (False, "check timeout after 50 ms")


async def test_an_inner_timeout_is_not_the_runners(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def own_timeout(_spec: Any, _ctx: ProbeContext) -> Result:
        raise TimeoutError

    monkeypatch.setitem(probes.REGISTRY, "tcp", own_timeout)
    assert (await run_check(TCP, ctx, 1.0)).detail == "timed out"


async def test_cancellation_propagates(ctx: ProbeContext, silent_server: int) -> None:
    probe = ProbeConfig.model_validate(
        {"name": "h", "http": {"url": f"http://127.0.0.1:{silent_server}/"}}
    )
    task = asyncio.create_task(run_check(probe, ctx, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_unknown_kind(ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(probes.REGISTRY, "tcp")
    r = await run_check(TCP, ctx, 1.0)
    assert (r.ok, r.detail) == (False, "no probe for kind 'tcp'")


async def test_run_once_is_concurrent_and_ordered(silent_server: int) -> None:
    hang = {"http": {"url": f"http://127.0.0.1:{silent_server}/"}, "timeout": "200ms"}
    batch = [
        ProbeConfig.model_validate({"name": "a", **hang}),
        ProbeConfig.model_validate({"name": "b", **hang}),
        ProbeConfig.model_validate(
            {"name": "c", "tcp": {"host": "127.0.0.1", "port": unused_port()}}
        ),
    ]
    start = time.perf_counter()
    out = await run_once(batch, Detection.model_validate({"timeout": "5s"}))
    assert time.perf_counter() - start < 0.35  # side by side, not one after another
    assert [(p.name, r.detail) for p, r in out] == [
        ("a", "response timeout after 200 ms"),
        ("b", "response timeout after 200 ms"),
        ("c", "connection refused"),
    ]


async def test_make_session() -> None:
    async with make_session(limit=7) as session:
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert session.connector.limit == 7
        assert session.timeout.total is None  # the runner owns each check's deadline


def test_fmt_duration() -> None:
    cases = {
        0.0004: "0.4 ms",
        0.041: "41 ms",
        0.8: "800 ms",
        1.2: "1.2 s",
        5.0: "5 s",
        30.0: "30 s",
        0.9996: "1 s",
    }
    assert {s: fmt_duration(s) for s in cases} == cases


def test_one_line_scrubs_urls() -> None:
    text = "failed https://bob:hunter2@api.example/x?token=abc#f\nand more"
    assert one_line(text) == "failed https://api.example/x?…#f and more"
    assert len(one_line("x" * 1000)) == 240


async def test_a_probe_returning_garbage(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def nothing(_spec: Any, _ctx: ProbeContext) -> Any:
        return None

    monkeypatch.setitem(probes.REGISTRY, "tcp", nothing)
    r = await run_check(TCP, ctx, 1.0)
    assert (r.ok, r.detail) == (False, "probe error: TypeError: returned NoneType, not a Result")
