"""The builtin backend: an epoll (elsewhere a ``selectors`` selector) plus a
self-pipe wakeup.

No dependency beyond the standard library. On Linux the backend drives
``select.epoll`` directly: a wait registers and unregisters its fd, and the
selectors module's bookkeeping per call (a key object per registration, a
map from fds to keys) would cost more than those two system calls. Another
thread wakes a sleeping scheduler by writing one byte to a socketpair the
poller watches.

The wakeup protocol avoids a syscall per cross-thread ready: the waiter sets
``sleeping`` *before* it looks at ``incoming`` one last time; a waker
appends to ``incoming`` *before* it looks at ``sleeping``. Under the GIL's
sequential consistency at least one of them sees the other, so a wakeup is
never lost.

gochan.net's sockets are registered differently (``pd_attach``, from
io.PollDesc): once, edge-triggered for both directions, for the socket's
whole life, as Go's netpoller does; each report goes to the socket's
``PollDesc.notify``, which readies its parked task or just remembers the
readiness. No system call per wait. (Where there is no epoll, a PollDesc
wait is watched one-shot, as below.) The rest of this docstring is about
the other waits.

I/O readiness (``wait_readable``/``wait_writable``) uses the same poller:
each watched fd carries the wait records of the tasks waiting on it, and
``wait`` fires the records of every fd that is ready. With epoll an fd is
registered one-shot (``EPOLLONESHOT``): the kernel disarms it when it
reports it, and it stays in the epoll set, disarmed, so the next wait on
the same fd re-arms it with one ``modify`` instead of a ``register`` now
and an ``unregister`` after every wait (a keep-alive connection's requests
each cost one system call less). A wait withdrawn while armed (a cancel, a
timeout) still unregisters its fd. A closed fd leaves the epoll set by
itself; if its number comes back for a new file, the ``modify`` finds
nothing (ENOENT) and a ``register`` follows. While any fd is
watched, ``poll`` is True so that the hub also checks readiness between
rounds of runnable tasks (no starvation of I/O by busy tasks). Only the
owning thread touches the poller: a record withdrawn from elsewhere (a
cancel) is just marked and its fd queued in ``stale``; ``wait`` tidies
exactly those fds and the ones that fired, so its cost follows what
happened, not how many fds are watched.
"""

from __future__ import annotations

import contextlib
import select
import selectors
import socket
from collections import deque
from typing import Any

from ..fdwait import _IOWait, fd_wait
from ..task import Task
from . import no_loop

_Watch = tuple[list[Any], list[Any], list[int]]


class _SelectorPoller:
    """``select.epoll``'s face on a ``selectors`` selector, where there is
    no epoll: masks are EVENT_READ / EVENT_WRITE."""

    __slots__ = ("_sel",)

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def register(self, fd: int, mask: int) -> None:
        self._sel.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self._sel.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        self._sel.unregister(fd)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        return [(key.fd, events) for key, events in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


# The poller, its masks to watch for reading and writing, and the bits of a
# reported event that wake readers and writers: with epoll a hang-up or an
# error (EPOLLHUP, EPOLLERR) wakes both, as it does in the selectors module.
# ONESHOT is the flag that makes a registration one-shot (0: the poller has
# none, and an fd is unregistered once nobody waits on it).
if hasattr(select, "epoll"):
    _new_poller: Any = select.epoll
    READ, WRITE = select.EPOLLIN, select.EPOLLOUT
    _WAKES_READERS, _WAKES_WRITERS = ~select.EPOLLOUT, ~select.EPOLLIN
    ONESHOT = select.EPOLLONESHOT
    # gochan.net's sockets (io.PollDesc): registered once, edge-triggered
    EDGE = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
else:  # pragma: no cover - exercised on Linux by tests/runtime/test_io.py with the fallback forced
    _new_poller = _SelectorPoller
    READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
    _WAKES_READERS, _WAKES_WRITERS = selectors.EVENT_READ, selectors.EVENT_WRITE
    ONESHOT = 0
    EDGE = 0


class BuiltinBackend:
    __slots__ = (
        "_io",
        "_known",
        "_pds",
        "_r",
        "_sel",
        "_w",
        "deadlines",
        "dirty",
        "et",
        "poll",
        "sleeping",
        "stale",
    )

    name = "builtin"
    inflight = 0  # no await_ here
    virtual = True  # no loop timers of its own
    hosted = False
    quiet_prefixes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.sleeping = False
        self._sel: Any = None  # the poller (see _new_poller), opened on first use
        self._r: socket.socket | None = None
        self._w: socket.socket | None = None
        # fd -> (read waiters, write waiters, [armed event mask]); the
        # waiters are wait records with .fire() and .fired (see fdwait.py).
        self._io: dict[int, _Watch] = {}
        # fds in the poller's set, armed or not (one-shot registrations stay
        # after they fire; the kernel drops a closed fd without telling us)
        self._known: set[int] = set()
        # fds whose records were withdrawn (any thread appends; wait tidies)
        self.stale: deque[int] = deque()
        self.poll = False  # True while fds are watched (see the module docstring)
        # timeout -> the I/O waits with that timeout, in deadline order (fdwait.py)
        self.deadlines: dict[float, Any] = {}
        self.dirty = False
        # fd -> its io.PollDesc: sockets registered edge-triggered for their
        # whole life (see io.py); ``et`` once the poller can (epoll)
        self._pds: dict[int, Any] = {}
        self.et = False

    # -- fd waits (the Backend protocol) -------------------------------------

    def wait_fd(self, cur: Task, fd: int, write: bool, timeout: float | None) -> None:
        """wait_readable/wait_writable: a one-shot watch on the poller."""
        if self._sel is None:
            self._open()
        fd_wait(cur, fd, write, timeout, self._watch_rec, self.stale, self.deadlines)

    def _watch_rec(self, rec: _IOWait) -> None:
        self.watch(rec.fd, rec.write, rec)

    def pd_attach(self, pd: Any) -> None:
        """A PollDesc's first wait here (owner thread): with epoll, register
        its fd edge-triggered, for both directions, until ``pd_detach``; its
        readiness is then reported to ``pd.notify`` for as long as the socket
        lives: no system call per wait. Without, each wait watches one-shot."""
        sel = self._sel or self._open()
        if self.et:
            fd = pd.fd
            try:
                sel.register(fd, EDGE)
            except FileExistsError:  # a one-shot watch of wait_readable's: take it over
                sel.modify(fd, EDGE)
            self._known.discard(fd)
            self._pds[fd] = pd
            pd.watch = pd.stale = None
        else:
            pd.watch, pd.stale = self._watch_rec, self.stale
        pd.owner, pd.reg = self, sel

    def pd_detach(self, pd: Any) -> None:
        """``pd``'s socket is about to be closed (any thread): forget it.
        Before the close, so that the number cannot name a new file yet."""
        fd, mine = pd.fd, pd.reg
        if self._pds.get(fd) is not pd:
            return
        self._pds.pop(fd, None)
        sel = self._sel
        if sel is not None and sel is mine:
            with contextlib.suppress(OSError, ValueError):
                sel.unregister(fd)

    def await_(self, cur: Task, aw: Any, reason: str, waiting_on: Any) -> Any:
        raise no_loop(aw)

    def watch(self, fd: int, write: bool, rec: Any) -> None:
        """Fire ``rec`` once ``fd`` is readable (writable). Owner thread only."""
        sel = self._sel or self._open()
        entry = self._io.get(fd)
        if entry is not None and all(r.fired for r in (*entry[0], *entry[1])):
            # Nobody waits on fd any more (records fired or withdrawn, not yet
            # pruned): the number may name a new file by now, which the
            # selector has never seen. Forget the old registration.
            entry[0].clear()
            entry[1].clear()
            self._sync(sel, fd, entry)
            entry = None
        if entry is None:
            entry = self._io[fd] = ([], [], [0])
        entry[write].append(rec)
        self._sync(sel, fd, entry)
        self.poll = True

    def _sync(self, sel: Any, fd: int, entry: _Watch) -> bool:
        """Arm the poller's registration of ``fd`` for its waiters; False
        once nobody waits on it. Armed with nobody waiting (the waits were
        withdrawn): unregistered. Fired (one-shot): already disarmed, it
        stays in the set for the next wait to re-arm."""
        want = (READ if entry[0] else 0) | (WRITE if entry[1] else 0)
        have = entry[2][0]
        if want != have and fd in self._pds:
            # A socket's edge-triggered registration (a PollDesc's) reports
            # this fd already: wait() fires these records too. Hands off.
            entry[2][0] = want
        elif want != have:
            known = self._known
            with contextlib.suppress(KeyError, ValueError, OSError):
                if not want:
                    known.discard(fd)
                    sel.unregister(fd)
                elif fd in known:  # armed for the other direction, or fired and disarmed
                    try:
                        sel.modify(fd, want | ONESHOT)
                    except FileNotFoundError:  # closed since, and the number reused
                        sel.register(fd, want | ONESHOT)
                else:
                    sel.register(fd, want | ONESHOT)
                    known.add(fd)
            entry[2][0] = want
        return bool(want)

    def _tidy(self, sel: Any, fd: int) -> None:
        """Drop fd's fired or withdrawn records; stop watching it if none is left."""
        entry = self._io.get(fd)
        if entry is None:
            return
        for lst in entry[0], entry[1]:
            if lst:
                lst[:] = [r for r in lst if not r.fired]
        if not self._sync(sel, fd, entry):
            del self._io[fd]

    def _fire(self, sel: Any, fd: int, events: int) -> None:
        entry = self._io.get(fd)
        if entry is None:
            return
        if ONESHOT:
            entry[2][0] = 0  # the kernel disarmed it as it reported it
        if events & _WAKES_READERS:
            for r in entry[0]:
                r.fire()
        if events & _WAKES_WRITERS:
            for r in entry[1]:
                r.fire()
        self._tidy(sel, fd)

    def _open(self) -> Any:
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        sel = _new_poller()
        sel.register(r.fileno(), READ)  # not one-shot: wakeups keep coming
        self._r, self._w, self._sel = r, w, sel
        self._known.clear()
        self._pds.clear()
        self.et = bool(EDGE and ONESHOT)
        return sel

    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        sel = self._sel or self._open()
        self.sleeping = True
        try:
            if incoming and not self._io:
                return
            if incoming:
                timeout = 0  # still look at the watched fds
            if timeout is not None and timeout < 0:
                timeout = 0
            stale = self.stale
            while stale:
                self._tidy(sel, stale.popleft())
            r = self._r
            assert r is not None
            wake_fd = r.fileno()
            pds, io = self._pds, self._io
            for fd, events in sel.poll(timeout):
                pd = pds.get(fd)
                if pd is not None:
                    pd.notify(events, _WAKES_READERS, _WAKES_WRITERS)
                    if fd in io:  # a wait_readable on a socket's fd too
                        self._fire(sel, fd, events)
                elif fd == wake_fd:
                    try:
                        while r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self._fire(sel, fd, events)
            # (PollDesc waits: the hub polls while Scheduler.polling has any)
            self.poll = bool(io)
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

    def bind_clock(self, clock: Any) -> None:
        pass

    def loop_idle(self) -> bool:
        return True

    def loop_deadline(self) -> float | None:
        return None

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        if self._sel is not None:
            self._sel.close()
        for s in (self._r, self._w):
            if s is not None:
                s.close()
        self._sel = self._r = self._w = None
