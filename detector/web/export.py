"""The public face as static files, for hosting where an outage cannot reach it.

`detector export DIR` writes them once; with `export: {dir: ...}` in the config the daemon keeps
them current (`Exporter`): after every change it commits, and once a minute for what time alone
changes (uptime bars, "next update by"). The pages are rendered by the same functions that
serve them (detector.web.public), from the store and the engine's view, so the copy says what
the live page says. Every link is relative: the folder works from any host, or from disk.

    index.html              the status page, in the service's language
    index.<lang>.html       the same in each language (its language links point here)
    feed.atom               the Atom feed
    api/v1/status.json      the JSON of GET /api/v1/status
    api/v1/banner.json      the JSON of GET /api/v1/banner (`{}` when all is well)
    api/v1/status, api/v1/banner
                            the same two at the live paths, which the page and banner.js use
    api/v1/incidents/<id>/postmortem
                            each published post-mortem shown on the page (Markdown)
    incidents/<id>/postmortem.<lang>.html
                            the same as customers read it, in each language (the page's
                            and the feed's links to it point here)
    static/status.css, banner.js

A file is replaced (written aside, then renamed) only when its content changed, so a reader
never sees half a file and a sync to a bucket uploads only what changed. Nothing else in the
folder is touched or deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from detector import logs
from detector.aio import wait_event
from detector.config.models import Config
from detector.postmortem import build_postmortem
from detector.state import worst
from detector.store import Change, Store
from detector.web.api import component_statuses, public, with_updates
from detector.web.app import Services
from detector.web.i18n import LANGS
from detector.web.postmortem_page import render_page
from detector.web.public import (
    HERE,
    Messages,
    banner_body,
    public_incidents,
    render_feed,
    render_status_page,
)
from detector.web.uptime import UptimeCache

INTERVAL = 60.0  # re-export this often with no change, for what time alone changes
SETTLE = 1.0  # after a change, wait this long so a burst of commits makes one export
_LANG_LINK = re.compile(r'href="\?lang=(' + "|".join(map(re.escape, LANGS)) + r')"')
_SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_REPORT_LINK = re.compile(
    r"(incidents/[A-Za-z0-9_-][A-Za-z0-9_.-]*/postmortem)\?lang=("
    + "|".join(map(re.escape, LANGS))
    + r')(?=")'
)
_BACK_LINK = re.compile(r'href="\.\./\.\./\?lang=(' + "|".join(map(re.escape, LANGS)) + r')"')
log = logs.get("detector.web.export")


def page_base(config: Config) -> str:
    """Where the page lives, for the feed's ids and links and the banner's link: the configured
    `service.status_page_url`, else the folder itself (links stay relative)."""
    url = config.service.status_page_url
    if url is None:
        return "./"
    text = str(url)
    return text if text.endswith("/") else text + "/"


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _static_page(html: str) -> bytes:
    """The page with its `?lang=xx` links (which a static host cannot answer) pointing at the
    file of that language."""
    return _LANG_LINK.sub(r'href="index.\1.html"', html).encode()


def _static_report(html: str) -> bytes:
    """A post-mortem page with its language links pointing at the files of that language."""
    html = _BACK_LINK.sub(r'href="../../index.\1.html"', html)
    return _LANG_LINK.sub(r'href="postmortem.\1.html"', html).encode()


def _link_reports(content: bytes, files: dict[str, bytes]) -> bytes:
    """Links to a post-mortem page (`incidents/<id>/postmortem?lang=xx`) point at its file
    where the copy has one; others (an incident older than the page shows) stay as they are."""

    def to_file(m: re.Match[str]) -> str:
        name = f"{m.group(1)}.{m.group(2)}.html"
        return name if name in files else m.group(0)

    return _REPORT_LINK.sub(to_file, content.decode()).encode()


async def render_site(
    s: Services, uptimes: UptimeCache, messages: Messages, now: float
) -> dict[str, bytes]:
    """Every file of the copy: relative path → content."""
    config = s.config
    base = page_base(config)
    files: dict[str, bytes] = {}
    for lang in LANGS:
        page = _static_page(await render_status_page(s, uptimes, messages, now, lang))
        files[f"index.{lang}.html"] = page
        if lang == config.service.locale:
            files["index.html"] = page
    if "index.html" not in files:  # a service language the page has no words for
        default = await render_status_page(s, uptimes, messages, now, LANGS[0])
        files["index.html"] = _static_page(default)
    files["feed.atom"] = await render_feed(s, messages, config.service.locale, base, now)
    comps = component_statuses(s)
    status = {
        "status": worst([c["status"] for c in comps]),
        "components": comps,
        "incidents": await with_updates(s, [i for i in s.engine.open_incidents() if public(i)]),
    }
    banner = await banner_body(s, messages, config.service.locale, base)
    for name, body in (("status", status), ("banner", banner)):
        files[f"api/v1/{name}.json"] = files[f"api/v1/{name}"] = _json(body)
    open_, past, notices = await public_incidents(s, now)
    for inc in open_ + past:
        if inc.postmortem_published_at is not None and _SAFE_ID.fullmatch(inc.id):
            text = await build_postmortem(s.store, config, inc.id, now)
            files[f"api/v1/incidents/{inc.id}/postmortem"] = text.encode()
            for lang in LANGS:
                report = render_page(config, inc, notices[inc.id], lang, config.service.timezone)
                files[f"incidents/{inc.id}/postmortem.{lang}.html"] = _static_report(report)
    for name in [n for n in files if n.startswith("index") or n == "feed.atom"]:
        files[name] = _link_reports(files[name], files)
    files["static/status.css"] = (HERE / "static" / "status.css").read_bytes()
    files["banner.js"] = (HERE / "static" / "banner.js").read_bytes()
    return files


def write_site(directory: Path, files: dict[str, bytes]) -> list[str]:
    """Write `files` under `directory` (created if missing); returns the names that changed.
    Each is written aside and renamed over the old one: readers see the old or the new."""
    changed = []
    for name, content in sorted(files.items()):
        path = directory / name
        try:
            if path.read_bytes() == content:
                continue
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            aside.write_bytes(content)
            aside.chmod(0o644)  # served by a web server or synced to a bucket: readable
            os.replace(aside, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                aside.unlink()
        changed.append(name)
    return changed


async def export(
    s: Services, uptimes: UptimeCache, messages: Messages, directory: Path, now: float
) -> list[str]:
    """Render, then write in a thread (a slow disk must not hold up the loop)."""
    files = await render_site(s, uptimes, messages, now)
    return await asyncio.to_thread(write_site, directory, files)


Commit = Callable[[Change, float], Awaitable[None]]


class Exporter:
    """The daemon's copy: re-exported after each change the engine commits, and each minute.

    `hook(store)` makes every successful commit wake it (the engine commits each decision,
    tick and person's action through the store before it changes its memory); a burst of
    commits within SETTLE makes one export. `config.export` is read at each export, so a
    reload that changes the folder (or removes the setting) applies without a restart.
    """

    def __init__(
        self,
        services: Services,
        base_dir: Path,
        *,
        interval: float = INTERVAL,
        settle: float = SETTLE,
    ) -> None:
        self.services = services
        self.base_dir = base_dir
        self.interval = interval
        self.settle = settle
        self.exports = 0  # successful ones
        self._wake = asyncio.Event()
        self._messages = Messages()
        self._uptimes: tuple[Config, UptimeCache] | None = None
        self._problem: str | None = None

    def wake(self) -> None:
        self._wake.set()

    def hook(self, store: Store) -> None:
        """Wake on every commit that succeeded."""
        commit: Commit = store.commit

        async def commit_then_wake(change: Change, now: float) -> None:
            await commit(change, now)
            self.wake()

        store.commit = commit_then_wake  # type: ignore[method-assign]

    def directory(self) -> Path | None:
        setting = self.services.config.export
        return None if setting is None else self.base_dir / setting.dir

    async def export_once(self) -> list[str]:
        directory = self.directory()
        if directory is None:
            return []
        s = self.services
        if self._uptimes is None or self._uptimes[0] is not s.config:
            self._uptimes = (s.config, UptimeCache(s.config, s.store))
        changed = await export(s, self._uptimes[1], self._messages, directory, s.engine.clock.now())
        self.exports += 1
        return changed

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                changed = await self.export_once()
            except Exception as e:  # a full disk, a folder made read-only: try again later
                problem = f"{type(e).__name__}: {e}"
                if problem != self._problem:
                    log.warning("static export failed", error=problem, dir=str(self.directory()))
                self._problem = problem
            else:
                if self._problem is not None:
                    log.info("static export works again", dir=str(self.directory()))
                self._problem = None
                if changed:
                    log.debug("static export written", dir=str(self.directory()), files=changed)
            await wait_event(self._wake, self.interval)
            await asyncio.sleep(self.settle)
