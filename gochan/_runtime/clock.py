"""The scheduler's clocks: real (``time.monotonic``) and virtual.

The clock is an object of the scheduler; timers, ``sleep`` and
``monotonic()`` all read it. The virtual clock only moves when the scheduler
jumps it to the next timer because every task is blocked.
"""

from __future__ import annotations

import time


class RealClock:
    """Wall-clock monotonic time."""

    virtual = False
    __slots__ = ()

    # The builtin itself, not a function calling it: reading the clock then
    # pushes no Python frame (a task that only sleeps runs none at all, so
    # its greenlet never needs a frame-stack chunk; see greenlets.FREE_MAX).
    now = staticmethod(time.monotonic)

    def advance_to(self, t: float) -> None:  # pragma: no cover - never called
        raise AssertionError("the real clock cannot be advanced")


class VirtualClock:
    """Time that stands still until the scheduler jumps it forward.

    Starts at 0.0. ``advance_to`` never moves it backwards.
    """

    virtual = True
    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t


Clock = RealClock | VirtualClock
