"""Go's ``time`` package on the scheduler clock: sleep, after, tick, Timer,
Ticker, after_func, monotonic.

Timers follow Go 1.23 semantics: a timer's channel never yields a stale
value once ``stop()`` or ``reset()`` has returned, and ``stop``/``reset``
report True if the timer had not yet delivered its value (pending, or fired
but not yet received). Timers belong to the scheduler of the thread that
created them and fire in its loop, so they fire while that thread's tasks
block (a thread busy computing delays its own timers, as a greenlet hub
does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, SupportsFloat

from .blocking import sleep_task
from .chan import Chan, nilchan
from .duration import expiry
from .duration import seconds as _seconds
from .errors import not_callable
from .scheduler import Scheduler
from .threads import get_scheduler, peek_scheduler
from .timers_core import TimerEntry, deadline


def monotonic() -> float:
    """The scheduler's clock, in seconds: ``time.monotonic()`` normally,
    virtual time (starting at 0.0) under ``run(..., clock="virtual")``."""
    s = peek_scheduler()
    return s.clock.now() if s is not None else time.monotonic()


def sleep(seconds: SupportsFloat) -> None:
    """Block the calling task for ``seconds``. Zero or less returns at once,
    as Go's ``time.Sleep``; ``math.inf`` (or more than Go's largest
    duration, about 292 years) sleeps until the task is cancelled. NaN
    raises ``ValueError``.

    >>> import gochan
    >>> def main():
    ...     gochan.sleep(3600)  # an hour of virtual time, no wall time
    ...     return gochan.monotonic()
    >>> gochan.run(main, clock="virtual")
    3600.0
    """
    d = _seconds(seconds, "sleep()")
    if d > 0:
        sleep_task(d)


class Timer:
    """A single event: after ``seconds``, the time is sent on ``c``.

    Zero or less fires at once; ``math.inf`` (or more than Go's largest
    duration) never fires, though ``stop()`` and ``reset()`` still work.

    >>> import gochan
    >>> def main():
    ...     t = gochan.Timer(5)
    ...     stopped = t.stop()       # True: it had not fired
    ...     t.reset(1)
    ...     return stopped, t.c.recv()
    >>> gochan.run(main, clock="virtual")
    (True, 1.0)
    """

    __slots__ = ("_entry", "_fn", "_sched", "c")

    def __init__(
        self, seconds: SupportsFloat, _fn: Callable[[], Any] | None = None, _what: str = "Timer()"
    ) -> None:
        d = _seconds(seconds, _what)
        s = get_scheduler()
        self._sched: Scheduler = s
        self._fn = _fn
        self.c: Chan[float] = Chan(1) if _fn is None else nilchan
        self._entry: TimerEntry = s.add_timer(expiry(s.clock.now(), d), self._fire)

    def __repr__(self) -> str:
        state = "active" if self._entry.fn is not None else "inactive"
        return f"<Timer {state} when={self._entry.when:.6f}>"

    def _fire(self) -> None:  # scheduler loop, timer lock held
        s = self._sched
        if self._fn is None:
            self.c.offer(s.clock.now())
        else:
            s.spawn(self._fn, (), {})

    def stop(self) -> bool:
        """Prevent the timer from firing. True if this call stopped it,
        False if it had already expired (and its value was received) or
        been stopped. After it returns, ``c`` yields no stale value."""
        s = self._sched
        with s.timer_lock:
            was_active = s.cancel_timer_locked(self._entry)
            drained = self.c.drain()
        if was_active:
            _poke_if_foreign(s)  # its wait may have been sized for this timer
        return was_active or drained

    def reset(self, seconds: SupportsFloat) -> bool:
        """Re-arm the timer to fire ``seconds`` from now; returns what
        ``stop()`` would have."""
        d = _seconds(seconds, "Timer.reset()")
        s = self._sched
        with s.timer_lock:
            was_active = s.cancel_timer_locked(self._entry)
            drained = self.c.drain()
            self._entry = TimerEntry(expiry(s.clock.now(), d), self._fire)
            s.push_timer_locked(self._entry)
        _poke_if_foreign(s)
        return was_active or drained


def _poke_if_foreign(s: Scheduler) -> None:
    if peek_scheduler() is not s:
        s.ready_remote(None)


class Ticker:
    """Sends the time on ``c`` every ``seconds``. A slow reader misses ticks
    rather than queueing them (``c`` holds at most one), as in Go. Zero or
    less raises ``ValueError``; ``math.inf`` (or more than Go's largest
    duration) never ticks.

    >>> import gochan
    >>> def main():
    ...     t = gochan.Ticker(0.5)
    ...     got = [t.c.recv() for _ in range(3)]
    ...     t.stop()
    ...     return got
    >>> gochan.run(main, clock="virtual")
    [0.5, 1.0, 1.5]
    """

    __slots__ = ("_entry", "_period", "_sched", "c")

    def __init__(self, seconds: SupportsFloat, _what: str = "Ticker()") -> None:
        d = _seconds(seconds, _what)
        if d <= 0:
            raise ValueError(f"Ticker interval must be positive, got {seconds!r}")
        s = get_scheduler()
        self._sched: Scheduler = s
        self._period = d
        self.c: Chan[float] = Chan(1)
        self._entry: TimerEntry = s.add_timer(s.clock.now() + d, self._fire)

    def __repr__(self) -> str:
        return f"<Ticker every {self._period}s>"

    def _fire(self) -> float:  # scheduler loop, timer lock held
        now = self._sched.clock.now()
        self.c.offer(now)  # dropped if the reader has not taken the last tick
        period = self._period
        when = deadline(self._entry.when + period)
        if when <= now:  # fell behind: skip the missed ticks, as Go does
            when = deadline(when + period * (1 + int((now - when) // period)))
            if when <= now:
                # A period below what the clock can add at this time (less
                # than a nanosecond, or than a float step of a large clock):
                # the next tick is the next instant there is, not now again.
                when = math.nextafter(now, math.inf)
        return when

    def stop(self) -> None:
        """Stop sending ticks. ``c`` is not closed (as in Go)."""
        s = self._sched
        with s.timer_lock:
            active = s.cancel_timer_locked(self._entry)
            self.c.drain()
        if active:
            _poke_if_foreign(s)

    def reset(self, seconds: SupportsFloat) -> None:
        """Stop, then tick every ``seconds`` starting ``seconds`` from now."""
        d = _seconds(seconds, "Ticker.reset()")
        if d <= 0:
            raise ValueError(f"Ticker interval must be positive, got {seconds!r}")
        s = self._sched
        with s.timer_lock:
            s.cancel_timer_locked(self._entry)
            self.c.drain()
            self._period = d
            self._entry = TimerEntry(s.clock.now() + d, self._fire)
            s.push_timer_locked(self._entry)
        _poke_if_foreign(s)


def after(seconds: SupportsFloat) -> Chan[float]:
    """A channel that receives the time once, ``seconds`` from now (never,
    for ``math.inf``).

    >>> import gochan
    >>> def main():
    ...     return gochan.select(gochan.Chan().recv, gochan.after(2).recv)
    >>> gochan.run(main, clock="virtual")
    (1, 2.0)
    """
    return Timer(seconds, None, "after()").c


def tick(seconds: SupportsFloat) -> Chan[float]:
    """``Ticker(seconds).c``; like Go's ``time.Tick``, a nil channel
    (``nilchan``) for ``seconds <= 0``. The ticker cannot be stopped: use
    ``Ticker`` when it must end."""
    d = _seconds(seconds, "tick()")
    if d <= 0:
        return nilchan
    return Ticker(d).c


def after_func(seconds: SupportsFloat, fn: Callable[[], Any]) -> Timer:
    """Run ``fn()`` in a new task after ``seconds``; returns its Timer
    (whose ``c`` is ``nilchan``). ``stop()`` before it fires cancels it."""
    if not callable(fn):
        raise not_callable(
            "after_func()",
            fn,
            "; pass the function itself (a lambda or functools.partial can bind arguments)",
        )
    return Timer(seconds, fn, "after_func()")
