"""wait_readable / wait_writable: park a green task until a file descriptor
is ready, on any backend (Go's netpoller, reduced to its core); and
``PollDesc``, the poll descriptor of one socket (Go's ``pollDesc``), for
gochan.net.

The task parks on an ``_IOWait`` record (fdwait.py); how the fd is
watched is the backend's business, behind the seam (``Backend.wait_fd``
for a one-shot wait, ``pd_attach`` for a socket's ``PollDesc`` below).
"""

from __future__ import annotations

import select
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol, SupportsFloat

from . import waitreason as wr
from .duration import NEVER
from .duration import seconds as _seconds
from .fdwait import _expire, _IOWait, timeout_error
from .task import ready
from .threads import current_task
from .waiter import LOCK


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


def _fd(f: int | _HasFileno) -> int:
    if isinstance(f, int):
        fd = f
    else:
        fileno = getattr(f, "fileno", None)
        if fileno is None:
            raise TypeError(f"expected a file descriptor or an object with fileno(), got {f!r}")
        fd = fileno()
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd} (is the file closed?)")
    return fd


def _wait(f: int | _HasFileno, write: bool, timeout: SupportsFloat | None) -> None:
    fd = _fd(f)
    secs = None
    if timeout is not None:
        secs = _seconds(timeout, "wait_writable()" if write else "wait_readable()")
        if secs == NEVER:
            secs = None  # no deadline
    cur = current_task()
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()
    if secs is not None and secs <= 0:  # a deadline already past: fail, as Go's netpoller
        raise timeout_error(fd, write, secs)
    cur.sched.backend.wait_fd(cur, fd, write, secs)


def wait_readable(f: int | _HasFileno, timeout: SupportsFloat | None = None) -> None:
    """Park this green task until ``f`` (an fd or anything with
    ``fileno()``) is readable; the thread's other tasks run meanwhile.

    With ``timeout`` (seconds on the scheduler clock), ``TimeoutError`` if
    ``f`` is still not readable by then, as a Go read deadline; zero or less
    is a deadline already past, so the wait fails at once, and ``math.inf``
    (or more than Go's largest duration) is no deadline. NaN raises
    ``ValueError``.

    >>> import gochan, socket
    >>> def main():
    ...     a, b = socket.socketpair()
    ...     gochan.go(b.send, b"ping")
    ...     gochan.wait_readable(a)      # parks until the other task sends
    ...     data = a.recv(4)
    ...     a.close(); b.close()
    ...     return data
    >>> gochan.run(main)
    b'ping'
    """
    _wait(f, False, timeout)


def wait_writable(f: int | _HasFileno, timeout: SupportsFloat | None = None) -> None:
    """Park this green task until ``f`` is writable; ``timeout`` as for
    ``wait_readable``."""
    _wait(f, True, timeout)


# ---------------------------------------------------------------------------
# PollDesc: the poll descriptor of one socket (Go's runtime pollDesc)
# ---------------------------------------------------------------------------
#
# wait_readable/wait_writable above serve code that owns its fds. A network
# connection needs more, as Go's netFD gets from its pollDesc:
#
# * Deadlines that belong to the descriptor, not to a call. A read deadline
#   applies to the read in progress and to every later one; moving it while a
#   read is parked re-arms that read; a deadline already past fails the next
#   read at once even when data is waiting.
# * Eviction. Closing the socket, from any task or OS thread, must wake every
#   task parked on it, and no later wait may park.
# * Readiness that outlives a wait (Go's pdReady), so that a connection is
#   registered with the poller once, not re-armed for every wait.
#
# Readiness. Each direction has a sequence number (``rseq``, ``wseq``) that
# the poller bumps whenever it reports the fd ready for it, and ``rseen`` /
# ``wseen``: the number as it was just before the last system call that found
# the fd not ready (EAGAIN). ``rseq != rseen`` means "may be ready: try the
# system call"; equal means "not ready since we last looked: wait". A caller
# reads the number *before* its system call and hands it to ``wait`` (or
# stores it as seen): a report that comes while the call is in the kernel
# (from another thread's poller) then changes the number, and the wait
# returns at once instead of missing it.
#
# How the fd is watched is the backend's choice, made once per descriptor
# and backend: the first wait calls ``backend.pd_attach(pd)``, which sets
# ``pd.owner`` (the backend), ``pd.watch`` and ``pd.stale``. Either the
# backend registers the fd for good and reports readiness to ``notify``
# (``watch`` None: nothing to do per wait), as the builtin backend does
# with epoll: edge-triggered (EPOLLET, as Go's netpoller) for both
# directions until the socket is closed (``unlink`` -> ``pd_detach``); a
# report finds the parked task in ``rwait``/``wwait`` and readies it, or,
# with nobody parked, just bumps the number. No ``epoll_ctl`` per wait.
# Or ``watch(record)`` watches the fd for the length of one wait and fires
# the record (the wait then bumps the number itself), setting the record's
# ``undo`` if something must be undone after it: the builtin poller's
# one-shot watch where there is no epoll, a trio task in trio's own wait
# under run_async() hosted by trio (see backends/). Or, between the two,
# ``watch(record)`` makes sure the direction is registered and sets
# ``record.reports``: asyncio's and uvloop's add_reader/add_writer, kept
# from one wait to the next and reporting as ``notify`` does, dropped when
# it fires with nobody parked (level-triggered: no busy loop); the loop
# lets go of the fd before it is closed, on the loop's own thread
# (``loops``, ``unlink``; backends/aio_poll.py).
#
# A parked task's wait record (``_IOWait``) ends exactly once, under LOCK,
# by whichever comes first: the fd is ready, the deadline timer fires, a
# deadline is changed (``set_deadline`` "kicks" the waiter of that
# direction), the descriptor is evicted, or the task is cancelled (the
# scheduler withdraws the record). The winner alone readies the task. The
# waking reason is not stored: when the task resumes it reads the
# descriptor's state, as Go's netpollcheckerr does: closing -> CLOSING, the
# deadline of its direction passed -> TIMEOUT, else OK (try the system call
# again; if it would block, wait again with whatever deadline is now set).
# So a deadline timer that lost a race with set_deadline, or a kick, can
# never fail a call whose deadline was moved later.
#
# One task per direction waits at a time (gochan.net's _FD serialises each
# direction, as Go's fdMutex). evict and set_deadline may be called from any
# thread; registration happens on the waiting task's thread. The deadline
# is a scheduler timer, on every backend, so it follows the virtual clock.
#
# A PollDesc never closes the fd: its owner (gochan.net's _FD) does that once
# the last call that could touch the fd has left, after ``unlink``.
#
# Waits are listed in ``Scheduler.polling``: pending work for the deadlock
# check (a peer anywhere may still write), but, unlike ``pending``, not a bar
# to virtual time: once no task can run the hub polls the fds once, and only
# if none is ready does the clock jump to the next timer (a deadline).

POLL_OK: Final = 0
POLL_CLOSING: Final = 1
POLL_TIMEOUT: Final = 2

_take, _give = LOCK.take, LOCK.give  # LOCK inline (see lock.py): hot paths
_wait_take = LOCK.wait_take  # the token is another thread's: wait for it

# Reported events after which a short read may leave data (or the end of the
# stream) behind: a hang-up, the peer's shutdown, an error, urgent data.
_STICKY: Final = sum(
    getattr(select, name, 0) for name in ("EPOLLRDHUP", "EPOLLHUP", "EPOLLERR", "EPOLLPRI")
)


class PollDesc:
    """Deadlines, eviction and readiness for one socket's fd (Go's ``pollDesc``).

    ``status(write)`` before a system call; ``wait(write, seq)`` when it
    would block (``seq``: ``rseq``/``wseq`` as read before the call); both
    return ``POLL_OK``, ``POLL_CLOSING`` or ``POLL_TIMEOUT``.
    ``set_deadline`` and ``evict`` may be called from any task or OS
    thread. Deadlines are absolute times on the waiting task's scheduler
    clock (``gochan.monotonic()``), None for none.

    >>> import gochan, socket
    >>> from gochan._runtime.io import PollDesc, POLL_CLOSING
    >>> def main():
    ...     a, b = socket.socketpair()
    ...     a.setblocking(False)
    ...     pd = PollDesc(a.fileno())
    ...     gochan.go(pd.evict)          # as a close from another task would
    ...     status = pd.wait(False, pd.rseq)    # parked until evicted
    ...     a.close(); b.close()
    ...     return status == POLL_CLOSING
    >>> gochan.run(main)
    True
    """

    __slots__ = (
        "closing",
        "fd",
        "loops",
        "owner",
        "rd",
        "reg",
        "rseen",
        "rseq",
        "rwait",
        "stale",
        "sticky",
        "watch",
        "wd",
        "wseen",
        "wseq",
        "wwait",
    )

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closing = False
        self.rd: float | None = None  # read deadline
        self.wd: float | None = None  # write deadline
        # readiness (see above): "may be ready" while seq != seen
        self.rseq = self.wseq = 1
        self.rseen = self.wseen = 0
        self.rwait: _IOWait | None = None  # parked now (LOCK)
        self.wwait: _IOWait | None = None
        # True: a short read does not prove the socket empty, so it must not
        # mark it so (gochan.net's Conn.read). From the start for anything
        # but TCP (a Unix socket's recv stops short between senders); once
        # a hang-up, error or urgent data was reported (the peer's FIN can
        # end a short read with the end of stream still to read, and its
        # report has come and gone).
        self.sticky = True
        # Set by the backend's pd_attach (see above): the backend this fd is
        # attached to, its per-wait watch (None: it reports to notify), and
        # the queue a withdrawn record puts its fd in (None: none). ``reg``:
        # the backend's own, e.g. the poller the fd is registered in.
        self.owner: Any = None
        self.watch: Callable[[_IOWait], None] | None = None
        self.stale: deque[int] | None = None
        self.reg: Any = None
        # The event loops whose add_reader/add_writer registration may
        # outlive a wait (backends/aio_poll.py's LoopReg), None: none. Each
        # lets go of the fd on its own thread before it is closed (unlink).
        self.loops: list[Any] | None = None

    def __repr__(self) -> str:
        n = (self.rwait is not None) + (self.wwait is not None)
        state = "closing" if self.closing else f"{n} waiting"
        return f"<PollDesc fd={self.fd} {state}>"

    def status(self, write: bool) -> int:
        """The status to act on before a system call (Go's prepareRead):
        a passed deadline fails the call even if the fd is ready. Plain
        attribute reads (atomic under the GIL); the clock only if a
        deadline is set."""
        if self.closing:
            return POLL_CLOSING
        d = self.wd if write else self.rd
        if d is not None and d <= current_task().sched.clock.now():
            return POLL_TIMEOUT
        return POLL_OK

    def wait(self, write: bool, seq: int) -> int:
        """Park until the fd is reported ready for reading (writing) after
        ``seq`` (returns at once if it already was), the deadline passes,
        the deadline is changed, or the descriptor is evicted; then the
        status. Cancellation of the task raises, as any wait."""
        rec = self.arm(write, seq)
        if isinstance(rec, int):
            return rec
        try:
            rec.task.sched.park(wr.IO_WAIT, rec, rec)
        finally:
            status = self.disarm(rec)
        return status

    # wait in two halves, so that a caller can park between them itself:
    # gochan.net's Conn.read does, so that in the compiled build no C frame
    # of these (compiled) functions is on the stack its parked task keeps
    # (about 0.5 KB per idle connection).

    def arm(self, write: bool, seq: int) -> _IOWait | int:
        """The first half of ``wait``: a status to return at once, or the
        record to park on (``record.task.sched.park(IO_WAIT, record,
        record)``), after which ``disarm(record)`` must follow."""
        cur = current_task()
        if cur._throw is not None or cur._cancelled:
            raise cur._take_pending()
        s = cur.sched
        b = s.backend
        if self.owner is not b:
            b.pd_attach(self)  # once per descriptor and backend (see above)
        fd = self.fd
        rec = _IOWait(cur, fd, write, self.stale)
        # Decide under LOCK, against a report from another thread's poller:
        # the status, a report since seq, else park in the direction's slot.
        try:
            _take()
        except IndexError:  # another thread holds LOCK (a channel op, a poller)
            _wait_take()
        try:
            if self.closing:
                return POLL_CLOSING
            deadline = self.wd if write else self.rd
            if deadline is not None and deadline <= s.clock.now():
                return POLL_TIMEOUT
            if write:
                if self.wseq != seq:
                    return POLL_OK  # reported ready since: try again
                self.wseen = seq
                if self.wwait is not None:
                    raise RuntimeError(f"two tasks wait to write fd {fd} at once")
                self.wwait = rec
            else:
                if self.rseq != seq:
                    return POLL_OK
                self.rseen = seq
                if self.rwait is not None:
                    raise RuntimeError(f"two tasks wait to read fd {fd} at once")
                self.rwait = rec
        finally:
            _give(None)
        try:
            watch = self.watch
            if watch is None:
                rec.reports = True  # the backend reports the fd to notify()
            else:
                watch(rec)  # watched for this wait (rec.undo: undone in disarm)
            if deadline is not None and deadline != NEVER:
                # (the woken task reads the passed deadline itself)
                rec.timer = s.timers.add(deadline, _expire, rec)
            s.polling[rec] = None
        except BaseException:
            self.disarm(rec)
            raise
        return rec

    def disarm(self, rec: _IOWait) -> int:
        """The second half of ``wait``, after the park (or instead of it):
        the record out of everything ``arm`` put it in; then the status."""
        write = rec.write
        s = rec.task.sched
        s.polling.pop(rec, None)
        try:
            _take()
        except IndexError:  # another thread holds LOCK (a channel op, a poller)
            _wait_take()
        try:
            rec.withdraw()  # (a no-op unless the park was torn down)
            if write:
                if self.wwait is rec:
                    self.wwait = None
            elif self.rwait is rec:
                self.rwait = None
            if not rec.reports:
                # Watched for this wait only (no reports): it saw the fd ready,
                # or ended; either way the next call tries the system call.
                if write:
                    self.wseq += 1
                else:
                    self.rseq += 1
        finally:
            _give(None)
        timer = rec.timer
        if timer is not None:
            rec.timer = None
            s.timers.cancel(timer)
        undo = rec.undo
        if undo is not None:  # (so that no watch outlives the wait)
            rec.undo = None
            undo(rec)
        if self.closing:
            return POLL_CLOSING
        d = self.wd if write else self.rd
        if d is not None and d <= s.clock.now():
            return POLL_TIMEOUT
        return POLL_OK

    def notify(self, events: int, readers: int, writers: int) -> None:
        """The poller reports the fd ready (its owner thread, from its wait):
        bump the directions' numbers and ready their parked tasks, if any.
        ``readers``/``writers``: the event bits that wake each direction."""
        r = w = None
        try:
            _take()
        except IndexError:  # another thread holds LOCK (a channel op, a poller)
            _wait_take()
        try:
            if events & _STICKY:
                self.sticky = True
            if events & readers:
                self.rseq += 1
                r = self.rwait
                if r is not None:
                    self.rwait = None
                    if r.fired:
                        r = None
                    else:
                        r.fired = True
            if events & writers:
                self.wseq += 1
                w = self.wwait
                if w is not None:
                    self.wwait = None
                    if w.fired:
                        w = None
                    else:
                        w.fired = True
        finally:
            _give(None)
        if r is not None:
            ready(r.task)
        if w is not None:
            ready(w.task)

    def unlink(self, close: Callable[[], None] | None = None) -> None:
        """Before the fd is closed (any thread): detached from its backend
        (out of the poller it is registered with, so that its number can
        be reused), then ``close()`` (the owner's close of the fd): at
        once, or, if an event loop of another thread still watches the fd
        (``loops``), on that thread once it has let go."""
        owner = self.owner
        if owner is not None:
            self.owner = self.watch = None
            owner.pd_detach(self)
        with LOCK:
            loops, self.loops = self.loops, None
        if not loops:
            if close is not None:
                close()
            return
        left = [len(loops)]

        def released() -> None:
            with LOCK:
                left[0] -= 1
                last = not left[0]
            if last and close is not None:
                close()

        for reg in loops:
            reg.release(released)

    def set_deadline(self, t: float | None, read: bool = True, write: bool = True) -> None:
        """Set the read and/or write deadline (None: no deadline); waits of
        those directions wake to re-arm with it (or fail, if it is past)."""
        with LOCK:
            if read:
                self.rd = t
            if write:
                self.wd = t
            kicked = [
                w.task
                for w, on in ((self.rwait, read), (self.wwait, write))
                if on and w is not None and w.withdraw()
            ]
        for task in kicked:
            ready(task)

    def evict(self) -> None:
        """Mark the descriptor closing and wake every task parked on it (they
        see ``POLL_CLOSING``); later waits do not park. Idempotent."""
        with LOCK:
            if self.closing:
                return
            self.closing = True
            woken = [w.task for w in (self.rwait, self.wwait) if w is not None and w.withdraw()]
        for task in woken:
            ready(task)
