"""run_async()'s backends: the scheduler's backend while the event loop of
a host program (asyncio, uvloop included, or trio) drives it.

The greenlet that runs the event loop (the *host*) stays in charge: when
the scheduler has nothing to run, its hub's ``wait(timeout)`` switches back
to the host with ``timeout``, which resumes run_async's coroutine; that
coroutine (the *driver*, ``drive`` below) awaits a wake event with that
timeout, then switches to the hub again (a wakeup). When the gochan run is
over, its greenlet returns to the driver instead (see _runtime/hosted.py).

fd waits and await_ go to the host's loop, as on the asyncio and trio
backends (the helpers of aio_waits.py, aio_poll.py and trio_waits.py): a
socket is watched with add_reader/add_writer kept between waits, as on
the asyncio backend, or by a trio task in trio's own wait for the length
of each wait.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greenlet import getcurrent, greenlet

if TYPE_CHECKING:
    from ..task import Task

_set_running_loop = asyncio.events._set_running_loop


class HostedBackend:
    """The scheduler's backend while a host event loop drives it."""

    poll = True
    hosted = True  # the host's loop runs on this thread, and may (see loop_blocked)
    quiet_prefixes: tuple[str, ...] = ()

    def __init__(self, name: str, host: greenlet) -> None:
        self.name = name  # "asyncio" or "trio": what await_ and the async face use
        self.host = host
        self.hub: greenlet | None = None
        self.sleeping = False
        self.dirty = False
        self.closed = False
        # Set by the driver:
        self.wake_threadsafe: Callable[[], None] = lambda: None
        self.wake_local: Callable[[], None] = lambda: None
        self.is_busy: Callable[[], bool] = lambda: True
        # For await_ (asyncio: the loop; trio: a nursery and a token).
        self.loop: Any = None
        self.nursery: Any = None
        self.token: Any = None
        self.tasks = 0
        self.runners: set[Any] = set()  # trio: await_'s tasks (see TrioBackend)
        self.awaiting: set[Any] = set()  # asyncio: await_'s futures (see AsyncioBackend)
        self.inflight = 0
        self.virtual = False  # the host loop's time is real
        self.pdstate: Any = None  # asyncio: sockets on the host's loop (aio_poll.py)

    def bind_clock(self, clock: Any) -> None:
        if clock.virtual:
            raise ValueError(
                "run_async() cannot use the virtual clock: the host loop's time is real. "
                "Use gochan.run(main, backend=..., clock='virtual') instead"
            )

    def loop_idle(self) -> bool:
        return True

    def loop_deadline(self) -> float | None:
        return None

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        self.hub = getcurrent()
        self.dirty = False
        self.sleeping = True
        if incoming:
            timeout = 0
        self.host.switch(timeout)
        self.sleeping = False

    def wakeup(self) -> None:
        if self.sleeping and not self.closed:
            self.wake_threadsafe()

    def poke(self) -> None:
        self.dirty = True
        if self.sleeping and getcurrent() is self.host:
            self.wake_local()

    def busy(self) -> bool:
        return self.is_busy()

    def start(self) -> None:  # trio's await_ calls this; the host already runs
        pass

    def close(self) -> None:
        self.closed = True

    def pd_detach(self, pd: Any) -> None:
        pass  # trio: watched for one wait at a time; asyncio: PollDesc.unlink lets go


class HostedAsyncio(HostedBackend):
    """Hosted by an asyncio (or uvloop) loop."""

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        from .aio_waits import asyncio_wait_fd

        asyncio_wait_fd(self, cur, fd, write, timeout)

    def pd_attach(self, pd: Any) -> None:
        from .aio_poll import asyncio_pd_attach

        asyncio_pd_attach(self, pd)

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        from .aio_waits import asyncio_await

        return asyncio_await(self, cur, aw, reason, waiting_on)


class HostedTrio(HostedBackend):
    """Hosted by a trio run."""

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        from .. import waitreason as wr
        from ..fdwait import FdWait
        from .trio_waits import _trio_wait, trio_await

        trio_await(self, cur, _trio_wait(fd, write, timeout), wr.IO_WAIT, FdWait(fd, write))

    def pd_attach(self, pd: Any) -> None:
        from .trio_waits import trio_pd_attach

        trio_pd_attach(self, pd)

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        from .trio_waits import trio_await

        return trio_await(self, cur, aw, reason, waiting_on)


# The driver: ``start(backend)`` makes the greenlet of the gochan run (it
# returns an ``ended`` instance when the run is over; the driver returns it).
Start = Callable[[HostedBackend], greenlet]


async def drive(library: str, host: greenlet, start: Start, ended: type) -> Any:
    """Drive a gochan run from the running ``library`` ("asyncio" or
    "trio") event loop until its greenlet returns an ``ended``."""
    if library == "trio":
        return await _drive_trio(HostedTrio("trio", host), start, ended)
    return await _drive_asyncio(HostedAsyncio("asyncio", host), start, ended)


async def _drive_asyncio(b: HostedBackend, start: Start, ended: type) -> Any:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    ev = asyncio.Event()
    b.loop = loop
    b.wake_local = ev.set

    def wake_threadsafe() -> None:
        loop.call_soon_threadsafe(ev.set)

    b.wake_threadsafe = wake_threadsafe
    b.is_busy = lambda: any(t is not me and not t.done() for t in asyncio.all_tasks(loop))
    g = start(b)

    def switch(target: greenlet) -> Any:
        _set_running_loop(None)  # green tasks are not coroutines
        try:
            return target.switch()
        finally:
            _set_running_loop(loop)

    msg = switch(g)
    while not isinstance(msg, ended):
        ev.clear()
        if msg is None:
            await ev.wait()
        elif msg <= 0:
            await asyncio.sleep(0)
        else:
            handle = loop.call_later(msg, ev.set)
            try:
                await ev.wait()
            finally:
                handle.cancel()
        assert b.hub is not None
        msg = switch(b.hub)
    return msg


async def _drive_trio(b: HostedBackend, start: Start, ended: type) -> Any:
    import trio

    token = trio.lowlevel.current_trio_token()
    box: list[trio.Event] = [trio.Event()]

    def wake() -> None:
        box[0].set()

    b.token = token
    b.wake_local = wake
    b.wake_threadsafe = lambda: token.run_sync_soon(wake)
    # The host's other trio tasks could wake a green task at any time, and
    # trio has no public list of them: never report a deadlock while hosted.
    b.is_busy = lambda: True
    async with trio.open_nursery() as nursery:
        b.nursery = nursery
        g = start(b)
        msg = g.switch()
        while not isinstance(msg, ended):
            box[0] = trio.Event()
            if msg is not None and msg <= 0:
                await trio.lowlevel.checkpoint()
            else:
                with trio.move_on_after(math.inf if msg is None else msg):
                    await box[0].wait()
            assert b.hub is not None
            msg = b.hub.switch()
        nursery.cancel_scope.cancel()
    return msg
