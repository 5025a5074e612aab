"""The task API (go, run, current, num_goroutine), and the two ways a
thread gets its scheduler: ``run()``, for the length of the run, and
implicit mode, on the thread's first blocking call (``implicit_scheduler``,
which the thread registry calls: see ``threads.set_implicit``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import getcurrent

from . import chan
from . import monitor as _monitor
from .backends import Backend, loop_in_use
from .backends.catalog import BACKENDS, unknown_backend
from .clock import Clock, RealClock, VirtualClock
from .errors import NOT_RUN, body_never_ran, not_callable, plural
from .scheduler import Scheduler
from .task import Task
from .threads import adopt, current_task, get_scheduler, install, peek_scheduler, set_implicit

R = TypeVar("R")


def go(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Task:
    """Start ``fn(*args, **kwargs)`` as a new green task; Go's ``go`` statement.

    Returns at once with the task's handle; the task first runs when the
    caller next blocks or yields. An exception escaping the task is fatal:
    it is re-raised in the main task and the other tasks are cancelled.

    >>> import gochan
    >>> def main():
    ...     ch = gochan.Chan[str]()
    ...     gochan.go(ch.send, "hello")
    ...     return ch.recv()
    >>> gochan.run(main)
    'hello'
    """
    if not callable(fn):
        raise not_callable("go()", fn, "; write go(f, arg) rather than go(f(arg))")
    return get_scheduler().spawn(fn, args, kwargs)


def current() -> Task:
    """The running task (the thread's main task outside ``go``)."""
    return current_task()


def num_goroutine() -> int:
    """The number of live tasks on this thread's scheduler, main included."""
    s = peek_scheduler()
    return len(s.tasks) if s is not None else 1


def implicit_scheduler() -> Scheduler:
    """A scheduler for this thread's first use of gochan without ``run()``
    (implicit mode), adopted for the rest of the thread's life: backend
    ``$GOCHAN_BACKEND`` (default builtin), the real clock, ``$GOCHAN_MONITOR``."""
    s = Scheduler(
        getcurrent(),
        clock=RealClock(),
        seed=None,
        backend=os.environ.get("GOCHAN_BACKEND") or "builtin",
    )
    s.implicit = True
    adopt(s)
    secs = _monitor.from_env()
    if secs is not None:
        s.watch = _monitor.watch(s, secs)
    return s


set_implicit(implicit_scheduler)


def _make_clock(clock: str | Clock) -> Clock:
    if clock == "real":
        return RealClock()
    if clock == "virtual":
        return VirtualClock()
    if isinstance(clock, (RealClock, VirtualClock)):
        return clock
    raise ValueError(f"clock must be 'real' or 'virtual', got {clock!r}")


def run(
    main: Callable[..., R],
    /,
    *args: Any,
    backend: str | Backend | None = None,
    clock: str | Clock = "real",
    seed: int | None = None,
    debug: bool = False,
    monitor: float | None = None,
    **kwargs: Any,
) -> R:
    """Run ``main(*args, **kwargs)`` as the main task of a fresh scheduler on
    this thread and return its result.

    When ``main`` returns (or raises), every task still alive is cancelled
    (its ``finally`` blocks run) before ``run`` returns. An exception that
    escaped another task and was not yet delivered to ``main`` is raised.

    Options: ``backend`` ("builtin", "asyncio", "uvloop", "trio", or a
    ``gochan.backend.Backend`` instance of your own, used for this run and
    closed at its end; default ``$GOCHAN_BACKEND`` or builtin), ``clock``
    ("real" or "virtual": time jumps to the next timer whenever every task
    is blocked), ``seed`` (makes select's random
    choices reproducible), ``debug`` (check channel invariants after every
    operation), ``monitor`` (seconds: log a warning naming any task that
    holds the thread longer than that while others wait; default
    ``$GOCHAN_MONITOR``, else off; see docs/debugging.md).

    >>> import gochan
    >>> gochan.run(lambda a, b: a + b, 2, 3)
    5
    """
    if not callable(main):
        raise not_callable("run()", main, "; write run(f, arg) rather than run(f(arg))")
    chosen: str | Backend
    if backend is None or isinstance(backend, str):
        name = backend or os.environ.get("GOCHAN_BACKEND") or "builtin"
        if name not in BACKENDS:
            raise unknown_backend(name, "backend=" if backend else "GOCHAN_BACKEND")
        chosen = name
    else:
        if not callable(getattr(backend, "wait", None)):
            raise TypeError(
                "backend= must be a backend name or a gochan.backend.Backend instance, "
                f"got {backend!r}"
            )
        name, chosen = backend.name, backend
    busy = loop_in_use(name)
    if busy is not None:
        raise busy
    secs = _monitor.threshold(monitor, "run(monitor=...)") if monitor is not None else None
    return run_with(
        main, args, kwargs, backend=chosen, clock=clock, seed=seed, debug=debug, monitor=secs
    )


def run_with(
    main: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    backend: str | Backend,
    clock: str | Clock,
    seed: int | None,
    debug: bool,
    monitor: float | None = None,
) -> R:
    """``run`` with a backend name or instance (run_async passes a hosted one).
    ``monitor``: a validated threshold, else ``$GOCHAN_MONITOR`` decides."""
    clk = _make_clock(clock)
    if monitor is None:
        monitor = _monitor.from_env()
    if seed is not None and not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    prev = peek_scheduler()
    me = getcurrent()
    # Only implicit mode's scheduler can be set aside for the run, and only
    # while its main task (the thread's own code) is alone: a run() inside a
    # running run() would stall the outer run's tasks until it ended.
    if prev is not None and not (
        prev.implicit
        and len(prev.tasks) == 1
        and prev.current is not None
        and prev.current.greenlet is me
    ):
        raise _nested_run(prev, me)
    s = Scheduler(me, clock=clk, seed=seed, backend=backend)
    install(s)
    old_debug = chan.FLAGS.debug
    chan.FLAGS.debug = debug or old_debug
    watch = _monitor.watch(s, monitor) if monitor is not None else None
    main_exc: BaseException | None = None
    try:
        try:
            result = main(*args, **kwargs)
            if result is not None and isinstance(result, NOT_RUN):
                name = getattr(main, "__qualname__", None) or repr(main)
                raise body_never_ran(f"main function {name!r}", result)
        except BaseException as e:  # re-raised below, after shutdown
            main_exc = e
        errors = s.shutdown()
    finally:
        if watch is not None:
            _monitor.unwatch(watch)
        chan.FLAGS.debug = old_debug
        install(prev)
    _finish_main(s, main_exc, errors)
    return result


def _nested_run(prev: Scheduler, me: object) -> RuntimeError:
    """Why ``run()`` cannot start on this thread now, and what to do."""
    cur = prev.current
    instead = "start the function with gochan.go() instead (join() the task for its result)"
    if cur is None or cur.greenlet is not me:
        return RuntimeError(
            f"gochan.run() cannot start from greenlet {me!r}, which gochan does not manage, "
            f"while this thread's scheduler runs; {instead}"
        )
    if not prev.implicit:
        return RuntimeError(
            f"gochan.run() cannot start inside a running gochan.run() or run_async() (task "
            f"{cur.name!r} called it); {instead}, or call the function directly"
        )
    if cur is not prev.main:
        return RuntimeError(
            f"gochan.run() cannot start inside a running task (task {cur.name!r}): this "
            "thread already has a scheduler from implicit mode (gochan used without run()), "
            f"and the task runs on it; {instead}"
        )
    others = plural(len(prev.tasks) - 1, "other live task")
    return RuntimeError(
        "gochan.run() cannot start here: this thread already has a scheduler from implicit "
        f"mode (gochan used without run()), with {others}, which could not run until the "
        f"new run ended; {instead}, or let those tasks finish first (run() works from "
        "implicit mode while the thread's own code is its only task)"
    )


def _finish_main(s: Scheduler, main_exc: BaseException | None, errors: list[BaseException]) -> None:
    if main_exc is not None:
        for e in errors:
            if e is not main_exc:
                main_exc.add_note(f"also, during shutdown: {type(e).__name__}: {e}")
        raise main_exc
    if errors:
        first = errors[0]
        for e in errors[1:]:
            first.add_note(f"also, during shutdown: {type(e).__name__}: {e}")
        raise first


__all__ = ["Scheduler", "current", "go", "num_goroutine", "run"]
