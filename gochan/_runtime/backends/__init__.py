"""Backends: what the scheduler does when it has nothing to run.

The seam is deliberately narrow (see docs/design.md): ``wait(timeout,
incoming)`` blocks the OS thread until the timeout passes or ``wakeup()`` is
called from another thread, and ``close()`` releases resources. Channels,
select and timers are written once, above this seam.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

BACKENDS = ("builtin",)


class Backend(Protocol):
    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        """Block until ``timeout`` seconds pass (None: forever) or a wakeup.

        Must return at once if ``incoming`` is non-empty when it starts.
        """

    def wakeup(self) -> None:
        """Thread-safe: make a current or the next ``wait`` return soon."""

    def close(self) -> None:
        """Release OS resources."""


def make_backend(name: str) -> Backend:
    """Instantiate the backend called ``name``, with an actionable error."""
    if name == "builtin":
        from .builtin import BuiltinBackend

        return BuiltinBackend()
    raise ValueError(
        f"unknown gochan backend {name!r}; available now: {', '.join(BACKENDS)} "
        "(pass backend='builtin' or unset GOCHAN_BACKEND)"
    )
