"""wait_readable / wait_writable: park a green task until a file descriptor
is ready, on any backend (Go's netpoller, reduced to its core).

On the builtin backend the scheduler's own poller watches the fd (see
backends/builtin.py); on asyncio and uvloop the loop's ``add_reader`` /
``add_writer`` do, on trio ``trio.lowlevel.wait_readable`` / ``wait_writable``.
A task waiting for I/O is pending work: never a deadlock.

A wait may carry a timeout (Go's read and write deadlines): on builtin a
scheduler timer, on the loop backends the loop's own timeout (its clock
follows the scheduler's, virtual included). Either way the wait ends in
``TimeoutError`` and the fd is no longer watched.

On builtin, waits with the same timeout share one timer: their deadlines
come in the order the waits begin, so a FIFO queue per timeout value
(`_Deadlines`) holds them and one scheduler timer is armed for its head.
A client that gives every read the same timeout (the common case) then
pays an append and a pop per wait, not a timer of its own: that timer
and its heap entry would live as long as the request, and with thousands
of requests in flight the garbage collector keeps meeting them.
"""

from __future__ import annotations

import select
from collections import deque
from typing import Any, Final, Protocol, SupportsFloat

from . import waitreason as wr
from .backends.builtin import BuiltinBackend
from .duration import NEVER
from .duration import seconds as _seconds
from .scheduler import current_task, ready
from .task import Task
from .waiter import LOCK


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class _IOWait:
    """The wait record of a task waiting for an fd: ``wait_readable`` /
    ``wait_writable`` on the builtin backend, and every ``PollDesc`` wait.

    Ends once, under LOCK, by whichever comes first: the fd is ready
    (``fire``), the timeout's timer (``expire``) or a withdraw (cancel; for
    a PollDesc also a deadline change or an eviction). ``stale`` is the
    builtin poller's queue of fds to tidy, None where a loop watches the fd.
    """

    __slots__ = (
        "deadline",
        "fd",
        "fired",
        "loop",
        "poller",
        "stale",
        "task",
        "timed_out",
        "timer",
        "watch",
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
        # a PollDesc wait's: its deadline's timer, the builtin poller that
        # reports the fd (edge-triggered), or the loop watching it for the wait
        self.timer: Any = None
        self.poller: BuiltinBackend | None = None
        self.loop: Any = None
        self.watch: _TrioWatch | None = None  # under run_async() hosted by trio

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
            self.timer = s.add_timer(rec.deadline, self._fire)

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
                self.sched.cancel_timer(self.timer)
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


def _timeout_error(fd: int, write: bool, timeout: float) -> TimeoutError:
    what = "writable" if write else "readable"
    return TimeoutError(f"fd {fd} was not {what} within {timeout} s")


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
        raise _timeout_error(fd, write, secs)
    s = cur.sched
    b = s.backend
    if isinstance(b, BuiltinBackend):
        rec = _IOWait(cur, fd, write, b.stale)
        b.watch(fd, write, rec)
        queue = None
        if secs is not None:
            queue = b.deadlines.get(secs)
            if queue is None:
                queue = b.deadlines[secs] = _Deadlines(s, secs, b.deadlines)
            queue.add(rec)
        s.pending += 1
        try:
            s.park(wr.IO_WAIT, rec, rec)
        finally:
            s.pending -= 1
            if queue is not None:
                queue.prune()
        if rec.timed_out:
            assert secs is not None
            raise _timeout_error(fd, write, secs)
        return
    from .bridge import wait_on_loop

    what = _FdWait(fd, write)
    if getattr(b, "name", "") == "trio":
        wait_on_loop(_trio_wait(fd, write, secs), wr.IO_WAIT, what)
    else:
        wait_on_loop(_asyncio_wait(fd, write, secs), wr.IO_WAIT, what)


class _FdWait:
    """What a task waiting for an fd on a loop backend waits on, for dump()."""

    __slots__ = ("fd", "write")

    def __init__(self, fd: int, write: bool) -> None:
        self.fd = fd
        self.write = write

    def __repr__(self) -> str:
        return f"<fd {self.fd} {'writable' if self.write else 'readable'}>"


# Waits shared per (loop, fd, direction). Both loops allow one waiter per fd
# and direction (asyncio's add_reader keeps one callback, trio raises
# BusyResourceError), while readiness is level-triggered for any number of
# green tasks: every task waiting on the same fd must wake. An entry lives
# while somebody waits; each loop runs on its own thread, so keys never mix.
_shared: dict[tuple[object, int, bool], Any] = {}


async def _asyncio_wait(fd: int, write: bool, timeout: float | None) -> None:
    """``_asyncio_wait_fd`` within ``timeout`` seconds of the loop's clock."""
    import asyncio

    if timeout is None:
        await _asyncio_wait_fd(fd, write)
        return
    try:
        async with asyncio.timeout(timeout):
            await _asyncio_wait_fd(fd, write)
    except TimeoutError:
        raise _timeout_error(fd, write, timeout) from None


async def _asyncio_wait_fd(fd: int, write: bool) -> None:
    """One add_reader/add_writer per fd, waking every future waiting on it."""
    import asyncio

    loop = asyncio.get_running_loop()
    key = (loop, fd, write)
    futs: list[asyncio.Future[None]] | None = _shared.get(key)
    if futs is None:
        futs = _shared[key] = []
        waiting = futs

        def on_ready() -> None:
            _stop_watching(loop, key)
            for f in waiting:
                if not f.done():
                    f.set_result(None)
            waiting.clear()

        (loop.add_writer if write else loop.add_reader)(fd, on_ready)
    fut: asyncio.Future[None] = loop.create_future()
    futs.append(fut)
    try:
        await fut
    finally:
        if fut in futs:  # cancelled: the last one out stops the watch
            futs.remove(fut)
            if not futs and _shared.get(key) is futs:
                _stop_watching(loop, key)


def _stop_watching(loop: Any, key: tuple[Any, int, bool]) -> None:
    del _shared[key]
    (loop.remove_writer if key[2] else loop.remove_reader)(key[1])


class _TrioShared:
    """Waiters on one fd under trio: a leader runs trio's wait; followers
    wait on ``changed``, which is set when the fd is ready (``fired``) or
    the leader was cancelled (then one follower takes over)."""

    __slots__ = ("changed", "count", "fired", "leading")

    def __init__(self, event: Any) -> None:
        self.changed = event
        self.count = 0
        self.fired = False
        self.leading = False


async def _trio_wait(fd: int, write: bool, timeout: float | None) -> None:
    """``_trio_wait_fd`` within ``timeout`` seconds of trio's clock."""
    import trio

    if timeout is None:
        await _trio_wait_fd(fd, write)
        return
    with trio.move_on_after(timeout) as scope:
        await _trio_wait_fd(fd, write)
    if scope.cancelled_caught:
        raise _timeout_error(fd, write, timeout)


async def _trio_wait_fd(fd: int, write: bool) -> None:
    import trio

    key = (trio.lowlevel.current_trio_token(), fd, write)
    sh: _TrioShared = _shared.get(key) or _TrioShared(trio.Event())
    _shared[key] = sh
    sh.count += 1
    try:
        while not sh.fired:
            if sh.leading:
                await sh.changed.wait()
                continue
            sh.leading = True
            try:
                await (trio.lowlevel.wait_writable if write else trio.lowlevel.wait_readable)(fd)
            except BaseException:
                sh.leading = False  # hand the wait to a follower, if any
                done, sh.changed = sh.changed, trio.Event()
                done.set()
                raise
            sh.fired = True
            if _shared.get(key) is sh:
                del _shared[key]  # later waiters start a new wait
            sh.changed.set()
    finally:
        sh.count -= 1
        if not sh.count and _shared.get(key) is sh:
            del _shared[key]


class _TrioWatch:
    """The trio task behind one ``PollDesc`` wait under ``run_async()`` on
    trio: ``_trio_wait_fd`` (shared with ``wait_readable``), then fire the
    wait record. ``stop()`` (the green task, after its park) cancels it and
    parks until it has left trio's wait; its park record cannot be
    withdrawn, so a cancelled task still waits for that one trio step."""

    __slots__ = ("backend", "done", "exc", "joiner", "rec", "scope", "stopped")

    def __init__(self, rec: _IOWait, backend: Any) -> None:
        self.rec = rec
        self.backend = backend
        self.scope: Any = None
        self.stopped = False
        self.done = False
        self.exc: BaseException | None = None
        self.joiner: Task | None = None

    async def run(self) -> None:
        import trio

        rec = self.rec
        try:
            if not self.stopped:
                with trio.CancelScope() as scope:
                    self.scope = scope
                    await _trio_wait_fd(rec.fd, rec.write)
        except (OSError, trio.ClosedResourceError):
            pass  # the fd was closed under trio's wait: the next system call says how
        except BaseException as e:  # handed to the green task (trio cancelled the run)
            self.exc = e
        self.done = True
        rec.fire()  # (a no-op once the record has ended otherwise)
        if self.joiner is not None:
            ready(self.joiner)
        self.backend.poke()

    def withdraw(self) -> bool:  # the record of stop()'s park: never withdrawn
        return False

    def stop(self) -> None:
        """Cancel the trio task, if still waiting, and wait until it has left."""
        if self.done:
            return
        if self.scope is not None:
            self.scope.cancel()
        else:
            self.stopped = True  # not started yet: it will not wait at all
        cur = current_task()
        self.joiner = cur
        cur.sched.park(wr.IO_WAIT, self.rec, self)

    def check(self) -> None:
        """Raise what ended the trio task, if not the fd (trio cancelled it)."""
        exc = self.exc
        if exc is None:
            return
        import trio

        if isinstance(exc, trio.Cancelled):
            from .errors import Cancelled

            c = Cancelled()
            c.add_note("a gochan.net wait was cancelled by trio")
            raise c from exc
        raise exc


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
# returns at once instead of missing it. On builtin with epoll the fd is
# registered edge-triggered (EPOLLET, as Go's netpoller) for both directions
# the first time it is waited on, and stays registered until the socket is
# closed (``unlink``); a report finds the parked task in ``rwait``/``wwait``
# and readies it, or, with nobody parked, just bumps the number. No
# ``epoll_ctl`` per wait. On asyncio and uvloop the loop's
# add_reader/add_writer watch the fd for the length of one wait (which then
# bumps the number itself); where there is no epoll (the selectors fallback)
# the builtin poller's one-shot ``watch`` does the same. Under run_async()
# hosted by trio, whose epoll gochan cannot share, a trio task waits in
# trio's own wait for the length of one wait (``_TrioWatch``), and the wait
# ends only once that task has left trio's wait.
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
        "poller",
        "rd",
        "rseen",
        "rseq",
        "rwait",
        "sel",
        "sticky",
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
        self.poller: BuiltinBackend | None = None  # registered with (edge-triggered)
        self.sel: Any = None  # ... in this epoll of it

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
        poller: BuiltinBackend | None = None
        loop: Any = None
        if isinstance(b, BuiltinBackend):
            poller = b
        elif isinstance(getattr(b, "inner", None), BuiltinBackend):
            poller = b.inner  # type: ignore[attr-defined]  # trio: the hub's own poller
        else:
            # asyncio/uvloop: the loop's add_reader; None: run_async() hosted
            # by trio, whose epoll gochan cannot share (a trio task waits)
            loop = getattr(b, "loop", None)
        fd = self.fd
        if poller is not None and poller._sel is None:
            poller._open()
        et = poller is not None and poller.et
        if et:
            assert poller is not None
            if self.sel is not poller._sel:
                poller.register(self)  # once per socket (and poller)
        rec = _IOWait(cur, fd, write, None if et or poller is None else poller.stale)
        # Decide under LOCK, against a report from another thread's poller:
        # the status, a report since seq, else park in the direction's slot.
        _take()
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
            if et:
                assert poller is not None
                poller.pdwaits += 1
                poller.poll = True
                rec.poller = poller
            elif poller is not None:
                poller.watch(fd, write, rec)
            elif loop is not None:
                (loop.add_writer if write else loop.add_reader)(fd, rec.fire)
                rec.loop = loop
            else:
                watch = rec.watch = _TrioWatch(rec, b)
                try:
                    b.nursery.start_soon(watch.run)  # type: ignore[attr-defined]
                except BaseException:
                    watch.done = True  # never started: nothing to stop
                    raise
            if deadline is not None and deadline != NEVER:
                # (the woken task reads the passed deadline itself)
                rec.timer = s.add_timer(deadline, _expire, rec)
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
        _take()
        try:
            rec.withdraw()  # (a no-op unless the park was torn down)
            if write:
                if self.wwait is rec:
                    self.wwait = None
            elif self.rwait is rec:
                self.rwait = None
            if rec.poller is None:
                # Watched for this wait only (no reports): it saw the fd ready,
                # or ended; either way the next call tries the system call.
                if write:
                    self.wseq += 1
                else:
                    self.rseq += 1
        finally:
            _give(None)
        poller = rec.poller
        if poller is not None:
            rec.poller = None
            poller.pdwaits -= 1
        timer = rec.timer
        if timer is not None:
            rec.timer = None
            s.cancel_timer(timer)
        loop = rec.loop
        if loop is not None:
            rec.loop = None
            (loop.remove_writer if write else loop.remove_reader)(rec.fd)
        watch = rec.watch
        if watch is not None:  # (so that no trio task or registration outlives the wait)
            rec.watch = None
            watch.stop()
            watch.check()
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
        _take()
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

    def unlink(self) -> None:
        """Before the fd is closed (any thread): out of the poller it is
        registered with, so that its number can be reused."""
        poller = self.poller
        if poller is not None:
            self.poller = None
            poller.unregister(self)

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
