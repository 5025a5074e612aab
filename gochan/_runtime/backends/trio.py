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
trio. The await_ and fd-wait helpers below serve run_async()'s hosted trio
backend too (hosted.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from .. import waitreason as wr
from ..errors import Cancelled
from ..fdwait import FdWait, _IOWait, timeout_error
from ..task import ready
from ..threads import current_task
from ..waiter import LOCK
from . import parked_coroutines, take_pending
from .builtin import BuiltinBackend

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


# -- await_ and fd waits on trio (TrioBackend and run_async's hosted one) ------
#
# ``b`` has ``start()``, ``nursery``, ``token``, ``tasks``, ``runners``,
# ``inflight`` and ``poke()``; TrioBackend also ``end_guest_run()``.


class _TrioAwait:
    """The wait record of a green task in ``await_`` under trio."""

    __slots__ = ("backend", "done", "exc", "result", "scope", "task")

    def __init__(self, task: Task, backend: Any) -> None:
        self.task = task
        self.backend = backend
        self.done = False
        self.result: Any = None
        self.exc: BaseException | None = None
        self.scope: Any = None

    def withdraw(self) -> bool:  # LOCK held; any thread
        if self.done:
            return False
        self.done = True
        token = self.backend.token
        if token is not None:
            token.run_sync_soon(self._cancel)
            self.backend.poke()
        return True

    def _cancel(self) -> None:
        if self.scope is not None:
            self.scope.cancel()


def trio_await(b: Any, cur: Task, aw: Awaitable[T], reason: str, waiting_on: Any) -> T:
    """``await_(aw)`` in a trio task of ``b``'s nursery, parked as ``reason``."""
    take_pending(cur, aw)
    try:
        b.start()
    except BaseException:
        if inspect.iscoroutine(aw):
            aw.close()  # it will never run: no "never awaited" warning
        raise
    rec = _TrioAwait(cur, b)

    async def runner() -> None:
        me = trio.lowlevel.current_task()
        b.runners.add(me)
        with trio.CancelScope() as scope:
            rec.scope = scope
            if rec.done:  # withdrawn before it started
                scope.cancel()
            try:
                rec.result = await aw
            except BaseException as e:  # handed to the green task
                rec.exc = e
        b.runners.discard(me)
        b.tasks -= 1
        with LOCK:
            mine = not rec.done
            rec.done = True
        if mine:
            ready(cur)
            b.poke()
        elif rec.exc is not None and not isinstance(rec.exc, trio.Cancelled):
            log.error(
                "an await_()ed awaitable raised after its green task stopped waiting",
                exc_info=rec.exc,
            )

    assert b.nursery is not None
    b.tasks += 1
    b.nursery.start_soon(runner)
    b.poke()
    s = cur.sched
    b.inflight += 1
    try:
        s.park(reason, waiting_on, rec)
    finally:
        b.inflight -= 1
        if s.implicit and not b.tasks:
            b.end_guest_run()  # leave trio free for a trio.run() on this thread
    exc = rec.exc
    if exc is not None:
        if isinstance(exc, trio.Cancelled):
            c = Cancelled()
            c.add_note("the awaitable passed to await_() was cancelled by trio")
            raise c from exc
        raise exc
    return rec.result  # type: ignore[no-any-return]


# Waits shared per (trio token, fd, direction): trio allows one waiter per
# fd and direction (BusyResourceError), while readiness is level-triggered
# for any number of green tasks: every task waiting on the same fd must
# wake. An entry lives while somebody waits.
_shared: dict[tuple[object, int, bool], Any] = {}


class _TrioShared:
    """Waiters on one fd under trio: a leader runs trio's wait; followers
    wait on ``changed``, which is set when the fd is ready (``fired``) or
    the leader was cancelled (then one follower takes over)."""

    __slots__ = ("changed", "count", "fired", "leading")

    def __init__(self, event: Any) -> None:
        self.changed = event
        self.count = 0
        self.fired = False
        self.leading = False


async def _trio_wait(fd: int, write: bool, timeout: float | None) -> None:
    """``_trio_wait_fd`` within ``timeout`` seconds of trio's clock."""
    import trio

    if timeout is None:
        await _trio_wait_fd(fd, write)
        return
    with trio.move_on_after(timeout) as scope:
        await _trio_wait_fd(fd, write)
    if scope.cancelled_caught:
        raise timeout_error(fd, write, timeout)


async def _trio_wait_fd(fd: int, write: bool) -> None:
    import trio

    key = (trio.lowlevel.current_trio_token(), fd, write)
    sh: _TrioShared = _shared.get(key) or _TrioShared(trio.Event())
    _shared[key] = sh
    sh.count += 1
    try:
        while not sh.fired:
            if sh.leading:
                await sh.changed.wait()
                continue
            sh.leading = True
            try:
                await (trio.lowlevel.wait_writable if write else trio.lowlevel.wait_readable)(fd)
            except BaseException:
                sh.leading = False  # hand the wait to a follower, if any
                done, sh.changed = sh.changed, trio.Event()
                done.set()
                raise
            sh.fired = True
            if _shared.get(key) is sh:
                del _shared[key]  # later waiters start a new wait
            sh.changed.set()
    finally:
        sh.count -= 1
        if not sh.count and _shared.get(key) is sh:
            del _shared[key]


class _TrioWatch:
    """The trio task behind one ``PollDesc`` wait under ``run_async()`` on
    trio: ``_trio_wait_fd`` (shared with ``wait_readable``), then fire the
    wait record. ``stop()`` (the green task, after its park) cancels it and
    parks until it has left trio's wait; its park record cannot be
    withdrawn, so a cancelled task still waits for that one trio step."""

    __slots__ = ("backend", "done", "exc", "joiner", "rec", "scope", "stopped")

    def __init__(self, rec: _IOWait, backend: Any) -> None:
        self.rec = rec
        self.backend = backend
        self.scope: Any = None
        self.stopped = False
        self.done = False
        self.exc: BaseException | None = None
        self.joiner: Task | None = None

    async def run(self) -> None:
        import trio

        rec = self.rec
        try:
            if not self.stopped:
                with trio.CancelScope() as scope:
                    self.scope = scope
                    await _trio_wait_fd(rec.fd, rec.write)
        except (OSError, trio.ClosedResourceError):
            pass  # the fd was closed under trio's wait: the next system call says how
        except BaseException as e:  # handed to the green task (trio cancelled the run)
            self.exc = e
        self.done = True
        rec.fire()  # (a no-op once the record has ended otherwise)
        if self.joiner is not None:
            ready(self.joiner)
        self.backend.poke()

    def withdraw(self) -> bool:  # the record of stop()'s park: never withdrawn
        return False

    def stop(self) -> None:
        """Cancel the trio task, if still waiting, and wait until it has left."""
        if self.done:
            return
        if self.scope is not None:
            self.scope.cancel()
        else:
            self.stopped = True  # not started yet: it will not wait at all
        cur = current_task()
        self.joiner = cur
        cur.sched.park(wr.IO_WAIT, self.rec, self)

    def check(self) -> None:
        """Raise what ended the trio task, if not the fd (trio cancelled it)."""
        exc = self.exc
        if exc is None:
            return
        import trio

        if isinstance(exc, trio.Cancelled):
            c = Cancelled()
            c.add_note("a gochan.net wait was cancelled by trio")
            raise c from exc
        raise exc


def trio_pd_attach(b: Any, pd: Any) -> None:
    """A PollDesc's waits under run_async() hosted by trio, whose epoll
    gochan cannot share: a trio task waits in trio's own wait for the
    length of each wait (``_TrioWatch``)."""
    pd.owner, pd.watch, pd.stale = b, functools.partial(_trio_pd_watch, b), None


def _trio_pd_watch(b: Any, rec: _IOWait) -> None:
    watch = _TrioWatch(rec, b)
    rec.ctx, rec.undo = watch, _trio_unwatch
    try:
        b.nursery.start_soon(watch.run)
    except BaseException:
        watch.done = True  # never started: nothing to stop
        raise


def _trio_unwatch(rec: _IOWait) -> None:
    """After the wait: no trio task outlives it (see _TrioWatch.stop)."""
    watch: _TrioWatch = rec.ctx
    rec.ctx = None
    watch.stop()
    watch.check()
