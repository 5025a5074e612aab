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
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from greenlet import error as greenlet_error
from greenlet import getcurrent, greenlet

from ..task import ready
from ..waitreason import RUNNABLE
from . import parked_coroutines
from .aio_poll import LoopState, asyncio_pd_attach, flush
from .aio_waits import asyncio_await, asyncio_wait_fd

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
        self.pdstate: LoopState | None = None  # sockets on the loop (aio_poll.py)

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

    def fd_ready(self, t: Task) -> None:
        """A socket's loop callback (aio_poll.py) readied ``t``, parked on
        this thread; asyncio's own loop only. With nothing else queued for
        this turn, the hub gets the thread now, not a turn later: one
        ``select`` and one loop turn less per wait, and no report of the
        fd that green tasks have since read. Otherwise as ``ready``."""
        soon = self.soon
        queued = self.loop._ready  # type: ignore[attr-defined]
        if self.sleeping and getcurrent() is self.g and all(h is soon for h in queued):
            t._state = RUNNABLE
            t.sched.runq.append(t)
            self.dirty = True
            if soon is not None:
                soon.cancel()  # (stays ``soon`` till a new one: see _soon_wake)
            self._wake()
        else:
            ready(t)

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
                # (a socket's registration kept between waits is not: its
                # waits, if any, are the scheduler's ``polling``)
                or len(loop._selector.get_map()) > 1 + self._kept()  # type: ignore[attr-defined]
            )
        parked = parked_coroutines
        if any(f not in parked for f in self.awaiting):
            return True  # an await_ running, or done and not yet handed over
        return any(
            not t.done() and (t not in parked or t.cancelling()) for t in asyncio.all_tasks(loop)
        )

    def _kept(self) -> int:
        st = self.pdstate
        return 0 if st is None else len(st.fds)

    def close(self) -> None:
        """Cancel what still runs on the loop, let it finish, close the loop."""
        if self.closed:
            return
        self.closed = True
        g = self.g
        if g is not None and not g.dead:
            try:
                g.parent = getcurrent()
            except (greenlet_error, ValueError, RuntimeError):
                # Dropped from another thread (garbage collection, or the
                # interpreter tearing down a daemon thread's locals): the
                # loop greenlet can only run on its own thread; leave it.
                return
            try:
                g.switch(_STOP)
            except greenlet_error:
                return
        elif g is None and not self.hosted:
            # The loop never ran (nothing ever waited in it), but await_()
            # may have handed it tasks: cancel and finish them here.
            try:
                _finish(self.loop)
            finally:
                self.loop.close()
                flush(self.loop)

    # -- fds and await_: the loop's own (aio_waits.py, aio_poll.py; shared with run_async's)

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        asyncio_wait_fd(self, cur, fd, write, timeout)

    def pd_attach(self, pd: Any) -> None:
        asyncio_pd_attach(self, pd)

    def pd_detach(self, pd: Any) -> None:
        pass  # the loop lets go in PollDesc.unlink (pd.loops, aio_poll.py)

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
            flush(loop)  # sockets closed from other threads meanwhile

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
