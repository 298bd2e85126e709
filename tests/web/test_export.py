"""The static copy: `detector export DIR` from a store, opened from disk in a real browser, says
what the live page says; its links work from disk; and a running daemon keeps it current."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml

from detector.config import parse_config
from detector.metrics import Metrics
from detector.web.app import Services
from detector.web.export import Exporter, write_site
from detector.web.i18n import LANGS
from tests.e2e.harness import DaemonProcess, Receiver, Target, until, write_config
from tests.web.browser import dump_dom, needs_chromium, screenshot
from tests.web.conftest import OUTPUT, REPO, TOKEN, MakeWorld, World, raw_config

Run = tuple[int, str, str]


async def detector(*args: str, cwd: Path | None = None) -> Run:
    """`detector ARGS` as a user runs it: exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "detector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(cwd or REPO),
        env={**os.environ, "ADMIN": TOKEN},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def export_world(w: World, site: Path) -> None:
    """The world's config as a file, and `detector export` run on it."""
    assert w.raw is not None
    config = site.parent / f"{site.name}.yaml"
    config.write_text(yaml.safe_dump(w.raw))
    code, out, err = await detector("export", str(site), "-c", str(config))
    assert code == 0 and err == "", err
    assert out.startswith(f"exported to {site}: ") and len(out.splitlines()) == 1


async def incident_story(w: World) -> str:
    """An open incident with a scheduled update and a person's word; returns its id."""
    inc = await w.outage("web")
    first = (await w.store.notices([inc.id]))[inc.id][0]
    assert first.next_update_at is not None
    w.clock.t = first.next_update_at
    await w.engine.tick()
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/updates",
        {"message": "We are moving sign-ins to a replica.", "status": "identified"},
    )
    assert r.status == 200
    return inc.id


def article(dom: str, incident_id: str) -> str:
    m = re.search(rf'<article[^>]*id="incident-{incident_id}".*?</article>', dom, re.S)
    assert m is not None, f"no incident-{incident_id} in the page"
    return m.group(0)


def visible_text(fragment: str) -> list[str]:
    """The text a reader sees, line by line (tags dropped, blank runs folded)."""
    text = re.sub(r"<[^>]+>", "\n", fragment)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def states(dom: str) -> list[str]:
    return re.findall(r'class="state state-([a-z_]+)"', dom)


@needs_chromium
async def test_the_export_opened_from_disk_shows_the_same_incident_as_the_live_page(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    w = await make_world()
    incident_id = await incident_story(w)
    site = tmp_path / "site"
    await export_world(w, site)
    page = (site / "index.html").as_uri()
    assert page.startswith("file://")
    live, copy, *_ = await asyncio.gather(
        dump_dom(w.url),
        dump_dom(page),
        screenshot(page, OUTPUT / "export-status-page.png"),
        screenshot(w.url, OUTPUT / "export-live-page.png"),
    )
    shown = visible_text(article(copy, incident_id))
    assert shown == visible_text(article(live, incident_id))  # title, status, every update
    notices = (await w.store.notices([incident_id]))[incident_id]
    for n in notices:  # each update's headline: the e-mail subject without its "[service]" tag
        assert n.subject.split("] ", 1)[1] in " ".join(shown)
    assert "Identified" in shown and "Major outage" in shown
    overall = re.compile(r'<h1 class="overall[^"]*" id="overall">([^<]*)</h1>')
    assert overall.findall(copy) == overall.findall(live) == ["Major outage"]
    assert states(copy) == states(live) == ["operational", "major_outage"]
    # the stylesheet was found from disk: the copy is styled as the live page is
    assert (OUTPUT / "export-status-page.png").stat().st_size > 10_000

    fr = await dump_dom((site / "index.fr.html").as_uri())
    assert visible_text(article(fr, incident_id)) == visible_text(
        article(await dump_dom(w.url + "?lang=fr"), incident_id)
    )


async def test_every_file_and_link_of_the_copy(make_world: MakeWorld, tmp_path: Path) -> None:
    w = await make_world()
    incident_id = await incident_story(w)
    site = tmp_path / "site"
    await export_world(w, site)

    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert names == {
        "index.html",
        *(f"index.{lang}.html" for lang in LANGS),
        "feed.atom",
        "api/v1/status",
        "api/v1/status.json",
        "api/v1/banner",
        "api/v1/banner.json",
        "static/status.css",
        "banner.js",
    }
    for name in sorted(n for n in names if n.endswith(".html")):
        html = (site / name).read_text()
        links = re.findall(r'(?:href|src)="([^"]*)"', html)
        assert links, name
        for link in links:
            parts = urlsplit(link)
            if parts.scheme in ("mailto", "tel", "https") or link.startswith("#"):
                continue
            assert not parts.scheme and not link.startswith("/"), (name, link)
            assert not parts.query, (name, link)  # a static host cannot answer ?lang=
            assert (site / parts.path).is_file(), (name, link)
    assert (site / "index.html").read_bytes() == (site / "index.en.html").read_bytes()
    assert 'lang="ar" dir="rtl"' in (site / "index.ar.html").read_text()

    live_status = (await w.get("/api/v1/status")).body
    for name in ("api/v1/status", "api/v1/status.json"):
        assert json.loads((site / name).read_bytes()) == live_status
    assert [i["id"] for i in live_status["incidents"]] == [incident_id]
    live_banner = (await w.get("/api/v1/banner?lang=en")).body
    for name in ("api/v1/banner", "api/v1/banner.json"):
        assert json.loads((site / name).read_bytes()) == live_banner
    assert live_banner["id"] == incident_id

    parsed = feedparser.parse((site / "feed.atom").read_bytes())
    live_feed = feedparser.parse((await w.get("/feed.atom?lang=en")).text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [(e.id, e.title) for e in parsed.entries] == [(e.id, e.title) for e in live_feed.entries]
    assert len(parsed.entries) == 3
    assert (site / "banner.js").read_bytes() == (await w.get("/banner.js")).text.encode()


async def test_published_postmortems_are_in_the_copy(make_world: MakeWorld, tmp_path: Path) -> None:
    w = await make_world()
    inc = await w.outage("web")
    await w.recover("web")
    r = await w.post(f"/api/v1/admin/incidents/{inc.id}/postmortem")
    assert r.status == 200, r.text
    site = tmp_path / "site"
    await export_world(w, site)
    for lang in LANGS:  # the page links the report in its language, a file of the copy
        page = f"incidents/{inc.id}/postmortem.{lang}.html"
        assert f'href="{page}"' in (site / f"index.{lang}.html").read_text()
        report = (site / page).read_text()
        assert f'lang="{lang}"' in report and 'href="../../static/status.css"' in report
        assert f'href="../../index.{lang}.html"' in report
        assert 'href="postmortem.ar.html"' in report and "?lang=" not in report
    feed = (site / "feed.atom").read_text()
    related = f"https://status.acme.example/incidents/{inc.id}/postmortem.en.html"
    assert f'rel="related" type="text/html" href="{related}"' in feed
    link = f"api/v1/incidents/{inc.id}/postmortem"
    live = await w.get("/" + link)

    def story(markdown: str) -> list[str]:  # less the line saying when it was drawn up
        return [line for line in markdown.splitlines() if not line.startswith("_Draft generated")]

    assert story((site / link).read_text()) == story(live.text)
    assert inc.id in live.text


async def test_write_site_replaces_only_what_changed(tmp_path: Path) -> None:
    site = tmp_path / "a" / "site"
    files = {"index.html": b"<p>one</p>", "api/v1/status": b"{}"}
    assert write_site(site, files) == ["api/v1/status", "index.html"]
    before = (site / "index.html").stat().st_mtime_ns
    (site / "keep.txt").write_text("mine")
    assert write_site(site, files) == []
    assert write_site(site, {**files, "index.html": b"<p>two</p>"}) == ["index.html"]
    assert (site / "index.html").read_bytes() == b"<p>two</p>"
    assert (site / "index.html").stat().st_mtime_ns >= before
    assert (site / "keep.txt").read_text() == "mine"  # nothing else is touched
    assert sorted(p.name for p in site.rglob("*")) == [
        "api",
        "index.html",
        "keep.txt",
        "status",
        "v1",
    ]
    assert oct((site / "index.html").stat().st_mode & 0o777) == oct(0o644)


async def test_export_cli_failures_are_one_line(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)  # its store was never made
    config = tmp_path / "detector.yaml"
    config.write_text(yaml.safe_dump(raw))
    code, _, err = await detector("export", str(tmp_path / "site"), "-c", str(config))
    assert code == 1 and len(err.splitlines()) == 1 and "no store at" in err, err
    assert not (tmp_path / "site").exists()
    (tmp_path / "file").write_text("")
    code, _, err = await detector("export", str(tmp_path / "file"), "-c", str(config))
    assert code == 1 and err == f"error: {tmp_path / 'file'} is not a folder\n"
    config.write_text(yaml.safe_dump({**raw, "export": {"dir": ""}}))
    code, _, err = await detector("export", str(tmp_path / "site"), "-c", str(config))
    assert code == 2 and "export.dir" in err, err


# --- the daemon keeps the copy current ------------------------------------------------------------


@pytest.fixture
async def exporting(make_world: MakeWorld, tmp_path: Path) -> AsyncIterator[tuple[World, Path]]:
    raw: dict[str, Any] = raw_config(tmp_path / "cfg")
    raw["export"] = {"dir": "site"}
    raw["storage"]["url"] = f"sqlite:///{tmp_path / 'exporting.db'}"
    w = await make_world(config=parse_config(yaml.safe_dump(raw), env={"ADMIN": TOKEN}))
    yield w, tmp_path / "site"


async def test_the_daemon_exporter_follows_the_engine_commits(
    exporting: tuple[World, Path], tmp_path: Path
) -> None:
    w, site = exporting
    services = Services(w.config, w.store, w.engine, Metrics())
    # an hour between ticks: whatever it writes within the test, a commit woke it for
    exporter = Exporter(services, tmp_path, interval=3600, settle=0.01)
    exporter.hook(w.store)
    task = asyncio.create_task(exporter.run())
    try:
        page = site / "index.html"
        await until(page.is_file, 10, "the first export")
        assert "All systems operational" in page.read_text()
        inc = await w.outage("web")
        await until(lambda: f'id="incident-{inc.id}"' in page.read_text(), 10, "the incident")
        status = json.loads((site / "api/v1/status.json").read_bytes())
        assert [i["id"] for i in status["incidents"]] == [inc.id]
        await w.recover("web")
        await until(lambda: "All systems operational" in page.read_text(), 10, "the recovery")
        assert json.loads((site / "api/v1/banner.json").read_bytes()) == {}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_export_is_tried_again(
    exporting: tuple[World, Path], tmp_path: Path
) -> None:
    w, site = exporting
    site.write_text("a file where the folder should be")
    exporter = Exporter(Services(w.config, w.store, w.engine, Metrics()), tmp_path, settle=0.01)
    exporter.hook(w.store)
    task = asyncio.create_task(exporter.run())
    try:
        await asyncio.sleep(0.3)
        assert exporter.exports == 0 and not task.done()
        site.unlink()
        await w.outage("web")  # a commit: try again
        await until(lambda: exporter.exports >= 1, 10, "the export after the fix")
        assert (site / "index.html").is_file()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_running_daemon_keeps_the_copy_current(tmp_path: Path) -> None:
    target = await Target().start()
    receiver = await Receiver().start()
    config, port = write_config(tmp_path, target, receiver, extra={"export": {"dir": "public"}})
    daemon = await DaemonProcess(config, port, tmp_path / "daemon.log").start()
    site = tmp_path / "public"  # relative to the config file's folder
    try:
        await until((site / "api/v1/status.json").is_file, 20, "the first export")
        target.healthy = False
        await until(lambda: receiver.events("incident.opened") != [], 20, "the outage")
        live = await daemon.get_json("/api/v1/status")
        [inc] = live["incidents"]

        def exported() -> dict[str, Any]:
            body: dict[str, Any] = json.loads((site / "api/v1/status.json").read_bytes())
            return body

        def on_the_page() -> bool:  # written after the JSON, in the same export
            return f'id="incident-{inc["id"]}"' in (site / "index.html").read_text()

        await until(on_the_page, 10, "the incident in the copy")
        assert [i["id"] for i in exported()["incidents"]] == [inc["id"]]
    finally:
        await daemon.stop()
        await target.stop()
        await receiver.stop()


async def test_without_a_status_page_url_the_feed_links_stay_in_the_folder(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    w = await make_world(status_page_url=None)
    incident_id = await incident_story(w)
    site = tmp_path / "site"
    await export_world(w, site)
    parsed = feedparser.parse((site / "feed.atom").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert {e.link for e in parsed.entries} == {f"./#incident-{incident_id}"}
    assert json.loads((site / "api/v1/banner.json").read_bytes())["url"].startswith("./?lang=en")
