"""Deadlock detection (Go's ``checkdead``), extended to OS threads.

A false report would tell a correct program that it is broken and take its
main task away, which is worse than missing a report. So the check is made
only by an idle hub (``idle.wait_for_work``: nothing runnable, no timer,
nothing pending), and it is a deadlock only if no thread at all could
still wake a task: every other live thread is a gochan thread whose
scheduler is idle too, or one of gochan's own quiet helpers. A thread that
never used gochan could still send to a channel; a thread started with
``_thread.start_new_thread`` is invisible to ``threading.enumerate()`` but
counted by ``_thread._count()``.

Invariants
----------
* A scheduler's ``idle`` flag is set here, by its own thread, under
  ``threads.registry_lock``, and cleared by ``ready_remote`` under the same
  lock: a wakeup in flight is never missed.
* A first positive check is only a suspicion: the caller confirms it after
  a short pause (a new thread counts only once it runs), and only the
  confirmed check reports.
* In a global deadlock every idle scheduler reports in its own main task;
  the report is written once, first, while every thread is still there.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .dump import format_dump
from .errors import Deadlock
from .threads import (
    MAIN_THREAD,
    live_threads,
    quiet_prefixes,
    quiet_threads,
    registry_lock,
    schedulers,
    thread_count,
)

if TYPE_CHECKING:
    from .scheduler import Scheduler


def deadlock_check(s: Scheduler, confirmed: bool) -> bool:
    """True if no thread can ever wake any task of this scheduler.

    Called with nothing runnable, no timer and nothing pending. Marks
    this scheduler idle; then it is a deadlock only if every other live
    thread is a gochan thread that is idle too (a thread that never used
    gochan could still send to a channel). The idle flags are read and
    cleared (by ready_remote) under one lock, so a wakeup in flight is
    never missed. Once ``confirmed``, the deadlock is reported here and
    every idle scheduler of a global deadlock is told so.
    """
    with registry_lock:
        if s.incoming:
            return False
        s.idle = True
        me = s.thread_id
        others = []
        visible = 0  # threads started from Python that enumerate() lists
        for th in live_threads():
            if th is not MAIN_THREAD and not isinstance(th, threading._DummyThread):
                visible += 1
            if th.ident == me or th.ident in quiet_threads:
                continue
            if quiet_prefixes and th.name.startswith(tuple(quiet_prefixes)):
                continue
            o = schedulers.get(th.ident)  # type: ignore[arg-type]
            if o is None or not o.idle or o.incoming or o.busy():
                return False
            others.append(o)
        # A thread started with _thread.start_new_thread is missing from
        # enumerate() but counted here: it could still send.
        if thread_count() > visible:
            return False
        if not confirmed:
            return True
        for o in others:
            o.deadlock_pending = True
    report_deadlock(s, tuple(others))
    return True


def report_deadlock(s: Scheduler, others: tuple[Scheduler, ...] = ()) -> None:
    """Raise Deadlock in the main task; then wake ``others``, the idle
    schedulers of a global deadlock, to do the same: the report is
    written first, while every thread in it is still there to show."""
    report = "all goroutines are asleep - deadlock!\n\n" + format_dump()
    for o in others:
        o.backend.wakeup()
    main = s.main
    s.interrupt(main, Deadlock(report))
    if not s.runq:  # pragma: no cover - every park has a wait record
        raise AssertionError(f"deadlocked main task could not be woken: {main!r}")
