"""Supervisors: Erlang/OTP-style supervision trees for gochan tasks.

A ``Supervisor`` starts child tasks, captures their panics instead of
letting them crash the program, and restarts them according to each
child's policy and the supervisor's strategy, with exponential backoff and
a restart-intensity limit. Supervisors nest: a supervisor is itself a valid
child of another one.

Shape (after Go's thejerf/suture)
---------------------------------
Each running supervisor is one *owner task* looping over a ``select`` on its
control channel (``_bell``) and on a ``Timer`` for the next restart due.
Everything else talks to the owner with typed messages (``_Exit``, ``_Add``,
``_Stop``): the message goes into the ``_inbox`` deque and the sender rings
the bell, a channel of capacity one, with a non-blocking send. The owner
drains the whole inbox whenever the bell rings. Sending therefore never
blocks, which matters for the most common sender: a child task that is
ending because it was cancelled, where every blocking call raises
``Cancelled`` again. It also lets messages arrive before the owner has
started, or after it has stopped (``_close`` looks at what is left).

Invariant: whenever ``_inbox`` is non-empty, the bell holds a token or the
owner is running and will drain the inbox before it next blocks (a sender
appends first and rings second; the owner takes the token first and drains
second).

Only the owner task changes a running supervisor's state, so there is no
lock; ``dump()`` only reads it. Child tasks run on the owner's thread.
Time is ``gochan.monotonic()`` and randomness the scheduler's seeded
``rng``, so the virtual clock and ``seed=`` make every test exact.

How a child reports its end
---------------------------
A child task runs ``_child_main``, an ``@func`` function whose deferred call
``_child_ended`` looks at ``sys.exception()``: an ``Exception`` is a panic,
which it stops with ``recover()`` (so the task ends normally and nothing is
fatal); ``Cancelled`` and other ``BaseException``\\ s are left to propagate.
Either way it posts an ``_Exit`` naming the child and its *generation* (one
per start), so an exit of a run the owner has already stopped on purpose
is recognised as stale and ignored.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat

from ._runtime.chan import Chan
from ._runtime.dump import add_dump_section
from ._runtime.duration import optional_seconds
from ._runtime.duration import seconds as duration_seconds
from ._runtime.errors import Cancelled, Panic, not_callable
from ._runtime.nilchan import nilchan
from ._runtime.run import current, go
from ._runtime.scheduler import Scheduler
from ._runtime.select import default, select
from ._runtime.task import Task
from ._runtime.threads import get_scheduler
from ._runtime.timers import Timer, monotonic
from .deferred import defer, func, recover

RestartPolicy = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
_POLICIES = ("permanent", "transient", "temporary")
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

# How a child's run ended.
RETURNED, PANICKED, CANCELLED, STOPPED, KILLED = (
    "returned",
    "panicked",
    "cancelled",
    "stopped",
    "killed",
)

log = logging.getLogger("gochan.supervisor")


class TooManyRestarts(Panic):
    """Raised by a supervisor that gives up: a child needed a restart when
    ``max_restarts`` restarts had already happened within ``period``
    seconds. Its ``__cause__`` is the child's exception (None if a
    permanent child returned). A nested supervisor raising it is, to its
    parent, a child that panicked.
    """

    def __init__(self, message: str, supervisor: str, child: str) -> None:
        super().__init__(message)
        self.supervisor = supervisor
        self.child = child


@dataclass(frozen=True)
class PanicReport:
    """What a supervisor saw when a child needed its attention.

    ``exception`` is the child's panic, or None when a permanent child
    returned normally (it is restarted all the same); ``traceback`` is its
    formatted traceback ("" for None), formatted on first use. ``restarts``
    counts the child's restarts before this one; ``time`` is on the scheduler clock
    (``gochan.monotonic()``). ``action`` is what the supervisor does next:
    ``"restart"`` (after ``delay`` seconds), ``"drop"`` (a temporary child:
    not restarted) or ``"give up"`` (too many restarts: the supervisor stops
    its children and fails).

    >>> from gochan import PanicReport
    >>> r = PanicReport("root", "worker", 7, ValueError("boom"), 1, 2.5, "restart", 0.2)
    >>> print(r)
    t=2.5 root/worker panicked: ValueError: boom; restart 2 in 0.2 s
    """

    supervisor: str
    child: str
    task_id: int
    exception: BaseException | None
    restarts: int
    time: float
    action: Literal["restart", "drop", "give up"]
    delay: float | None = None

    @functools.cached_property
    def traceback(self) -> str:
        """The exception's traceback, formatted as Python prints it."""
        e = self.exception
        return "" if e is None else "".join(traceback.format_exception(e))

    @property
    def task_name(self) -> str:
        """The child task's name: ``"<supervisor>/<child>"``."""
        return f"{self.supervisor}/{self.child}"

    def __str__(self) -> str:
        e = self.exception
        what = "returned" if e is None else f"panicked: {_exc_line(e)}"
        if self.action == "restart":
            then = f"restart {self.restarts + 1} in {self.delay:g} s"
        elif self.action == "drop":
            then = "temporary: not restarted"
        else:
            then = "too many restarts: giving up"
        return f"t={self.time:g} {self.task_name} {what}; {then}"


def _exc_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class Child:
    """A child of a ``Supervisor``, as returned by ``Supervisor.add()``.

    Read-only view: ``name``, ``restart`` (its policy), ``restarts`` (how
    many times the supervisor restarted it), ``task`` (the running task, or
    None), ``state`` (``"waiting"``: the supervisor is not running;
    ``"running"``; ``"restarting"``: waiting out its backoff; ``"stopped"``;
    ``"done"``: ended for good and removed), and ``supervisor`` (the child
    supervisor, for a nested one).
    """

    __slots__ = (
        "args",
        "due",
        "fn",
        "gen",
        "kwargs",
        "name",
        "restart",
        "restarts",
        "state",
        "supervisor",
        "task",
    )

    def __init__(
        self,
        name: str,
        restart: RestartPolicy,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        sup: Supervisor | None,
    ) -> None:
        self.name = name
        self.restart: RestartPolicy = restart
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.supervisor = sup
        self.restarts = 0
        self.task: Task | None = None
        self.state = "waiting"
        self.due: float | None = None  # when "restarting": start again at this time
        self.gen = 0  # bumped at every start and every deliberate stop

    def __repr__(self) -> str:
        return f"<Child {self.name!r} {self.restart} [{self.state}] restarts={self.restarts}>"


# -- messages to the owner task ------------------------------------------------


@dataclass
class _Exit:
    child: Child
    gen: int
    how: str  # RETURNED, PANICKED, ...
    exc: BaseException | None
    task_id: int


@dataclass
class _Add:
    child: Child


class _Stop:
    pass


_Msg = _Exit | _Add | _Stop


def _real(value: object, what: str) -> float:
    """``value``, a number the Supervisor takes (not a duration), as a float:
    ``TypeError`` if it is no number, ``ValueError`` if it is NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float, SupportsFloat)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    x = float(value)
    if x != x:
        raise ValueError(f"{what} must be a number, got NaN")
    return x


class Supervisor:
    """Runs child tasks, captures their panics and restarts them.

    Children are added with ``add()`` (before or while running). Each has a
    restart policy: ``"permanent"`` (always restarted, even after returning
    normally), ``"transient"`` (restarted only after a panic) or
    ``"temporary"`` (never restarted). When a child needs a restart, the
    ``strategy`` says which children restart: ``"one_for_one"`` only that
    one, ``"one_for_all"`` all of them, ``"rest_for_one"`` it and the
    children added after it (the others are stopped first, newest first).

    A restart waits ``backoff * backoff_factor ** (n - 1)`` seconds (at most
    ``backoff_max``, by default 10 or ``backoff`` if longer, then spread by
    ``± jitter`` of itself), where ``n`` counts this child's restarts
    within the last ``period`` seconds. A supervisor that would restart
    more than ``max_restarts`` times within ``period`` seconds gives up: it
    stops its children and raises ``TooManyRestarts``, which its parent
    supervisor treats as a panic of that child, and which is fatal at the
    top (an unrecovered panic); ``max_restarts=math.inf`` never gives up.
    Durations follow gochan's rule: NaN raises ``ValueError``, and
    ``math.inf`` (or more than Go's largest duration) is "never": a
    ``period`` that long never forgets a restart, a backoff that long never
    restarts (until ``stop()``).

    A child ending by cancellation (``task.cancel()``, or ``gochan.run()``
    shutting down) is removed without a restart: it was stopped on
    purpose, not by a fault. With ``auto_shutdown=True`` the supervisor
    returns once it has no children left.

    Every panic produces a ``PanicReport``: it is logged on the
    ``"gochan.supervisor"`` logger, put on the ``reports`` channel (which
    keeps the latest ``report_buffer`` reports: when it is full the oldest
    is dropped and ``dropped_reports`` counts it) and passed to
    ``on_report`` if given (called in the supervisor's task: it must not
    block, and an exception it raises fails the supervisor).

    >>> import gochan
    >>> def worker(n):
    ...     gochan.sleep(n)
    ...     gochan.panic(f"failed after {n} s")
    >>> def main():
    ...     sup = gochan.Supervisor("root", period=60, backoff=0.5, jitter=0)
    ...     sup.add(worker, 2)
    ...     sup.start()
    ...     for _ in range(3):
    ...         print(sup.reports.recv())
    ...     sup.stop()
    >>> gochan.run(main, clock="virtual")
    t=2 root/worker panicked: Panic: failed after 2 s; restart 1 in 0.5 s
    t=4.5 root/worker panicked: Panic: failed after 2 s; restart 2 in 1 s
    t=7.5 root/worker panicked: Panic: failed after 2 s; restart 3 in 2 s
    """

    def __init__(
        self,
        name: str = "supervisor",
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: float = 3,
        period: float = 5.0,
        backoff: float = 0.1,
        backoff_factor: float = 2.0,
        backoff_max: float | None = None,
        jitter: float = 0.1,
        report_buffer: int = 100,
        on_report: Callable[[PanicReport], object] | None = None,
        auto_shutdown: bool = False,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(_STRATEGIES)}; got {strategy!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, (int, float)):
            raise TypeError(
                f"max_restarts must be an int >= 0 (math.inf: never give up), got {max_restarts!r}"
            )
        if not (isinstance(max_restarts, int) or max_restarts == math.inf) or max_restarts < 0:
            raise ValueError(
                f"max_restarts must be an int >= 0 (math.inf: never give up), got {max_restarts!r}"
            )
        # Durations (NaN refused; math.inf, or more than Go's largest
        # duration, is math.inf: a backoff that long never restarts).
        period = duration_seconds(period, "Supervisor(period=)")
        backoff_factor = _real(backoff_factor, "backoff_factor")
        jitter = _real(jitter, "jitter")
        if isinstance(report_buffer, bool) or not isinstance(report_buffer, int):
            raise TypeError(f"report_buffer must be an int >= 1, got {report_buffer!r}")
        backoff = duration_seconds(backoff, "Supervisor(backoff=)")
        # By default at most 10 s, or ``backoff`` itself if that is longer.
        backoff_max = (
            max(10.0, backoff)
            if backoff_max is None
            else duration_seconds(backoff_max, "Supervisor(backoff_max=)")
        )
        if not period > 0:
            raise ValueError(f"period must be > 0 seconds, got {period!r}")
        if not (backoff >= 0 and backoff_factor >= 1 and backoff_max >= backoff):
            raise ValueError(
                "need backoff >= 0, backoff_factor >= 1 and backoff_max >= backoff; got "
                f"{backoff!r}, {backoff_factor!r}, {backoff_max!r}"
            )
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {jitter!r}")
        if on_report is not None and not callable(on_report):
            raise not_callable(
                "Supervisor()", on_report, "", need="a callable (or None) as on_report"
            )
        if report_buffer < 1:
            raise ValueError(f"report_buffer must be >= 1, got {report_buffer!r}")
        self.name = name
        self.strategy: Strategy = strategy
        self.max_restarts = max_restarts
        self.period = float(period)
        self.backoff = float(backoff)
        self.backoff_factor = float(backoff_factor)
        self.backoff_max = float(backoff_max)
        self.jitter = float(jitter)
        self.on_report = on_report
        self.auto_shutdown = auto_shutdown
        self.reports: Chan[PanicReport] = Chan(report_buffer)
        self.dropped_reports = 0
        self._children: list[Child] = []
        self._names: dict[str, int] = {}
        self._owner: Supervisor | None = None  # set when added to a parent
        self._inbox: deque[_Msg] = deque()
        self._bell: Chan[None] = Chan(1)
        # One activation: from start() (or serve()) to the end of serve.
        self._active = False
        self._serving = False
        self._task: Task | None = None  # the task spawned to run serve, if any
        self._runner: Task | None = None  # the task running serve now
        self._finished: Chan[None] = Chan()
        self._path = name
        self._sched: Scheduler | None = None
        self._log: deque[tuple[float, Child]] = deque()  # restart times in the window
        self._timer: Timer | None = None
        self._armed_for: float | None = None

    def __repr__(self) -> str:
        state = "running" if self._serving else "stopped"
        return (
            f"<Supervisor {self._path!r} [{state}] {self.strategy} children={len(self._children)}>"
        )

    # -- the public surface ----------------------------------------------------

    @property
    def children(self) -> list[Child]:
        """The current children, in the order they were added."""
        return list(self._children)

    @property
    def task(self) -> Task | None:
        """The task running this supervisor (None when it is not running)."""
        return (self._runner or self._task) if self._is_active() else None

    def add(
        self,
        fn: Callable[..., Any] | Supervisor,
        /,
        *args: Any,
        name: str | None = None,
        restart: RestartPolicy = "permanent",
        **kwargs: Any,
    ) -> Child:
        """Add a child: ``fn(*args, **kwargs)``, or a nested ``Supervisor``.

        Before the supervisor runs, the child waits for it; while it runs,
        the child starts at once. ``name`` defaults to the function's name
        (made unique with ``#2``, ``#3``...); the child's task is named
        ``"<supervisor>/<name>"``. To pass keyword arguments called
        ``name`` or ``restart`` to ``fn``, use ``functools.partial``.

        >>> import gochan
        >>> sup = gochan.Supervisor("root")
        >>> sup.add(print, "hello", restart="temporary")
        <Child 'print' temporary [waiting] restarts=0>
        """
        if restart not in _POLICIES:
            raise ValueError(f"restart must be one of {', '.join(_POLICIES)}; got {restart!r}")
        sup: Supervisor | None = None
        target: Callable[..., Any]
        if isinstance(fn, Supervisor):
            sup = fn
            target = fn.serve  # not called: _child_main runs a child supervisor itself
            if args or kwargs:
                raise TypeError("a child Supervisor takes no arguments")
            node: Supervisor | None = self
            while node is not None:
                if node is sup:
                    raise ValueError(f"cannot add supervisor {sup.name!r} below itself")
                node = node._owner
            if sup._owner is not None or sup._is_active():
                raise ValueError(f"supervisor {sup.name!r} already runs elsewhere")
            sup._owner = self
        elif callable(fn):
            target = fn
        else:
            raise not_callable(
                "Supervisor.add()",
                fn,
                "; write sup.add(f, arg) rather than sup.add(f(arg))",
                need="a callable or a Supervisor",
            )
        base = name or (sup.name if sup is not None else _fn_name(target))
        n = self._names.get(base, 0) + 1
        self._names[base] = n
        child = Child(base if n == 1 else f"{base}#{n}", restart, target, args, kwargs, sup)
        if self._is_active():
            self._post(_Add(child))
        else:
            self._children.append(child)
        return child

    def start(self) -> Task:
        """Run the supervisor in a new task (``go(self.serve)``) and return it.

        If it gives up, ``TooManyRestarts`` escapes that task: fatal, as an
        unrecovered panic, unless the supervisor is nested in another one.
        """
        self._check_top()
        self._activate()
        t = go(self._serve, None)
        t.name = self._path
        self._task = t
        return t

    def serve(self) -> None:
        """Run the supervisor in the calling task until ``stop()`` (then
        return) or until it gives up (then raise ``TooManyRestarts``)."""
        self._check_top()
        self._activate()
        self._serve(None)

    def stop(self) -> None:
        """Stop the children, newest first, each waited for, then the
        supervisor. Returns once it has stopped; does nothing if it is not
        running. Called from the supervisor's own task (``on_report``), it
        only asks, and the supervisor stops once the callback returns."""
        if not self._is_active():
            return
        self._post(_Stop())
        me = current()
        if me is self._runner:
            return
        t = self._task
        if t is not None:
            _wait_task(t)
        else:
            self._finished.recv()

    def join(self, timeout: float | None = None) -> None:
        """Wait until a supervisor started with ``start()`` (or
        ``supervise()``) has finished; re-raise ``TooManyRestarts`` if it
        gave up. ``TimeoutError`` after ``timeout`` seconds (``math.inf``:
        none)."""
        timeout = optional_seconds(timeout, "Supervisor.join()")
        t = self._task
        if t is None:
            raise RuntimeError(f"supervisor {self.name!r} was not started with start()")
        t.join(timeout)

    # -- one activation ---------------------------------------------------------

    def _check_top(self) -> None:
        if self._owner is not None:
            raise RuntimeError(
                f"supervisor {self.name!r} is a child of supervisor {self._owner.name!r}: "
                "it starts and stops with its parent"
            )

    def _is_active(self) -> bool:
        """Started (or serving) and not finished. A task cancelled before it
        ever ran never serves: its activation is over too."""
        if not self._active:
            return False
        t = self._task
        if not self._serving and t is not None and t.done():
            self._active = False
            return False
        return True

    def _activate(self) -> None:
        if self._is_active():
            raise RuntimeError(f"supervisor {self._path!r} is already running")
        self._active = True
        self._task = None
        self._finished = Chan()
        self._inbox.clear()  # stale stops and exits from an earlier activation

    def _serve(self, parent: Supervisor | None) -> bool:
        """The owner task's body. True if it stopped because it was asked to."""
        self._serving = True
        self._runner = current()
        self._sched = get_scheduler()
        self._path = self.name if parent is None else f"{parent._path}/{self.name}"
        self._log.clear()
        with _registry_lock:
            _registry.add(self)
        try:
            if not any(isinstance(m, _Stop) for m in self._inbox):
                for c in self._children:
                    self._start(c)
            return self._loop()
        except BaseException:
            self._abort()
            raise
        finally:
            self._close()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
            self._armed_for = None
        for m in self._inbox:  # children added too late to start: keep them
            if isinstance(m, _Add):
                m.child.state = "waiting"
                self._children.append(m.child)
        self._inbox.clear()
        with _registry_lock:
            _registry.discard(self)
        self._serving = False
        self._runner = None
        self._active = False
        self._finished.close()

    def _loop(self) -> bool:
        bell = self._bell
        while True:
            while self._inbox:
                m = self._inbox.popleft()
                if isinstance(m, _Exit):
                    self._on_exit(m)
                elif isinstance(m, _Add):
                    self._children.append(m.child)
                    self._start(m.child)
                else:
                    self._stop_all()
                    return True
            self._sweep()
            if self.auto_shutdown and not self._children:
                return False
            timer_c = self._arm()
            i, _ = select(bell.recv, timer_c.recv)
            if i == 1:
                self._restart_due()

    def _sweep(self) -> None:
        """A child task cancelled before it ever ran posts no exit: find it."""
        for c in list(self._children):
            t = c.task
            if t is not None and t.done():
                self._on_exit(_Exit(c, c.gen, CANCELLED, None, t.id))

    def _arm(self) -> Chan[float]:
        """Set the timer for the earliest restart due; its channel, or nilchan."""
        due = min((c.due for c in self._children if c.due is not None), default=None)
        if due is None:
            if self._timer is not None and self._armed_for is not None:
                self._timer.stop()
                self._armed_for = None
            return nilchan
        if due != self._armed_for:
            delay = max(0.0, due - monotonic())
            if self._timer is None:
                self._timer = Timer(delay)
            else:
                self._timer.reset(delay)
            self._armed_for = due
        assert self._timer is not None
        return self._timer.c

    def _restart_due(self) -> None:
        limit = self._armed_for
        self._armed_for = None
        for c in list(self._children):
            if c.due is not None and limit is not None and c.due <= limit:
                self._start(c)

    # -- children ----------------------------------------------------------------

    def _start(self, c: Child) -> None:
        c.gen += 1
        c.due = None
        c.state = "running"
        sup = c.supervisor
        if sup is not None:
            sup._activate()
        t = go(self._child_main, c, c.gen)
        t.name = f"{self._path}/{c.name}"
        c.task = t
        if sup is not None:
            sup._task = t

    @func
    def _child_main(self, c: Child, gen: int) -> None:
        stopped = [False]
        defer(self._child_ended, c, gen, stopped)
        if c.supervisor is not None:
            stopped[0] = c.supervisor._serve(self)
        else:
            c.fn(*c.args, **c.kwargs)

    def _child_ended(self, c: Child, gen: int, stopped: list[bool]) -> None:
        # Deferred by _child_main, so recover() here stops the child's panic.
        exc = sys.exception()
        if isinstance(exc, Exception):
            recover()
            how = PANICKED
        elif exc is None:
            how = STOPPED if stopped[0] else RETURNED
        elif isinstance(exc, Cancelled):
            how = CANCELLED
        else:  # KeyboardInterrupt, SystemExit...: fatal, and not ours to handle
            how = KILLED
        self._post(_Exit(c, gen, how, exc, current().id))

    def _post(self, m: _Msg) -> None:
        """Send ``m`` to the owner task; never blocks (see the module docstring)."""
        self._inbox.append(m)
        select((self._bell.send, None), default)

    def _on_exit(self, m: _Exit) -> None:
        c = m.child
        if m.gen != c.gen or c.task is None:
            return  # a run we stopped on purpose
        c.task = None
        how = m.how
        if how in (CANCELLED, STOPPED, KILLED):
            self._remove(c)
            return
        if c.restart == "temporary" or (c.restart == "transient" and how == RETURNED):
            if how == PANICKED:
                self._report(c, m, "drop", None)
            self._remove(c)
            return
        now = monotonic()
        window = self._log
        while window and now - window[0][0] >= self.period:
            window.popleft()
        if len(window) >= self.max_restarts:
            self._report(c, m, "give up", None)
            self._give_up(c, m)
        window.append((now, c))
        delay = self._delay(sum(1 for _, x in window if x is c))
        self._report(c, m, "restart", delay)
        group = self._group(c)
        for x in reversed(group):
            if x is not c and x.task is not None:
                self._stop_child(x)
        for x in group:
            if x is not c and x.restart == "temporary":
                self._remove(x)  # OTP: a temporary sibling is never restarted
                continue
            x.restarts += 1
            x.state = "restarting"
            x.due = now + delay
        if delay == 0:
            self._restart_due_now(now)

    def _restart_due_now(self, now: float) -> None:
        for x in list(self._children):
            if x.due is not None and x.due <= now:
                self._start(x)

    def _group(self, c: Child) -> list[Child]:
        """The children that restart together with ``c``, in start order."""
        if self.strategy == "one_for_one":
            return [c]
        if self.strategy == "one_for_all":
            return list(self._children)
        i = self._children.index(c)
        return self._children[i:]

    def _delay(self, n: int) -> float:
        d = self.backoff
        if d and n > 1:
            try:
                d *= self.backoff_factor ** (n - 1)
            except OverflowError:  # past any float, so past backoff_max
                d = math.inf
        d = min(self.backoff_max, d)
        if self.jitter and 0 < d < math.inf:  # an infinite one stays "never"
            d *= 1 + self.jitter * (2 * get_scheduler().rng.random() - 1)
        return d

    def _remove(self, c: Child) -> None:
        c.state = "done"
        c.due = None
        self._children.remove(c)

    def _stop_child(self, c: Child) -> None:
        """Stop one running child and wait until its task has ended."""
        t = c.task
        assert t is not None
        c.task = None
        c.gen += 1  # whatever exit it posts is now stale
        c.state = "stopped"
        if c.supervisor is not None:
            c.supervisor._post(_Stop())  # an orderly stop of its own children
        else:
            t.cancel()
        _wait_task(t)

    def _stop_all(self) -> None:
        for c in reversed(self._children):
            if c.task is not None:
                self._stop_child(c)
            elif c.due is not None:
                c.due = None
                c.state = "stopped"

    def _abort(self) -> None:
        """Cancel every child still running, newest first, without waiting:
        the supervisor itself is failing or being cancelled."""
        for c in reversed(self._children):
            t = c.task
            c.due = None
            if t is not None:
                c.task = None
                c.gen += 1
                c.state = "stopped"
                t.cancel()

    def _give_up(self, c: Child, m: _Exit) -> None:
        self._stop_all()
        what = "returned" if m.exc is None else f"panicked ({_exc_line(m.exc)})"
        err = TooManyRestarts(
            f"supervisor {self._path!r} gave up: child {c.name!r} {what} after "
            f"{self.max_restarts} restart(s) within {self.period:g} s",
            self._path,
            c.name,
        )
        raise err from m.exc

    def _report(self, c: Child, m: _Exit, action: str, delay: float | None) -> None:
        exc = m.exc
        r = PanicReport(
            supervisor=self._path,
            child=c.name,
            task_id=m.task_id,
            exception=exc,
            restarts=c.restarts,
            time=monotonic(),
            action=action,  # type: ignore[arg-type]
            delay=delay,
        )
        level = logging.ERROR if action == "give up" else logging.WARNING
        if exc is None:
            level = logging.INFO if action == "restart" else level
        log.log(level, "%s", r)
        ch = self.reports
        while select((ch.send, r), default)[0] != 0:
            if select(ch.recv, default)[0] == 0:  # full: drop the oldest
                self.dropped_reports += 1
        if self.on_report is not None:
            self.on_report(r)

    # -- dump() ----------------------------------------------------------------------

    def _describe(self, indent: str, policy: str = "") -> list[str]:
        window = [t for t, _ in list(self._log)]
        now = self._sched.clock.now() if self._sched is not None else 0.0
        recent = sum(1 for t in window if now - t < self.period)
        state = "running" if self._serving else "stopped"
        t = self._task
        where = f", goroutine {t.id}" if t is not None and self._serving else ""
        lines = [
            f"{indent}supervisor {self._path!r} [{state}] {policy}{self.strategy}, "
            f"restarts {recent}/{self.max_restarts} in {self.period:g} s{where}"
        ]
        for c in list(self._children):
            if c.supervisor is not None and c.supervisor._serving:
                lines.extend(c.supervisor._describe(indent + "  ", f"{c.restart}, "))
                continue
            if c.state == "restarting" and c.due is not None:
                state = f"restarting in {max(0.0, c.due - now):.2f} s"
            else:
                state = c.state
            task = f", goroutine {c.task.id}" if c.task is not None else ""
            lines.append(f"{indent}  {c.name!r} [{state}] {c.restart}, restarts {c.restarts}{task}")
        return lines


def _fn_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else repr(fn)


def _wait_task(t: Task) -> None:
    """Wait until ``t`` has ended. That it ended by cancellation is expected
    and swallowed; anything else propagates: the waiting task's own
    cancellation, and a fatal error (such as ``t`` itself giving up), which
    must not be lost on its way to the main task."""
    while not t.done():
        try:
            t.join()
        except Cancelled:
            if not t.cancelled():
                raise


def supervise(
    fn: Callable[..., Any],
    /,
    *args: Any,
    name: str | None = None,
    restart: RestartPolicy = "transient",
    **options: Any,
) -> Supervisor:
    """Run ``fn(*args)`` under a new one-child supervisor, started at once.

    The common case in one call: by default the child is restarted after a
    panic (``restart="transient"``) and the supervisor finishes when the
    child returns normally (``auto_shutdown=True``). Other keyword
    arguments configure the ``Supervisor``; use ``functools.partial`` for
    ``fn``'s own keyword arguments. ``join()`` waits for it to finish and
    re-raises ``TooManyRestarts`` if it gave up; ``stop()`` ends it early.

    >>> import gochan
    >>> def main():
    ...     tries = []
    ...     def flaky():
    ...         tries.append(gochan.monotonic())
    ...         if len(tries) < 3:
    ...             gochan.panic("not yet")
    ...     gochan.supervise(flaky, backoff=1.0, jitter=0).join()
    ...     return tries
    >>> gochan.run(main, clock="virtual")
    [0.0, 1.0, 3.0]
    """
    if not callable(fn):
        raise not_callable(
            "supervise()", fn, "; write supervise(f, arg) rather than supervise(f(arg))"
        )
    options.setdefault("auto_shutdown", True)
    sup = Supervisor(name or _fn_name(fn), **options)
    sup.add(fn, *args, name=name, restart=restart)
    sup.start()
    return sup


# -- the supervision tree in dump() ------------------------------------------------

_registry_lock = threading.Lock()
_registry: weakref.WeakSet[Supervisor] = weakref.WeakSet()


def _dump_section() -> str:
    # A timeout, not a plain wait: dump_on_signal's handler may run on a
    # thread that was interrupted while holding this very lock.
    if not _registry_lock.acquire(timeout=0.2):
        return "supervision trees: (changing right now: call dump() again)"
    try:
        live = list(_registry)
    finally:
        _registry_lock.release()
    roots = [s for s in live if s._owner is None or not s._owner._serving]
    if not roots:
        return ""
    lines = ["supervision trees:"]
    try:
        for s in roots:
            lines.extend(s._describe("  "))
    except RuntimeError:  # changed under us by its owner on another thread
        lines.append("  (changing right now: call dump() again)")
    return "\n".join(lines)


add_dump_section(_dump_section)

__all__ = ["Child", "PanicReport", "Supervisor", "TooManyRestarts", "supervise"]
