"""The builtin backend: a ``selectors`` selector plus a self-pipe wakeup.

No dependency beyond the standard library. Another thread wakes a sleeping
scheduler by writing one byte to a socketpair the selector watches.

The wakeup protocol avoids a syscall per cross-thread ready: the waiter sets
``sleeping`` *before* it looks at ``incoming`` one last time; a waker
appends to ``incoming`` *before* it looks at ``sleeping``. Under the GIL's
sequential consistency at least one of them sees the other, so a wakeup is
never lost.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
from collections import deque
from typing import Any


class BuiltinBackend:
    __slots__ = ("_r", "_sel", "_w", "sleeping")

    poll = False  # nothing runs outside the scheduler: no loop to give turns to
    dirty = False

    def __init__(self) -> None:
        self.sleeping = False
        self._sel: selectors.BaseSelector | None = None
        self._r: socket.socket | None = None
        self._w: socket.socket | None = None

    def _open(self) -> selectors.BaseSelector:
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(r, selectors.EVENT_READ)
        self._r, self._w, self._sel = r, w, sel
        return sel

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        sel = self._sel or self._open()
        self.sleeping = True
        try:
            if incoming:
                return
            if timeout is not None and timeout < 0:
                timeout = 0
            if sel.select(timeout):
                assert self._r is not None
                try:
                    while self._r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
        finally:
            self.sleeping = False

    def wakeup(self) -> None:
        w = self._w
        if self.sleeping and w is not None:
            # A full pipe means a wakeup is already pending; closed: nobody waits.
            with contextlib.suppress(OSError):
                w.send(b"\0")

    def poke(self) -> None:
        pass

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        if self._sel is not None:
            self._sel.close()
        for s in (self._r, self._w):
            if s is not None:
                s.close()
        self._sel = self._r = self._w = None
