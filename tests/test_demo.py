"""`detector demo` as a newcomer runs it: the whole cycle, exit 0, no credentials."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys


def test_demo_shows_the_whole_cycle() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_TOKEN", "_SECRET"))}
    out = subprocess.run(
        [sys.executable, "-m", "detector", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    events = re.findall(r"^\[(incident\.\w+)\]", out.stdout, flags=re.M)
    assert events[0] == "incident.opened" and events[-1] == "incident.resolved"
    assert events.count("incident.opened") == 1 and events.count("incident.updated") >= 3
    assert "Traceback" not in out.stdout + out.stderr
    # every notice before the end says when the next comes, and the next comes then (±1 s)
    times = re.findall(
        r"\(published (\d\d):(\d\d):(\d\d) UTC(?: · next update due "
        r"(\d\d):(\d\d):(\d\d) UTC)?\)",
        out.stdout,
    )
    secs = [
        (
            int(h) * 3600 + int(m) * 60 + int(s),
            int(nh) * 3600 + int(nm) * 60 + int(ns) if nh else None,
        )
        for h, m, s, nh, nm, ns in times
    ]
    for (_, promised), (published, _) in itertools.pairwise(secs):
        assert promised is not None
        assert published <= promised + 1  # on time, or sooner when something changed
    assert secs[-1][1] is None  # resolved: no further update promised
