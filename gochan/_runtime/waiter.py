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

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .task import Task
    from .timers_core import TimerEntry

LOCK = threading.Lock()


class WaitQueue:
    """An intrusive doubly linked FIFO of Waiters (Go's ``waitq``).

    O(1) push, pop and removal from the middle, which a ``select`` needs to
    leave no trace on the channels whose cases did not fire. All methods are
    called with LOCK held.
    """

    __slots__ = ("head", "tail")

    def __init__(self) -> None:
        self.head: Waiter | None = None
        self.tail: Waiter | None = None

    def __len__(self) -> int:
        n, w = 0, self.head
        while w is not None:
            n, w = n + 1, w.next
        return n

    def __bool__(self) -> bool:
        return self.head is not None

    def push(self, w: Waiter) -> None:
        w.queue = self
        w.next = None
        w.prev = tail = self.tail
        if tail is None:
            self.head = w
        else:
            tail.next = w
        self.tail = w

    def remove(self, w: Waiter) -> None:
        prev, nxt = w.prev, w.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        w.queue = w.prev = w.next = None

    def pop(self) -> Waiter | None:
        """Dequeue the first waiter and claim it for the caller.

        A waiter of a blocking ``select`` claims the whole select: its group
        is marked fired with this case as the winner and every sibling
        waiter is unlinked from its own channel, so no stale waiter is ever
        left queued anywhere. Every waiter in a queue is therefore live.
        """
        w = self.head
        if w is None:
            return None
        self.remove(w)
        g = w.group
        if g is not None:
            g.claim(w)
        return w


class Waiter:
    """One task waiting on one channel operation (Go's ``sudog``).

    ``value`` is the value to send, or the slot a received value lands in;
    ``ok`` tells the parked task how it was completed (received a real
    value / the send was delivered: True; the channel was closed: False).
    ``group`` is the shared record of a blocking select, else None.
    """

    __slots__ = ("group", "index", "next", "ok", "prev", "queue", "task", "value")

    def __init__(self, task: Task, value: Any, group: SelectGroup | None = None, index: int = 0):
        self.task = task
        self.value = value
        self.ok = False
        self.group = group
        self.index = index
        self.queue: WaitQueue | None = None
        self.prev: Waiter | None = None
        self.next: Waiter | None = None

    def withdraw(self) -> bool:
        """Unlink this waiter if no peer has taken it yet (LOCK held)."""
        q = self.queue
        if q is None:
            return False
        q.remove(self)
        return True


class SelectGroup:
    """The record shared by the waiters of one blocking ``select``.

    Go's ``selectDone`` flag plus the winning case. Claimed at most once.
    """

    __slots__ = ("fired", "task", "waiters", "winner")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.fired = False
        self.winner: Waiter | None = None
        self.waiters: list[Waiter] = []

    def claim(self, w: Waiter) -> None:
        """Mark ``w`` as the winning case and unlink its siblings (LOCK held)."""
        self.fired = True
        self.winner = w
        for s in self.waiters:
            q = s.queue
            if q is not None:
                q.remove(s)

    def withdraw(self) -> bool:
        if self.fired:
            return False
        self.claim_none()
        return True

    def claim_none(self) -> None:
        self.fired = True
        for s in self.waiters:
            q = s.queue
            if q is not None:
                q.remove(s)


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
            t.fn = None
        return True
