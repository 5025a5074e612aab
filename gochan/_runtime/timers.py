"""Timers: a scheduler's timer heap (Go's runtime timers) and Go's ``time``
package on the scheduler clock (sleep, after, tick, Timer, Ticker,
after_func, monotonic).

The heap
--------
Each scheduler owns one ``Timers`` (Go's per-P ``timers``): a heap of
``(when, seq, TimerEntry)`` and the lock its callbacks run under. Timers
belong to the scheduler of the thread that created them and fire in its
hub (``Scheduler._hub_loop``, ``idle.wait_for_work``), so they fire while
that thread's tasks block; a thread busy computing delays its own timers,
as a greenlet hub does.

* An entry's ``fn`` runs when the entry is due, on the owner's thread, with
  ``Timers.lock`` held; it may return a new deadline to re-arm the same
  entry (a Ticker), else None. ``fn = None`` marks a disarmed entry: the
  heap drops those lazily, compacting once more than half of it is dead.
* An entry due ``NEVER`` is armed but never in the heap: it can only be
  cancelled, so it neither moves a virtual clock to infinity nor counts as
  a pending timer.
* Arming or cancelling from another thread pokes the owner
  (``ready_remote(None)``), so it recomputes how long to sleep.

Go 1.23 semantics
-----------------
A timer's channel never yields a stale value once ``stop()`` or
``reset()`` has returned, and ``stop``/``reset`` report True if the timer
had not yet delivered its value (pending, or fired but not yet received).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, SupportsFloat

from . import waitreason as wr
from .chan import Chan
from .duration import NEVER, expiry
from .duration import seconds as _seconds
from .errors import not_callable
from .nilchan import nilchan
from .task import Task, ready
from .threads import current_task, get_scheduler, peek_scheduler
from .waiter import LOCK

if TYPE_CHECKING:
    from .scheduler import Scheduler

# A timer's callback: () or (arg) -> the next deadline (re-arm), or None.
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


class Timers:
    """The timers of one scheduler (Go's per-P ``timers``); see the module
    docstring. ``add``, ``cancel`` and ``lock`` may be used from any
    thread; ``next_deadline`` and ``run`` by the owner's hub only."""

    __slots__ = ("dead", "firing", "heap", "lock", "owner", "seq")

    def __init__(self, owner: Scheduler) -> None:
        self.owner = owner
        self.heap: list[tuple[float, int, TimerEntry]] = []
        self.lock = threading.Lock()
        self.seq = itertools.count()  # FIFO among entries due at the same time
        self.dead = 0  # disarmed entries still in the heap
        self.firing = False  # True while run() runs callbacks (lock held)

    def add(self, when: float, fn: TimerFn, arg: object = None) -> TimerEntry:
        """Arm ``fn()`` (``fn(arg)`` if ``arg`` is not None) to run at
        ``when`` on the owner. Thread-safe."""
        e = TimerEntry(when, fn, arg)
        with self.lock:
            self.push_locked(e)
        s = self.owner
        if get_ident() != s.thread_id:
            s.ready_remote(None)  # make the owner recompute its deadline
        return e

    def push_locked(self, e: TimerEntry) -> None:
        """Put ``e`` in the heap (lock held). An entry due ``NEVER`` stays
        out of it, armed: it can only be cancelled, so it must not move a
        virtual clock to infinity nor count as a pending timer (nothing
        else left to wake anyone is a deadlock)."""
        if e.when != NEVER:
            heapq.heappush(self.heap, (e.when, next(self.seq), e))

    def cancel_locked(self, e: TimerEntry) -> bool:
        """Disarm ``e``; True if it was armed. Lock held."""
        if e.fn is None:
            return False
        e.disarm()
        if e.when == NEVER:
            return True  # never in the heap
        self.dead += 1
        heap = self.heap
        if self.dead > 64 and self.dead * 2 > len(heap):
            heap[:] = [x for x in heap if x[2].fn is not None]
            heapq.heapify(heap)
            self.dead = 0
        return True

    def cancel(self, e: TimerEntry) -> bool:
        """Disarm ``e`` from anywhere, the owner's timer callbacks included
        (they run with the lock already held)."""
        if self.firing and get_ident() == self.owner.thread_id:
            return self.cancel_locked(e)
        with self.lock:
            return self.cancel_locked(e)

    def next_deadline(self) -> float | None:
        """When the earliest armed entry is due (None: none)."""
        heap = self.heap
        with self.lock:
            while heap and heap[0][2].fn is None:
                heapq.heappop(heap)
            return heap[0][0] if heap else None

    def run(self, now: float) -> None:
        """Fire every entry due at ``now``; callbacks run with the lock held."""
        with self.lock:
            self.firing = True
            try:
                self._fire_due(now)
            finally:
                self.firing = False

    def _fire_due(self, now: float) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            e = heap[0][2]
            fn = e.fn
            if fn is None:
                heapq.heappop(heap)
                continue
            arg = e.arg
            nxt = fn() if arg is None else fn(arg)
            if not heap or heap[0][2] is not e:
                continue  # fn disarmed e and a compaction dropped it already
            if nxt is None or e.fn is None:
                e.disarm()
                heapq.heappop(heap)
            else:
                e.when = nxt
                heapq.heapreplace(heap, (nxt, next(self.seq), e))


# -- sleep ----------------------------------------------------------------------


class SleepTimer(TimerEntry):
    """A sleeping task's timer, which is also its wait record: one object
    per sleep for the GC to track, where a OneShot and a TimerEntry were two.

    ``arg`` is the sleeping task until the timer fires (``_wake_sleeper``)
    or the sleep is withdrawn; both decide under LOCK and set it to None,
    so exactly one of them readies the task.
    """

    __slots__ = ()

    def withdraw(self) -> bool:
        """Take the sleep back unless the timer has fired (LOCK held)."""
        if self.arg is None:
            return False
        self.disarm()
        return True


def _wake_sleeper(t: Task) -> None:
    """A sleep's timer callback (hub, timer lock held). ``t`` is parked on
    this timer unless a withdraw won first: the task cannot have run and
    parked again meanwhile, since it runs on this same thread."""
    with LOCK:
        e = t._waiting
        if not isinstance(e, SleepTimer) or e.arg is not t:
            return  # withdrawn (cancel, fatal error, deadlock report)
        e.arg = None
    ready(t)


def sleep_task(seconds: float) -> None:
    cur = current_task()
    s = cur.sched
    e = SleepTimer(s.clock.now() + seconds, _wake_sleeper, cur)
    ts = s.timers
    with ts.lock:  # sleep runs on the owner thread: no wakeup needed
        ts.push_locked(e)
    s.park(wr.SLEEP, seconds, e)


# -- Go's time package ----------------------------------------------------------


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
        self._entry: TimerEntry = s.timers.add(expiry(s.clock.now(), d), self._fire)

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
        ts = s.timers
        with ts.lock:
            was_active = ts.cancel_locked(self._entry)
            drained = self.c.drain()
        if was_active:
            _poke_if_foreign(s)  # its wait may have been sized for this timer
        return was_active or drained

    def reset(self, seconds: SupportsFloat) -> bool:
        """Re-arm the timer to fire ``seconds`` from now; returns what
        ``stop()`` would have."""
        d = _seconds(seconds, "Timer.reset()")
        s = self._sched
        ts = s.timers
        with ts.lock:
            was_active = ts.cancel_locked(self._entry)
            drained = self.c.drain()
            self._entry = TimerEntry(expiry(s.clock.now(), d), self._fire)
            ts.push_locked(self._entry)
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
        self._entry: TimerEntry = s.timers.add(s.clock.now() + d, self._fire)

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
        ts = s.timers
        with ts.lock:
            active = ts.cancel_locked(self._entry)
            self.c.drain()
        if active:
            _poke_if_foreign(s)

    def reset(self, seconds: SupportsFloat) -> None:
        """Stop, then tick every ``seconds`` starting ``seconds`` from now."""
        d = _seconds(seconds, "Ticker.reset()")
        if d <= 0:
            raise ValueError(f"Ticker interval must be positive, got {seconds!r}")
        s = self._sched
        ts = s.timers
        with ts.lock:
            ts.cancel_locked(self._entry)
            self.c.drain()
            self._period = d
            self._entry = TimerEntry(s.clock.now() + d, self._fire)
            ts.push_locked(self._entry)
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
