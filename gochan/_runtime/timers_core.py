"""Timer heap entries: the scheduler's part of timekeeping.

An entry's ``fn`` runs in the owning scheduler's loop when the entry is due,
with the scheduler's timer lock held; ``fn`` may return a new deadline to
re-arm the same entry (periodic timers), else None. ``fn = None`` marks a
cancelled entry; the heap drops those lazily.
"""

from __future__ import annotations

from collections.abc import Callable

TimerFn = Callable[[], float | None]


class TimerEntry:
    __slots__ = ("fn", "when")

    def __init__(self, when: float, fn: TimerFn | None) -> None:
        self.when = when
        self.fn = fn
