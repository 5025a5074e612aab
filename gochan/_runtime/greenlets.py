"""Task greenlets: the run callable every one of a thread's task greenlets
shares, and the idle ones kept for reuse, within a scheduler and from one
scheduler of the thread to the next.

A task runs on a greenlet, a child of its scheduler's hub. When the task
ends, the greenlet runs the next queued task itself or waits on the
scheduler's free list (``Scheduler._serve``, ``_bind``) for a new one:
starting a fresh greenlet costs about ten switches to a parked one, and
most programs start many short tasks.

Invariants
----------
* Every task greenlet of a thread runs ``_Home.worker`` of the thread's
  ``_Home`` and serves whichever scheduler is installed on the thread
  (``_Home.sched``, set by ``threads.install``): an idle greenlet can
  outlive the scheduler that started it.
* An idle greenlet holds no task and no scheduler: ``Scheduler._serve``
  returns (rather than switching away itself) and ``worker`` drops its
  reference before the switch.
* An idle greenlet is ended only on its own thread, by switching ``_END``
  into it: a plain return of ``worker``.
"""

from __future__ import annotations

import threading
from collections import deque
from threading import get_ident
from typing import TYPE_CHECKING, Any, Final

from greenlet import getcurrent, greenlet

if TYPE_CHECKING:
    from .scheduler import Scheduler

# Idle greenlets kept for reuse once the scheduler goes idle. Starting a
# fresh greenlet costs about ten times a switch to a parked one: each gets
# its own frame-stack chunk, an mmap'd 16 KiB that the kernel must map,
# zero and later unmap. So while tasks run, every finished task's greenlet
# is kept (a burst of N tasks followed by another reuses all N); when the
# hub has nothing to run, the list is trimmed back to this many.
FREE_MAX: Final = 256
# Greenlets ended per look at the clock and the other threads while trimming.
TRIM_BATCH: Final = 256
# Idle greenlets a finished scheduler (the end of run()) leaves to the next
# one on the same thread, the most recently idle first: a program that calls
# run() again and again starts each run's tasks on the last run's greenlets
# instead of fresh ones (an mmap, page faults and later an munmap each, in
# pure Python). The next scheduler trims what it does not use back to
# FREE_MAX at its first idle moment, as it does its own. Until then they
# hold memory: about 6.7 KB each in pure Python (a page of frame-stack
# chunk, the saved C stack, the greenlet), 3.4 KB compiled, so at most
# about 110 MB (pure) or 55 MB (compiled) after a run that ended with this
# many idle. They are ended when the thread ends (at interpreter exit for
# the main thread).
CARRY_MAX: Final = 16384

# Per thread: its _Home, and the greenlets carried for its next scheduler.
_local: Final = threading.local()

# Switched into an idle task greenlet to end it (see _Home.worker).
_END: Final = object()


class _Home:
    """One per thread: ``worker`` is the run callable of every task greenlet
    of the thread, and ``sched`` the scheduler installed on it
    (``threads.install``), the one that such a greenlet serves whenever it
    is switched to with a task. So an idle greenlet left by one run can
    serve the next."""

    __slots__ = ("sched",)

    def __init__(self) -> None:
        self.sched: Scheduler | None = None

    def worker(self, *_: Any) -> None:
        """The body of every task greenlet: serve tasks until switched to
        with ``_END``. While idle it holds no scheduler (``s`` is cleared)
        and no task (``Scheduler._serve`` returns before the switch)."""
        g = getcurrent()
        while True:
            s = self.sched
            assert s is not None  # a task greenlet is only switched to by it
            nxt = s._serve(g)
            s = None
            if nxt.switch() is _END:
                return


def home() -> _Home:
    """This thread's ``_Home``, created on first use."""
    h: _Home | None = getattr(_local, "home", None)
    if h is None:
        h = _local.home = _Home()
    return h


def end_idle(g: greenlet) -> None:
    """End idle task greenlet ``g`` with a plain return of its worker, to
    the caller (made its parent: the hub that started ``g`` may be gone).
    Not throw(): greenlet unwinds a throw with a C++ exception, several
    times the cost."""
    g.parent = getcurrent()
    g.switch(_END)


class _Carried:
    """The idle greenlets carried for the thread's next scheduler, in the
    thread's locals. Ended when the thread ends: by ``threads.end_of_thread``, else
    as the thread's locals are dropped (``__del__``): an idle greenlet's
    suspended frames refer to it, so dropping it alone would leave it to
    the cyclic GC, on some other thread, where it cannot be ended."""

    __slots__ = ("gs", "ident")

    def __init__(self, gs: deque[greenlet]) -> None:
        self.gs = gs
        self.ident = get_ident()

    def __del__(self) -> None:
        gs, self.gs = self.gs, deque()
        if gs and self.ident == get_ident():  # (not in a fork's child, for another thread)
            for g in gs:
                end_idle(g)


def take_carried() -> deque[greenlet]:
    """The idle greenlets the thread's last scheduler left (CARRY_MAX); the
    caller owns them now."""
    c: _Carried | None = getattr(_local, "carried", None)
    if c is None:
        return deque()
    _local.carried = None
    gs, c.gs = c.gs, deque()
    return gs


def carry_over(free: deque[greenlet]) -> bool:
    """Leave idle greenlets ``free`` (the most recently idle on the right)
    to the thread's next scheduler; end those beyond CARRY_MAX. True if
    any are carried: the caller then makes sure they end with the thread
    (``threads.hook_thread_end``)."""
    gs = take_carried()
    gs.extend(free)
    while len(gs) > CARRY_MAX:
        end_idle(gs.popleft())
    if gs:
        _local.carried = _Carried(gs)
        return True
    return False


def end_carried() -> None:
    """End the idle greenlets carried for a next scheduler that will never
    come (the thread is ending)."""
    for g in take_carried():
        end_idle(g)


def trim_free(s: Scheduler) -> None:
    """End the idle greenlets beyond FREE_MAX, the longest idle first, in
    batches; stop as soon as another thread has work for us or a timer
    is due (the rest waits for the next idle moment). O(1) per greenlet:
    a million tasks that ended leave a million idle greenlets."""
    free = s._free
    while len(free) > FREE_MAX and not s.incoming:
        deadline = s.timers.next_deadline()
        if deadline is not None and deadline <= s.clock.now():
            return
        for _ in range(min(TRIM_BATCH, len(free) - FREE_MAX)):
            s._end_idle(free.popleft())
