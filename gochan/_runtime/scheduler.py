"""The scheduler of one OS thread and its run loop: the run queue, ``park``
(Go's ``gopark``), task-to-task switches, and the hub (Go's ``schedule()``).

Shape
-----
Each OS thread that uses gochan has one ``Scheduler`` (from ``run()``, or
created on first use: threads.py). Its *main task* is the code that was
running on the thread (the caller of ``run``, or the thread's own code in
implicit mode). ``go()`` adds tasks (task.py) whose greenlets are children
of the *hub*, a greenlet running ``_hub_loop``: move other threads' readies
in, fire due timers (timers.py), and with nothing runnable wait in the
backend (idle.py, which also jumps a virtual clock and asks deadlock.py).

One way to block
----------------
Every blocking operation registers a *wait record* (waiter.py) and calls
``park(reason, waiting_on, record)``; whoever completes or withdraws the
record calls ``ready(task)`` (task.py) exactly once.

The hot path
------------
A hand-off between two tasks costs one greenlet switch, not two: ``park``
pops the next runnable task and switches straight to its greenlet, and a
finished task's greenlet runs the next unstarted task itself
(``_serve``); only with nothing runnable does control go to the hub. Every
``BUDGET`` direct switches go through the hub anyway, so timers, I/O and
other threads are never starved by two tasks that keep each other busy.

Invariants
----------
* Only the scheduler's own thread touches ``runq``, ``current``,
  ``budget``, ``_free`` and the greenlets. Other threads reach it through
  ``incoming`` (a deque: append and popleft are atomic) plus
  ``backend.wakeup()`` (``ready_remote``).
* Whoever switches to a task sets ``current`` to it first; ``current`` is
  None exactly while the hub runs.
* A task is in ``runq``/``incoming`` at most once: it is readied only by the
  single winner of its current wait record (or by ``gosched``/``spawn``).
* No lock is held across a switch: LOCK (channel state) and the timer lock
  are taken and released within one task's turn.
"""

from __future__ import annotations

import contextlib
import random
import threading
import weakref
from collections import deque
from collections.abc import Callable
from threading import get_ident
from typing import Any, Final

from greenlet import getcurrent, greenlet

from . import waitreason as wr
from .backends import Backend
from .backends.catalog import make_backend
from .clock import Clock
from .errors import Cancelled, Deadlock
from .greenlets import carry_over, end_idle, home, take_carried
from .idle import wait_for_work
from .task import Task, ready, task_main
from .threads import ExitPark, hang_at_exit, hook_thread_end, quiet_prefixes, registry_lock
from .timers import Timers
from .waiter import LOCK, OneShot, WaitRecord

# Direct task-to-task switches allowed between two trips through the hub.
BUDGET: Final = 64
# While tasks stay runnable, a loop backend still gets a turn every this
# many + 1 hub rounds (a power of two minus one: a mask).
POLL_EVERY: Final = 15


class Scheduler:
    """The scheduler of one OS thread. Internal; see the module docstring."""

    def __init__(
        self,
        main_greenlet: greenlet,
        *,
        clock: Clock,
        seed: int | None,
        backend: str | Backend,
    ) -> None:
        self.thread_id = get_ident()
        self.thread = threading.current_thread()
        self.runq: deque[Task] = deque()
        self.incoming: deque[Task | None] = deque()  # None: "re-check timers"
        self.tasks: dict[int, Task] = {}
        self.clock = clock
        self.rng = random.Random(seed)
        self.backend = make_backend(backend)
        self.backend.bind_clock(clock)
        if self.backend.quiet_prefixes:
            quiet_prefixes.update(self.backend.quiet_prefixes)
        self.timers = Timers(self)
        # Outstanding work that can wake a task without a timer (I/O waits,
        # thread off-loads, awaits): while > 0 this is never a deadlock.
        self.pending = 0
        # The wait records of tasks parked on a PollDesc (gochan.net's
        # sockets, io.py): pending work for the deadlock check, but the
        # virtual clock may jump over them once none of their fds is ready.
        # A dict as an ordered set: a wait leaves it in O(1), however many
        # connections are parked.
        self.polling: dict[Any, None] = {}
        self.idle = False
        self.deadlock_pending = False
        self.budget = BUDGET
        self.failed_polls = 0  # non-blocking tries that found nothing (gosched.poll_failed)
        self._shutdown_wait: OneShot | None = None
        # Idle task greenlets (see _serve): reused from the right (the most
        # recently idle, still warm), trimmed from the left (greenlets.trim_free).
        # Those the thread's last scheduler left come first (greenlets.CARRY_MAX).
        self._free: deque[greenlet] = take_carried()
        # Every task greenlet's run callable: one bound method for all the
        # thread's greenlets (a greenlet keeps its run callable alive as
        # long as it lives), which serves whichever scheduler is installed.
        self._worker_run = home().worker
        main = Task(self, "main")
        main.greenlet = main_greenlet
        self.main = main
        # The task whose greenlet runs now; None while the hub runs.
        self.current: Task | None = main
        self.tasks[main.id] = main
        self.closing = False  # set by shutdown(): new tasks are born cancelled
        self.implicit = False  # created on first use, no run() (see run.implicit_scheduler)
        self.watch: Any = None  # the hold monitor's Watch of an implicit scheduler
        # Interpreter exit with this (daemon) thread still running: the hub
        # parks the thread on its own stack and sets this event once it is
        # parked (threads.park_daemon_threads); None: not exiting.
        self.exit_parked: threading.Event | None = None
        # Start the hub now, so that its recursion depth (which every fresh
        # task greenlet inherits from the hub that starts it) is fixed here,
        # not wherever some task first parks.
        self.hub = self._start_hub()
        # A scheduler dropped with its thread (implicit mode) closes its
        # wakeup sockets; run() closes them itself. The finalizer watches
        # the timer lock, which lives and dies with this scheduler, rather
        # than the scheduler: a mypyc-compiled class cannot be weakly
        # referenced. Not at interpreter exit (weakref's own atexit hook,
        # on the main thread): a daemon thread still waits in this backend
        # then, and must be woken through it (threads.park_daemon_threads).
        weakref.finalize(self.timers.lock, self.backend.close).atexit = False

    def __repr__(self) -> str:
        return f"<Scheduler thread={self.thread.name!r} tasks={len(self.tasks)}>"

    # -- starting and ending tasks ------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
    ) -> Task:
        t = self._new_task(fn, args, kwargs, name)
        t.creator = self.current.id if self.current is not None else 0
        self.runq.append(t)
        return t

    def _new_task(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
    ) -> Task:
        """A registered, not yet queued task that will run ``fn`` (named
        ``name``, else after ``fn``)."""
        if name is None:
            try:
                name = fn.__qualname__
            except AttributeError:
                name = repr(fn)
        t = Task(self, name)
        # No dict for no keyword arguments: task_main's frame would hold it
        # for as long as the task lives.
        t._fn, t._args, t._kwargs = fn, args, kwargs or None
        if self.closing:  # main has returned: nothing new runs (as in Go)
            t._cancelled = True
        # t.greenlet stays None until the task first runs (see _bind).
        self.tasks[t.id] = t  # one dict store: atomic for other threads' readers
        return t

    def spawn_threadsafe(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Task:
        """``spawn`` from any thread: a foreign thread queues the new task
        through ``incoming``, like a wakeup."""
        if get_ident() == self.thread_id:
            return self.spawn(fn, args, kwargs)
        t = self._new_task(fn, args, kwargs)
        self.ready_remote(t)
        return t

    def _bind(self, t: Task) -> greenlet | None:
        """Give task ``t``, about to run for the first time, an idle greenlet.

        None if there is none and the caller is not the hub: a fresh
        greenlet starts at the recursion depth of whoever first switches to
        it, so only the hub (whose depth is fixed and shallow) starts them;
        the caller then puts ``t`` back and goes through the hub.
        """
        free = self._free
        if free:
            g = free.pop()
        elif getcurrent() is self.hub:
            g = greenlet(self._worker_run, self.hub)
        else:
            self.runq.appendleft(t)
            return None
        t.greenlet = g
        return g

    def _serve(self, g: greenlet) -> greenlet:
        """Run the tasks of task greenlet ``g`` (``_Home.worker`` calls this
        on ``g``, switched to with ``current`` set to a task bound to ``g``)
        and return the greenlet to switch to next.

        When the task is done, ``g`` runs the next queued task itself if
        that task has not started yet (no switch at all); else ``g`` goes on
        the free list, and the next runnable task's greenlet (or the hub) is
        returned with ``current`` set for it. Returning rather than
        switching here means no frame of this scheduler stays suspended on
        an idle greenlet: it holds no task, and may serve the thread's next
        scheduler (``greenlets.CARRY_MAX``).
        """
        runq = self.runq
        t = self.current
        while True:
            assert t is not None and t.greenlet is g
            if g.gr_context is not None:  # as on a fresh greenlet: no variable
                g.gr_context = None  # of the task that ran here before
            task_main(t)
            t.greenlet = None
            if not (runq and self.budget and runq[0].greenlet is None):
                break
            self.budget -= 1
            t = runq.popleft()
            t.greenlet = g
            self.current = t
        self._free.append(g)
        if runq and self.budget:
            self.budget -= 1
            nxt = runq.popleft()
            g2 = nxt.greenlet or self._bind(nxt)
            if g2 is not None:
                self.current = nxt
                return g2
        self.current = None
        return self.hub

    def interrupt(self, t: Task, exc: BaseException) -> None:
        """Deliver ``exc`` to ``t``: now if parked, else at its next blocking
        point. ``Cancelled`` is delivered through the sticky ``_cancelled``
        flag instead of ``_throw``. Thread-safe."""
        with LOCK:
            sticky = isinstance(exc, Cancelled)
            if not sticky:
                t._throw = exc
            w = t._waiting
            withdrawn = w is not None and w.withdraw()
            if withdrawn:
                t._waiting = None
                t._resume_exc = exc
                if not sticky:
                    t._throw = None
        if withdrawn:
            ready(t)

    # -- park / ready -------------------------------------------------------

    def park(self, reason: str, waiting_on: object, waiting: WaitRecord | None) -> None:
        """Suspend the running task until ``ready`` is called for it.

        Preconditions: LOCK is not held; ``waiting`` (the wait record, or
        None for gosched) is already registered where a peer can complete
        it; its completer will ``ready`` this task (``waiter.WaitRecord``).
        ``waiting_on`` is only shown (``dump()``). On return
        ``self.current`` is the caller again. Raises the exception of
        whoever withdrew the wait (cancel, fatal, deadlock).
        """
        cur = self.current
        assert cur is not None
        cur._waiting = waiting
        # A pending interrupt is raised instead of blocking, but only if the
        # wait can still be withdrawn: if a peer already completed it, its
        # ready() is on the way and must be consumed by this park.
        if (cur._throw is not None or cur._cancelled) and waiting is not None:
            with LOCK:
                withdrawn = waiting.withdraw()
            if withdrawn:
                cur._waiting = None
                raise cur._take_pending()
        cur._state = reason
        cur.waiting_on = waiting_on
        # The switch away: straight to the next runnable task while the
        # budget lasts (a task may find itself first in the run queue:
        # gosched with nothing else runnable), else to the hub. An unstarted
        # task gets an idle greenlet (_bind); if there is none, only the hub
        # may start a fresh one, so we go there.
        runq = self.runq
        try:
            g = None
            if runq and self.budget:
                self.budget -= 1
                nxt = runq.popleft()
                if nxt is cur:
                    g = cur.greenlet  # nothing else to run: carry on
                else:
                    g = nxt.greenlet or self._bind(nxt)
                    if g is not None:
                        self.current = nxt
                        del nxt  # while we are parked, this frame must not pin it
                        g.switch()
            if g is None:
                self.current = None
                self.hub.switch()
        except BaseException as e:
            # Only an exception from outside the protocol lands here: a
            # signal (KeyboardInterrupt) that killed the hub while it waited,
            # or a greenlet.throw(). Take the task back so nothing can
            # resume it later, and let the exception propagate. (Or the
            # interpreter is exiting around this daemon thread: park it.)
            if isinstance(e, ExitPark):
                hang_at_exit(e.parked)
            self._abandon_park(cur, waiting)
            raise
        # Resumed: our switcher set self.current = cur. Stale _waiting and
        # waiting_on are harmless: withdraw() of a completed record returns
        # False, and dump() ignores waiting_on of a running task.
        exc = cur._resume_exc
        if exc is not None:
            cur._resume_exc = None
            raise exc

    def _abandon_park(self, cur: Task, waiting: WaitRecord | None) -> None:
        self.current = cur
        if waiting is not None:
            with LOCK:
                waiting.withdraw()
        # If a peer completed the wait first, its ready() queued us: unqueue.
        for q in (self.runq, self.incoming):
            with contextlib.suppress(ValueError):
                q.remove(cur)
        if self.hub.dead:
            self.hub = self._start_hub()

    def ready_remote(self, t: Task | None) -> None:
        """Make ``t`` runnable from another thread (None: just re-check)."""
        with registry_lock:
            self.incoming.append(t)
            self.idle = False
        self.backend.wakeup()

    # -- the hub ------------------------------------------------------------

    def _start_hub(self) -> greenlet:
        hub = greenlet(self._hub_loop, self.main.greenlet)
        hub.switch(getcurrent())
        return hub

    def _hub_loop(self, starter: greenlet) -> None:
        starter.switch()  # started by _start_hub: hand straight back
        runq, backend, timers, clock = self.runq, self.backend, self.timers, self.clock
        rounds = 0
        while True:
            self.budget = BUDGET
            rounds += 1
            if self.incoming:
                self._drain_incoming()
            if timers.heap:
                timers.run(clock.now())
            if not runq:
                wait_for_work(self)
                if self.exit_parked is not None:
                    self._exit_park()  # returns only if it cannot park the thread
                    continue
            elif self.polling or (
                backend.poll
                and (backend.dirty or self.pending or backend.inflight or not rounds & POLL_EVERY)
            ):
                # Green tasks keep us busy, but a loop (or watched fds, or
                # sockets: ``polling``, on any backend) may have work too:
                # give it a turn when it is known to have some, and every
                # POLL_EVERY + 1 rounds in any case, so coroutines and I/O
                # are never starved.
                backend.wait(0, self.incoming)
                if self.incoming:
                    self._drain_incoming()
            nxt = runq.popleft()
            self.current = nxt
            g = nxt.greenlet or self._bind(nxt)  # (the hub's _bind never fails)
            del nxt  # the hub must not pin the last task it ran while it waits
            g.switch()  # type: ignore[union-attr]

    def _exit_park(self) -> None:
        """The interpreter is exiting and this daemon thread still runs:
        raise ExitPark in the main task (parked in ``park``), which then
        waits for ever (``hang_at_exit``) on the thread's own stack, with no
        greenlet frame on it. Only if the main task's greenlet is the
        thread's root; otherwise give up (returns)."""
        parked, self.exit_parked = self.exit_parked, None
        assert parked is not None
        g = self.main.greenlet
        if g is None or g.dead or g.parent is not None:
            return
        self.current = self.main
        g.throw(ExitPark(parked))

    def _drain_incoming(self) -> None:
        incoming, runq = self.incoming, self.runq
        while incoming:
            t = incoming.popleft()
            if t is not None:
                t._state = wr.RUNNABLE
                runq.append(t)

    def busy(self) -> bool:
        """True while outstanding work (I/O, ``blocking()``, ``await_``,
        coroutines on a loop backend) could wake a task without a timer."""
        b = self.backend
        return self.pending > 0 or bool(self.polling) or (b.poll and b.busy())

    def _end_idle(self, g: greenlet) -> None:
        """End idle greenlet ``g`` (off the free list; see ``_end_idle``)."""
        self.current = None
        end_idle(g)

    # -- shutdown -------------------------------------------------------------

    def shutdown(self, carry: bool = True) -> list[BaseException]:
        """Cancel every task but main, newest first, and wait for them.

        Returns the exceptions delivered to main meanwhile (tasks that
        raised something other than Cancelled while unwinding). The idle
        greenlets are left to the thread's next scheduler if ``carry``
        (greenlets.CARRY_MAX), else ended (the thread is ending).
        """
        main = self.main
        errors: list[BaseException] = []
        self.closing = True
        if main._throw is not None:
            errors.append(main._take_pending())
        for t in reversed(list(self.tasks.values())):
            if t is not main:
                t.cancel()
        while len(self.tasks) > 1:
            w = OneShot(main)
            self._shutdown_wait = w
            stuck = False
            try:
                self.park(wr.SHUTDOWN, None, w)
            except Deadlock as e:
                # A task that survives cancellation and blocks for good: do
                # not wait for it forever; report it.
                errors.append(e)
                stuck = True
            except BaseException as e:
                errors.append(e)
            finally:
                self._shutdown_wait = None
            if stuck:  # (not a break inside try: mypyc cannot compile that)
                break
        if main._throw is not None:  # a task raised while unwinding, after main woke
            errors.append(main._take_pending())
        free, self._free = self._free, deque()
        if carry:
            if carry_over(free):  # the thread's next scheduler starts with them
                hook_thread_end()  # and they end with the thread
        else:
            for g in free:  # end idle greenlets while we own them
                self._end_idle(g)
        if self.hub:
            self.hub.throw()  # likewise the hub loop
        self.backend.close()
        return errors
