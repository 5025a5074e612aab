"""The asyncio and uvloop backends: the scheduler waits *in* an event loop.

The event loop runs in a greenlet of its own, the loop greenlet. When the
scheduler has nothing to run, its hub calls ``wait(timeout)``, which
switches to the loop greenlet; the loop then runs (coroutines, callbacks,
I/O) until a wake callback switches back to the hub. Three things arm that
callback: the timeout (``call_later``, the next gochan timer), a wakeup
from another thread (``call_soon_threadsafe``), and work finishing on the
loop that readied a green task (``await_`` completing, a coroutine sending
on a channel). So green tasks and coroutines take turns on one thread, and
no one busy-waits.

Invariants:

* The hub is switched to only from a plain loop callback (``_wake``), never
  from inside a coroutine step, so asyncio's notion of the current task is
  never left dangling while green tasks run.
* ``sleeping`` is True exactly while the hub is suspended inside ``wait``;
  wakers check it after publishing their work (the same lost-wakeup-free
  protocol as the builtin backend).
* While green tasks keep the thread busy, the hub still lets the loop run
  one iteration per scheduling round (``poll``) whenever it has loop work
  in flight, so coroutines are never starved.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from greenlet import error as greenlet_error
from greenlet import getcurrent, greenlet

from .. import waitreason as wr
from ..errors import Cancelled
from ..fdwait import FdWait, _IOWait, timeout_error
from ..task import ready
from ..waiter import LOCK
from . import parked_coroutines, take_pending

if TYPE_CHECKING:
    from ..task import Task

T = TypeVar("T")
log = logging.getLogger("gochan")

# asyncio's per-thread "running loop" slot (uvloop uses the same one).
_set_running_loop = asyncio.events._set_running_loop

_STOP = object()


class AsyncioBackend:
    """Drive gochan's scheduler from an asyncio (or uvloop) event loop."""

    poll = True  # the hub gives the loop a turn while loop work is pending
    quiet_prefixes: tuple[str, ...] = ()

    def __init__(self, name: str, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self.name = name
        self.loop = loop_factory()
        self.hub: greenlet | None = None
        self.g: greenlet | None = None  # the loop greenlet, started on first wait
        self.sleeping = False
        self.handle: asyncio.TimerHandle | None = None
        self.soon: asyncio.Handle | None = None  # a queued _wake, see _wake_soon
        self.dirty = False  # loop-side work was readied: run the loop soon
        self.hosted = False  # the loop belongs to a host program (run_async)
        self.closed = False
        self.inflight = 0  # await_() calls in flight
        # Their futures until the green task is told (done, but the done
        # callback not yet run, still counts: see busy() on uvloop).
        self.awaiting: set[asyncio.Future[Any]] = set()
        self.virtual = False

    def bind_clock(self, clock: Any) -> None:
        """With a virtual clock, the loop's time is the scheduler's: its
        timers (``asyncio.sleep``, timeouts) jump with gochan's."""
        if not clock.virtual:
            return
        if isinstance(self.loop, asyncio.BaseEventLoop):
            self.loop.time = clock.now  # type: ignore[method-assign]
        else:
            # uvloop's own timers run on libuv's clock, which gochan cannot
            # drive: use a loop whose Python-level timers are virtual.
            self.loop.close()
            self.loop = virtual_uvloop(clock)
        self.virtual = True

    def loop_idle(self) -> bool:
        if not self.virtual:  # cannot look inside: idle when no await_ runs
            return self.inflight == 0
        loop = self.loop
        soon = self.soon
        if isinstance(loop, asyncio.BaseEventLoop):
            return all(h is soon for h in loop._ready)  # type: ignore[attr-defined]
        return loop.ready_count == (soon is not None) and not loop.timers_due()  # type: ignore[attr-defined]

    def loop_deadline(self) -> float | None:
        if not self.virtual:
            return None
        # asyncio's heap of timers, or the same on a virtual uvloop
        scheduled = self.loop._scheduled  # type: ignore[attr-defined]
        whens = [h.when() for h in scheduled if not h.cancelled()]
        return min(whens) if whens else None

    # -- the Backend protocol ---------------------------------------------

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        """Run the event loop until ``timeout`` passes or something wakes us."""
        if self.closed:
            return
        self.hub = getcurrent()
        self.dirty = False
        self.sleeping = True
        if self.virtual and not isinstance(self.loop, asyncio.BaseEventLoop):
            self.loop.fire_due_timers()  # type: ignore[attr-defined]
        if incoming:
            timeout = 0
        elif (
            self.virtual
            and isinstance(self.loop, asyncio.BaseEventLoop)
            and timeout is not None
            and timeout > 0
        ):
            # A real pause (the deadlock detector's confirmation, or waiting
            # for another thread) cannot be a loop timer: the loop's time is
            # virtual and stands still. Wait on the loop's selector directly
            # (readiness is level-triggered: the loop sees it again), then
            # let the loop take one turn.
            self.loop._selector.select(timeout)  # type: ignore[attr-defined]
            timeout = 0
        g = self.g
        if g is None:
            g = self.g = greenlet(self._loop_main)
        g.switch(timeout)
        # Back in the hub: the loop greenlet called _wake.

    def wakeup(self) -> None:
        """Thread-safe: end the current (or next) wait soon."""
        if self.sleeping and not self.closed:
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                self.loop.call_soon_threadsafe(self._wake)

    def poke(self) -> None:
        """Same thread: loop-side work readied a green task; make the hub run."""
        self.dirty = True
        if self.sleeping and getcurrent() is self.g:
            self._wake_soon()

    def _wake_soon(self) -> None:
        """Queue one ``_wake`` for the loop's next round (never two)."""
        if self.soon is None or self.soon.cancelled():
            self.soon = self.loop.call_soon(self._soon_wake)

    def _soon_wake(self) -> None:
        """The ``_wake`` that ``_wake_soon`` queued: ``soon`` has run.

        Only this callback may forget ``soon``. Another thread's wakeup and
        the real-pause timer run plain ``_wake``, and either may run first
        while ``soon`` is still queued; had it cleared ``soon``, that handle
        would stay queued untracked: the loop would never look idle again,
        each later loop turn would queue a fresh wake behind the stale one,
        and the virtual clock would never move (issue 17).
        """
        self.soon = None
        self._wake()

    def busy(self) -> bool:
        """True while the loop could still wake a green task.

        On asyncio's own loop, gochan looks inside: busy while a callback is
        ready, a timer is live or an fd is watched (besides the loop's own
        wakeup socket). Without any, no asyncio task can ever run again:
        whatever they wait for (a gochan channel, an Event nobody sets),
        they are asleep. (Another thread calling in vetoes a deadlock
        report anyway.) uvloop keeps its handles in libuv, out of sight:
        there, busy while some unfinished task is not parked on a gochan
        channel (``parked_coroutines``), or was cancelled and has yet to run.
        """
        if self.hosted:
            return True
        loop = self.loop
        if isinstance(loop, asyncio.BaseEventLoop):
            # (The hub's own wake callbacks are not loop work.) Another
            # thread's call_soon_threadsafe appends to the ready deque at any
            # bytecode boundary, so it is copied first (one C call, atomic
            # under the GIL); only the loop's thread touches the timer heap.
            soon, mine = self.soon, self.handle
            ready = tuple(loop._ready)  # type: ignore[attr-defined]
            timers = loop._scheduled  # type: ignore[attr-defined]
            return (
                any(h is not soon and not h.cancelled() for h in ready)
                or any(h is not mine and not h.cancelled() for h in timers)
                or len(loop._selector.get_map()) > 1  # type: ignore[attr-defined]
            )
        parked = parked_coroutines
        if any(f not in parked for f in self.awaiting):
            return True  # an await_ running, or done and not yet handed over
        return any(
            not t.done() and (t not in parked or t.cancelling()) for t in asyncio.all_tasks(loop)
        )

    def close(self) -> None:
        """Cancel what still runs on the loop, let it finish, close the loop."""
        if self.closed:
            return
        self.closed = True
        g = self.g
        if g is not None and not g.dead:
            try:
                g.parent = getcurrent()
                g.switch(_STOP)
            except greenlet_error:
                # Dropped from another thread (garbage collection): the
                # loop greenlet can only run on its own thread; leave it.
                return
        elif g is None and not self.hosted:
            # The loop never ran (nothing ever waited in it), but await_()
            # may have handed it tasks: cancel and finish them here.
            try:
                _finish(self.loop)
            finally:
                self.loop.close()

    # -- fds and await_: the loop's own (shared with run_async's) ----------

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        asyncio_wait_fd(self, cur, fd, write, timeout)

    def pd_attach(self, pd: Any) -> None:
        asyncio_pd_attach(self, pd)

    def pd_detach(self, pd: Any) -> None:
        pass  # watched for one wait at a time: nothing registered

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        return asyncio_await(self, cur, aw, reason, waiting_on)

    # -- inside the loop greenlet -------------------------------------------

    def _loop_main(self, timeout: float | None) -> None:
        loop = self.loop
        try:
            self._arm(timeout)
            loop.run_forever()
            _finish(loop)
        finally:
            loop.close()

    def _arm(self, timeout: float | None) -> None:
        if timeout is None:
            return
        if timeout <= 0:
            self._wake_soon()
        else:
            # A real pause. (On a virtual uvloop, call_later is virtual:
            # real_call_later is libuv's own timer.)
            later = getattr(self.loop, "real_call_later", self.loop.call_later)
            self.handle = later(timeout, self._wake)

    def _wake(self) -> None:
        """A plain loop callback: hand the thread back to the hub."""
        if not self.sleeping:
            return  # a stale wake: the hub is already running
        self.sleeping = False
        h = self.handle
        if h is not None:
            self.handle = None
            h.cancel()
        hub = self.hub
        assert hub is not None
        # While green tasks run, no event loop is running on this thread
        # (they are not coroutines): a loop greenlet left suspended must not
        # make the thread look busy to asyncio, e.g. after implicit mode.
        _set_running_loop(None)
        try:
            msg = hub.switch()
        finally:
            _set_running_loop(self.loop)
        if msg is _STOP:
            self.loop.stop()
            return
        self._arm(msg)


# -- the fd waits and await_ of a backend with an asyncio loop ---------------
#
# For AsyncioBackend and run_async()'s hosted asyncio backend alike: ``b``
# has ``loop``, ``awaiting``, ``inflight``, ``dirty`` and ``poke()``.


def asyncio_wait_fd(b: Any, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
    """wait_readable/wait_writable: an await_ of the loop's own wait."""
    asyncio_await(b, cur, _asyncio_wait(fd, write, timeout), wr.IO_WAIT, FdWait(fd, write))


def asyncio_pd_attach(b: Any, pd: Any) -> None:
    """A PollDesc's waits: the loop's add_reader/add_writer for each wait
    (the loop's epoll is its own: no registration that outlives a wait)."""
    pd.owner, pd.watch, pd.stale = b, functools.partial(_pd_watch, b), None


def _pd_watch(b: Any, rec: _IOWait) -> None:
    loop = b.loop
    (loop.add_writer if rec.write else loop.add_reader)(rec.fd, rec.fire)
    rec.ctx = loop
    rec.undo = _unwatch


def _unwatch(rec: _IOWait) -> None:
    loop = rec.ctx
    rec.ctx = None
    (loop.remove_writer if rec.write else loop.remove_reader)(rec.fd)


class _AwaitRecord:
    """The wait record of a green task in ``await_``."""

    __slots__ = ("backend", "done", "future", "task")

    def __init__(self, task: Task, backend: Any) -> None:
        self.task = task
        self.backend = backend
        self.done = False
        self.future: asyncio.Future[Any] | None = None

    def withdraw(self) -> bool:  # LOCK held; any thread
        if self.done:
            return False
        self.done = True
        fut = self.future
        if fut is not None:
            loop = self.backend.loop
            if get_ident() == self.task.sched.thread_id:
                fut.cancel()
            else:
                loop.call_soon_threadsafe(fut.cancel)
        return True

    def completed(self, fut: asyncio.Future[Any]) -> None:
        """Done callback, on the loop."""
        self.backend.awaiting.discard(fut)
        with LOCK:
            mine = not self.done
            self.done = True
        if mine:
            ready(self.task)
            self.backend.poke()
        elif not fut.cancelled() and fut.exception() is not None:
            log.error(
                "an await_()ed awaitable raised after its green task stopped waiting",
                exc_info=fut.exception(),
            )


def asyncio_await(b: Any, cur: Task, aw: Awaitable[T], reason: str, waiting_on: Any) -> T:
    """``await_(aw)`` on ``b``'s asyncio loop, parked as ``reason``."""
    take_pending(cur, aw)
    rec = _AwaitRecord(cur, b)
    escaped: list[BaseException] = []
    if asyncio.isfuture(aw):
        fut = asyncio.ensure_future(aw, loop=b.loop)
    else:
        fut = b.loop.create_task(_catch_exit(aw, escaped))
        if inspect.iscoroutine(aw):
            coro = aw  # cancelled before its first step: close it (as asyncio would)
            fut.add_done_callback(lambda _: coro.close())
    rec.future = fut
    b.awaiting.add(fut)
    fut.add_done_callback(rec.completed)
    b.dirty = True
    b.inflight += 1  # the loop's own busy() says it is pending work
    s = cur.sched
    try:
        s.park(reason, waiting_on, rec)
    finally:
        b.inflight -= 1
    if fut.cancelled():
        exc = Cancelled()
        exc.add_note("the awaitable passed to await_() was cancelled on the event loop")
        raise exc
    if escaped:
        raise escaped[0]
    result: T = fut.result()
    return result


async def _catch_exit(aw: Awaitable[T], escaped: list[BaseException]) -> T | None:
    """Await ``aw``, keeping a KeyboardInterrupt or SystemExit it raises for
    the green task: an asyncio task re-raises those out of the event loop,
    which would end the loop for every other task and await_()."""
    try:
        return await aw
    except (KeyboardInterrupt, SystemExit) as e:
        escaped.append(e)
        return None


# Waits shared per (loop, fd, direction). Both loops allow one waiter per fd
# and direction (asyncio's add_reader keeps one callback, trio raises
# BusyResourceError), while readiness is level-triggered for any number of
# green tasks: every task waiting on the same fd must wake. An entry lives
# while somebody waits; each loop runs on its own thread, so keys never mix.
_shared: dict[tuple[object, int, bool], Any] = {}


async def _asyncio_wait(fd: int, write: bool, timeout: float | None) -> None:
    """``_asyncio_wait_fd`` within ``timeout`` seconds of the loop's clock."""
    import asyncio

    if timeout is None:
        await _asyncio_wait_fd(fd, write)
        return
    try:
        async with asyncio.timeout(timeout):
            await _asyncio_wait_fd(fd, write)
    except TimeoutError:
        raise timeout_error(fd, write, timeout) from None


async def _asyncio_wait_fd(fd: int, write: bool) -> None:
    """One add_reader/add_writer per fd, waking every future waiting on it."""
    import asyncio

    loop = asyncio.get_running_loop()
    key = (loop, fd, write)
    futs: list[asyncio.Future[None]] | None = _shared.get(key)
    if futs is None:
        futs = _shared[key] = []
        waiting = futs

        def on_ready() -> None:
            _stop_watching(loop, key)
            for f in waiting:
                if not f.done():
                    f.set_result(None)
            waiting.clear()

        (loop.add_writer if write else loop.add_reader)(fd, on_ready)
    fut: asyncio.Future[None] = loop.create_future()
    futs.append(fut)
    try:
        await fut
    finally:
        if fut in futs:  # cancelled: the last one out stops the watch
            futs.remove(fut)
            if not futs and _shared.get(key) is futs:
                _stop_watching(loop, key)


def _stop_watching(loop: Any, key: tuple[Any, int, bool]) -> None:
    del _shared[key]
    (loop.remove_writer if key[2] else loop.remove_reader)(key[1])


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does at the end: cancel leftover tasks and wait
    for them, then shut down async generators and the default executor."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                loop.call_exception_handler(
                    {
                        "message": "unhandled exception in a task at gochan shutdown",
                        "exception": t.exception(),
                        "task": t,
                    }
                )
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


def asyncio_backend() -> AsyncioBackend:
    return AsyncioBackend("asyncio", asyncio.new_event_loop)


def virtual_uvloop(clock: Any) -> asyncio.AbstractEventLoop:
    """A uvloop loop whose time is ``clock``: ``call_at``/``call_later``
    (so ``asyncio.sleep``, timeouts) keep their timers in Python, which
    the backend fires when virtual time reaches them, and ``call_soon``
    counts what is ready, so that the backend can tell when the loop is
    idle (libuv's own queues are out of sight)."""
    import heapq

    import uvloop

    class VirtualUVLoop(uvloop.Loop):
        def __init__(self) -> None:
            super().__init__()
            self._scheduled: list[asyncio.TimerHandle] = []  # a heap, as asyncio's
            self.ready_count = 0

        def time(self) -> float:
            return float(clock.now())

        def call_at(  # type: ignore[override]
            self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            h = asyncio.TimerHandle(when, callback, args, self, context)
            heapq.heappush(self._scheduled, h)
            return h

        def call_later(  # type: ignore[override]
            self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            return self.call_at(self.time() + delay, callback, *args, context=context)

        def real_call_later(self, delay: float, callback: Callable[[], object]) -> Any:
            return super().call_later(delay, callback)

        def _timer_handle_cancelled(self, handle: Any) -> None:
            pass  # cancelled timers are skipped when they come due

        def call_soon(  # type: ignore[override]
            self, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.Handle:
            h = asyncio.Handle(callback, args, self, context)
            self.ready_count += 1
            super().call_soon(self._run_counted, h)
            return h

        def _run_counted(self, h: asyncio.Handle) -> None:
            self.ready_count -= 1
            if not h.cancelled():
                h._run()

        def timers_due(self) -> bool:
            now = clock.now()
            return any(h.when() <= now and not h.cancelled() for h in self._scheduled)

        def fire_due_timers(self) -> None:
            """Move the timers whose time has come to the ready queue."""
            timers, now = self._scheduled, clock.now()
            while timers and (timers[0].cancelled() or timers[0].when() <= now):
                h = heapq.heappop(timers)
                if not h.cancelled():
                    self.call_soon(h._run)

    return VirtualUVLoop()


def uvloop_backend() -> AsyncioBackend:
    try:
        import uvloop
    except ImportError as e:
        raise ImportError(
            "gochan's uvloop backend needs uvloop: pip install 'gochan[uvloop]'"
        ) from e
    return AsyncioBackend("uvloop", uvloop.new_event_loop)
