"""Injected time, two clocks: the wall clock tells, the monotonic clock waits.

Everything that waits (probe schedule, re-checks, `stable_for`, cadence, retry backoff) runs on
`monotonic()`, so an NTP step of the wall clock changes no timing; what is stored and shown to
people (`started_at`, `next_update_at`) is wall-clock time from `now()`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch: for what is stored and shown."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps: for every wait and deadline."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def deadline(clock: Clock, wall_at: float) -> float:
    """The monotonic instant matching a wall-clock time, as of now (for times read back from
    the store: after a restart the wall clock is all we have)."""
    return clock.monotonic() + (wall_at - clock.now())
