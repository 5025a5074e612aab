"""Waiter records (Go's ``sudog``), the wait queues that hold them, and LOCK.

Every blocking operation parks its task behind a *wait record*: an object
with ``withdraw()`` that the scheduler calls (under ``LOCK``) when it needs
to take the task back without the operation completing (cancellation, a
fatal error, a deadlock report). Exactly one party ever decides a wait
record's outcome: the peer that completes it, or the party that withdraws
it. That decision is always made under ``LOCK``, and the winner alone calls
``ready()`` on the task (after releasing ``LOCK``). This is what guarantees
one ``ready`` per ``park``.

LOCK is one process-wide lock for all channel state. Under the GIL, finer
locks buy no parallelism, and one lock makes ``select`` simple and
deadlock-free (no lock ordering across channels). The run-queue hot path
never takes it; only channel operations do, for a few bytecodes at a time.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from .lock import TokenLock

if TYPE_CHECKING:
    from .task import Task
    from .timers import TimerEntry

LOCK: Final = TokenLock()


class WaitRecord(Protocol):
    """The parking contract: what ``Scheduler.park`` needs from a wait record.

    A record stands for one park of one task and ends exactly once, under
    ``LOCK``, in one of two ways:

    * *completed* by a peer (a send or receive, a release, a timer, an fd
      becoming ready, a worker thread finishing), which then readies the
      task (after releasing LOCK);
    * *withdrawn*: ``withdraw()`` (LOCK held, any thread) returns True if
      the record had not ended yet and is now ended without completing (the
      task is taken back by whoever called it: cancel, a fatal error, a
      deadlock report, a timeout, a select sibling, thread exit), False if a
      completion won first (its ready() is on the way and belongs to the
      park).

    Whichever of the two comes first wins; the other sees the record ended
    and does nothing. So every park is matched by exactly one ready.
    tests/runtime/test_wait_records.py races the two for every record kind.
    Every class passed to ``park`` is checked against this by mypy --strict.
    """

    def withdraw(self) -> bool: ...


class Parker(Protocol):
    """A coroutine's stand-in for a Task in channel waiters (``chan_async.py``).

    A peer that completes a waiter whose ``task`` is a Parker calls
    ``wake()`` (any thread, LOCK released) instead of ``ready()``; see
    ``task.wake_peer``. ``dead()`` (LOCK held) says the coroutine can never
    run again (``LoopGroup.claim`` then refuses the waiter).
    """

    def dead(self) -> bool: ...

    def wake(self) -> None: ...


WaitQueue = deque  # of Waiter; Go's waitq


def pop_waiter(q: deque[Waiter]) -> Waiter | None:
    """Dequeue the first waiter of ``q`` and claim it for the caller (LOCK held).

    A waiter of a blocking ``select`` claims the whole select: its group is
    marked fired with this case as the winner and every sibling waiter is
    removed from its own channel, so no stale waiter is ever left queued
    anywhere: every waiter in a queue is live. A waiter whose coroutine can
    never run again is refused by its group (``LoopGroup``) and dropped: the
    next one is taken instead. Hot paths inline this.
    """
    while q:
        w = q.popleft()
        w.queue = None
        g = w.group
        if g is None or g.claim(w):
            return w
    return None


def unlink(q: deque[Waiter], w: Waiter) -> None:
    """Remove ``w`` from ``q`` (LOCK held). The ends are checked first: a
    mass cancellation (run() shutdown, newest first) takes waiters off the
    tail, so it stays linear instead of scanning the queue for each one."""
    if q[-1] is w:
        q.pop()
    elif q[0] is w:
        q.popleft()
    else:
        q.remove(w)


def push_waiter(q: deque[Waiter], w: Waiter) -> None:
    """Enqueue ``w`` at the tail of ``q`` (LOCK held)."""
    q.append(w)
    w.queue = q


class Waiter:
    """One task waiting on one channel operation (Go's ``sudog``).

    ``value`` is the value to send, or the slot a received value lands in;
    ``ok`` tells the parked task how it was completed (received a real
    value / the send was delivered: True; the channel was closed: False).
    ``group`` is the shared record of a blocking select, else None.
    ``queue`` is the wait queue holding it, None once dequeued.
    ``task`` is the parked Task, or a coroutine's ``Parker`` (``chan_async.py``),
    which stands in for one: a peer wakes it with ``task.wake_peer``.

    Wait queues are C deques rather than Go's intrusive linked lists: in
    CPython a deque's append/popleft beat any Python-level list surgery, and
    removing a select's losing waiters (``deque.remove``) is a C loop over
    what is, in practice, a short queue.
    """

    __slots__ = ("group", "index", "ok", "queue", "task", "value")

    def __init__(
        self, task: Task | Parker, value: Any, group: SelectGroup | None = None, index: int = 0
    ):
        self.task = task
        self.value = value
        self.ok = False
        self.group = group
        self.index = index
        self.queue: deque[Waiter] | None = None

    def withdraw(self) -> bool:
        """Unqueue this waiter if no peer has taken it yet (LOCK held)."""
        q = self.queue
        if q is None:
            return False
        unlink(q, self)
        self.queue = None
        return True


class SelectGroup:
    """The record shared by the waiters of one blocking ``select``.

    Go's ``selectDone`` flag plus the winning case. Claimed at most once.
    """

    __slots__ = ("fired", "task", "waiters", "winner")

    def __init__(self, task: Task | Parker) -> None:  # as Waiter.task
        self.task = task
        self.fired = False
        self.winner: Waiter | None = None
        self.waiters: list[Waiter] = []

    def claim(self, w: Waiter | None) -> bool:
        """Mark ``w`` (None: no case, the wait was withdrawn) as the winner
        and unqueue every other waiter of the group (LOCK held). True: the
        caller completes ``w``'s operation (``LoopGroup`` may refuse).

        Every waiter's link back to the group is cut too (nothing reads it
        once the group has fired): group and waiters would otherwise be a
        reference cycle after every blocking select, which only the cyclic
        GC frees, and with it the task they point at.
        """
        self.fired = True
        self.winner = w
        for s in self.waiters:
            q = s.queue
            if q is not None:
                unlink(q, s)
                s.queue = None
            s.group = None
        return True

    def withdraw(self) -> bool:
        if self.fired:
            return False
        self.claim(None)
        return True


class LoopGroup(SelectGroup):
    """The group of a coroutine's wait (``await ch.arecv()``, ``aselect``):
    its task is a parker standing for a coroutine (``chan_async.py``).

    A coroutine can outlive its event loop: ``loop.close()`` with the
    coroutine still awaiting a channel leaves it pending forever. Its
    waiters must then never be completed, or what a peer hands to them (a
    value sent, a sender's value taken) is gone. So ``claim`` asks the
    parker first: if its loop is closed, the whole wait is withdrawn (every
    case unqueued) and the claim refused; the peer takes the next waiter.
    """

    __slots__ = ()

    def claim(self, w: Waiter | None) -> bool:
        parker = cast("Parker", self.task)  # chan_async._CoroParker or _TrioParker
        if w is not None and parker.dead():
            SelectGroup.claim(self, None)
            return False
        return SelectGroup.claim(self, w)


class OneShot:
    """A wait record for parks that are not on a channel queue.

    Used by ``sleep``, ``Task.join`` and run-shutdown; ``fire`` and
    ``withdraw`` decide its outcome once, under LOCK. ``timer`` (if set) is
    disarmed when the wait is withdrawn.
    """

    __slots__ = ("fired", "task", "timer", "value")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.fired = False
        self.value: Any = None
        self.timer: TimerEntry | None = None

    def fire(self, value: Any = None) -> bool:
        if self.fired:
            return False
        self.fired = True
        self.value = value
        return True

    def withdraw(self) -> bool:
        if self.fired:
            return False
        self.fired = True
        t = self.timer
        if t is not None:
            t.disarm()
        return True


if TYPE_CHECKING:
    # Every wait record and parker class, checked against the contracts by
    # mypy --strict: a class that stops conforming fails the type check
    # here, even if no call site happens to pass it to park() directly.
    from .backends.aio_waits import _AwaitRecord
    from .backends.trio_waits import _TrioAwait, _TrioWatch
    from .chan_async import _CoroParker, _TrioParker
    from .fdwait import _IOWait
    from .offload import _Abandonable, _Job
    from .timers import SleepTimer

    def _records(
        a: Waiter,
        b: SelectGroup,
        c: LoopGroup,
        d: OneShot,
        e: SleepTimer,
        f: _AwaitRecord,
        g: _TrioAwait,
        h: _IOWait,
        i: _TrioWatch,
        j: _Job,
        k: _Abandonable,
    ) -> list[WaitRecord]:
        return [a, b, c, d, e, f, g, h, i, j, k]

    def _parkers(a: _CoroParker, b: _TrioParker) -> list[Parker]:
        return [a, b]
