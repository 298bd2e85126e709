"""Uptime as customers understand it (issue 9): minutes of published outage over the time
scheduled checks watched, per component; "no data" before the first check. Real SQLite store,
fake clock; page figures are read off the rendered status page."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import Config, parse_config
from detector.store import Change, IncidentRow, NoticeRow, Store
from detector.web.uptime import UptimeCache
from tests.web.conftest import (
    DOWN,
    START,
    TOKEN,
    UP,
    MakeWorld,
    World,
    make_config,
    raw_config,
)

MIN = 60.0
NAMES = {"web": "Dashboard", "api": "Public API"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Config, Store]]:
    cfg = make_config(tmp_path)
    store = Store(cfg.storage.url)
    await store.open()
    yield cfg, store
    await store.close()


def watched(
    probe: str, minutes: range, checks: int = 1, failures: int = 0, start: float = START
) -> list[tuple[str, int, int, int, int, float]]:
    """History rows: `checks` checks in each of these minutes after `start`."""
    return [(probe, int(start + m * MIN), checks, failures, 0, 0.01 * checks) for m in minutes]


async def told(
    store: Store,
    story: list[tuple[float, str, str]],
    *,
    components: tuple[str, ...] = ("web",),
    named: list[tuple[str, ...]] | None = None,
    resolved_at: float | None = None,
    started_at: float | None = None,
    **fields: Any,
) -> IncidentRow:
    """An incident whose notices say `story`: (minute published, status, severity) each."""
    inc_id = f"inc-{secrets.token_hex(4)}"
    first = START + story[0][0] * MIN
    inc = IncidentRow(
        id=inc_id,
        component_ids=list(components),
        title="Outage",
        status=story[-1][1],
        severity=story[-1][2],
        started_at=first if started_at is None else started_at,
        detected_at=first,
        resolved_at=resolved_at,
        sequence=len(story),
        **fields,
    )
    notices = [
        NoticeRow(
            id=f"{inc_id}.{k + 1}",
            incident_id=inc_id,
            sequence=k + 1,
            event="incident.updated",
            kind="update",
            status=status,
            severity=severity,
            published_at=START + at * MIN,
            next_update_at=None,
            subject="s",
            text="t",
            facts={"components": [NAMES[c] for c in (named[k] if named else components)]},
        )
        for k, (at, status, severity) in enumerate(story)
    ]
    await store.commit(Change(incidents=[inc], notices=notices), START)
    return inc


async def figure(cfg: Config, store: Store, minutes: float, component: str = "web") -> Any:
    return (await UptimeCache(cfg, store).get(START + minutes * MIN))[component]


def legend(page: str, component: str) -> str:
    """The 90-day figure under a component's bar, as the page prints it."""
    part = page[page.index(f'id="component-{component}"') :]
    found = re.search(r'<p class="bar-legend"><span>[^<]*</span><span>([^<]*)</span>', part)
    assert found is not None
    return found[1]


def bars(page: str, component: str) -> list[tuple[str, str]]:
    part = page[page.index(f'id="component-{component}"') :]
    part = part[: part.index("</ol>")]
    return re.findall(r'<li class="day day-(\w+)" title="([^"]*)"', part)


async def page_after(w: World, seconds: float) -> str:
    """The page once the per-minute cache has refreshed."""
    w.clock.advance(seconds)
    return (await w.get("/")).text


async def test_fresh_install_shows_no_data_until_checks_exist(make_world: MakeWorld) -> None:
    w = await make_world()
    page = (await w.get("/")).text
    for component in ("api", "web"):
        assert legend(page, component) == "no data"
        assert {level for level, _ in bars(page, component)} == {"none"}
    assert "%" not in page
    # issue 9: 40 seconds in, one scheduled check and two fast re-checks that failed
    await w.store.add_history([("web", int(START), 3, 2, 0, 0.03)])
    page = await page_after(w, 61)
    assert legend(page, "web") == "100% uptime"  # not 33.33%: no outage was ever published
    assert bars(page, "web")[-1] == ("operational", "Jan 15, 2027: 100% uptime")
    assert legend(page, "api") == "no data"
    assert "uptime" not in str((await w.get("/api/v1/status")).body)  # the API has no figure


async def test_two_minute_major_outage_in_six_observed_minutes(make_world: MakeWorld) -> None:
    w = await make_world()
    await w.store.add_history(watched("web", range(6), checks=6))
    await w.store.add_history(watched("web", range(2, 4), checks=20, failures=20))  # re-checks
    w.clock.t = START + 2 * MIN
    await w.feed("web", DOWN, 3)  # the first failed check at minute 2, confirmed
    (inc,) = w.engine.open_incidents()
    assert (inc.started_at, inc.severity) == (START + 2 * MIN, "major_outage")
    w.clock.t = START + 4 * MIN - 1
    await w.feed("web", UP, 2)  # recovered at minute 4: monitoring
    assert w.engine.open_incidents()[0].recovered_at == START + 4 * MIN
    w.clock.t = START + 6 * MIN
    page = (await w.get("/")).text
    assert legend(page, "web") == "66.67% uptime"  # (6 − 2) / 6 minutes
    assert bars(page, "web")[-1] == ("major_outage", "Jan 15, 2027: 66.67% uptime")
    assert legend(page, "api") == "no data"


async def test_partial_outage_minutes_count_three_tenths(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(
        store,
        [(0, "investigating", "partial_outage"), (5, "resolved", "partial_outage")],
        resolved_at=START + 5 * MIN,
    )
    up = await figure(cfg, store, 10)
    assert up.ratio == pytest.approx(1 - 0.3 * 5 / 10)  # 85%
    assert up.days[-1].level == "partial_outage"


async def test_degraded_performance_is_not_downtime(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(store, [(0, "investigating", "degraded")])  # degraded all along, still open
    up = await figure(cfg, store, 10)
    assert up.ratio == 1.0
    assert up.days[-1].level == "degraded"  # the bar still says what customers were told


async def test_fast_rechecks_do_not_change_the_figure(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await told(store, [(2, "investigating", "major_outage"), (4, "monitoring", "major_outage")])
    await store.add_history(watched("web", range(6)))
    calm = await figure(cfg, store, 6)
    await store.add_history(watched("web", range(6), checks=30, failures=29))
    busy = await figure(cfg, store, 6)
    assert calm.ratio == busy.ratio == pytest.approx(4 / 6)


async def test_an_open_outage_counts_until_now(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(store, [(6, "identified", "major_outage")])
    assert (await figure(cfg, store, 8)).ratio == pytest.approx(6 / 8)
    assert (await figure(cfg, store, 10)).ratio == pytest.approx(6 / 10)


async def test_held_and_vetoed_incidents_are_not_downtime(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(
        store,
        [(0, "resolved", "major_outage")],
        resolved_at=START + 3 * MIN,
        held_until=START + 5 * MIN,
        vetoed=True,
    )
    held = await told(store, [(6, "investigating", "major_outage")], held_until=START + 11 * MIN)
    assert (await figure(cfg, store, 10)).ratio == 1.0  # nobody was told
    await store.update_incident(held.id, held_until=None)  # published: counts from its start
    assert (await figure(cfg, store, 10)).ratio == pytest.approx(6 / 10)


async def test_the_story_follows_the_notices(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(
        store,
        [
            (1, "investigating", "major_outage"),  # but the first failed check was at minute 0
            (2, "investigating", "partial_outage"),  # severity changed
            (4, "monitoring", "partial_outage"),  # recovered
            (6, "investigating", "major_outage"),  # recurred
            (8, "resolved", "major_outage"),
            (9, "resolved", "major_outage"),  # post-mortem
        ],
        started_at=START,
        resolved_at=START + 8 * MIN,
    )
    down = 2 + 0.3 * 2 + 2
    assert (await figure(cfg, store, 10)).ratio == pytest.approx(1 - down / 10)


async def test_overlapping_incidents_count_once_at_the_worst(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)))
    await told(
        store,
        [(0, "investigating", "partial_outage"), (10, "resolved", "partial_outage")],
        resolved_at=START + 10 * MIN,
        manual=True,
    )
    await told(
        store,
        [(2, "investigating", "major_outage"), (4, "resolved", "major_outage")],
        resolved_at=START + 4 * MIN,
    )
    up = await figure(cfg, store, 10)
    assert up.ratio == pytest.approx(1 - (2 + 0.3 * 8) / 10)
    assert up.days[-1].level == "major_outage"


async def test_unobserved_time_counts_neither_way(world: tuple[Config, Store]) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(5)) + watched("web", range(10, 15)))
    await told(
        store,
        [(3, "investigating", "major_outage"), (12, "resolved", "major_outage")],
        resolved_at=START + 12 * MIN,
    )
    assert (await figure(cfg, store, 15)).ratio == pytest.approx(1 - 4 / 10)


async def test_a_joined_component_counts_from_the_notice_naming_it(
    world: tuple[Config, Store],
) -> None:
    cfg, store = world
    await store.add_history(watched("web", range(10)) + watched("api-b", range(10)))
    await told(
        store,
        [(0, "investigating", "major_outage"), (5, "investigating", "major_outage")],
        components=("web", "api"),
        named=[("web",), ("web", "api")],
    )
    assert (await figure(cfg, store, 10, "web")).ratio == 0.0
    assert (await figure(cfg, store, 10, "api")).ratio == pytest.approx(5 / 10)


async def test_days_are_local_and_unwatched_days_have_no_data(
    world: tuple[Config, Store],
) -> None:
    cfg, store = world
    midnight = START - 9 * 3600  # START is 09:00 in Warsaw
    await store.add_history(watched("web", range(-30, 30), start=midnight))
    await told(
        store,
        [
            (-9 * 60 - 20, "investigating", "major_outage"),
            (-9 * 60 + 10, "resolved", "major_outage"),
        ],
        resolved_at=midnight + 10 * MIN,
    )
    days = (await figure(cfg, store, 0)).days
    assert days[-2].observed == days[-1].observed == 30 * MIN  # to now: 09:00, none after 00:30
    assert days[-2].uptime == pytest.approx(1 - 20 / 30)
    assert days[-1].uptime == pytest.approx(1 - 10 / 30)
    assert [d.level for d in days[:-2]] == ["none"] * 88


async def test_rolled_up_hours_are_watched_hours(world: tuple[Config, Store]) -> None:
    cfg, store = world
    three_days_ago = START - 3 * 86400
    await store.add_history(watched("web", range(0, 120, 7), start=three_days_ago))
    await store.rollup_history(START)  # minute rows older than two days fold into hours
    day = (await figure(cfg, store, 0)).days[-4]
    assert day.observed == 2 * 3600 and day.uptime == 1.0


async def test_slow_probes_watch_until_their_next_check(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    raw["components"][1]["probes"][0]["interval"] = "5m"  # the dashboard: every 5 minutes
    cfg = parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN})
    store = Store(cfg.storage.url)
    await store.open()
    try:
        await store.add_history(watched("web", range(0, 30, 5)))
        await told(
            store,
            [(11, "investigating", "major_outage"), (13, "resolved", "major_outage")],
            resolved_at=START + 13 * MIN,
        )
        assert (await figure(cfg, store, 30)).ratio == pytest.approx(1 - 2 / 30)
    finally:
        await store.close()


async def test_refreshed_once_a_minute_resolved_incidents_read_once(
    world: tuple[Config, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg, store = world
    reads: list[list[str]] = []
    notices = store.notices

    async def counted(ids: Any) -> dict[str, list[NoticeRow]]:
        reads.append(list(ids))
        return await notices(reads[-1])

    monkeypatch.setattr(store, "notices", counted)
    await store.add_history(watched("web", range(10)))
    done = await told(
        store,
        [(0, "investigating", "major_outage"), (1, "resolved", "major_outage")],
        resolved_at=START + MIN,
    )
    going = await told(store, [(8, "investigating", "major_outage")])
    cache = UptimeCache(cfg, store)
    first = await cache.get(START + 10 * MIN)
    assert first["web"].ratio == pytest.approx(1 - 3 / 10)
    assert sorted(reads.pop()) == sorted([done.id, going.id])

    await store.add_history(watched("web", range(10, 12)))
    assert await cache.get(START + 10 * MIN + 59) is first  # a page view costs no store read
    assert reads == []
    later = await cache.get(START + 12 * MIN)
    assert reads == [[going.id]]  # the resolved one's story is final
    assert later["web"].ratio == pytest.approx(1 - 5 / 12)
