"""What a green task waits for on an asyncio (or uvloop) loop: ``await_``
(an awaitable run as a loop task, the green task parked on an
``_AwaitRecord`` until its done callback) and one-shot fd waits (the
loop's own ``add_reader``/``add_writer``; a socket's ``PollDesc`` waits
are aio_poll.py's).

For ``AsyncioBackend`` (aio.py) and run_async()'s hosted asyncio backend
(hosted.py) alike: ``b`` has ``loop``, ``awaiting``, ``inflight``,
``dirty`` and ``poke()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from .. import waitreason as wr
from ..errors import Cancelled
from ..fdwait import FdWait, timeout_error
from ..task import ready
from ..waiter import LOCK
from . import take_pending
from .aio_poll import forget_fd

if TYPE_CHECKING:
    from ..task import Task

T = TypeVar("T")
log = logging.getLogger("gochan")


def asyncio_wait_fd(b: Any, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
    """wait_readable/wait_writable: an await_ of the loop's own wait."""
    asyncio_await(b, cur, _asyncio_wait(fd, write, timeout), wr.IO_WAIT, FdWait(fd, write))


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

        forget_fd(loop, fd, write)  # (a socket's PollDesc registration: ours now)
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
