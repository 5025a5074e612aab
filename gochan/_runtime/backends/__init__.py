"""Backends: what the scheduler does when it has nothing to run, and how
it waits for file descriptors and event-loop work.

``Backend`` below is the whole seam: the scheduler (scheduler.py, idle.py),
the fd waits (io.py, fdwait.py), ``await_`` (bridge.py) and the deadlock
detector reach a backend through these methods and attributes only, and
no code outside this package names a concrete backend (catalog.py makes
one by name). docs/design.md ("The backend seam") says who calls what;
docs/backends.md how to add a backend.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..task import Task

# The asyncio tasks and trio tasks parked on a gochan channel right now (an
# ``asend``/``arecv``/``aselect`` waiting for a peer). Like a parked green
# task, such a task is asleep: only a channel peer can wake it, so it does
# not make its loop busy (a deadlock involving it is still reported).
parked_coroutines: set[Any] = set()


class Backend(Protocol):
    """The seam between the scheduler and what it waits on.

    One backend per scheduler (so per OS thread); every method is called on
    the scheduler's thread unless it says "any thread". The attributes are
    read by the hub on every round: plain attributes, not properties.
    """

    name: str  # "builtin", "asyncio", ...: for messages and dump()
    # True: the hub gives the backend a turn (``wait(0)``) between rounds of
    # runnable tasks while ``dirty`` or ``inflight`` or work is pending, and
    # every few rounds anyway; ``busy``/``loop_idle``/``loop_deadline``/
    # ``poke`` are consulted only while it is True. False: the backend has
    # nothing to run of its own (PollDesc waits are polled regardless).
    poll: bool
    dirty: bool  # loop-side work was readied: give the loop a turn soon
    inflight: int  # await_() calls in flight: the hub polls while > 0
    # Virtual clock: True if the backend's own timers (a loop's) run on the
    # scheduler's clock; False if they stay real (uvloop's libuv clock), so
    # the hub waits for the loop to wake it instead of polling it.
    virtual: bool
    # True: an event loop of a host program runs this scheduler (run_async):
    # a loop seen running on the thread is the host's, not a coroutine's.
    hosted: bool
    # Name prefixes of the backend's own worker threads (trio's I/O thread):
    # they never veto a deadlock report, as ``busy()`` speaks for them.
    quiet_prefixes: tuple[str, ...]

    # -- waiting -------------------------------------------------------------

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        """Block until ``timeout`` seconds pass (None: forever; 0: just look),
        a wakeup, or the backend readied a task (I/O, loop work).

        Must return at once if ``incoming`` is non-empty when it starts
        (after a non-blocking look at its fds). Called by the hub only.
        """

    def wakeup(self) -> None:
        """Any thread: make a current or the next ``wait`` return soon."""

    def poke(self) -> None:
        """Same thread, ``poll`` backends: loop-side work readied a task
        (``ready()`` from outside any task); let the hub run."""

    def close(self) -> None:
        """Release OS resources; end the loop's leftover work. Idempotent."""

    # -- the deadlock question -----------------------------------------------

    def busy(self) -> bool:
        """``poll`` backends: could anything of yours (loop work, a
        coroutine, an await_) still wake a task without a gochan timer?
        False lets the scheduler report a deadlock. Any thread (another
        scheduler's deadlock check asks): must not block."""

    # -- the clock -------------------------------------------------------------

    def bind_clock(self, clock: Any) -> None:
        """Use the scheduler's clock (once, at the start; a virtual one makes
        the loop's time virtual too, or raises if it cannot)."""

    def loop_idle(self) -> bool:
        """Virtual clock, ``poll`` backends: True if nothing on the loop can
        run before a timer (then time may jump)."""

    def loop_deadline(self) -> float | None:
        """Virtual clock, ``poll`` backends: the loop's earliest timer, on
        the scheduler clock (None: none)."""

    # -- file descriptors ------------------------------------------------------

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        """``wait_readable``/``wait_writable``: park task ``cur`` (running
        now) until ``fd`` is readable (writable); TimeoutError
        (``fdwait.timeout_error``) once ``timeout`` seconds (> 0; None: none)
        passed. Several tasks may wait on one fd. Cancellation raises, as
        any park. ``fdwait.fd_wait`` does it all for a backend that can watch
        fds one-shot; a loop backend may ``await_`` its loop's own wait."""

    def pd_attach(self, pd: Any) -> None:
        """A gochan.net socket's ``io.PollDesc`` waits here for the first
        time: set ``pd.owner = self`` and choose how its waits are watched.
        Either register ``pd.fd`` for good and report readiness to
        ``pd.notify(events, readers, writers)`` from ``wait`` (then
        ``pd.watch = None``), or set ``pd.watch`` to a callable that
        watches the fd for one wait and ``fire()``s its record (``_IOWait``;
        it may set ``record.undo``, called after the wait). ``pd.stale``:
        the queue a withdrawn record puts its fd in (None: none); ``pd.reg``
        is the backend's own."""

    def pd_detach(self, pd: Any) -> None:
        """Any thread: ``pd``'s socket is about to be closed: forget it."""

    # -- the event loop --------------------------------------------------------

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        """``gochan.await_(aw)``: run awaitable ``aw`` on the loop and park
        task ``cur`` (as ``reason`` on ``waiting_on``) until it is done;
        return its result or raise its exception. A backend without a loop
        raises ``no_loop(aw)``."""


def no_loop(aw: Any) -> RuntimeError:
    """The error for await_() on a backend without an event loop (``aw``
    is closed if it is a coroutine, which will never run now)."""
    if inspect.iscoroutine(aw):
        aw.close()  # never awaited: no "coroutine was never awaited" warning
    return RuntimeError(
        "await_() needs an async backend: start gochan with "
        "gochan.run(main, backend='asyncio') (or 'uvloop', 'trio'), "
        "or set GOCHAN_BACKEND; the builtin backend has no event loop"
    )


def take_pending(cur: Task, aw: Any) -> None:
    """Raise ``cur``'s pending cancellation or exception, if any, before an
    ``await_`` starts (closing ``aw`` if it is a coroutine)."""
    if cur._throw is not None or cur._cancelled:
        if inspect.iscoroutine(aw):
            aw.close()
        raise cur._take_pending()


def foreign_loop(backend: Any) -> str | None:
    """The library ("asyncio", uvloop included, or "trio") whose event loop
    runs on this thread *under* gochan's hub, else None.

    gochan's own loop backends, and run_async's driver, take a loop's
    "running" mark off this thread before they hand it to green tasks or
    the hub; so a loop seen from the hub was running a coroutine step when
    that coroutine made a blocking gochan call. (A hosted trio run is the
    exception: its green tasks run inside the driver's trio task.)
    """
    if asyncio._get_running_loop() is not None:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is None or (backend is not None and backend.hosted):
        return None
    # Another thread may be importing trio right now: sys.modules then holds
    # it partly initialised, without ``lowlevel`` yet. No trio run can be on
    # this thread before trio is imported, so that is "no loop".
    lowlevel = getattr(trio, "lowlevel", None)
    if lowlevel is None:
        return None
    try:
        lowlevel.current_task()
    except RuntimeError:
        return None
    return "trio"


def loop_blocked(s: Any) -> RuntimeError | None:
    """The error for the main task of implicit-mode scheduler ``s`` if the
    hub is about to block the thread while an event loop runs on it (see
    foreign_loop): the main task is then a coroutine that made a blocking
    gochan call, and waiting would stop the loop with every coroutine on
    it, which could be the very ones that would end the wait.

    (An explicit ``gochan.run()`` called from a coroutine is a plain
    function call that blocks the loop until it returns, like any other:
    its waits are left alone.)"""
    if not s.implicit:
        return None
    main = s.main
    state = main._state
    if main._done or state in ("runnable", "syscall"):
        return None  # (blocking() asked for a thread wait: that is what it does)
    lib = foreign_loop(s.backend)
    if lib is None:
        return None
    loop = "asyncio event loop" if lib == "asyncio" else "trio run"
    return RuntimeError(
        f"a blocking gochan call ([{state}]) was made in a coroutine on this thread's "
        f"{loop}: waiting would block the thread, and with it the loop and every "
        "coroutine that could end the wait. In a coroutine, await the async forms "
        "instead: await ch.arecv(), await ch.asend(v), async for v in ch, "
        "await gochan.aselect(...); to run blocking-style green tasks from async code, "
        "use await gochan.run_async(main), whose tasks call async code through gochan.await_()"
    )


def loop_in_use(name: str) -> RuntimeError | None:
    """The error for ``gochan.run(backend=name)`` if a coroutine calls it
    on a thread whose event loop of the same library already runs: the
    backend cannot run a loop of its own there."""
    if name in ("asyncio", "uvloop"):
        lib = "asyncio" if asyncio._get_running_loop() is not None else None
    elif name == "trio":
        lib = foreign_loop(None)
        lib = lib if lib == "trio" else None
    else:
        return None
    if lib is None:
        return None
    return RuntimeError(
        f"gochan.run(backend={name!r}) cannot start in a coroutine: "
        f"{'an asyncio event loop' if lib == 'asyncio' else 'a trio run'} already runs on "
        "this thread, and the backend needs its own. From async "
        "code, use await gochan.run_async(main): its green tasks share the running loop"
    )
