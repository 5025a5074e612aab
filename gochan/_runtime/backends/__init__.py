"""Backends: what the scheduler does when it has nothing to run.

The seam is deliberately narrow (see docs/design.md): ``wait(timeout,
incoming)`` blocks the OS thread until the timeout passes or ``wakeup()`` is
called from another thread, and ``close()`` releases resources. Channels,
select and timers are written once, above this seam.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections import deque
from typing import Any, Protocol

BACKENDS = ("builtin", "asyncio", "uvloop", "trio")
# The backends that need a library of their own, and the pip extra for it.
EXTRAS = {"uvloop": "uvloop", "trio": "trio"}

# The asyncio tasks and trio tasks parked on a gochan channel right now (an
# ``asend``/``arecv``/``aselect`` waiting for a peer). Like a parked green
# task, such a task is asleep: only a channel peer can wake it, so it does
# not make its loop busy (a deadlock involving it is still reported).
parked_coroutines: set[Any] = set()


class Backend(Protocol):
    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        """Block until ``timeout`` seconds pass (None: forever) or a wakeup.

        Must return at once if ``incoming`` is non-empty when it starts.
        """

    def wakeup(self) -> None:
        """Thread-safe: make a current or the next ``wait`` return soon."""

    def close(self) -> None:
        """Release OS resources."""

    # Loop-driven backends (asyncio, uvloop, trio) also have: ``poll``
    # (True: the hub lets the loop run while loop work is pending),
    # ``dirty``, ``poke()`` and ``busy()``; see aio.py.
    poll: bool
    dirty: bool

    def poke(self) -> None:
        """Same thread: loop-side work readied a task; let the hub run."""

    def busy(self) -> bool:
        """True while work on the loop could still wake a task."""

    inflight: int  # await_() calls running on the loop: the hub polls while > 0
    # Virtual clock: True if the loop's own timers run on the scheduler's
    # clock (asyncio, trio); False if they stay real (uvloop's libuv clock),
    # so the hub waits for the loop to wake it instead of polling it.
    virtual: bool

    def bind_clock(self, clock: Any) -> None:
        """Use the scheduler's clock (a virtual one makes loop time virtual too)."""

    def loop_idle(self) -> bool:
        """Virtual clock: True if nothing on the loop can run before a timer."""

    def loop_deadline(self) -> float | None:
        """Virtual clock: the loop's earliest timer, on the scheduler clock."""


def make_backend(name: str) -> Backend:
    """Instantiate the backend called ``name``, with an actionable error."""
    if name == "builtin":
        from .builtin import BuiltinBackend

        return BuiltinBackend()
    if name == "asyncio":
        from .aio import asyncio_backend

        return asyncio_backend()
    if name == "uvloop":
        from .aio import uvloop_backend

        return uvloop_backend()
    if name == "trio":
        from .trio import trio_backend

        return trio_backend()
    raise unknown_backend(name, "GOCHAN_BACKEND")


def installed(name: str) -> bool:
    """True if backend ``name`` can be used here (its library is installed)."""
    lib = EXTRAS.get(name)
    if lib is None:
        return name in BACKENDS
    try:
        return importlib.util.find_spec(lib) is not None
    except (ImportError, ValueError):  # a broken or half-imported package
        return False


def unknown_backend(name: str, source: str) -> ValueError:
    """The error for an unknown backend name taken from ``source``
    (``"backend="`` or ``"GOCHAN_BACKEND"``): it lists the backends usable
    here, and how to install the others."""
    usable = [b for b in BACKENDS if installed(b)]
    missing = [b for b in BACKENDS if b not in usable]
    msg = f"unknown gochan backend {name!r} (from {source}); usable here: {', '.join(usable)}"
    if missing:
        how = ", ".join(f"{b} (pip install 'gochan[{EXTRAS[b]}]')" for b in missing)
        msg += f"; not installed: {how}"
    if source == "GOCHAN_BACKEND":
        msg += ". Set GOCHAN_BACKEND to one of these, or unset it for builtin"
    else:
        msg += ". Pass one of these, or leave backend= out for $GOCHAN_BACKEND (default builtin)"
    return ValueError(msg)


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
    if trio is None or getattr(backend, "hosted", False):
        return None
    try:
        trio.lowlevel.current_task()
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
