"""Blocking primitives built on park/ready: gosched, Task.join, sleep.

Each registers a wait record, parks, and lets exactly one party (a timer,
the finishing task, a canceller) ready it again; see scheduler.py.
"""

from __future__ import annotations

from typing import Final

from greenlet import getcurrent

from . import waitreason as wr
from .duration import NEVER, expiry
from .task import Task, ready
from .threads import current_task, peek_scheduler
from .timers_core import TimerEntry
from .waiter import LOCK, OneShot

_TIMEOUT = object()


def gosched() -> None:
    """Yield the processor: let other runnable tasks run, then continue.

    >>> import gochan
    >>> out = []
    >>> def main():
    ...     gochan.go(out.append, "task")
    ...     gochan.gosched()
    ...     out.append("main")
    >>> gochan.run(main); out
    ['task', 'main']
    """
    cur = current_task()
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()
    # Requeue at the tail and run the others.
    s = cur.sched
    cur._state = wr.RUNNABLE
    s.runq.append(cur)
    s.park(wr.RUNNABLE, None, None)
    cur = cur  # forget the check above: it does not hold after the park (mypyc)
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()


# A task that polls (select with default, try_lock, try_acquire) and keeps
# finding nothing yields through the hub every POLL_YIELD failed polls of its
# thread: the others (and timers, other threads' wakeups, I/O) make progress,
# as Go's preemption would let them, at the cost of one counter bump per
# failed poll. A power of two: a mask.
POLL_YIELD: Final = 64


def poll_failed() -> None:
    """A non-blocking try found nothing. Every POLL_YIELD-th time on this
    thread, yield to everything else that could run (through the hub, so
    timers and other threads are served too); an interrupt that is pending
    (another task's fatal error, a cancel) is raised here, so a polling loop
    can be stopped."""
    s = peek_scheduler()
    if s is None:
        return  # a plain thread: the OS schedules it
    n = s.failed_polls = s.failed_polls + 1
    if n & (POLL_YIELD - 1):
        return
    cur = s.current
    if cur is None or cur.greenlet is not getcurrent():
        return  # not a task (a timer callback): nothing to yield
    if cur._interrupt_pending():
        raise cur._take_pending()
    # gosched's yield, but through the hub: timers, wakeups and I/O get a turn
    cur._state = wr.RUNNABLE
    s.runq.append(cur)
    s.budget = 0
    s.park(wr.RUNNABLE, None, None)
    if cur._interrupt_pending():  # arrived during the yield
        raise cur._take_pending()


def join_task(target: Task, timeout: float | None) -> None:
    """Park the calling task until ``target`` is done (see Task.join);
    ``timeout`` comes checked by ``duration.seconds``."""
    if target._done:
        return
    cur = current_task()
    if cur is target:
        raise RuntimeError("a task cannot join itself: it would wait forever")
    w = OneShot(cur)
    with LOCK:
        if target._done:
            return
        if target._joiners is None:
            target._joiners = []
        target._joiners.append(w)
    s = cur.sched
    if timeout is not None and timeout != NEVER:

        def on_timeout() -> None:
            with LOCK:
                won = w.fire(_TIMEOUT)
                if won and target._joiners is not None:
                    target._joiners.remove(w)
            if won:
                ready(cur)

        w.timer = s.add_timer(expiry(s.clock.now(), timeout), on_timeout)
    s.park(wr.TASK_JOIN, target, w)
    if w.value is _TIMEOUT:
        raise TimeoutError(f"task {target.id} ({target.name!r}) still running after {timeout}s")
    if w.timer is not None:
        with s.timer_lock:
            s.cancel_timer_locked(w.timer)


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
    with s.timer_lock:  # sleep runs on the owner thread: no wakeup needed
        s.push_timer_locked(e)
    s.park(wr.SLEEP, seconds, e)
