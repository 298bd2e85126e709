"""Headless Chromium as a subprocess: dump the DOM after load, or take a screenshot.

Runs through asyncio so the app under test keeps serving on the same loop while the browser
talks to it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


async def _run(*args: str, timeout: float = 60.0) -> str:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def dump_dom(url: str, *, budget_ms: int | None = None) -> str:
    """The serialized DOM after load (and after `budget_ms` of virtual time for fetches)."""
    extra = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    return await _run(*extra, "--dump-dom", url)


async def screenshot(url: str, path: Path, size: tuple[int, int] = (1280, 1600)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    await _run(f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return path
