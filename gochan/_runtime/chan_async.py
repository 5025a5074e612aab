"""The async face of channels: what ``await ch.asend(v)``, ``await
ch.arecv()``, ``await ch.arecv_ok()`` and ``async for v in ch`` run, for a
coroutine on asyncio (uvloop included) or trio, and the *parkers* that let
a coroutine wait on a channel.

A coroutine queues a ``Waiter`` on the channel exactly as a green task
does, with a parker (``waiter.Parker``) standing in for the task. A peer
completing that waiter calls ``wake_peer(parker)`` (task.py), which calls
``parker.wake()``: that resolves the coroutine's wait. So green tasks and
coroutines are interchangeable ends of one channel, with the same
hand-off, close and fairness rules, and the channel code knows nothing
about coroutines. This module imports chan.py; chan.py does not import it:
``Chan``'s async methods run the functions this module sets in
``chan.FACE`` when it is imported. (``aselect`` and ``await_``, the rest of
the bridge between green tasks and coroutines, are bridge.py's.)

Cancellation of a coroutine parked on a channel withdraws its waiter under
LOCK. If a peer completed the operation first, the operation stands (the
value was delivered, or received and is returned) and the cancellation is
re-armed to surface at the coroutine's next ``await``: nothing is lost and
nothing happens twice.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from .backends import parked_coroutines
from .chan import BLOCKED, CLOSED, FACE, Chan
from .errors import SEND_ON_CLOSED, Panic
from .task import wake_peer
from .threads import peek_scheduler
from .waiter import LOCK, LoopGroup, Waiter, WaitRecord, push_waiter

if TYPE_CHECKING:
    from .task import Task
    from .waiter import Parker

T = TypeVar("T")
log = logging.getLogger("gochan")


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
            poke()
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
        poke()
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
            poke()
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


def current_parker() -> _CoroParker | _TrioParker:
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


def poke() -> None:
    """Loop-side code readied a green task of this thread: let its hub run."""
    s = peek_scheduler()
    if s is not None:
        s.backend.poke()


def _ready_peer(peer: Task | Parker) -> None:
    wake_peer(peer)
    poke()


def _enqueue(q: Any, v: Any) -> tuple[_CoroParker | _TrioParker, LoopGroup, Waiter]:
    """Queue the running coroutine on ``q`` (LOCK held) with value ``v``."""
    parker = current_parker()
    g = LoopGroup(parker)
    w = Waiter(parker, v, g)
    g.waiters.append(w)
    push_waiter(q, w)
    return parker, g, w


async def asend(ch: Chan[T], v: T) -> None:
    """``await ch.asend(v)``: Chan.send for coroutines."""
    with LOCK:
        peer = ch._try_send(v)
        if peer is BLOCKED:
            parker, g, w = _enqueue(ch._sendq, v)
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
            parker, g, w = _enqueue(ch._recvq, None)
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
    if isinstance(current_parker(), _TrioParker):
        import trio

        await trio.sleep_forever()
    await asyncio.get_running_loop().create_future()


async def forever_iter() -> AsyncIterator[Any]:
    await forever()
    yield  # pragma: no cover - never reached


FACE.asend, FACE.arecv, FACE.arecv_ok, FACE.aiter = asend, arecv, arecv_ok, aiter_chan
