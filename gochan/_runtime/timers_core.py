"""Timer heap entries: the scheduler's part of timekeeping.

An entry's ``fn`` runs in the owning scheduler's loop when the entry is due,
with the scheduler's timer lock held; ``fn`` may return a new deadline to
re-arm the same entry (periodic timers), else None. ``fn = None`` marks a
cancelled entry; the heap drops those lazily.
"""

from __future__ import annotations

from collections.abc import Callable

TimerFn = Callable[..., float | None]


def deadline(t: float) -> float:
    """``t`` rounded to whole nanoseconds, as Go keeps time. A Ticker adds
    its period again and again; rounding keeps that sum from drifting in
    binary floating point (Ticker(0.1)'s third tick and an after(0.3) are
    due together, not 4e-17 apart)."""
    return round(t, 9)


class TimerEntry:
    """``fn()`` (or ``fn(arg)`` when ``arg`` is not None) is due at ``when``.
    ``arg`` spares a closure per timer on hot paths (a sleep); it is dropped
    with ``fn`` once the entry is spent, which breaks the cycle an argument
    that points back at its entry would make."""

    __slots__ = ("arg", "fn", "when")

    def __init__(self, when: float, fn: TimerFn | None, arg: object = None) -> None:
        self.when = when
        self.fn = fn
        self.arg = arg

    def disarm(self) -> None:
        self.fn = None
        self.arg = None
