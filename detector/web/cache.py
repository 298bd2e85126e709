"""Rendered public responses, kept until what they show may have changed.

A crowd at the status page must cost one render per change, not one per reader: each cacheable
route keeps its body (and the body gzipped) per language, under a version made of everything it
depends on:

- the engine's commit counter (incidents, notices, maintenance: all commit through `_txn`),
- each component's severity (probe states step between commits),
- the wall-clock minute (uptime bars, maintenance starting and ending, local times),
- the configuration object (a reload swaps it).

The severities are the costly part: reading them walks every probe's state (5,000 probes: about
a millisecond), which per request at 500 requests/s was most of the daemon's CPU and starved its
scheduler. So each cache reads them at most once per SEVERITIES_FOR seconds, and at once after
a commit or a reload: a probe's step between commits shows within SEVERITIES_FOR, a commit at
the next request.

A version that differs means one new render, by the request that found the entry stale (so a
reader who comes after a change sees it). Readers who come while that render runs wait for it
when a commit or a reload made it (what they see must include the change), and are served the
entry it replaces when only the minute or a probe's step did; they never render again.
Requests carrying the admin token are never served from (nor stored in) the cache.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

from detector.web.app import Services

SEVERITIES_FOR = 0.25  # seconds a reading of the components' severities stands (see above)
SHARED = "public, max-age=10"  # short: a CDN in front absorbs the crowd, readers stay current
PRIVATE = "private, no-store"  # what an operator sees is for the operator alone
VARY = "Accept-Language, Accept-Encoding"


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    gzipped: bytes
    etag: str  # of the plain body; the gzipped body's is etag with "-gzip" inside the quotes
    last_modified: str
    content_type: str
    version: Hashable

    @classmethod
    def make(cls, body: bytes, content_type: str, version: Hashable, now: float) -> Entry:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag=f'"{digest}"',
            last_modified=formatdate(now, usegmt=True),
            content_type=content_type,
            version=version,
        )

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


def severities(s: Services) -> tuple[str, ...]:
    """Each component's severity, in configuration order (one walk of every probe's state)."""
    engine = s.engine
    return tuple(str(engine.severity(c.id)) for c in s.config.components)


def version(s: Services, now: float) -> Hashable:
    """Everything a public page or the public status JSON depends on, read afresh."""
    return (id(s.config), s.engine.version, int(now // 60), severities(s))


class ResponseCache:
    """(route, language) → the latest rendered Entry; one render at a time per key."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}
        # the last reading of the severities: (config id, engine version) it was made at,
        # when (the engine's monotonic clock), and what it read
        self._read_for: tuple[int, int] | None = None
        self._read_at = 0.0
        self._severities: tuple[str, ...] = ()

    def version(self, s: Services, now: float) -> Hashable:
        """`version(s, now)`, with the severities read at most once per SEVERITIES_FOR
        seconds, and again at once when the engine committed or the configuration changed."""
        engine = s.engine
        key = (id(s.config), engine.version)
        mono = engine.clock.monotonic()
        if key != self._read_for or not 0 <= mono - self._read_at < SEVERITIES_FOR:
            self._severities = severities(s)
            self._read_for, self._read_at = key, mono
        return (key[0], key[1], int(now // 60), self._severities)

    async def get(
        self,
        key: tuple[str, str],
        current: Hashable,
        render: Callable[[], Awaitable[bytes]],
        content_type: str,
        now: float,
    ) -> Entry:
        hit = self.entries.get(key)
        if hit is not None and hit.version == current:
            return hit
        lock = self.locks.setdefault(key, asyncio.Lock())
        if hit is not None and lock.locked() and _same_story(hit.version, current):
            # the new one is being rendered for another request and differs only by the minute
            # or a probe's step: this one takes the entry it replaces, a render's time old (tens
            # of ms), rather than queue behind it. After a commit or a reload everyone waits:
            # a reader who comes after a change (an incident resolved) must see it.
            return hit
        async with lock:
            hit = self.entries.get(key)  # rendered while this request waited
            if hit is not None and hit.version == current:
                return hit
            entry = Entry.make(await render(), content_type, current, now)
            self.entries[key] = entry
            return entry


def _same_story(old: Hashable, new: Hashable) -> bool:
    """Both versions name the same configuration and the same commit (see `version`)."""
    return isinstance(old, tuple) and isinstance(new, tuple) and old[:2] == new[:2]


def accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def _matches(request: web.Request, entry: Entry) -> bool:
    given = request.headers.get("If-None-Match")
    if given is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return "*" in tags or entry.etag in tags or entry.gzip_etag in tags


def respond(
    request: web.Request,
    entry: Entry,
    headers: Mapping[str, str],
    *,
    shared: bool = True,
) -> web.Response:
    """The entry as this request wants it: 304 if it has it, gzipped if it takes gzip."""
    zipped = accepts_gzip(request)
    out = {
        **headers,
        "ETag": entry.gzip_etag if zipped else entry.etag,
        "Last-Modified": entry.last_modified,
        "Cache-Control": SHARED if shared else PRIVATE,
        "Vary": VARY,
    }
    if _matches(request, entry):
        return web.Response(status=304, headers=out)
    if zipped:
        out["Content-Encoding"] = "gzip"
    out["Content-Type"] = entry.content_type
    return web.Response(body=entry.gzipped if zipped else entry.body, headers=out)


CACHE: web.AppKey[ResponseCache] = web.AppKey("response_cache", ResponseCache)
