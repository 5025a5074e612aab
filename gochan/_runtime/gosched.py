"""gosched and poll_failed: a running task yields the thread to the others
(Go's ``Gosched``), on request or after polling in vain too long.

(The other waits of a task that are not on a channel live with what they
wait for: ``Task.join`` in task.py, ``sleep`` in timers.py.)
"""

from __future__ import annotations

from typing import Final

from greenlet import getcurrent

from . import waitreason as wr
from .threads import current_task, peek_scheduler


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
