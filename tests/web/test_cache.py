"""The status page and the status JSON are rendered once per change and served from the cache:
ETag/304, gzip, a commit or the minute tick renders anew, the admin token bypasses the cache."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import aiohttp
import pytest

from detector.web import api, public
from tests.web.conftest import TOKEN, MakeWorld


def shown(inc: Any, page: str) -> bool:
    return f'id="incident-{inc.id}"' in page


def count_renders(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Wrap module.name so each call is counted; returns the counter (one cell)."""
    calls = [0]
    original = getattr(module, name)

    async def counted(*args: Any, **kw: Any) -> Any:
        calls[0] += 1
        return await original(*args, **kw)

    monkeypatch.setattr(module, name, counted)
    return calls


async def test_second_get_is_served_from_the_cache(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    page = count_renders(monkeypatch, public, "render_status_page")
    status = count_renders(monkeypatch, api, "status_body")
    first = await w.get("/")
    second = await w.get("/")
    assert first.status == second.status == 200
    assert first.text == second.text
    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=10"
    assert "Last-Modified" in first.headers
    assert page == [1]
    assert (await w.get("/?lang=pl")).status == 200  # another language: its own entry
    assert page == [2]
    a = await w.get("/api/v1/status")
    b = await w.get("/api/v1/status")
    assert a.body == b.body
    assert a.headers["Cache-Control"] == "public, max-age=10"
    assert status == [1]


async def test_a_crowd_at_a_stale_page_costs_one_render(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    page = count_renders(monkeypatch, public, "render_status_page")
    answers = await asyncio.gather(*(w.get("/") for _ in range(20)))
    assert {r.status for r in answers} == {200}
    assert len({r.text for r in answers}) == 1
    assert page == [1]


@pytest.mark.parametrize("path", ["/", "/api/v1/status"])
async def test_if_none_match_gets_304(make_world: MakeWorld, path: str) -> None:
    w = await make_world()
    for encoding in ("gzip", "identity"):
        first = await w.get(path, headers={"Accept-Encoding": encoding})
        etag = first.headers["ETag"]
        again = await w.get(path, headers={"Accept-Encoding": encoding, "If-None-Match": etag})
        assert again.status == 304
        assert again.text == ""
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == "public, max-age=10"
        other = await w.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status == 200


async def test_an_engine_commit_changes_the_page(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    page = count_renders(monkeypatch, public, "render_status_page")
    before = await w.get("/")
    status_before = await w.get("/api/v1/status")
    minute = w.clock.now() // 60
    inc = await w.outage("web")
    assert w.clock.now() // 60 == minute  # the commit, not the minute tick
    after = await w.get("/")
    assert page == [2]
    assert shown(inc, after.text) and not shown(inc, before.text)
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = await w.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status == 200
    status_after = await w.get("/api/v1/status")
    assert status_before.body["incidents"] == []
    assert [i["id"] for i in status_after.body["incidents"]] == [inc.id]


async def test_the_minute_tick_renders_anew(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    page = count_renders(monkeypatch, public, "render_status_page")
    await w.get("/")
    w.clock.advance(30)  # the same minute (START is on a minute boundary)
    await w.get("/")
    assert page == [1]
    w.clock.advance(30)
    await w.get("/")
    assert page == [2]


async def test_admin_token_bypasses_the_cache_and_held_stays_hidden(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world(hold="2m")
    page = count_renders(monkeypatch, public, "render_status_page")
    status = count_renders(monkeypatch, api, "status_body")
    inc = await w.outage()
    assert inc.held_until is not None
    assert not shown(inc, (await w.get("/")).text)
    assert page == [1]
    for _ in range(2):
        ops = await w.get("/", token=TOKEN)
        assert ops.headers["Cache-Control"] == "private, no-store"
        ops_status = await w.get("/api/v1/status", token=TOKEN)
        assert ops_status.headers["Cache-Control"] == "private, no-store"
    assert page == [3]
    assert status == [2]
    # what the operator's requests rendered was not stored for everyone
    assert not shown(inc, (await w.get("/")).text)
    assert (await w.get("/api/v1/status")).body["incidents"] == []
    assert page == [3]
    assert (await w.post(f"/api/v1/admin/incidents/{inc.id}/publish")).status == 200
    assert shown(inc, (await w.get("/")).text)
    assert [i["id"] for i in (await w.get("/api/v1/status")).body["incidents"]] == [inc.id]


@pytest.mark.parametrize("path", ["/", "/api/v1/status"])
async def test_gzip_when_the_client_takes_it(make_world: MakeWorld, path: str) -> None:
    w = await make_world()
    plain = await w.get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    refused = await w.get(path, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
    url = w.client.make_url(path)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw,
        raw.get(url, headers={"Accept-Encoding": "gzip, deflate"}) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["ETag"] != plain.headers["ETag"]
        assert gzip.decompress(await r.read()).decode() == plain.text


async def test_during_a_render_a_reader_after_a_commit_waits_for_it() -> None:
    """Served the previous entry while a new one renders only when the minute or a probe's
    step changed it; after a commit (an incident resolved) the reader waits and sees it."""
    from detector.web.cache import ResponseCache

    responses = ResponseCache()
    key = ("/", "en")
    await responses.get(key, ("cfg", 1, 10, ()), _body(b"v1"), "text/html", 0.0)
    gate = asyncio.Event()

    async def slow() -> bytes:
        await gate.wait()
        return b"v2"

    # a new minute is rendering; a reader of the same commit gets the previous page at once
    rendering = asyncio.create_task(responses.get(key, ("cfg", 1, 11, ()), slow, "text/html", 0))
    await asyncio.sleep(0)
    same = await responses.get(key, ("cfg", 1, 11, ()), _body(b"x"), "text/html", 0.0)
    assert same.body == b"v1"
    # a reader after a commit waits for the render in flight, then renders its own version
    after_commit = asyncio.create_task(
        responses.get(key, ("cfg", 2, 11, ()), _body(b"v3"), "text/html", 0.0)
    )
    await asyncio.sleep(0)
    assert not after_commit.done()
    gate.set()
    assert (await rendering).body == b"v2"
    assert (await after_commit).body == b"v3"


def _body(data: bytes) -> Any:
    async def render() -> bytes:
        return data

    return render
