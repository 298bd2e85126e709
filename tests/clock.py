"""Test-only clocks: they satisfy `detector.clock.Clock` and let a test say what time it is.

The daemon itself only ever runs on `detector.clock.SystemClock`.
"""

from __future__ import annotations

import time


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
