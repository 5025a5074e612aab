"""Testing gochan code: a pytest plugin, plus helpers that work without pytest.

Enable the plugin with ``pytest -p gochan.testing`` (or through its
``pytest11`` entry point, which loads it automatically). It gives:

* a leak check, like Uber's goleak: a test that leaves green tasks alive (on
  any thread) or OS threads running fails its teardown with a goroutine dump
  of each one; opt out with ``@pytest.mark.gochan_allow_leaks``;
  ``--gochan-leak-check=all|gochan|off`` says which tests are checked;
* the ``virtual_clock`` fixture (:class:`VirtualClockFixture`): the test's own
  thread runs on a virtual clock, and ``virtual_clock.run(main)`` runs a
  program on it;
* ``--gochan-seed N`` and the ``gochan_seed`` fixture: one seed per session,
  printed in the report header and under every failing test that used it;
* ``--gochan-backends=builtin,asyncio,uvloop,trio`` and the
  ``gochan_backend`` fixture: a test that uses the fixture runs once per
  backend, with ``GOCHAN_BACKEND`` set.

Usable without pytest (importing ``gochan.testing`` does not need it):
:func:`verify_none` and :func:`snapshot` (goleak's ``VerifyNone`` and
``IgnoreCurrent``), :func:`wait_all_blocked`, which waits until every other
task is blocked, and :class:`VirtualClockFixture` as a context manager. The
plugin itself is the module ``gochan.testing._plugin``; when pytest is
installed, its hooks and fixtures are importable from here too.

>>> import gochan
>>> from gochan.testing import wait_all_blocked
>>> def main():
...     seen = []
...     ch = gochan.Chan[int]()
...     gochan.go(lambda: seen.extend(ch))
...     ch.send(1)
...     wait_all_blocked()          # the receiver has taken 1 and blocks again
...     seen_now = list(seen)
...     ch.close()
...     return seen_now
>>> gochan.run(main)
[1]
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from greenlet import getcurrent

from .._runtime import task as _task
from .._runtime import threads as _threads
from .._runtime import waitreason as _wr
from .._runtime.clock import VirtualClock
from .._runtime.dump import format_task
from .._runtime.duration import MAX_DURATION, optional_seconds
from .._runtime.gosched import gosched
from .._runtime.run import run as _run
from .._runtime.scheduler import Scheduler
from .._runtime.task import Task
from .._runtime.threads import all_schedulers, current_task, install, peek_scheduler
from .._runtime.timers import sleep_task

R = TypeVar("R")

# How long the leak check waits for other threads (and their tasks) to
# finish before it reports them: a thread told to stop may take a moment.
# The plugin reads it here at each check, so setting gochan.testing.LEAK_GRACE
# changes it (verify_none's default is the value at import).
LEAK_GRACE = 1.0
# wait_all_blocked()'s default bound, in scheduling rounds.
ROUNDS = 1000
LEAK_MODES = ("all", "gochan", "off")  # --gochan-leak-check's choices
# Threads of an event loop's own pool (trio keeps idle workers for 10 s):
# like gochan's idle blocking() workers, not leaks.
POOL_THREAD_PREFIXES = ("Trio thread ",)
_NOT_BLOCKED = (_wr.RUNNING, _wr.RUNNABLE)
_THREADING_FILE = threading.__file__
_MAX_THREAD_FRAMES = 12


# -- quiescence -------------------------------------------------------------


def _not_blocked(s: Scheduler, me: Task) -> list[Task]:
    """The tasks of ``s`` other than ``me`` that are running or runnable,
    including those readied from another thread but not yet queued."""
    busy = [t for t in list(s.tasks.values()) if t is not me and t.state in _NOT_BLOCKED]
    for t in list(s.incoming):
        if isinstance(t, Task) and t is not me and not t._done and t not in busy:
            busy.append(t)
    return busy


def _drive(s: Scheduler, me: Task, rounds: int, deadline: float | None) -> list[Task]:
    """Let the other tasks of ``s`` run until all are blocked, within the
    bound; return those still not blocked (empty: quiescent)."""
    n = 0
    while True:
        busy = _not_blocked(s, me)
        if not busy:
            return []
        if deadline is not None:
            if time.monotonic() >= deadline:
                return busy
        elif n >= rounds:
            return busy
        n += 1
        if s.runq:
            gosched()  # every runnable task runs once, then us again
        else:
            sleep_task(0)  # a trip through the hub: take in cross-thread wakeups


def wait_all_blocked(timeout: float | None = None, *, rounds: int = ROUNDS) -> None:
    """Yield until every other task of this thread's scheduler is blocked.

    Call it from a green task (``main``, or the thread's own code in
    implicit mode): it lets the other tasks run until none is running or
    runnable, so that a test can assert on their effects without sleeping.
    A task parked anywhere counts as blocked: on a channel, a ``select``,
    a lock, a ``sleep`` (time does not move here), a ``blocking()`` call or
    an ``await_``. Tasks of other threads are not waited for.

    The bound is ``rounds`` scheduling rounds (each lets every runnable
    task run until it next blocks or yields), or, if ``timeout`` is given,
    that many seconds of wall time (``math.inf``: no bound at all). Past
    it, ``TimeoutError`` with a dump of this thread's tasks: some task keeps
    running (a ``gosched()`` loop, a ticker on the real clock, ...).

    >>> import gochan
    >>> from gochan.testing import wait_all_blocked
    >>> def main():
    ...     results = gochan.Chan[int](10)
    ...     for i in range(3):
    ...         gochan.go(results.send, i * i)
    ...     wait_all_blocked()
    ...     return len(results)
    >>> gochan.run(main)
    3
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds!r}")
    timeout = optional_seconds(timeout, "wait_all_blocked()")
    me = current_task()
    s = me.sched
    deadline = None if timeout is None else time.monotonic() + timeout
    busy = _drive(s, me, rounds, deadline)
    if busy:
        bound = f"{timeout}s" if timeout is not None else f"{rounds} rounds"
        names = ", ".join(f"{t.id} ({t.name!r}, {t.state})" for t in busy)
        tasks = "\n\n".join(format_task(t, s) for t in list(s.tasks.values()))
        raise TimeoutError(
            f"wait_all_blocked: tasks still not blocked after {bound}: {names}\n\n{tasks}\n"
        )


# -- leak detection ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The green tasks, schedulers and threads alive at one moment.

    Pass it to :func:`verify_none` to ignore everything that already ran
    when it was taken (goleak's ``IgnoreCurrent``).

    >>> import threading
    >>> from gochan.testing import snapshot
    >>> snap = snapshot()
    >>> threading.main_thread() in snap.threads
    True
    """

    tasks: frozenset[int]
    """Ids of the live tasks of every scheduler."""
    schedulers: frozenset[Scheduler]
    threads: frozenset[threading.Thread]
    created: int | None = None
    """How many tasks the process had created (None: unknown)."""

    def __or__(self, other: Snapshot) -> Snapshot:
        return Snapshot(
            self.tasks | other.tasks,
            self.schedulers | other.schedulers,
            self.threads | other.threads,
            self.created,
        )

    def __sub__(self, other: Snapshot) -> Snapshot:
        return Snapshot(
            self.tasks - other.tasks,
            self.schedulers - other.schedulers,
            self.threads - other.threads,
            self.created,
        )


_EMPTY = Snapshot(frozenset(), frozenset(), frozenset())


def _created() -> int | None:
    """How many tasks were ever created, read from the task id counter
    without consuming an id (its repr is ``count(N)``)."""
    r = repr(_task._ids)
    try:
        return int(r[r.index("(") + 1 : r.index(")")])
    except ValueError:  # pragma: no cover - not an itertools.count any more
        return None


def _alive(th: threading.Thread, frames: dict[int, Any]) -> bool:
    if isinstance(th, threading._DummyThread):  # started outside threading
        return th.ident in frames
    return th.is_alive()


def _live_threads() -> list[threading.Thread]:
    frames = sys._current_frames()
    return [th for th in threading.enumerate() if _alive(th, frames)]


def _live_schedulers() -> list[Scheduler]:
    own = peek_scheduler()
    scheds = all_schedulers()
    if own is not None and own not in scheds:
        scheds.append(own)
    frames = sys._current_frames()
    return [s for s in scheds if s is own or _alive(s.thread, frames)]


def snapshot() -> Snapshot:
    """What is alive now: pass it to :func:`verify_none` to ignore it.

    >>> import threading
    >>> from gochan.testing import snapshot, verify_none
    >>> before = snapshot()
    >>> done = threading.Event()
    >>> th = threading.Thread(target=done.wait); th.start()
    >>> try:
    ...     verify_none(before, grace=0)
    ... except AssertionError as e:
    ...     print(str(e).splitlines()[0])
    gochan leak check: 0 goroutines and 1 thread still running
    >>> done.set(); th.join()
    >>> verify_none(before)
    """
    scheds = _live_schedulers()
    return Snapshot(
        frozenset(t.id for s in scheds for t in list(s.tasks.values())),
        frozenset(scheds),
        frozenset(_live_threads()),
        _created(),
    )


def _is_quiet(th: threading.Thread) -> bool:
    """gochan's own helper threads while idle: not leaks."""
    if th.ident in _threads.quiet_threads:  # an idle blocking() worker
        return True
    # An event loop's worker threads (gochan's trio backend registers them).
    prefixes = (*POOL_THREAD_PREFIXES, *_threads.quiet_prefixes)
    return th.name.startswith(prefixes)


@dataclass
class _Leaks:
    """What a leak check found, grouped by thread."""

    own: Scheduler | None
    tasks: list[tuple[Scheduler, Task]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)  # dumps taken earlier, by task id

    def __bool__(self) -> bool:
        return bool(self.tasks or self.threads or self.errors)

    def foreign(self) -> bool:
        """True if some of it is on other threads (and may still end)."""
        return bool(self.threads) or any(s is not self.own for s, _ in self.tasks)

    def count(self) -> tuple[int, int]:
        return len(self.tasks), len(self.threads)


def _find(ignore: Snapshot, me: Task | None) -> _Leaks:
    own = peek_scheduler()
    leaks = _Leaks(own)
    me_thread = threading.current_thread()
    leaked_threads = [
        th
        for th in _live_threads()
        if th not in ignore.threads
        and th is not me_thread
        and th is not threading.main_thread()
        and not _is_quiet(th)
    ]
    leaks.threads = leaked_threads
    for s in _live_schedulers():
        whole = s.thread in leaked_threads  # a leaked thread: all its tasks, main too
        for t in list(s.tasks.values()):
            if t is me or t._done:
                continue
            if whole or (t is not s.main and t.id not in ignore.tasks):
                leaks.tasks.append((s, t))
    return leaks


def _thread_stack(th: threading.Thread) -> list[str]:
    frame = sys._current_frames().get(th.ident or -1)
    if frame is None:
        return []
    summary = traceback.extract_stack(frame)
    boot = ("_bootstrap", "_bootstrap_inner", "run")
    kept = [fs for fs in summary if fs.filename != _THREADING_FILE or fs.name not in boot]
    kept = kept[-_MAX_THREAD_FRAMES:]
    return [line.rstrip("\n") for line in traceback.StackSummary.from_list(kept).format()]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _format(leaks: _Leaks, hint: str = "") -> str:
    ntasks, nthreads = leaks.count()
    if ntasks or nthreads or not leaks.errors:
        head = f"{_plural(ntasks, 'goroutine')} and {_plural(nthreads, 'thread')} still running"
    else:
        head = "a task raised after the test's last blocking call"
    out = [f"gochan leak check: {head}"]
    if hint:
        out.append(hint)
    # Group by thread: this thread's tasks first, then each other thread.
    groups: dict[int, tuple[threading.Thread, Scheduler | None, list[Task]]] = {}
    me_thread = threading.current_thread()
    for sched, t in leaks.tasks:
        groups.setdefault(id(sched.thread), (sched.thread, sched, []))[2].append(t)
    for th in leaks.threads:
        groups.setdefault(id(th), (th, None, []))
    for th, s, tasks in sorted(groups.values(), key=lambda g: g[0] is not me_thread):
        out.append("")
        leaked = th in leaks.threads
        if th is not me_thread or len(groups) > 1:
            what = "leaked thread" if leaked else "thread"
            daemon = ", daemon" if th.daemon else ""
            out.append(f"=== {what} {th.name!r} (ident {th.ident}{daemon}) ===")
        if s is None:  # a thread without gochan: its Python stack
            out.extend(_thread_stack(th))
            continue
        for t in tasks:
            out.append(leaks.texts.get(t.id) or format_task(t, s))
            out.append("")
        out.pop()
    if leaks.errors:
        out.append("")
        out.append("exceptions raised by tasks after the test's last blocking call:")
        for e in leaks.errors:
            out.extend(
                "  " + line.rstrip("\n")
                for chunk in traceback.format_exception(e)
                for line in chunk.splitlines()
            )
    return "\n".join(out) + "\n"


def _settle(me: Task | None, errors: list[BaseException] | None = None) -> None:
    """Let this thread's runnable tasks run until they block (a bounded
    number of rounds), as goleak retries: a task that was about to finish
    is not a leak. Exceptions delivered to ``me`` meanwhile go to ``errors``
    (or propagate if None)."""
    if me is None:
        return
    for _ in range(100):  # each exception costs a try; a bound all the same
        try:
            _drive(me.sched, me, ROUNDS, None)
            return
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a task crashed into main after the test's end
            if errors is None:
                raise
            errors.append(e)


def _calling_task() -> Task | None:
    """The task running this code, if this thread has a scheduler and the
    code runs as one of its tasks."""
    s = peek_scheduler()
    if s is None:
        return None
    cur = s.current
    return cur if cur is not None and cur.greenlet is getcurrent() else None


def _check(ignore: Snapshot, me: Task | None, grace: float) -> _Leaks:
    """Find leaks, waiting up to ``grace`` seconds for other threads."""
    deadline = time.monotonic() + grace
    while True:
        leaks = _find(ignore, me)
        if not leaks.foreign() or time.monotonic() >= deadline:
            return leaks
        time.sleep(0.01)


def verify_none(ignore: Snapshot | None = None, *, grace: float = LEAK_GRACE) -> None:
    """Raise ``AssertionError`` if green tasks or OS threads are left running.

    goleak's ``VerifyNone``: checks the tasks of every thread's scheduler
    (main tasks excepted) and every thread but the main and the calling
    one. Idle ``blocking()`` workers are not leaks. ``ignore`` (from
    :func:`snapshot`) excludes what was alive when it was taken. Tasks of
    this thread that are runnable get to run first; other threads get up to
    ``grace`` seconds to end. The message is a goroutine dump of each leak.

    >>> import gochan
    >>> from gochan.testing import verify_none
    >>> def main():
    ...     gochan.go(gochan.Chan[int]().recv).name = "stuck"
    ...     try:
    ...         verify_none()
    ...     except AssertionError as e:
    ...         print(str(e).splitlines()[2])
    >>> gochan.run(main)
    goroutine ... 'stuck' [chan receive]:
    """
    me = _calling_task()
    _settle(me)
    leaks = _check(ignore or _EMPTY, me, grace)
    if leaks:
        raise AssertionError(_format(leaks))


# -- the virtual clock -----------------------------------------------------------


def _retire(s: Scheduler) -> list[BaseException]:
    """Shut ``s`` (this thread's scheduler) down, cancelling its tasks, and
    forget it; the exceptions its tasks raised while unwinding."""
    errors: list[BaseException] = []
    if s.current is s.main and s.main.greenlet is getcurrent():
        errors = s.shutdown()
    if peek_scheduler() is s:
        install(None)
    return errors


class VirtualClockFixture:
    """The ``virtual_clock`` fixture: virtual time for a test.

    ``run(main, ...)`` is ``gochan.run(main, ..., clock=<this clock>,
    seed=<the session seed>)``, and in implicit mode (``go()`` straight from
    the test) the test's own thread runs on the same clock too: time jumps
    to the next timer whenever every task is blocked, so sleeps and
    timeouts cost no wall time. ``now()`` reads it; it starts at 0.0 and
    only moves forward, across every run of the test.

    In a test: ``def test_x(virtual_clock): virtual_clock.run(main)``.
    Without pytest, use it as a context manager (which installs the
    implicit-mode scheduler and shuts it down at the end):

    >>> import gochan
    >>> from gochan.testing import VirtualClockFixture
    >>> vc = VirtualClockFixture(seed=1)
    >>> vc.run(gochan.sleep, 90)
    >>> vc.now()
    90.0
    >>> with vc:
    ...     gochan.sleep(10)          # implicit mode, on the same clock
    >>> vc.now()
    100.0
    """

    def __init__(self, seed: int | None = None, start: float = 0.0) -> None:
        if isinstance(start, bool) or not isinstance(start, (int, float)):
            raise TypeError(f"VirtualClockFixture(start=) takes a time in seconds, got {start!r}")
        if not -MAX_DURATION <= start <= MAX_DURATION:  # also refuses NaN
            raise ValueError(
                f"VirtualClockFixture(start=) must be finite, within Go's range; got {start!r}"
            )
        self.clock = VirtualClock(float(start))
        """The gochan clock object, shared by every run of this fixture."""
        self.seed = seed
        self._installed: Scheduler | None = None

    def __repr__(self) -> str:
        return f"<VirtualClockFixture now={self.now()} seed={self.seed}>"

    def now(self) -> float:
        """Virtual seconds since the start (``gochan.monotonic()`` in a run)."""
        return self.clock.now()

    def run(self, main: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """``gochan.run(main, *args, **kwargs)`` on this virtual clock, with
        the fixture's seed unless ``seed=`` is given."""
        kwargs.setdefault("seed", self.seed)
        result: R = _run(main, *args, clock=self.clock, **kwargs)
        return result

    def install(self) -> None:
        """Make this thread's implicit-mode scheduler run on this clock.

        The thread must not have live tasks yet (an existing idle scheduler
        is replaced). The backend is ``$GOCHAN_BACKEND`` or builtin.
        """
        s = peek_scheduler()
        if s is not None:
            if len(s.tasks) > 1 or s.current is not s.main:
                raise RuntimeError(
                    "virtual_clock: this thread already runs green tasks on a real clock "
                    f"({s!r}); set the virtual_clock fixture up before anything starts tasks"
                )
            _retire(s)
        new = Scheduler(
            getcurrent(),
            clock=self.clock,
            seed=self.seed,
            backend=os.environ.get("GOCHAN_BACKEND") or "builtin",
        )
        new.implicit = True  # it is this thread's implicit-mode scheduler
        _threads.adopt(new)  # as implicit mode does
        self._installed = new

    def uninstall(self) -> list[BaseException]:
        """Shut the scheduler ``install`` made down (its tasks are cancelled);
        return what they raised while unwinding."""
        s, self._installed = self._installed, None
        return _retire(s) if s is not None else []

    def __enter__(self) -> VirtualClockFixture:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        errors = self.uninstall()
        if errors and exc is None:
            raise errors[0]


# -- the pytest plugin ------------------------------------------------------------
#
# The plugin (options, markers, fixtures, hooks) is gochan.testing._plugin: the
# pytest11 entry point registers it under the name "gochan.testing". When pytest
# is importable, its fixtures and hooks are this module's too, so that
# ``pytest -p gochan.testing`` names the whole plugin however pytest resolves it
# (by entry point, or by importing this module, as from a checkout that is not
# installed). Without pytest the helpers above work alone.

try:
    import pytest as _pytest
except ModuleNotFoundError as _e:
    if _e.name != "pytest":
        raise
else:
    del _pytest
    from ._plugin import (  # noqa: F401 (re-exported for -p gochan.testing)
        gochan_backend,
        gochan_seed,
        pytest_addoption,
        pytest_configure,
        pytest_configure_node,
        pytest_fixture_post_finalizer,
        pytest_fixture_setup,
        pytest_generate_tests,
        pytest_report_header,
        pytest_runtest_makereport,
        pytest_runtest_setup,
        pytest_runtest_teardown,
        virtual_clock,
    )

# The fixtures (gochan_seed, gochan_backend, virtual_clock) and hooks are
# the plugin's (gochan.testing._plugin); these are for importing.
__all__ = [
    "LEAK_GRACE",
    "POOL_THREAD_PREFIXES",
    "ROUNDS",
    "Snapshot",
    "VirtualClockFixture",
    "snapshot",
    "verify_none",
    "wait_all_blocked",
]
