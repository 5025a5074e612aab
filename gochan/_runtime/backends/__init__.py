"""Backends: what the scheduler does when it has nothing to run.

The seam is deliberately narrow (see docs/design.md): ``wait(timeout,
incoming)`` blocks the OS thread until the timeout passes or ``wakeup()`` is
called from another thread, and ``close()`` releases resources. Channels,
select and timers are written once, above this seam.
"""

from __future__ import annotations

import importlib.util
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
