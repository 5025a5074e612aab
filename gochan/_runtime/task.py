"""Task: a green task (Go's ``g``), its handle, and what happens to it
outside the run loop: ``ready`` (Go's ``goready``: make a parked task
runnable, from any thread), ``join``, and its life on its greenlet
(``task_main``: run, finish, crash). ``park`` is the scheduler's
(scheduler.py): it switches greenlets, which only the owning thread does.

Every wait is matched by exactly one ``ready``, called by the single winner
of the task's wait record (waiter.py, ``WaitRecord``) after releasing
LOCK. ``ready`` on the task's own thread is an append to the run queue; from
another thread it goes through ``Scheduler.ready_remote``.
"""

from __future__ import annotations

import itertools
from threading import get_ident
from typing import TYPE_CHECKING, Any, SupportsFloat

from . import waitreason
from .duration import NEVER, expiry, seconds
from .errors import NOT_RUN, Cancelled, body_never_ran
from .threads import current_task
from .waiter import LOCK, OneShot

if TYPE_CHECKING:
    from collections.abc import Callable

    from greenlet import greenlet

    from .scheduler import Scheduler
    from .waiter import Parker, Waiter, WaitRecord

_ids = itertools.count(1)
# What a join's timeout fires its OneShot with.
_TIMEOUT = object()


class Task:
    """A green task, started by ``go()`` or ``run()``; Go's goroutine.

    >>> import gochan
    >>> def main():
    ...     t = gochan.go(lambda x: x * 2, 21)
    ...     return t.join()
    >>> gochan.run(main)
    42

    Attributes: ``id`` (unique in the process), ``name`` (writable; the
    function's qualified name by default, ``"main"`` for a main task).
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_cancelled",
        "_done",
        "_exc",
        "_fn",
        "_group",
        "_joiners",
        "_kwargs",
        "_result",
        "_resume_exc",
        "_state",
        "_throw",
        "_w",
        "_waiting",
        "creator",
        "greenlet",
        "id",
        "name",
        "sched",
        "waiting_on",
    )

    def __init__(self, sched: Scheduler, name: str) -> None:
        self.id = next(_ids)
        self.name = name
        self.sched = sched
        self.greenlet: greenlet | None = None
        # The wait reason while parked, RUNNABLE while queued; see `state`.
        self._state: str = waitreason.RUNNABLE
        # This task's reusable Waiter for plain sends and receives (a task
        # waits on at most one plain channel operation at a time).
        self._w: Waiter | None = None
        self.waiting_on: object = None
        # The wait record of the current park; withdraw() takes the task back.
        self._waiting: WaitRecord | None = None
        # An exception to raise at the next blocking point (fatal error).
        self._throw: BaseException | None = None
        # Raised when the current park resumes (set by whoever withdrew it).
        self._resume_exc: BaseException | None = None
        # Sticky: once cancelled, every blocking point raises Cancelled.
        self._cancelled = False
        self._done = False
        self._result: Any = None
        self._exc: BaseException | None = None
        self._joiners: list[OneShot] | None = None  # created by the first join
        # What the task will run; dropped when it starts. Three slots rather
        # than one tuple: one object fewer for the GC per task not yet run.
        self._fn: Callable[..., Any] | None = None
        self._args: tuple[Any, ...] = ()
        self._kwargs: dict[str, Any] | None = None
        self.creator = 0  # id of the task that called go(); 0 for a main task
        # The WaitGroup that started this task (WaitGroup.go): its counter
        # drops by one when the function returns or raises.
        self._group: Any = None

    def _interrupt_pending(self) -> bool:
        """True if an interrupt (a fatal error, a cancel) waits to be raised.

        A call, not the two reads inline, where a check follows a park: a
        compiled build keeps mypy's narrowing of ``_throw`` to None from a
        check before the park, and would then refuse the exception that the
        park delivered (TypeError: None object expected).
        """
        return self._throw is not None or self._cancelled

    def _take_pending(self) -> BaseException:
        """The interrupt to raise at a blocking point (consumes ``_throw``)."""
        exc = self._throw
        if exc is not None:
            self._throw = None
            return exc
        return Cancelled()

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.name!r} [{self.state}]>"

    @property
    def state(self) -> str:
        """What the task is doing, in Go's words: ``running``, ``runnable``,
        ``chan receive``, ``select``, ``sleep``, ... or ``dead``."""
        if self._done:
            return "dead"
        if self.sched.current is self:
            return waitreason.RUNNING
        return self._state

    def done(self) -> bool:
        """True once the task has returned, raised or been cancelled."""
        return self._done

    def cancelled(self) -> bool:
        """True if the task ended because it was cancelled."""
        return self._done and isinstance(self._exc, Cancelled)

    def result(self) -> Any:
        """The task's return value, or re-raise its exception, once done.

        An exception retrieved here (or by ``join()``) counts as delivered:
        if it was on its way to the main task as a fatal error, it is not
        raised there again.

        Raises ``RuntimeError`` if the task is still running: use ``join()``
        to wait for it.
        """
        exc = self._exc
        if exc is None and self._done:
            return self._result
        if not self._done:
            raise RuntimeError(
                f"task {self.id} ({self.name!r}) has not finished; "
                "call join() to wait for its result"
            )
        if exc is not None:
            main = self.sched.main
            if main._throw is exc:
                with LOCK:
                    if main._throw is exc:
                        main._throw = None
            raise exc
        return self._result

    def join(self, timeout: SupportsFloat | None = None) -> Any:
        """Wait until the task is done, then return as ``result()``.

        Blocks only the calling green task. ``TimeoutError`` if ``timeout``
        seconds (on the scheduler clock) pass first; zero or less times out
        at once unless the task is done, ``math.inf`` (or more than Go's
        largest duration) waits without a timeout, and NaN raises
        ``ValueError``.
        """
        limit: float | None = None
        if timeout is not None:
            limit = seconds(timeout, "Task.join()")
        if not self._done:
            join_task(self, limit)
        return self.result()

    def cancel(self) -> bool:
        """Ask the task to stop: ``Cancelled`` is raised at its blocking points.

        A parked task is woken at once; a runnable one gets it at its next
        blocking call; a task that has not started never runs. Returns False
        if the task was already done. Thread-safe.
        """
        if self._done:
            return False
        self._cancelled = True
        self.sched.interrupt(self, Cancelled())
        return True


# -- readying a parked task ------------------------------------------------------------


def ready(t: Task) -> None:
    """Make parked task ``t`` runnable. Any thread; LOCK must not be held.

    Only the single winner of ``t``'s wait record calls this (see
    ``waiter.WaitRecord``). A channel waiter's party may also be a
    coroutine's ``Parker``: its completer calls ``wake`` instead.
    """
    s = t.sched
    if s.thread_id == get_ident():
        t._state = waitreason.RUNNABLE
        s.runq.append(t)
        if s.current is None and s.backend.poll:
            # Readied from outside any task: a timer callback in the hub, or
            # code on an event loop while the hub waits in it. The loop
            # backend must hand the thread back to the hub.
            s.backend.poke()
    else:
        s.ready_remote(t)


def wake_peer(who: Task | Parker) -> None:
    """Wake the party of a completed channel waiter (``Waiter.task``): a
    Task is readied, a coroutine's Parker resolves its own wait. Any
    thread; LOCK must not be held. The channel hot paths inline this."""
    if isinstance(who, Task):
        ready(who)
    else:
        who.wake()


# -- join ----------------------------------------------------------------------------


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

        w.timer = s.timers.add(expiry(s.clock.now(), timeout), on_timeout)
    s.park(waitreason.TASK_JOIN, target, w)
    if w.value is _TIMEOUT:
        raise TimeoutError(f"task {target.id} ({target.name!r}) still running after {timeout}s")
    if w.timer is not None:
        ts = s.timers
        with ts.lock:
            ts.cancel_locked(w.timer)


# -- a task's life: run, finish, crash -----------------------------------------


def task_main(t: Task) -> None:
    """Run task ``t`` to completion; never raises. Called on the task's
    greenlet (``Scheduler._serve``), with ``t`` current."""
    fn, args, kwargs = t._fn, t._args, t._kwargs
    assert fn is not None
    t._fn, t._args, t._kwargs = None, (), None
    group = t._group
    if group is not None:
        t._group = None
    try:
        try:
            if t._cancelled:  # cancelled before it ever ran: never runs (as Go)
                raise Cancelled()
            # fn(*args, **kwargs), spelled as a plain call where it can
            # be: CPython 3.11 and 3.12 run a plain call of a Python
            # function in the same C-level interpreter loop, but a call
            # with * or ** enters a new one on the C stack, and the
            # greenlet of a parked task keeps a copy of its C stack
            # (about 430 bytes more per parked task on 3.11).
            if kwargs is not None:
                result = fn(*args, **kwargs)
            elif not args:
                result = fn()
            elif len(args) == 1:
                result = fn(args[0])
            elif len(args) == 2:
                result = fn(args[0], args[1])
            else:
                result = fn(*args)
        finally:
            if group is not None:
                group.add(-1)  # WaitGroup.go's done(), however fn ends
        if result is not None and isinstance(result, NOT_RUN):
            raise body_never_ran(f"task {t.name!r}", result)
    except Cancelled as e:
        _finish(t, None, e)
    except BaseException as e:
        # Fatal, as an unrecovered Go panic, unless some task is already
        # waiting in t.join(): then the exception is delivered to it
        # (raised by its join) and is not raised again anywhere, as with
        # asyncio's and concurrent.futures' results. KeyboardInterrupt,
        # SystemExit and the like are fatal in any case.
        e.add_note(f"raised in goroutine {t.id} ({t.name!r})")
        if not _finish(t, None, e) or not isinstance(e, Exception):
            _crash(t, e)
    else:
        _finish(t, result, None)


def _finish(t: Task, result: Any, exc: BaseException | None) -> bool:
    """Record ``t``'s outcome and wake its joiners; True if any woke."""
    with LOCK:
        t._result, t._exc, t._done = result, exc, True
        joiners, t._joiners = t._joiners, None
        # Drop the last wait record and what it waited on: a record
        # points back at its task (Waiter.task, OneShot.task), and that
        # cycle would leave the ended task to the cyclic GC instead of
        # reference counting (a full collection, for a long-parked task).
        t._w = t._waiting = t.waiting_on = None
        woken = [w.task for w in joiners if w.fire()] if joiners else None
    s = t.sched
    del s.tasks[t.id]
    if woken:
        for j in woken:
            ready(j)
    sw = s._shutdown_wait
    if sw is not None and len(s.tasks) == 1:
        with LOCK:
            won = sw.fire()
        if won:
            ready(s.main)
    return bool(woken)


def _crash(t: Task, e: BaseException) -> None:
    """An exception escaped task ``t``: fatal, as an unrecovered Go panic."""
    e.__notes__[-1] += "; gochan cancelled the other tasks"  # task_main's note
    s = t.sched
    main = s.main
    pending = main._throw
    if pending is not None:
        pending.add_note(f"goroutine {t.id} ({t.name!r}) also raised {type(e).__name__}: {e}")
        return
    for other in list(s.tasks.values()):
        if other is not main:
            other.cancel()
    s.interrupt(main, e)
