"""WaitGroup: wait for a collection of tasks to finish (Go's ``sync.WaitGroup``).

Exported by ``gochan.sync`` and ``gochan``. It lives in the runtime package
because ``WaitGroup.go`` is a spawn path: the compiled build compiles it with
the scheduler, and a task it starts counts the group down from
``task.task_main`` (``Task._group``) with no Python frame in between.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final, SupportsIndex

from . import waitreason as wr
from .errors import Panic, not_callable
from .sema import enqueue, grant, wait_grant, wake
from .task import Task
from .threads import current_task, get_scheduler
from .waiter import LOCK, Waiter

_take: Final = LOCK.take  # see lock.py
_wait_take: Final = LOCK.wait_take
_give: Final = LOCK.give


class WaitGroup:
    """Wait for a collection of tasks to finish; Go's ``sync.WaitGroup``.

    ``add(n)`` before starting work, ``done()`` when a piece ends,
    ``wait()`` until the counter is zero; ``go(fn, *args)`` does all three
    steps' bookkeeping for one task (Go 1.25's ``WaitGroup.Go``).

    >>> import gochan
    >>> def main():
    ...     wg, out = gochan.WaitGroup(), []
    ...     for i in range(3):
    ...         wg.go(out.append, i)
    ...     wg.wait()
    ...     return sorted(out)
    >>> gochan.run(main)
    [0, 1, 2]
    """

    __slots__ = ("_count", "_waiters")

    def __init__(self) -> None:
        self._count = 0
        self._waiters: deque[Waiter] = deque()

    def __repr__(self) -> str:
        return f"<gochan.WaitGroup count={self._count}, {len(self._waiters)} waiting>"

    def add(self, n: SupportsIndex = 1) -> None:
        """Add ``n`` (may be negative) to the counter; at zero, every
        ``wait()`` returns. Panics with ``sync: negative WaitGroup counter``
        if the counter would go below zero."""
        # (Typed SupportsIndex, checked here: a compiled build would convert
        # an int parameter on entry, with its own message.)
        if n.__class__ is not int and (isinstance(n, bool) or not isinstance(n, int)):
            raise TypeError(f"WaitGroup.add() needs an int, got {n!r}")
        try:
            _take()
        except IndexError:
            _wait_take()
        try:
            c = self._count + n
            if c < 0:
                raise Panic("sync: negative WaitGroup counter")
            self._count = c
            if c or not self._waiters:
                return
            q = self._waiters
            woken = [grant(q) for _ in range(len(q))]
        finally:
            _give(None)
        wake(woken)

    def done(self) -> None:
        """Decrement the counter by one."""
        self.add(-1)

    def wait(self) -> None:
        """Park until the counter is zero."""
        if self._count == 0:  # one read: if zero now, returning now is correct
            return
        cur = current_task()
        with LOCK:
            if self._count == 0:
                return
            w = enqueue(self._waiters, cur)
        wait_grant(w, wr.SYNC_WAITGROUP_WAIT, self)

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Task:
        """Start ``fn(*args, **kwargs)`` in a new task counted by this group:
        ``add(1)`` now, ``done()`` when it ends, however it ends."""
        if not callable(fn):
            raise not_callable(
                "WaitGroup.go()", fn, "; write wg.go(f, arg) rather than wg.go(f(arg))"
            )
        name = getattr(fn, "__qualname__", None) or repr(fn)
        try:
            _take()
        except IndexError:
            _wait_take()
        self._count += 1  # from >= 0: cannot panic or reach zero, so wakes nobody
        _give(None)
        try:
            t = get_scheduler().spawn(fn, args, kwargs, name)
        except BaseException:
            self.add(-1)
            raise
        t._group = self  # the task calls add(-1) when fn ends (task.task_main)
        return t
