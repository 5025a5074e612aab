"""The hold monitor: reports a task that keeps its thread past a threshold.

gochan cannot preempt a task: one that computes without blocking or yielding
holds its thread, and every other task, timer and wakeup of that thread
waits (a 0.1 s ticker is late by the whole computation). Opt in with
``run(main, monitor=0.1)`` or ``GOCHAN_MONITOR=0.1`` (which also covers
implicit mode); then a monitor thread looks at each watched scheduler a few
times per threshold and, when the same task has run for longer than the
threshold while something else was waiting for the thread (a runnable task,
a due timer, another thread's wakeup), logs a warning on the ``gochan``
logger naming the task and showing its stack. Anchor: gevent's
``monitor_thread`` and ``max_blocking_time``.

Zero cost when off: nothing here runs. When on, switches are counted by a
greenlet trace function on the watched thread only (``greenlet.settrace``).
The monitor thread never vetoes a deadlock report (``quiet_threads``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import greenlet

from .dump import format_task
from .duration import NEVER, seconds
from .threads import quiet_threads

if TYPE_CHECKING:
    from .scheduler import Scheduler

log = logging.getLogger("gochan.monitor")

ENV = "GOCHAN_MONITOR"
# Looks per threshold: a hold is reported at most threshold / LOOKS late.
LOOKS = 4


def threshold(value: object, what: str = "monitor") -> float | None:
    """Validate a monitor threshold: seconds > 0, or None (off). ``inf``
    (or past Go's range) means "never report": off too. NaN, zero and
    negative raise, as for every duration (``duration.seconds``)."""
    if value is None:
        return None
    secs = seconds(value, what)
    if secs <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return None if secs == NEVER else secs


def from_env() -> float | None:
    """The threshold set by ``GOCHAN_MONITOR``, if any."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"{ENV}={raw!r} is not a number of seconds; set it to e.g. 0.1, or unset it"
        ) from None
    return threshold(value, ENV)


class Watch:
    """One watched scheduler: its threshold and what the monitor last saw."""

    __slots__ = ("prev_trace", "reported", "sched", "seen", "since", "switches", "threshold")

    def __init__(self, sched: Scheduler, threshold: float, now: float) -> None:
        self.sched = sched
        self.threshold = threshold
        self.switches = 0  # bumped by the trace function on every switch
        self.seen = -1  # switches at the last look
        self.since = now  # when ``switches`` last changed, as far as we know
        self.reported = False  # this hold was reported already
        self.prev_trace: Any = None

    def stop(self) -> None:
        """Stop watching (``unwatch``)."""
        unwatch(self)

    def trace(self, event: str, args: Any) -> None:
        self.switches += 1
        prev = self.prev_trace
        if prev is not None:
            prev(event, args)

    def look(self, now: float) -> str | None:
        """The report to make about this scheduler at time ``now``, if any."""
        n = self.switches
        if n != self.seen:
            self.seen, self.since, self.reported = n, now, False
            return None
        held = now - self.since
        s = self.sched
        task = s.current  # None while the hub runs or waits: the thread is idle
        if self.reported or held < self.threshold or task is None:
            return None
        waiting = _waiting(s)
        if not waiting:
            return None  # holding a thread nobody else needs harms nobody
        self.reported = True
        return (
            f"goroutine {task.id} ({task.name!r}) has held thread {s.thread.name!r} for "
            f"{held:.3f}s without blocking or yielding (monitor threshold "
            f"{self.threshold}s) while {waiting} waited; give the thread back with "
            "gochan.gosched(), or move the work to gochan.blocking().\n" + format_task(task, s)
        )


def _waiting(s: Scheduler) -> str:
    """What is waiting for the thread of ``s`` (read from another thread:
    each read is one atomic step under the GIL)."""
    parts = []
    if s.runq:
        parts.append(f"{len(s.runq)} runnable task(s)")
    if s.incoming:
        parts.append("a wakeup from another thread")
    try:
        heap = s.timers.heap
        when = heap[0][0] if heap else None
    except IndexError:  # emptied meanwhile
        when = None
    if when is not None:
        late = s.clock.now() - when
        if late > 0:
            parts.append(f"a timer ({late:.3f}s overdue)")
    return ", ".join(parts)


class _Monitor:
    """The monitor thread and the set of watched schedulers."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.watches: list[Watch] = []
        self.thread: threading.Thread | None = None

    def add(self, w: Watch) -> None:
        with self.cond:
            self.watches.append(w)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._loop, name="gochan-monitor", daemon=True
                )
                self.thread.start()
            self.cond.notify()

    def remove(self, w: Watch) -> None:
        with self.cond:
            if w in self.watches:
                self.watches.remove(w)
            th = self.thread if not self.watches else None
            if th is not None:
                self.thread = None
            self.cond.notify()
        if th is not None and th is not threading.current_thread():
            th.join()  # gone before run() returns: no thread outlives what it served

    def _loop(self) -> None:
        me = threading.get_ident()
        quiet_threads.add(me)  # it can never wake a task
        try:
            with self.cond:
                while self.thread is threading.current_thread():
                    watches = list(self.watches)
                    now = time.monotonic()
                    for w in watches:
                        report = w.look(now)
                        if report is not None:
                            log.warning("%s", report)
                    step = min((w.threshold for w in watches), default=1.0) / LOOKS
                    self.cond.wait(step)
        finally:
            quiet_threads.discard(me)


_MONITOR = _Monitor()


def watch(sched: Scheduler, secs: float) -> Watch:
    """Start watching ``sched`` (call on its own thread)."""
    w = Watch(sched, secs, time.monotonic())
    w.prev_trace = greenlet.settrace(w.trace)
    _MONITOR.add(w)
    return w


def unwatch(w: Watch) -> None:
    """Stop watching. The trace function is put back on the scheduler's own
    thread only (it is per thread); elsewhere that thread is ending anyway."""
    if threading.get_ident() == w.sched.thread_id:
        greenlet.settrace(w.prev_trace)
    _MONITOR.remove(w)
