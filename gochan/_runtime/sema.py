"""Grant queues: the park/ready pattern shared by every sync primitive.

Go's ``sync`` package sits on the runtime's semaphore (``semacquire`` /
``semrelease``): a FIFO of parked goroutines, each woken by a release that
hands it what it waited for. gochan's primitives (Mutex, RWMutex,
WaitGroup, Cond, Semaphore) do the same with a ``deque`` of ``Waiter``
records under ``LOCK``:

* the waiter enqueues itself and parks (``wait_grant``);
* a releaser pops it (``grant``), marks it granted (``w.ok = True``) and,
  after releasing LOCK, readies it: the grant (ownership of a mutex, a
  semaphore's units, ...) passed directly, so a woken waiter never has to
  compete again and nobody starves.

A parked waiter can also be taken back (cancellation, a fatal error, a
deadlock report): ``Waiter.withdraw`` unqueues it under LOCK, so a release
either granted it or never will. ``wait_grant`` then runs the primitive's
``on_abandon(granted)``: ``granted`` is False after a withdrawal (the
primitive may now admit others the waiter was holding back), and True only
if the park was torn down by a signal after a grant, which must be handed
back so that it is not lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

from .task import Task, ready
from .threads import current_task
from .waiter import LOCK, Waiter, push_waiter

GrantQueue = deque  # of Waiter


def enqueue(q: deque[Waiter], task: Task, value: Any = None) -> Waiter:
    """Queue ``task`` at the tail of ``q`` (LOCK held); returns its waiter."""
    w = Waiter(task, value)
    push_waiter(q, w)
    return w


def grant(q: deque[Waiter], value: Any = None) -> Task:
    """Pop the head waiter of non-empty ``q`` and grant it (LOCK held).

    Returns its task, which the caller readies after releasing LOCK.
    """
    w = q.popleft()
    w.queue = None
    w.ok = True
    w.value = value
    return cast(Task, w.task)  # a grant queue holds Tasks only (enqueue)


def wake(tasks: list[Task]) -> None:
    """Ready granted tasks (LOCK released)."""
    for t in tasks:
        ready(t)


def wait_grant(
    w: Waiter,
    reason: str,
    waiting_on: Any,
    on_abandon: Callable[[bool], None] | None = None,
) -> Any:
    """Park until ``w`` is granted (LOCK released, ``w`` queued); returns
    the granted value. If the park raises instead, ``on_abandon(granted)``
    runs first (see the module docstring), then the exception propagates."""
    try:
        cast(Task, w.task).sched.park(reason, waiting_on, w)
    except BaseException:
        if on_abandon is not None:
            with LOCK:
                granted = w.ok
            on_abandon(granted)
        raise
    return w.value


def this_task() -> Task:
    """The running task, fetched before LOCK is taken (it may raise)."""
    return current_task()
