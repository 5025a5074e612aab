"""The fd wait record (``_IOWait``) and the one-shot fd wait of a backend
that watches fds itself (``fd_wait``): what a backend's ``wait_fd`` and a
socket's ``PollDesc`` (io.py) park a task on.

How an fd is watched is the backend's business, behind the seam
(backends/__init__.py, ``Backend``). The builtin backend watches with its
own poller, through ``fd_wait`` here; asyncio and uvloop with the loop's
``add_reader`` / ``add_writer``, trio with ``trio.lowlevel.wait_readable``
/ ``wait_writable``. A task waiting for I/O is pending work: never a
deadlock.

A wait may carry a timeout (Go's read and write deadlines): with
``fd_wait`` a scheduler timer, on the loop backends the loop's own timeout
(its clock follows the scheduler's, virtual included). Either way the
wait ends in ``TimeoutError`` and the fd is no longer watched.

With ``fd_wait``, waits with the same timeout share one timer: their
deadlines come in the order the waits begin, so a FIFO queue per timeout
value (`_Deadlines`) holds them and one scheduler timer is armed for its
head. A client that gives every read the same timeout (the common case)
then pays an append and a pop per wait, not a timer of its own: that timer
and its heap entry would live as long as the request, and with thousands
of requests in flight the garbage collector keeps meeting them.
"""

from __future__ import annotations

import select
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from . import waitreason as wr
from .task import Task, ready
from .waiter import LOCK


class _IOWait:
    """The wait record of a task waiting for an fd: every ``fd_wait`` and
    every ``PollDesc`` wait (whatever watches the fd: it calls ``fire``).

    Ends once, under LOCK, by whichever comes first: the fd is ready
    (``fire``), the timeout's timer (``expire``) or a withdraw (cancel; for
    a PollDesc also a deadline change or an eviction). ``stale`` is the
    backend's queue of fds to tidy after a withdraw (None: none).
    """

    __slots__ = (
        "ctx",
        "deadline",
        "fd",
        "fired",
        "reports",
        "stale",
        "task",
        "timed_out",
        "timer",
        "undo",
        "write",
    )

    def __init__(self, task: Task, fd: int, write: bool, stale: deque[int] | None) -> None:
        self.task = task
        self.fd = fd
        self.write = write
        self.fired = False
        self.timed_out = False
        self.stale = stale  # the backend's queue of fds to tidy
        self.deadline = 0.0  # with a timeout: when it expires (scheduler clock)
        self.timer: Any = None  # a PollDesc wait's: its deadline's timer
        # True: the fd is registered for good with a backend that reports its
        # readiness to the PollDesc (``notify``), not to this record only.
        self.reports = False
        # Set by the backend's watch, if it has anything to undo once the
        # wait is over (its task calls it, after the park); ``ctx`` is the
        # backend's own (the loop watching the fd, a trio task, ...).
        self.undo: Callable[[_IOWait], None] | None = None
        self.ctx: Any = None

    def __repr__(self) -> str:
        return f"<fd {self.fd} {'writable' if self.write else 'readable'}>"

    def fire(self) -> None:
        """The fd is ready (owner thread, from the backend's wait)."""
        with LOCK:
            if self.fired:
                return
            self.fired = True
        ready(self.task)

    def withdraw(self) -> bool:  # LOCK held; any thread
        if self.fired:
            return False
        self.fired = True
        if self.stale is not None:
            self.stale.append(self.fd)  # the backend drops it before it next selects
        return True


def _expire(rec: _IOWait) -> None:
    """The timeout of ``rec``'s wait is up (hub, timer lock held)."""
    with LOCK:
        if not rec.withdraw():
            return  # the fd was ready first, or the wait was withdrawn
        rec.timed_out = True
    ready(rec.task)


class _Deadlines:
    """The pending waits of one scheduler with one timeout, oldest first.

    Deadlines are ``now + timeout`` with a clock that never goes back, so
    they are in the order the waits were added, and the head's is the
    earliest: one scheduler timer, armed for the head, serves them all.
    Ended waits are dropped off the head as they end (waits mostly end in
    turn); those that end behind a long pending one (an idle watch's read)
    are swept out once they are more than half the queue. Owner thread
    only; ``fired`` may be set from anywhere (LOCK).
    """

    __slots__ = ("_owner", "live", "recs", "sched", "secs", "timer")

    def __init__(self, sched: Any, secs: float, owner: dict[float, Any]) -> None:
        self.sched = sched
        self.secs = secs
        self._owner = owner
        self.recs: deque[_IOWait] = deque()
        self.live = 0  # waits added and not yet pruned by their task
        self.timer: Any = None

    def add(self, rec: _IOWait) -> None:
        s = self.sched
        rec.deadline = s.clock.now() + self.secs
        self.recs.append(rec)
        self.live += 1
        if self.timer is None:
            self.timer = s.timers.add(rec.deadline, self._fire)

    def prune(self) -> None:
        """After a wait ended (by its task): drop ended waits off the head, sweep
        when they pile up behind it; with none left, stop the timer and go."""
        self.live -= 1
        recs = self.recs
        while recs and recs[0].fired:
            recs.popleft()
        if len(recs) > 64 and (len(recs) - self.live) * 2 > len(recs):
            self.recs = recs = deque(r for r in recs if not r.fired)
        if not recs:
            if self.timer is not None:
                self.sched.timers.cancel(self.timer)
                self.timer = None
            self._leave()

    def _fire(self) -> float | None:
        """The head's deadline (hub, timer lock held): expire what is due; the
        next head's deadline re-arms the timer (None: nothing left)."""
        now = self.sched.clock.now()
        recs = self.recs
        while recs and (recs[0].fired or recs[0].deadline <= now):
            rec = recs.popleft()
            if not rec.fired:
                _expire(rec)
        if recs:
            return recs[0].deadline
        self.timer = None
        self._leave()
        return None

    def _leave(self) -> None:
        """Empty: out of the backend's map (the next wait with this timeout starts anew)."""
        if self._owner.get(self.secs) is self:
            del self._owner[self.secs]


def timeout_error(fd: int, write: bool, timeout: float) -> TimeoutError:
    what = "writable" if write else "readable"
    return TimeoutError(f"fd {fd} was not {what} within {timeout} s")


class FdWait:
    """What a task waiting for an fd on a loop backend waits on, for dump()."""

    __slots__ = ("fd", "write")

    def __init__(self, fd: int, write: bool) -> None:
        self.fd = fd
        self.write = write

    def __repr__(self) -> str:
        return f"<fd {self.fd} {'writable' if self.write else 'readable'}>"


def fd_wait(
    cur: Task,
    fd: int,
    write: bool,
    secs: float | None,
    watch: Callable[[_IOWait], None],
    stale: deque[int] | None,
    deadlines: dict[float, Any],
) -> None:
    """``Backend.wait_fd`` for a backend that watches fds itself: park
    ``cur`` on a record that ``watch(record)`` arranges to ``fire`` once
    ``fd`` is ready (one-shot; ``stale``: where a withdrawn record queues
    its fd, see ``_IOWait``); the record's ``undo``, if ``watch`` set one,
    runs after the park. ``secs``: the timeout (> 0, None: none), served by
    the backend's ``deadlines`` (timeout -> its ``_Deadlines``, one timer
    per timeout value). Raises TimeoutError once the timeout passed."""
    s = cur.sched
    rec = _IOWait(cur, fd, write, stale)
    watch(rec)
    queue = None
    if secs is not None:
        queue = deadlines.get(secs)
        if queue is None:
            queue = deadlines[secs] = _Deadlines(s, secs, deadlines)
        queue.add(rec)
    s.pending += 1
    try:
        s.park(wr.IO_WAIT, rec, rec)
    finally:
        s.pending -= 1
        if queue is not None:
            queue.prune()
        undo = rec.undo
        if undo is not None:
            rec.undo = None
            undo(rec)
    if rec.timed_out:
        assert secs is not None
        raise timeout_error(fd, write, secs)


def any_fd_ready(waits: Iterable[Any]) -> bool:
    """True if an fd that a wait record (``_IOWait``: ``fd``, ``write``)
    watches is ready now (readable, writable, hung up or in error), without
    waiting. An fd closed under its waiter (POLLNVAL) does not count."""
    masks: dict[int, int] = {}
    for w in waits:
        masks[w.fd] = masks.get(w.fd, 0) | (select.POLLOUT if w.write else select.POLLIN)
    if not masks:
        return False
    if not hasattr(select, "poll"):  # Windows
        rd = [fd for fd, m in masks.items() if m & select.POLLIN]
        wr = [fd for fd, m in masks.items() if m & select.POLLOUT]
        try:
            r, w_, x = select.select(rd, wr, [], 0)
        except OSError:  # a closed fd
            return False
        return bool(r or w_ or x)
    p = select.poll()
    for fd, m in masks.items():
        p.register(fd, m)
    return any(not ev & select.POLLNVAL for _, ev in p.poll(0))
