"""The trio backend: trio runs as a *guest* of gochan's scheduler.

Trio's guest mode (``trio.lowlevel.start_guest_run``) lets a host loop drive
a trio run: trio asks the host to call its callbacks soon (from trio's I/O
thread or from its own), and does its blocking I/O wait in a worker thread.
Here the host is the scheduler's hub: ``wait(timeout)`` sleeps on the
builtin selector until a gochan wakeup or a trio callback arrives, then
runs the queued trio callbacks, which run trio tasks up to their next
checkpoint. Trio code therefore runs on the scheduler's thread, between
green tasks, and may ``ready()`` them directly.

Trio's worker threads ("Trio thread N") never veto a deadlock report
(``quiet_prefixes``): while trio has tasks other than the driver,
``busy()`` is True, which already rules a deadlock out.

gochan.net's sockets are watched by the hub's own poller (``inner``, the
builtin backend), as on builtin; ``wait_readable`` and ``await_`` run on
trio (trio_waits.py, shared with run_async()'s hosted trio backend).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from .. import waitreason as wr
from ..fdwait import FdWait
from . import parked_coroutines
from .builtin import BuiltinBackend
from .trio_waits import _trio_wait, trio_await

if TYPE_CHECKING:
    from ..task import Task

T = TypeVar("T")
log = logging.getLogger("gochan")

try:
    import trio
except ImportError as e:  # pragma: no cover - trio is a dev dependency
    raise ImportError("gochan's trio backend needs trio: pip install 'gochan[trio]'") from e


class _Either:
    """True while either queue has work: what the selector wait checks."""

    __slots__ = ("a", "b")

    def __init__(self, a: deque[Any], b: deque[Any]) -> None:
        self.a, self.b = a, b

    def __bool__(self) -> bool:
        return bool(self.a) or bool(self.b)


class TrioBackend:
    """Drive a trio guest run from gochan's hub."""

    poll = True
    name = "trio"
    hosted = False
    quiet_prefixes: tuple[str, ...] = ("Trio thread ",)

    def __init__(self) -> None:
        self.inner = BuiltinBackend()
        self.callbacks: deque[Callable[[], object]] = deque()
        self.thread_id = get_ident()
        self.dirty = False
        self.started = False
        self.finished = False
        self.closed = False
        self.nursery: trio.Nursery | None = None
        self.token: trio.lowlevel.TrioToken | None = None
        self.tasks = 0  # trio tasks started for gochan (await_), still running
        self.runners: set[Any] = set()  # those tasks (trio.lowlevel.Task)
        self.inflight = 0
        self.outcome: Any = None
        self.clock: Any = None
        # Virtual clock: trio's next deadline, and whether trio is blocked
        # waiting for it (set by _VirtualTrioClock, cleared by every tick).
        self.trio_deadline = math.inf
        self.trio_waiting = False

    virtual = True  # with a virtual clock, trio's own clock follows it

    def bind_clock(self, clock: Any) -> None:
        self.clock = clock

    def loop_idle(self) -> bool:
        return not self.callbacks and (self.trio_waiting or not self.started)

    def loop_deadline(self) -> float | None:
        if not self.trio_waiting or self.trio_deadline == math.inf:
            return None
        return self.trio_deadline

    @property
    def sleeping(self) -> bool:
        return self.inner.sleeping

    # -- hosting the guest run ------------------------------------------------

    def _soon_threadsafe(self, fn: Callable[[], object]) -> None:
        self.callbacks.append(fn)
        if get_ident() == self.thread_id:
            self.dirty = True
        else:
            self.inner.wakeup()

    def _soon(self, fn: Callable[[], object]) -> None:
        self.callbacks.append(fn)
        self.dirty = True

    def _done(self, outcome: Any) -> None:
        self.finished = True
        self.outcome = outcome

    async def _driver(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.token = trio.lowlevel.current_trio_token()
            await trio.sleep_forever()

    def start(self) -> None:
        """Start the guest run (first use), and run until its nursery exists."""
        if self.started:
            return
        self.started = True
        virtual = self.clock is not None and self.clock.virtual
        try:
            trio.lowlevel.start_guest_run(
                self._driver,
                run_sync_soon_threadsafe=self._soon_threadsafe,
                run_sync_soon_not_threadsafe=self._soon,
                done_callback=self._done,
                clock=_VirtualTrioClock(self) if virtual else None,
            )
        except BaseException:
            # No guest run exists (e.g. trio.run is already running on this
            # thread: trio cannot nest): nothing for close() to end.
            self.finished = True
            raise
        while self.nursery is None and not self.finished:
            self._run_callbacks()
            if self.nursery is None and not self.callbacks:
                self.inner.wait(None, self.callbacks)
        if self.nursery is None:
            self.started = False
            err = getattr(self.outcome, "error", None)
            raise RuntimeError("trio's guest run ended before it started") from err

    def _run_callbacks(self) -> None:
        cbs = self.callbacks
        if cbs:
            self.trio_waiting = False
        while cbs:
            cbs.popleft()()

    # -- fds and await_ ---------------------------------------------------------

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        trio_await(self, cur, _trio_wait(fd, write, timeout), wr.IO_WAIT, FdWait(fd, write))

    def pd_attach(self, pd: Any) -> None:
        """gochan.net's sockets: on the hub's own poller, as on builtin."""
        self.inner.pd_attach(pd)
        pd.owner = self

    def pd_detach(self, pd: Any) -> None:
        self.inner.pd_detach(pd)

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        return trio_await(self, cur, aw, reason, waiting_on)

    # -- the Backend protocol ---------------------------------------------------

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        self.dirty = False
        if self.trio_waiting and self.clock.now() >= self.trio_deadline:
            # Virtual time reached trio's deadline: wake its I/O wait so that
            # it looks at the clock again.
            self.trio_waiting = False
            assert self.token is not None
            self.token.run_sync_soon(_nothing)
        if not self.callbacks and not incoming:
            self.inner.wait(timeout, _Either(incoming, self.callbacks))  # type: ignore[arg-type]
        self._run_callbacks()

    def wakeup(self) -> None:
        self.inner.wakeup()

    def poke(self) -> None:
        """Something may have made trio work runnable: it is not idle until
        it says so again (the virtual clock must not jump meanwhile). If
        trio sleeps in its I/O wait, a no-op callback makes it look and say
        so again even when the poke concerned green tasks only."""
        self.dirty = True
        if self.trio_waiting:
            self.trio_waiting = False
            if self.token is not None:
                self.token.run_sync_soon(_nothing)

    def busy(self) -> bool:
        """True while trio work could still wake a green task: callbacks to
        run, an await_() whose trio task has yet to take its first step, or
        one whose trio task is not parked on a channel.

        (A trio task started from a green task is only queued: trio's I/O
        thread must wake the guest run, through ``_soon_threadsafe``, before
        it runs and joins ``runners``. Meanwhile no callback is queued yet.)
        """
        if self.callbacks or self.tasks > len(self.runners):
            return True
        parked = parked_coroutines
        return any(t not in parked for t in self.runners)

    def end_guest_run(self) -> None:
        """Cancel the guest run's tasks and run it to its end; a later
        ``start()`` begins a new one. Owner thread only.

        Implicit mode (no ``run()`` to end it) calls this whenever no await_
        is left in flight: while a guest run exists, trio counts as running
        on this thread, and ``trio.run()`` there would fail.
        """
        if self.started and not self.finished:
            assert self.nursery is not None
            self.nursery.cancel_scope.cancel()
            while not self.finished:
                self._run_callbacks()
                if not self.finished and not self.callbacks:
                    self.inner.wait(None, self.callbacks)
        self.started = self.finished = False
        self.nursery = self.token = self.outcome = None

    def close(self) -> None:
        """End the guest run (see ``end_guest_run``) and the selector."""
        if self.closed:
            return
        self.closed = True
        if get_ident() == self.thread_id:
            self.end_guest_run()
        self.inner.close()


def _nothing() -> None:
    pass


class _VirtualTrioClock(trio.abc.Clock):
    """Trio's clock on gochan's virtual time: trio's timers jump with it."""

    def __init__(self, backend: TrioBackend) -> None:
        self.backend = backend

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return float(self.backend.clock.now())

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # Trio asks this only when none of its tasks can run: it is idle.
        now = self.backend.clock.now()
        if deadline <= now:
            return 0.0
        b = self.backend
        b.trio_deadline, b.trio_waiting = deadline, True
        return 86400.0  # until gochan's hub wakes it (see TrioBackend.wait)


def trio_backend() -> TrioBackend:
    return TrioBackend()
