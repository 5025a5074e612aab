"""The bridge between green tasks and coroutines on a loop backend.

Two directions:

* ``await_(awaitable)``: a green task hands an awaitable to the event loop
  and parks until it completes. The wait record counts as pending work
  (never a deadlock) and can be withdrawn: cancelling the green task
  cancels the awaitable.
* The async face of channels (``await ch.asend(v)``, ``await ch.arecv()``,
  ``async for``, ``await aselect(...)``): a coroutine queues a ``Waiter``
  on the channel exactly like a green task would, with a *coroutine
  parker* (``waiter.Parker``) standing in for the task. A peer completing
  that waiter calls ``wake_peer(parker)`` (``scheduler.wake_peer``), which calls
  ``parker.wake()``: that resolves the parker's future. So
  green tasks and coroutines are interchangeable ends of one channel, with
  the same hand-off, close and fairness rules, and the channel code knows
  nothing about coroutines.

Cancellation of a coroutine parked on a channel withdraws its waiter under
LOCK. If a peer completed the operation first, the operation stands (the
value was delivered, or received and is returned) and the cancellation is
re-armed to surface at the coroutine's next ``await``: nothing is lost and
nothing happens twice.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Awaitable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from . import waitreason as wr
from .backends import parked_coroutines
from .chan import BLOCKED, CLOSED, Chan
from .errors import SEND_ON_CLOSED, Cancelled, Panic
from .scheduler import Scheduler, current_task, peek_scheduler, ready, wake_peer
from .select import _Cases, select_start
from .waiter import LOCK, LoopGroup, Waiter, WaitRecord, push_waiter

if TYPE_CHECKING:
    from .backends.aio import AsyncioBackend
    from .backends.trio import TrioBackend
    from .task import Task
    from .waiter import Parker

T = TypeVar("T")
log = logging.getLogger("gochan")


def _loop_backend(s: Scheduler | None, what: str) -> AsyncioBackend:
    b = s.backend if s is not None else None
    if b is None or not getattr(b, "poll", False):
        raise RuntimeError(
            f"{what} needs an async backend: start gochan with "
            "gochan.run(main, backend='asyncio') (or 'uvloop', 'trio'), "
            "or set GOCHAN_BACKEND; the builtin backend has no event loop"
        )
    return b  # type: ignore[return-value]


# -- green task -> loop: await_ ----------------------------------------------


class _AwaitRecord:
    """The wait record of a green task in ``await_``."""

    __slots__ = ("backend", "done", "future", "task")

    def __init__(self, task: Task, backend: AsyncioBackend) -> None:
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


def await_(aw: Awaitable[T]) -> T:
    """Run ``aw`` on the event loop and park this green task until it is done.

    Returns its result or raises its exception. Only under an async
    backend (``run(main, backend="asyncio")``, ``"uvloop"``, ``"trio"``);
    the other green tasks keep running meanwhile. If this task is cancelled
    while waiting, the awaitable is cancelled too; if the awaitable is
    cancelled on the loop, this raises ``gochan.Cancelled``.

    >>> import asyncio, gochan
    >>> async def fetch(x):
    ...     await asyncio.sleep(0.01)
    ...     return x * 2
    >>> def main():
    ...     return gochan.await_(fetch(21))
    >>> gochan.run(main, backend="asyncio")
    42
    """
    if not inspect.isawaitable(aw):
        hint = ""
        if inspect.iscoroutinefunction(aw) or inspect.isasyncgenfunction(aw):
            hint = "; call the async function and pass what it returns: await_(f(arg))"
        raise TypeError(
            f"await_() needs an awaitable (a coroutine, Task or Future), got {aw!r}{hint}"
        )
    return wait_on_loop(aw, wr.AWAIT, aw)


def wait_on_loop(aw: Awaitable[T], reason: str, waiting_on: object) -> T:
    """``await_(aw)``, parked as ``reason`` on ``waiting_on`` (what dump()
    shows: an I/O wait that runs on the loop still reads as one)."""
    try:
        cur = current_task()
        s = cur.sched
        b = _loop_backend(s, "await_()")
        if cur._throw is not None or cur._cancelled:
            raise cur._take_pending()
    except BaseException:
        if asyncio.iscoroutine(aw):
            aw.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    if b.name == "trio":
        return _await_trio(cur, b, aw, reason, waiting_on)  # type: ignore[arg-type]
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


class _TrioAwait:
    """The wait record of a green task in ``await_`` under trio."""

    __slots__ = ("backend", "done", "exc", "result", "scope", "task")

    def __init__(self, task: Task, backend: TrioBackend) -> None:
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


def _await_trio(cur: Task, b: TrioBackend, aw: Awaitable[T], reason: str, waiting_on: object) -> T:
    import trio

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


# -- loop -> channels: the async face -----------------------------------------


class _CoroParker:
    """Stands in for a Task in the waiters of an asyncio coroutine
    (a ``waiter.Parker``)."""

    __slots__ = ("future", "loop", "task", "thread_id")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.thread_id = get_ident()
        self.task: asyncio.Task[Any] | None = None

    def __repr__(self) -> str:
        return "<coroutine>"

    def dead(self) -> bool:
        """True once the coroutine can never run again: its loop is closed
        (LOCK held; ``LoopGroup.claim`` then refuses its waiters)."""
        if self.loop.is_closed():
            parked_coroutines.discard(self.task)
            return True
        return False

    def wake(self) -> None:
        """Resolve the future (any thread; LOCK released)."""
        parked_coroutines.discard(self.task)  # runnable from now on
        if self.loop.is_closed():
            # Completed against a coroutine that can never run again: its
            # loop was closed by another thread after a peer claimed the
            # wait (LoopGroup.claim refuses a coroutine whose loop is
            # already closed). Say so, loudly. Raising here would leave the
            # other peers of a close() unwoken.
            log.error(
                "a channel operation was completed against a coroutine whose asyncio event "
                "loop is closed (the loop was closed while the coroutine still awaited the "
                "channel): what was handed to it is lost. End loops with asyncio.run(), or "
                "cancel their tasks before loop.close()"
            )
            return
        if get_ident() == self.thread_id:
            self._set()
            _poke()
        else:
            self.loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    async def wait(self, record: WaitRecord) -> None:
        """Wait until a peer completes ``record`` (see the module docstring
        for what cancellation does)."""
        task = self.task = asyncio.current_task()
        parked_coroutines.add(task)
        # The loop may have nothing else to do now: let the hub look again
        # (a deadlock involving this coroutine must be seen).
        _poke()
        try:
            await self.future
        except asyncio.CancelledError as e:
            with LOCK:
                withdrawn = record.withdraw()
            if withdrawn:
                raise
            if task is not None:  # completed anyway: re-arm for the next await
                task.uncancel()
                task.cancel(e.args[0] if e.args else None)
        finally:
            parked_coroutines.discard(task)


class _TrioParker:
    """Stands in for a Task in the waiters of a trio task (a ``waiter.Parker``)."""

    __slots__ = ("task", "thread_id", "token")

    def __init__(self) -> None:
        import trio

        self.task = trio.lowlevel.current_task()
        self.token = trio.lowlevel.current_trio_token()
        self.thread_id = get_ident()

    def __repr__(self) -> str:
        return f"<trio task {self.task.name}>"

    def dead(self) -> bool:
        """Never: trio.run() returns only once every task has ended, and a
        task parked here ends only through its wait (woken or cancelled)."""
        return False

    def wake(self) -> None:
        import trio

        parked_coroutines.discard(self.task)  # runnable from now on
        if get_ident() == self.thread_id:
            trio.lowlevel.reschedule(self.task)
            _poke()
        else:
            self.token.run_sync_soon(trio.lowlevel.reschedule, self.task)

    async def wait(self, record: WaitRecord) -> None:
        """Wait until a peer completes ``record``. On cancellation, withdraw
        it if no peer has taken it yet (the wait then raises Cancelled);
        else the operation stands and the peer's wake ends the wait."""
        import trio

        def abort(_: Any) -> trio.lowlevel.Abort:
            with LOCK:
                withdrawn = record.withdraw()
            if not withdrawn:
                return trio.lowlevel.Abort.FAILED  # the peer's wake() follows
            parked_coroutines.discard(self.task)  # trio reschedules it now
            return trio.lowlevel.Abort.SUCCEEDED

        parked_coroutines.add(self.task)
        try:
            await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            parked_coroutines.discard(self.task)


def _parker() -> _CoroParker | _TrioParker:
    """A parker for the running coroutine: asyncio (any loop, uvloop
    included) or trio. No gochan scheduler is needed: a channel can connect
    plain coroutines with each other and with green tasks anywhere."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        return _CoroParker(loop)
    if "trio" in sys.modules:
        try:
            return _TrioParker()
        except RuntimeError:
            pass
    raise RuntimeError(
        "async channel operations must be awaited in a coroutine running on asyncio "
        "(or uvloop) or trio; green tasks use the blocking ch.send()/ch.recv()"
    )


def _poke() -> None:
    """Loop-side code readied a green task of this thread: let its hub run."""
    s = peek_scheduler()
    if s is not None:
        s.backend.poke()


def _ready_peer(peer: Task | Parker) -> None:
    wake_peer(peer)
    _poke()


async def asend(ch: Chan[T], v: T) -> None:
    """``await ch.asend(v)``: Chan.send for coroutines."""
    with LOCK:
        peer = ch._try_send(v)
        if peer is BLOCKED:
            parker = _parker()
            g = LoopGroup(parker)
            w = Waiter(parker, v, g)
            g.waiters.append(w)
            push_waiter(ch._sendq, w)
    if peer is not BLOCKED:
        if peer is not None:
            _ready_peer(peer)
        return
    await parker.wait(g)
    if not w.ok:
        raise Panic(SEND_ON_CLOSED)


async def _arecv(ch: Chan[T]) -> Any:
    with LOCK:
        r = ch._try_recv()
        if r is BLOCKED:
            parker = _parker()
            g = LoopGroup(parker)
            w = Waiter(parker, None, g)
            g.waiters.append(w)
            push_waiter(ch._recvq, w)
    if r is not BLOCKED:
        v, ok, peer = r
        if peer is not None:
            _ready_peer(peer)
        return v if ok else CLOSED
    await parker.wait(g)
    return w.value if w.ok else CLOSED


async def arecv(ch: Chan[T]) -> T | None:
    """``await ch.arecv()``: Chan.recv for coroutines."""
    v = await _arecv(ch)
    return None if v is CLOSED else v


async def arecv_ok(ch: Chan[T]) -> tuple[T | None, bool]:
    """``await ch.arecv_ok()``: Chan.recv_ok for coroutines."""
    v = await _arecv(ch)
    return (None, False) if v is CLOSED else (v, True)


async def aiter_chan(ch: Chan[T]) -> AsyncIterator[T]:
    """``async for v in ch``: receive until closed and drained."""
    while (v := await _arecv(ch)) is not CLOSED:
        yield v


async def forever() -> None:
    """Block a coroutine until it is cancelled: nil-channel operations."""
    if isinstance(_parker(), _TrioParker):
        import trio

        await trio.sleep_forever()
    await asyncio.get_running_loop().create_future()


async def forever_iter() -> AsyncIterator[Any]:
    await forever()
    yield  # pragma: no cover - never reached


async def aselect(*cases: Any) -> tuple[int, Any]:
    """``await gochan.aselect(...)``: ``select`` for coroutines, same cases
    and rules (``ch.recv``, ``ch.recv_ok``, ``(ch.send, v)``, ``default``).

    >>> import gochan
    >>> async def pick(a, b):
    ...     return await gochan.aselect(a.recv, b.recv)
    >>> def main():
    ...     a, b = gochan.Chan[int](), gochan.Chan[str](1)
    ...     b.send("from b")
    ...     return gochan.await_(pick(a, b))
    >>> gochan.run(main, backend="asyncio")
    (1, 'from b')
    """
    parker = _parker()
    r = select_start(cases, parker)
    if type(r) is tuple:
        _poke()  # the case taken may have readied a green task
        return r
    assert type(r) is _Cases
    await parker.wait(r.group)
    return r.outcome()
