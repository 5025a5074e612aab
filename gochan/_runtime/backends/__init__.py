"""Backends: what the scheduler does when it has nothing to run.

The seam is deliberately narrow (see docs/design.md): ``wait(timeout,
incoming)`` blocks the OS thread until the timeout passes or ``wakeup()`` is
called from another thread, and ``close()`` releases resources. Channels,
select and timers are written once, above this seam.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

BACKENDS = ("builtin", "asyncio", "uvloop", "trio")

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
    raise ValueError(
        f"unknown gochan backend {name!r}; available now: {', '.join(BACKENDS)} "
        "(pass backend='builtin' or unset GOCHAN_BACKEND)"
    )
