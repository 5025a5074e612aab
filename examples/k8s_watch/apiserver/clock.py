"""The apiserver's clock: real time, or a manual clock that tests advance.

Everything time-driven in the server (watch ``timeoutSeconds``, the bookmark
interval, the default watch timeout, ``creationTimestamp``) reads ``now()``
and waits through ``real_delay()``, so a test can swap in a `ManualClock`
and move time forward with ``advance()`` instead of sleeping.

Waiting is two-sided: a watcher computes its next deadline on the clock
(``now() + interval``) and asks the clock how long to block in real time
before looking again. The real clock answers ``deadline - now``; the manual
clock answers ``None`` ("until something wakes you") and wakes every waiter
through its listeners on each ``advance()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the server needs from a clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def real_delay(self, deadline: float) -> float | None:
        """Real seconds to block before ``deadline`` may have passed; None: until woken."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever time jumps; returns an unsubscribe function."""
        ...


class RealClock:
    """Wall-clock time; it never jumps, so subscribers are never called."""

    def now(self) -> float:
        return time.time()

    def real_delay(self, deadline: float) -> float | None:
        return max(0.0, deadline - time.time())

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    def __repr__(self) -> str:
        return "RealClock()"


class ManualClock:
    """A clock that only moves when told to (thread-safe).

    >>> c = ManualClock(start=1_700_000_000.0)
    >>> c.advance(30)
    >>> c.now()
    1700000030.0
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._listeners: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    def now(self) -> float:
        with self._lock:
            return self._now

    def real_delay(self, deadline: float) -> float | None:
        return None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._listeners[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return unsubscribe

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everything that waits on this clock."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            listeners = list(self._listeners.values())
        for callback in listeners:
            callback()

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()!r})"
