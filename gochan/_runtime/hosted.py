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

The protocol between hub and driver is the backend seam (the hosted
backends live in backends/hosted.py, with the driver): the hub's
``wait(timeout)`` sends the driver ``timeout``; the driver sends back
nothing (a wakeup). When the gochan run is over, its greenlet returns an
``_Ended`` to the driver, which returns or raises its outcome.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

from .backends.hosted import drive
from .clock import Clock
from .errors import not_callable
from .run import run_with
from .threads import install, peek_scheduler

R = TypeVar("R")

_set_running_loop = asyncio.events._set_running_loop


class _Ended:
    __slots__ = ("exc", "result")

    def __init__(self, result: Any, exc: BaseException | None) -> None:
        self.result, self.exc = result, exc


def _start_run(
    host: greenlet,
    backend: Any,
    main: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    clock: str | Clock,
    seed: int | None,
    debug: bool,
) -> greenlet:
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

    def start(backend: Any) -> greenlet:
        return _start_run(host, backend, main, args, kwargs, clock, seed, debug)

    install(None)
    try:
        ended = await drive(library, host, start, _Ended)
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
