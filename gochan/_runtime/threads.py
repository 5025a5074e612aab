"""The thread registry: which scheduler each OS thread has, from the
thread's first use of gochan to its end.

A thread gets its scheduler from ``run()`` (for the length of the run) or,
in implicit mode, on its first blocking call (``get_scheduler``,
``current_task``): that one is *adopted* for the rest of the thread's life
and shut down when the thread ends, as at the end of ``run()``.

Invariants
----------
* ``_local.sched`` is the scheduler installed on this thread (``install``);
  ``schedulers`` maps every live thread's ident to its scheduler, for
  ``dump()`` and the deadlock check (``deadlock.py``).
* ``registry_lock`` guards ``schedulers`` and every scheduler's ``idle``
  flag: the deadlock check reads the flags, and ``ready_remote`` clears
  them, under it, so a wakeup in flight is never missed.
* A thread that never used gochan has no entry: to the deadlock check it
  is a thread that could still send.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from threading import get_ident
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Final, NoReturn

from greenlet import getcurrent

from .greenlets import end_carried, home
from .waiter import LOCK

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .task import Task

MAIN_THREAD = threading.main_thread()
# Running threads started from Python (threading or _thread), main excluded.
thread_count: Callable[[], int] = getattr(_thread, "_count", lambda: 0)


def live_threads() -> list[threading.Thread]:
    """``threading.enumerate()`` less the dead: on Python 3.11 the
    ``_DummyThread`` of a thread started outside ``threading`` (by
    ``_thread.start_new_thread``, or by C code that called into Python)
    stays listed after that thread has exited, until its ident is reused.
    Such a thread has no Python thread state left, so it is missing from
    ``sys._current_frames()`` (3.12 and later drop the entry themselves).
    Counting it as alive would hide every later deadlock behind a thread
    that can never send."""
    threads = threading.enumerate()
    if not any(isinstance(th, threading._DummyThread) for th in threads):
        return threads
    frames = sys._current_frames()
    return [
        th for th in threads if not isinstance(th, threading._DummyThread) or th.ident in frames
    ]


_local: Final = threading.local()
# Guards schedulers and every scheduler's ``idle`` flag (see deadlock.py).
registry_lock = threading.Lock()
schedulers: dict[int, Scheduler] = {}
# Idents of gochan's own helper threads (the blocking() pool) while they sit
# idle: such a thread cannot wake anyone, so it does not veto a deadlock. A
# busy helper is working for some scheduler whose ``pending`` count is > 0.
quiet_threads: set[int] = set()
# Name prefixes of an event loop's own worker threads (trio's I/O waits):
# the backend's busy() already says whether they could wake anyone. Each
# backend states its own (``Backend.quiet_prefixes``); a scheduler adds
# them here when it starts.
quiet_prefixes: set[str] = set()
# Schedulers being shut down by their thread's exit (see _ThreadExit): by
# then the thread's locals are being torn down, so lookups find them here.
_exiting: dict[int, Scheduler] = {}


# -- the registry -------------------------------------------------------------------


def install(s: Scheduler | None) -> None:
    """Make ``s`` this thread's scheduler (None: forget it)."""
    h = home()
    h.sched = s
    ident = get_ident()
    with registry_lock:
        alive = {t.ident for t in live_threads()}
        for k in [k for k in schedulers if k not in alive]:
            del schedulers[k]
        if s is None:
            schedulers.pop(ident, None)
        else:
            schedulers[ident] = s
    if s is None:
        if hasattr(_local, "sched"):
            del _local.sched
    else:
        _local.sched = s


def all_schedulers() -> list[Scheduler]:
    with registry_lock:
        return list(schedulers.values())


def get_scheduler() -> Scheduler:
    """This thread's scheduler, created (implicit mode) on first use."""
    try:
        s: Scheduler = _local.sched
        return s
    except AttributeError:
        return _exiting.get(get_ident()) or _implicit_scheduler()


def peek_scheduler() -> Scheduler | None:
    """This thread's scheduler if it has one; never creates one."""
    s: Scheduler | None = getattr(_local, "sched", None)
    return s if s is not None else _exiting.get(get_ident())


def current_task() -> Task:
    """The running task; RuntimeError where a blocking call cannot work.
    (On the path of every park: a thread-local read and a greenlet check.)"""
    try:
        s: Scheduler = _local.sched
    except AttributeError:
        s = _implicit_scheduler()
    cur = s.current
    g = getcurrent()
    if cur is None or cur.greenlet is not g:
        if g is s.hub:
            raise RuntimeError(
                "a blocking gochan call was made inside a timer callback, where nothing "
                "may block; start a task with gochan.go() and block there instead"
            )
        raise RuntimeError(
            f"a blocking gochan call was made from greenlet {g!r}, which gochan does not "
            "manage; start that code with gochan.go() instead"
        )
    return cur


# -- implicit mode: a scheduler on first use, adopted for the thread's life -------


# Implicit mode's scheduler factory: run.py's ``implicit_scheduler``, set
# by ``set_implicit`` when run.py is imported. It builds a Scheduler with a
# backend and maybe a monitor, which sit above this registry: the registry
# cannot import them without an import cycle (tests/runtime/
# test_import_graph.py), so the layer that can build one hands it down.
# gochan/__init__.py imports run.py, and no submodule of gochan is ever
# imported without gochan/__init__.py running first, so the factory is set
# before any gochan call can need it.
_make_implicit: Callable[[], Scheduler] | None = None


def set_implicit(make: Callable[[], Scheduler]) -> None:
    """Install implicit mode's scheduler factory (run.py, at its import)."""
    global _make_implicit
    _make_implicit = make


def _implicit_scheduler() -> Scheduler:
    make = _make_implicit
    if make is None:  # pragma: no cover - see _make_implicit
        raise RuntimeError("gochan is not fully imported: import gochan first")
    return make()


def adopt(s: Scheduler) -> None:
    """Make ``s`` this thread's scheduler for the rest of the thread's life
    (implicit mode): when the thread ends, or the program for the main
    thread, ``s`` is shut down there first, as at the end of ``run()``."""
    install(s)
    old: _ThreadExit | None = getattr(_local, "exit_hook", None)
    if old is not None and old.sched is not None:
        # The scheduler this replaces was already retired (or dropped):
        # free it here, since this may run with LOCK held (first use inside
        # a channel operation), where thread_exit could not take it.
        prev, old.sched = old.sched, None
        if prev is not s:
            _release(prev)
    _local.exit_hook = _ThreadExit(s)
    hook_thread_end()


# -- the thread's end -----------------------------------------------------------------


def hook_thread_end() -> None:
    """Arrange for ``end_of_thread`` to run when this thread's code ends.

    For a ``threading.Thread`` that is the moment its ``run()`` has returned
    and the thread is about to leave ``threading``'s registry (its
    ``_delete``, wrapped on this one instance): the thread, its locals and
    every library's thread state are still whole, so leftover tasks unwind
    in a sound world. The main thread is handled by ``atexit``. Any other
    thread (``_thread.start_new_thread``) falls back to ``_ThreadExit``,
    which runs while the thread's locals are torn down.
    """
    th = threading._active.get(get_ident())  # type: ignore[attr-defined]
    if th is None or th is MAIN_THREAD or isinstance(th, threading._DummyThread):
        return
    delete = getattr(th, "_delete", None)
    if delete is None or "_delete" in vars(th):  # unknown layout, or hooked already
        return

    def _delete() -> None:
        try:
            end_of_thread()
        finally:
            delete()

    th._delete = _delete


def end_of_thread() -> bool:
    """Shut down the scheduler this thread adopted, if it still has one
    (``thread_exit``); True if an undelivered exception was reported."""
    hook: _ThreadExit | None = getattr(_local, "exit_hook", None)
    reported = False
    if hook is not None and hook.sched is not None:
        s, hook.sched = hook.sched, None
        reported = thread_exit(s)
    end_carried()
    return reported


class _ThreadExit:
    """Held in the thread's locals; ``sched`` is the scheduler the thread
    adopted, until ``end_of_thread`` takes it.

    Dropped, on the thread itself, when the thread's locals are torn down:
    if nothing took the scheduler before (see ``hook_thread_end``),
    ``__del__`` runs ``thread_exit`` then. For the main thread, locals are
    dropped too late (modules are being torn down), so ``_at_exit`` runs
    it, earlier, from ``atexit``.
    """

    __slots__ = ("sched",)

    def __init__(self, sched: Scheduler) -> None:
        self.sched: Scheduler | None = sched

    def __del__(self) -> None:
        if self.sched is not None:
            thread_exit(self.sched)


def thread_exit(s: Scheduler) -> bool:
    """Shut ``s`` down as its thread ends; report what was never delivered.

    On the owner thread, with its main task current, the leftover tasks are
    cancelled and waited for; an exception that escaped a task and never
    reached the thread's code (or that a task raised while unwinding) is
    reported like an unhandled exception in a thread. Then the scheduler
    drops its greenlets, which can never run again. True if anything was
    reported.
    """
    errors: list[BaseException] = []
    ident = get_ident()
    main = s.main
    owner = ident == s.thread_id and main.greenlet is not None and s.current is main
    if owner and main.greenlet is getcurrent() and (len(s.tasks) > 1 or main._throw is not None):
        _exiting[ident] = s
        try:
            errors = s.shutdown(carry=False)
        except BaseException as e:  # pragma: no cover - shutdown reports, never raises
            errors = [e]
        finally:
            del _exiting[ident]
    else:
        _withdraw_all(s)  # cannot run them: at least take every wait back
    _release(s)
    for err in errors:
        _report_unhandled(s, err)
    return bool(errors)


def _withdraw_all(s: Scheduler) -> None:
    """Withdraw the wait of every task of ``s`` (none of them can run again)."""
    with LOCK:
        for t in list(s.tasks.values()):
            w = t._waiting
            if w is not None:
                w.withdraw()
                t._waiting = None


def _release(s: Scheduler) -> None:
    """Drop ``s``'s greenlets and wakeup resources (its thread is ending)."""
    if s.watch is not None:
        w, s.watch = s.watch, None
        w.stop()  # (monitor.Watch)
    s._free.clear()
    s.runq.clear()
    s.incoming.clear()
    s.tasks.clear()
    s.timers.heap.clear()
    s.current = None
    s.hub = s.main.greenlet = None  # type: ignore[assignment]
    s.backend.close()


def _report_unhandled(s: Scheduler, e: BaseException) -> None:
    """Report an exception that no code of the thread received: through
    ``threading.excepthook`` (so pytest and logging setups see it), for
    the thread that owned ``s``."""
    if s.thread is MAIN_THREAD:
        print("gochan: an exception escaped a task and was never delivered:", file=sys.stderr)
        sys.excepthook(type(e), e, e.__traceback__)
        return
    threading.excepthook(threading.ExceptHookArgs((type(e), e, e.__traceback__, s.thread)))


# -- interpreter exit with daemon threads still in gochan ------------------------------


class ExitPark(BaseException):
    """Thrown by a hub into its main task, parked in ``Scheduler.park``,
    to park the thread at interpreter exit (``park_daemon_threads``);
    never seen by user code. ``parked`` is set once the thread is parked."""

    def __init__(self, parked: threading.Event) -> None:
        super().__init__()
        self.parked = parked


# How long park_daemon_threads waits for the daemon threads to park, in all.
EXIT_PARK_WAIT: Final = 0.5


def park_daemon_threads(timeout: float = EXIT_PARK_WAIT) -> None:
    """At interpreter exit, stop every daemon thread that still runs gochan
    where the interpreter can leave it safely.

    Python ends a daemon thread that wakes during finalization with
    ``pthread_exit``, which unwinds the thread's C stack. If that stack
    holds greenlet's frames (an idle scheduler's hub waits in a greenlet),
    their destructors release Python objects without the GIL and the
    process crashes at exit (CPython gh-87135; 3.13 aborts every time).
    So each such thread is woken now, while the interpreter is still
    whole: its hub resumes the thread's main task, which then waits for
    ever on the thread's own stack (``hang_at_exit``), with no greenlet
    frame under it, and the interpreter exits around it. A thread busy in
    a task that does not block within ``timeout`` s is left as it is."""
    waits = []
    for s in all_schedulers():
        th = s.thread
        if th is MAIN_THREAD or not th.daemon or s.thread_id == get_ident():
            continue
        ev = threading.Event()
        s.exit_parked = ev
        s.backend.wakeup()
        waits.append(ev)
    deadline = _monotonic() + timeout
    for ev in waits:
        ev.wait(max(0.0, deadline - _monotonic()))


def hang_at_exit(parked: threading.Event) -> NoReturn:
    """The main task of an exiting daemon thread: say ``parked``, then wait
    for ever (see ``park_daemon_threads``). Never returns."""
    never = _thread.allocate_lock()
    never.acquire()
    parked.set()
    while True:
        never.acquire()


def _at_exit() -> None:
    """The main thread's adopted scheduler at interpreter exit: cancel its
    tasks as ``run()`` does; an exception never delivered is reported and
    makes the exit status 1, as an uncaught exception does. (atexit cannot
    set the status any other way; registered when gochan is imported, this
    runs after the exit handlers registered later, and the standard
    streams are flushed first.)"""
    park_daemon_threads()
    if threading.current_thread() is MAIN_THREAD and end_of_thread():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream cannot be flushed
                stream.flush()
        os._exit(1)


atexit.register(_at_exit)
