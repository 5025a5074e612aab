"""TokenLock: the mutex that guards all channel state.

A one-token deque: taking the token is ``deque.pop()``, giving it back is
``deque.append()``. Each is one C call that is atomic under the GIL (and on
free-threaded builds, where deque operations lock the deque), so an
uncontended acquire/release pair costs about half of ``threading.Lock``'s
keyword-parsing ``acquire()`` plus ``release()`` -- and channel hot paths
take the lock once per operation.

Hot paths inline the pattern::

    try:
        take()
    except IndexError:   # token gone: another thread holds the lock
        wait_take()
    try:
        ...critical section: a few bytecodes, never blocks, never switches...
    finally:
        give(None)

Contention is rare and short: the holder only runs a handful of bytecodes
before giving the token back, so a waiter sleeps briefly (releasing the GIL
so the holder can finish) and retries. Not reentrant, like threading.Lock.
"""

from __future__ import annotations

import time
from collections import deque
from types import TracebackType


class TokenLock:
    """A non-reentrant mutex; see the module docstring. ``with lock:`` works."""

    __slots__ = ("_tok", "give", "take")

    def __init__(self) -> None:
        self._tok: deque[None] = deque((None,))
        self.take = self._tok.pop
        self.give = self._tok.append

    def acquire(self) -> None:
        try:
            self.take()
        except IndexError:
            self.wait_take()

    def wait_take(self) -> None:
        """Acquire after a failed ``take()``: back off until the token returns."""
        delay = 0.0
        take = self.take
        while True:
            time.sleep(delay)  # releases the GIL, so the holder can finish
            try:
                take()
                return
            except IndexError:
                delay = min(delay * 2 or 1e-6, 1e-3)

    def release(self) -> None:
        if self._tok:
            raise RuntimeError("release of an unlocked TokenLock")
        self.give(None)

    def locked(self) -> bool:
        return not self._tok

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.give(None)
