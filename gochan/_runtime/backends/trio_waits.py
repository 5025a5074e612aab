"""What a green task waits for under trio: ``await_`` (the awaitable run
by a trio task in the run's nursery, the green task parked on a
``_TrioAwait``), fd waits (trio's ``wait_readable``/``wait_writable``,
shared per fd), and a gochan.net socket's waits under run_async() hosted
by trio (``_TrioWatch``).

For ``TrioBackend`` (trio.py) and run_async()'s hosted trio backend
(hosted.py) alike: ``b`` has ``start()``, ``nursery``, ``token``,
``tasks``, ``runners``, ``inflight`` and ``poke()``; TrioBackend also
``end_guest_run()``. trio itself is imported where it is used: this module
imports without it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import waitreason as wr
from ..errors import Cancelled
from ..fdwait import _IOWait, timeout_error
from ..task import ready
from ..waiter import LOCK
from . import take_pending

if TYPE_CHECKING:
    from ..task import Task

T = TypeVar("T")
log = logging.getLogger("gochan")


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
    import trio

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
        cur = self.rec.task  # the green task whose wait this was: running now
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
