"""`detector maintenance add|list|cancel` against a real app: windows are announced on every
channel, listed from the daemon and from the store, and called off with the cancelled notice."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Cli, Live, write_config
from tests.web.conftest import TOKEN, MakeWorld

WARSAW_WINTER = timezone(timedelta(hours=1))


def at(ts: float, zone: timezone = UTC) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat()


def one_line(err: str) -> bool:
    """An error the way the contract wants it: one line, no traceback."""
    return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def window_id(out: str) -> str:
    found = re.match(r"(maint-[0-9a-f]+): scheduled from ", out)
    assert found, out
    return found.group(1)


async def test_add_list_and_cancel_before_the_start(
    live: Live, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = live.world
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    now = w.clock.now()
    code, out, err = await cli(
        "maintenance",
        "add",
        "--url",
        w.url,
        "--title",
        "Database upgrade",
        "--component",
        "api",
        "--component",
        "web",
        "--starts",
        at(now + 3600, WARSAW_WINTER),
        "--ends",
        at(now + 3 * 3600, WARSAW_WINTER),
        "-m",
        "Brief interruptions.",
    )
    assert code == 0, err
    mid = window_id(out)
    scheduled = await live.delivered("maintenance_scheduled", texts=1)
    assert scheduled["event"] == "maintenance.scheduled"
    assert scheduled["maintenance"]["components"] == ["api", "web"]

    code, out, _ = await cli("maintenance", "list", "--url", w.url)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "ID",
        "STATE",
        "STARTS",
        "(UTC)",
        "ENDS",
        "(UTC)",
        "COMPONENTS",
        "TITLE",
    ]
    assert row.startswith(mid) and "scheduled" in row and "api, web" in row
    assert row.endswith("Database upgrade")
    code, out, _ = await cli("maintenance", "list", "--url", w.url, "--json")
    windows = json.loads(out)["maintenance"]
    assert [(m["id"], m["state"], m["message"]) for m in windows] == [
        (mid, "scheduled", "Brief interruptions.")
    ]
    starts = datetime.fromisoformat(windows[0]["starts_at"].replace("Z", "+00:00"))
    assert abs(starts.timestamp() - (now + 3600)) < 1  # the zone given was honoured
    code, out, _ = await cli("maintenance", "list", "-c", str(live.config), "--json")
    assert code == 0 and json.loads(out)["maintenance"] == windows  # the store says the same

    code, out, err = await cli("maintenance", "cancel", mid, "--url", w.url)
    assert code == 0, err
    assert out.startswith(
        f"{mid}: cancelled before it began; published notice 4 "
        "([Acme Cloud] Planned maintenance of Public API and Dashboard has "
        "been cancelled)"
    )
    cancelled = await live.delivered("maintenance_cancelled", texts=2)
    assert cancelled["event"] == "maintenance.ended"
    assert cancelled["notice_id"] == f"{mid}.4"
    assert "We have cancelled the planned maintenance" in cancelled["notice"]["text"]
    mail = next(
        r.body
        for r in live.sendgrid.requests
        if r.body["custom_args"]["notice_id"] == cancelled["notice_id"]
    )
    assert "has been cancelled" in mail["subject"]
    assert "is cancelled" in live.twilio.requests[-1].body
    assert live.receiver.bad_signatures == 0

    for where in (["--url", w.url], ["-c", str(live.config)]):
        code, out, _ = await cli("maintenance", "list", *where)
        assert code == 0 and out == "no maintenance scheduled\n", where
    code, _, err = await cli("maintenance", "cancel", mid, "--url", w.url)
    assert code == 1 and one_line(err)
    assert f"HTTP 409: maintenance '{mid}' is already over" in err


async def test_cancel_under_way_ends_it_now(
    make_world: MakeWorld,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await make_world()
    w.clock.t = time.time()
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    now = w.clock.now()
    code, out, err = await cli(
        "maintenance",
        "add",
        "--url",
        w.url,
        "--title",
        "Disk swap",
        "--component",
        "web",
        "--starts",
        at(now - 60),
        "--ends",
        at(now + 3600),
    )
    assert code == 0, err
    mid = window_id(out)
    await w.engine.tick()  # the start is announced
    code, out, _ = await cli("maintenance", "list", "--url", w.url, "--json")
    assert [m["state"] for m in json.loads(out)["maintenance"]] == ["in_progress"]

    w.clock.advance(60)
    code, out, err = await cli("maintenance", "cancel", mid, "--url", w.url)
    assert code == 0, err
    assert out.startswith(f"{mid}: it had begun: ended now; published notice 3 (")
    kinds = [n.kind for n in (await w.store.notices([mid]))[mid]]
    assert kinds == ["maintenance_scheduled", "maintenance_started", "maintenance_ended"]
    code, out, _ = await cli("maintenance", "list", "--url", w.url)
    assert out == "no maintenance scheduled\n"


async def test_refusals_are_one_line(
    make_world: MakeWorld,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await make_world()
    w.clock.t = time.time()
    cfg = str(write_config(w, tmp_path))
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    now = w.clock.now()
    good = {"--starts": at(now + 3600), "--ends": at(now + 7200)}

    async def add(*extra: str, **dates: str) -> tuple[int, str]:
        given = {**good, **{f"--{k}": v for k, v in dates.items()}}
        code, _, err = await cli(
            "maintenance", "add", "--title", "t", *extra, *[x for kv in given.items() for x in kv]
        )
        assert one_line(err), err
        return code, err

    url = ("--url", w.url)
    cases = [
        (
            (*url, "--component", "api"),
            {"starts": "tomorrow"},
            "--starts: not an ISO 8601 date and time, e.g. 2026-11-23T22:00:00Z",
        ),
        (
            (*url, "--component", "api"),
            {"ends": "2030-01-01T10:00:00"},
            "--ends: needs a time zone",
        ),
        ((*url, "--component", "api"), {"ends": at(now + 1800)}, "--ends: must be after --starts"),
        (
            (*url, "--component", "api"),
            {"starts": at(now - 7200), "ends": at(now - 3600)},
            "--ends: must be in the future",
        ),  # the daemon's clock decides
        (
            (*url, "--component", "api"),
            {"ends": at(now + 40 * 86400)},
            "--ends: must be at most 30 days after --starts",
        ),
        (
            (*url, "--component", "nope"),
            {},
            "--component: unknown component 'nope' (known: api, web)",
        ),
        (("-c", cfg, "--component", "api"), {}, "'add' needs the running daemon"),
    ]
    for extra, dates, message in cases:
        code, err = await add(*extra, **dates)
        assert code == 2 and message in err, (dates, err)
    assert await w.store.maintenance_rows() == []  # nothing was scheduled

    code, _, err = await cli("maintenance", "cancel", "nope", "--url", w.url)
    assert code == 1 and one_line(err) and "HTTP 404: no maintenance 'nope'" in err
    code, _, err = await cli("maintenance", "cancel", "nope", "-c", cfg)
    assert code == 2 and one_line(err) and "--url" in err
    code, _, err = await cli("maintenance", "list", "--url", w.url, "--token", "wrong")
    assert code == 1 and one_line(err) and "HTTP 401" in err
    monkeypatch.delenv("DETECTOR_ADMIN_TOKEN")
    code, _, err = await cli("maintenance", "list", "--url", w.url)
    assert code == 2 and one_line(err) and "DETECTOR_ADMIN_TOKEN" in err

    raw = yaml.safe_load((tmp_path / "detector.yaml").read_text())
    raw["storage"]["url"] = f"sqlite:///{tmp_path / 'never.db'}"
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(raw))
    code, _, err = await cli("maintenance", "list", "-c", str(tmp_path / "other.yaml"))
    assert code == 1 and one_line(err) and "no store at" in err
