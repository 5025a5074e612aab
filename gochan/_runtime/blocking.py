"""Blocking primitives built on park/ready: gosched, Task.join, sleep.

Each registers a wait record, parks, and lets exactly one party (a timer,
the finishing task, a canceller) ready it again; see scheduler.py.
"""

from __future__ import annotations

from . import waitreason as wr
from .duration import NEVER, expiry
from .scheduler import current_task, ready
from .task import Task
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
    s = cur.sched
    cur._state = wr.RUNNABLE
    s.runq.append(cur)
    s.park(wr.RUNNABLE, None, None)


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
