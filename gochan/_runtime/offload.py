"""blocking(): run a thread-blocking call on a worker thread, parking only
the calling task (Go's runtime does this for every syscall; here the user
says which calls need it).

The pool is small and lazy: a worker thread starts when a job finds no idle
worker (up to ``MAX_WORKERS``), and an idle worker exits after
``IDLE_SECONDS``. Idle workers are listed in ``scheduler.quiet_threads`` so
that they never hide a deadlock; a job in flight counts in its scheduler's
``pending``, so it always does.

A job cannot be interrupted once it runs (Python cannot stop a thread), so a
task cancelled meanwhile keeps waiting for it and then raises ``Cancelled``,
with the job's own exception, if any, chained as ``__cause__`` and named in a
note: nothing the thread did is dropped silently. ``run()`` therefore never
returns while a ``blocking()`` call it started is still running.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from . import waitreason as wr
from .errors import not_callable
from .task import Task, ready
from .threads import current_task, quiet_threads
from .waiter import LOCK

# blocking() is mostly for I/O-bound calls (a request, a file read), where
# the number of threads, not the CPUs, bounds how many overlap: Go lets
# blocked syscalls take as many threads as they need. A generous cap, then;
# GOCHAN_BLOCKING_THREADS overrides it. Idle threads exit after IDLE_SECONDS.
MAX_WORKERS = int(os.environ.get("GOCHAN_BLOCKING_THREADS", "0")) or max(
    64, (os.cpu_count() or 1) + 4
)
IDLE_SECONDS = 5.0

log = logging.getLogger("gochan")


class _Job:
    """One ``blocking()`` call; also the parked task's wait record. The
    call runs in a copy of the task's context (``contextvars``), as
    ``asyncio.to_thread`` and ``trio.to_thread.run_sync`` run theirs."""

    __slots__ = ("args", "ctx", "exc", "fn", "kwargs", "orphaned", "result", "task")

    def __init__(self, task: Task, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.task = task
        self.fn: Callable[..., Any] | None = fn
        self.args, self.kwargs = args, kwargs
        self.ctx: contextvars.Context | None = contextvars.copy_context()
        self.result: Any = None
        self.exc: BaseException | None = None
        self.orphaned = False  # the task was torn away (signal): nobody to wake

    def __repr__(self) -> str:
        fn = self.fn
        if fn is None:
            return "<blocking() call, finished>"
        name = getattr(fn, "__qualname__", None) or repr(fn)
        return f"<blocking({name}) in a worker thread>"

    def withdraw(self) -> bool:
        return False  # a running thread call cannot be taken back

    def run(self) -> None:
        try:
            assert self.fn is not None and self.ctx is not None
            self.result = self.ctx.run(self.fn, *self.args, **self.kwargs)
        except BaseException as e:  # handed to the task, never lost
            self.exc = e
        self.fn = self.args = self.kwargs = self.ctx = None
        with LOCK:
            orphaned = self.orphaned
        if orphaned:
            if self.exc is not None:
                log.error("blocking() call raised after its task was gone", exc_info=self.exc)
            return
        ready(self.task)


class _Pool:
    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.jobs: deque[_Job] = deque()
        self.idle = 0
        self.threads: set[threading.Thread] = set()
        self.closing = False
        self._n = 0

    def submit(self, job: _Job) -> None:
        with self.cond:
            self.jobs.append(job)
            if self.idle > len(self.jobs) - 1:
                self.cond.notify()
                return
            if len(self.threads) >= MAX_WORKERS:
                return  # queued: the next worker to finish takes it
            self._n += 1
            t = threading.Thread(
                target=self._worker, name=f"gochan-blocking-{self._n}", daemon=True
            )
            self.threads.add(t)
        t.start()

    def _worker(self) -> None:
        me = threading.get_ident()
        cond, jobs = self.cond, self.jobs
        while True:
            with cond:
                while not jobs:
                    if self.closing:
                        self._leave(me)
                        return
                    self.idle += 1
                    quiet_threads.add(me)
                    woke = cond.wait(IDLE_SECONDS)
                    quiet_threads.discard(me)
                    self.idle -= 1
                    if not woke and not jobs:
                        self._leave(me)
                        return
                job = jobs.popleft()
            job.run()

    def _leave(self, me: int) -> None:  # cond held
        quiet_threads.discard(me)
        self.threads.discard(threading.current_thread())

    def shutdown(self) -> None:
        """End the idle workers and wait for every worker to exit (tests)."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
            threads = list(self.threads)
        for t in threads:
            t.join()
        with self.cond:
            self.closing = False


POOL = _Pool()


def blocking(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` on a worker thread; park only this task.

    Returns what ``fn`` returns or re-raises what it raised. Use it for
    calls that block the OS thread (file I/O, ``time.sleep``, a library
    without async support, CPU work that releases the GIL): the other tasks
    of this thread keep running meanwhile. ``fn`` runs in a copy of the
    task's ``contextvars`` context, as with ``asyncio.to_thread``.

    >>> import gochan, time
    >>> def main():
    ...     ticks = []
    ...     gochan.go(lambda: ticks.extend(range(3)))
    ...     slept = gochan.blocking(time.sleep, 0.01)   # the task above runs meanwhile
    ...     return slept, ticks
    >>> gochan.run(main)
    (None, [0, 1, 2])
    """
    if not callable(fn):
        raise not_callable(
            "blocking()",
            fn,
            "; write blocking(f, arg) rather than blocking(f(arg)), which calls f right here",
        )
    cur = current_task()
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()
    s = cur.sched
    job = _Job(cur, fn, args, kwargs)
    s.pending += 1
    try:
        POOL.submit(job)
        try:
            s.park(wr.SYSCALL, job, job)
        except BaseException:
            # Only a signal tearing the park down lands here (the record
            # cannot be withdrawn): the thread must not wake us later.
            with LOCK:
                job.orphaned = True
            raise
    finally:
        s.pending -= 1
    if cur._interrupt_pending():
        interrupt = cur._take_pending()
        if job.exc is not None:
            interrupt.add_note(
                f"the blocking() call it waited for raised {type(job.exc).__name__}: {job.exc}"
            )
            raise interrupt from job.exc
        raise interrupt
    if job.exc is not None:
        raise job.exc
    return job.result


class _Abandonable(_Job):
    """A ``blocking_until`` call: a job whose task may stop waiting for it.
    Ends once, under LOCK: the thread finishes (it readies the task), or
    the deadline or a cancellation withdraws it (the thread's outcome is
    then dropped when it comes)."""

    __slots__ = ("ended", "timed_out")

    def __init__(self, task: Task, fn: Callable[..., Any], args: Any) -> None:
        super().__init__(task, fn, args, {})
        self.ended = False
        self.timed_out = False

    def withdraw(self) -> bool:  # LOCK held; any thread
        if self.ended:
            return False
        self.ended = True
        return True

    def run(self) -> None:  # the worker thread
        try:
            assert self.fn is not None and self.ctx is not None
            self.result = self.ctx.run(self.fn, *self.args)
        except BaseException as e:  # handed to the task, if it still waits
            self.exc = e
        self.fn = self.args = self.ctx = None
        with LOCK:
            mine = not self.ended
            self.ended = True
        if mine:
            ready(self.task)
        else:
            self.result = self.exc = None  # abandoned: nobody wants it


def _abandon_at_deadline(job: _Abandonable) -> None:
    """The deadline of a ``blocking_until`` call (hub, timer lock held)."""
    with LOCK:
        if not job.withdraw():
            return
        job.timed_out = True
    ready(job.task)


def blocking_until(deadline: float | None, fn: Callable[..., Any], /, *args: Any) -> Any:
    """``blocking(fn, *args)`` that the task stops waiting for at ``deadline``
    (a time on the scheduler's clock; None: no deadline), raising a bare
    ``TimeoutError``, or as soon as the task is cancelled. The thread cannot
    be stopped: it finishes on its own and its result (or exception) is
    dropped. For calls whose outcome nobody needs once the caller has
    given up, such as a name lookup (Go's dial abandons a slow resolver the
    same way).

    While the task waits, the call is pending work (as ``blocking``), so a
    virtual clock does not jump over it.

    >>> import gochan, threading
    >>> stuck = threading.Event()
    >>> def main():
    ...     try:
    ...         blocking_until(gochan.monotonic() + 0.01, stuck.wait)
    ...     except TimeoutError:
    ...         return "gave up"
    ...     finally:
    ...         stuck.set()  # the thread ends later; its result is dropped
    >>> gochan.run(main)
    'gave up'
    """
    cur = current_task()
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()
    s = cur.sched
    if deadline is not None and deadline <= s.clock.now():
        raise TimeoutError
    job = _Abandonable(cur, fn, args)
    timer = None
    s.pending += 1
    try:
        POOL.submit(job)
        if deadline is not None:
            timer = s.timers.add(deadline, _abandon_at_deadline, job)
        s.park(wr.SYSCALL, job, job)
    finally:
        s.pending -= 1
        with LOCK:
            job.withdraw()  # (torn down by a signal: the thread must not wake us)
        if timer is not None:
            s.timers.cancel(timer)
    if job.timed_out:
        raise TimeoutError
    if job.exc is not None:
        raise job.exc
    return job.result
