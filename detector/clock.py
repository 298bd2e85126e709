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


class FakeClock:
    """Both clocks advance together (setting `t` moves both); `step_wall` moves the wall clock
    alone, as an NTP step does."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._t = start
        self.mono = 1000.0

    @property
    def t(self) -> float:
        return self._t

    @t.setter
    def t(self, value: float) -> None:
        self.mono += value - self._t
        self._t = value

    def now(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def step_wall(self, seconds: float) -> None:
        self._t += seconds


class SteppedClock:
    """Real time whose wall clock can be stepped by hand: tests of NTP steps on a live daemon."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def step_wall(self, seconds: float) -> None:
        self.offset += seconds


def deadline(clock: Clock, wall_at: float) -> float:
    """The monotonic instant matching a wall-clock time, as of now (for times read back from
    the store: after a restart the wall clock is all we have)."""
    return clock.monotonic() + (wall_at - clock.now())
