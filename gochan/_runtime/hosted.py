"""run_async(): green tasks inside an asyncio or trio program that is
already running.

``await gochan.run_async(main)`` starts a gochan run in a new greenlet on
the loop's thread. The greenlet that runs the event loop (the *host*) stays
in charge: when the scheduler has nothing to run, its hub switches back to
the host, which resumes ``run_async``'s coroutine; that coroutine (the
*driver*) awaits a wake event with the scheduler's timeout, then switches to
the hub again. So the host program's coroutines, gochan's green tasks and
``await_()`` calls share one thread, taking turns, and the run ends when
``main`` returns (after the usual cancellation of leftover tasks).

The protocol between hub and driver is the backend seam: the hub's
``wait(timeout)`` sends the driver ``timeout``; the driver sends back
nothing (a wakeup). When the gochan run is over, its greenlet returns an
``_Ended`` to the driver, which returns or raises its outcome.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

from .clock import Clock
from .errors import not_callable
from .scheduler import install, peek_scheduler

R = TypeVar("R")

_set_running_loop = asyncio.events._set_running_loop


class _Ended:
    __slots__ = ("exc", "result")

    def __init__(self, result: Any, exc: BaseException | None) -> None:
        self.result, self.exc = result, exc


class HostedBackend:
    """The scheduler's backend while a host event loop drives it."""

    poll = True
    hosted = True  # the host's loop runs on this thread, and may (see loop_blocked)

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


def _start_run(
    host: greenlet,
    backend: HostedBackend,
    main: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    clock: str | Clock,
    seed: int | None,
    debug: bool,
) -> greenlet:
    from .run import run_with

    def body() -> _Ended:
        try:
            return _Ended(
                run_with(main, args, kwargs, backend=backend, clock=clock, seed=seed, debug=debug),
                None,
            )
        except BaseException as e:  # handed to the driver, raised there
            return _Ended(None, e)

    return greenlet(body, host)


async def run_async(
    main: Callable[..., R],
    /,
    *args: Any,
    clock: str | Clock = "real",
    seed: int | None = None,
    debug: bool = False,
    **kwargs: Any,
) -> R:
    """Run ``main`` as the main green task of a gochan run hosted by the
    running asyncio or trio event loop; return its result.

    The loop's other coroutines keep running while green tasks do; green
    tasks use the loop through ``await_()``, and coroutines share channels
    with them through ``asend``/``arecv``/``aselect``. Like ``run``,
    leftover tasks are cancelled when ``main`` returns.

    >>> import asyncio, gochan
    >>> def main():
    ...     return gochan.await_(asyncio.sleep(0.01, result="slept"))
    >>> asyncio.run(gochan.run_async(main))
    'slept'
    """
    if not callable(main):
        raise not_callable(
            "run_async()", main, "; write run_async(f, arg) rather than run_async(f(arg))"
        )
    prev = peek_scheduler()
    if prev is not None and len(prev.tasks) > 1:
        raise RuntimeError(
            "gochan.run_async() cannot start while this thread's scheduler runs green "
            "tasks; start the function with gochan.go() instead"
        )
    library = _current_library()
    host = getcurrent()
    install(None)
    try:
        if library == "trio":
            b = HostedBackend("trio", host)
            ended = await _drive_trio(b, main, args, kwargs, clock, seed, debug)
        else:
            b = HostedBackend("asyncio", host)
            ended = await _drive_asyncio(b, main, args, kwargs, clock, seed, debug)
    finally:
        install(prev)
    if ended.exc is not None:
        raise ended.exc
    return ended.result  # type: ignore[no-any-return]


def _current_library() -> str:
    try:
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:
        pass
    if "trio" in sys.modules:
        import trio

        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    raise RuntimeError("run_async() must be awaited inside a running asyncio or trio event loop")


async def _drive_asyncio(
    b: HostedBackend,
    main: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    clock: str | Clock,
    seed: int | None,
    debug: bool,
) -> _Ended:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    ev = asyncio.Event()
    b.loop = loop
    b.wake_local = ev.set

    def wake_threadsafe() -> None:
        loop.call_soon_threadsafe(ev.set)

    b.wake_threadsafe = wake_threadsafe
    b.is_busy = lambda: any(t is not me and not t.done() for t in asyncio.all_tasks(loop))
    g = _start_run(b.host, b, main, args, kwargs, clock, seed, debug)

    def switch(target: greenlet) -> Any:
        _set_running_loop(None)  # green tasks are not coroutines
        try:
            return target.switch()
        finally:
            _set_running_loop(loop)

    msg = switch(g)
    while not isinstance(msg, _Ended):
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


async def _drive_trio(
    b: HostedBackend,
    main: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    clock: str | Clock,
    seed: int | None,
    debug: bool,
) -> _Ended:
    import math

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
        g = _start_run(b.host, b, main, args, kwargs, clock, seed, debug)
        msg = g.switch()
        while not isinstance(msg, _Ended):
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
