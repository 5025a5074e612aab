"""Chan: Go's channels (runtime/chan.go) for green tasks and threads.

Fields keep Go's names: ``_buf`` (the ring buffer, a deque), ``_cap``, ``_closed``,
``_recvq`` and ``_sendq`` (queues of parked Waiters).

Invariants (all channel state is guarded by ``waiter.LOCK``):

1. ``len(_buf) <= _cap``; an unbuffered channel never buffers.
2. ``_buf`` non-empty implies ``_recvq`` empty (a waiting receiver would
   have been handed the value).
3. ``len(_buf) < _cap`` implies ``_sendq`` empty (a waiting sender would
   have been admitted to the buffer).
4. ``_closed`` implies ``_sendq`` and ``_recvq`` empty (close wakes all).
5. ``_recvq`` and ``_sendq`` are never both non-empty, except when every
   waiter of one of them belongs to a blocking ``select`` (a select that
   both sends on and receives from one unbuffered channel).
6. Every queued Waiter is live: a select's losing waiters are unlinked the
   moment the select is claimed (``SelectGroup.claim``).

Each operation is "try, then park" (Go's ``chansend``/``chanrecv`` with ``block``).
The value hand-off to or from a parked peer is one pair of functions,
``_handoff_send``/``_handoff_recv`` (Go's ``send``/``recv``), used by send, recv,
select, offer and the coroutine face alike; ``_try_send``/``_try_recv`` are the
non-blocking halves built on them (select's first pass, offer, chan_async.py).
Peers are woken only after LOCK is released.

The async face (``asend``, ``arecv``, ``arecv_ok``, ``async for``) is chan_async.py's,
which imports this module, never the reverse (``_AsyncFace``); nil channels, nilchan.py's.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, SupportsIndex, TypeVar, cast

from . import waitreason as wr
from .errors import CLOSE_OF_CLOSED, SEND_ON_CLOSED, Panic
from .task import Task, ready, wake_peer
from .threads import current_task
from .waiter import LOCK, Waiter, WaitQueue, pop_waiter

if TYPE_CHECKING:
    from .waiter import Parker

T = TypeVar("T")


class _Sentinel:
    """A marker value that says its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


BLOCKED: Final[Any] = _Sentinel("BLOCKED")  # the non-blocking half could not complete
CLOSED: Final[Any] = _Sentinel("CLOSED")  # a receive found the channel closed and drained
# The hot paths' names are Final: a compiled build (mypyc) then reads them
# as C constants instead of looking each one up in the module's dict.
_take: Final = LOCK.take  # see lock.py
_wait_take: Final = LOCK.wait_take
_give: Final = LOCK.give
# The buffer's methods on the fast paths, unbound: a compiled build then
# calls the C method directly instead of looking ``append`` up on every call.
_append: Final = deque.append
_popleft: Final = deque.popleft


class _Flags:
    """Switches read on every channel operation (an attribute of a Final
    object, not a module global, for the same reason)."""

    __slots__ = ("debug",)

    def __init__(self) -> None:
        # Check invariants after every operation: run(debug=True), or GOCHAN_DEBUG=1.
        self.debug = os.environ.get("GOCHAN_DEBUG", "") not in ("", "0")


FLAGS: Final = _Flags()


def _no_face(*_: Any) -> Any:
    raise RuntimeError("gochan is not fully imported (no async face): import gochan first")


class _AsyncFace:
    """What ``Chan``'s async methods run: chan_async.py's coroutine functions, set when
    it is imported. On ``Chan``, not a subclass: docs/design.md, "The module map"."""

    __slots__ = ("aiter", "arecv", "arecv_ok", "asend")

    def __init__(self) -> None:
        self.asend: Callable[[Chan[Any], Any], Awaitable[None]] = _no_face
        self.arecv: Callable[[Chan[Any]], Awaitable[Any]] = _no_face
        self.arecv_ok: Callable[[Chan[Any]], Awaitable[tuple[Any, bool]]] = _no_face
        self.aiter: Callable[[Chan[Any]], AsyncIterator[Any]] = _no_face


FACE: Final = _AsyncFace()


def _task_waiter(v: Any) -> Waiter:
    """The running task's reusable Waiter, loaded with ``v`` (LOCK held).

    Reuse is safe: a peer touches a dequeued Waiter only under LOCK and
    before it readies the task, so once the task resumes nobody else holds
    it. Selects use fresh Waiters (one per case).
    """
    task = current_task()
    w = task._w
    if w is None:
        w = task._w = Waiter(task, v)
    else:
        w.value = v
        w.ok = False
    return w


class Chan(Generic[T]):
    """A Go channel: ``Chan()`` is unbuffered, ``Chan(n)`` buffers ``n`` values.

    Safe to use from any green task and any OS thread. Values from one
    sender arrive in order; blocked senders and receivers are served first
    come, first served.

    >>> import gochan
    >>> def main():
    ...     ch = gochan.Chan[int](2)
    ...     ch.send(1); ch.send(2); ch.close()
    ...     return [v for v in ch]
    >>> gochan.run(main)
    [1, 2]
    """

    __slots__ = ("_buf", "_cap", "_closed", "_recvq", "_sendq")

    def __init__(self, cap: SupportsIndex = 0) -> None:
        # An int, typed SupportsIndex (still no str or float statically): a compiled
        # build converts an int parameter on entry, and True would arrive as 1.
        if not isinstance(cap, int) or isinstance(cap, bool):
            raise TypeError(f"channel capacity must be an int, got {type(cap).__name__}")
        if cap < 0:
            raise ValueError(
                f"channel capacity must be >= 0, got {cap}; use Chan() for an unbuffered channel"
            )
        self._cap = cap
        self._buf: deque[T] = deque()
        self._closed = False
        self._recvq: WaitQueue[Waiter] = WaitQueue()
        self._sendq: WaitQueue[Waiter] = WaitQueue()

    # -- introspection --------------------------------------------------------

    @property
    def cap(self) -> int:
        """The buffer capacity (0 for an unbuffered channel)."""
        return self._cap

    def __len__(self) -> int:
        """Number of values buffered right now."""
        return len(self._buf)

    def __bool__(self) -> bool:
        """Always true, empty or not: ``if ch:`` asks whether there is a channel."""
        return True

    def __copy__(self) -> Chan[T]:
        """The channel itself: a channel is a reference, as in Go (deepcopy too)."""
        return self

    def __deepcopy__(self, memo: Any) -> Chan[T]:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a Chan cannot be pickled: it connects tasks of one process")

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called (Go has no such query;
        prefer ``recv_ok``, which cannot race)."""
        return self._closed

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<Chan cap={self._cap} len={len(self._buf)}{state} "
            f"recvq={len(self._recvq)} sendq={len(self._sendq)} at {id(self):#x}>"
        )

    # -- the value hand-off (LOCK held) ---------------------------------------
    # Go's send()/recv() (runtime/chan.go), shared by send, _recv, select,
    # offer and the coroutine face (chan_async.py): the one place where a value
    # passes between a running party and a parked one. Each dequeues the
    # first live waiter of the other side (pop_waiter, inlined) and
    # completes it under LOCK: marks it ok and moves the value. The caller
    # wakes the waiter's party after releasing LOCK (wake_peer).
    # Measured (callgrind, instructions per op, inlined copies -> this one
    # path): compiled W1 ping-pong 11984 -> 11774, W2 buffered 1521 -> 1533,
    # W5 select 7831 -> 7822, so the copies did not pay; pure W1 25584 ->
    # 27389 (+7%: a Python call per hand-off), W2 and W5 unchanged.

    def _handoff_send(self, v: T) -> Task | Parker | None:
        """Hand ``v`` to the first parked receiver; its party to wake, or
        None if no receiver is parked. The channel is open (LOCK held)."""
        q = self._recvq
        while q:
            w = q.popleft()
            w.queue = None
            g = w.group
            if g is not None and not g.claim(w):
                continue  # refused: a coroutine whose loop is gone (LoopGroup)
            w.value = v
            w.ok = True
            return w.task
        return None

    def _handoff_recv(self) -> Waiter | None:
        """Take the value of the first parked sender: returns its completed
        waiter, whose ``value`` is now what the caller receives (read it
        before waking: the woken sender reuses its waiter) and whose
        ``task`` is the party to wake; None if no sender is parked (LOCK
        held). With a (full) buffer the receiver takes the buffer's head and
        the sender's value joins the tail (invariant 3)."""
        q = self._sendq
        while q:
            w = q.popleft()
            w.queue = None
            g = w.group
            if g is not None and not g.claim(w):
                continue  # refused: as in _handoff_send
            w.ok = True
            buf = self._buf
            if buf:
                v = w.value
                w.value = _popleft(buf)
                _append(buf, v)
            return w
        return None

    # -- the non-blocking halves (LOCK held) ----------------------------------

    def _try_send(self, v: T) -> Any:
        """Send without blocking. Returns a peer to wake (a Task or Parker),
        None if the value went into the buffer, or BLOCKED. Raises Panic if
        closed. (Typed Any, not ``Task | Parker | None``: a compiled build
        checks the declared type of what is returned, and BLOCKED is
        neither.)"""
        if self._closed:
            raise Panic(SEND_ON_CLOSED)
        peer = self._handoff_send(v)
        if peer is not None:
            return peer
        buf = self._buf
        if len(buf) < self._cap:
            buf.append(v)
            return None
        return BLOCKED

    def _try_recv(self) -> Any:
        """Receive without blocking: (value, ok, peer to wake), or BLOCKED."""
        w = self._handoff_recv()
        if w is not None:
            return w.value, True, w.task
        if self._buf:
            return self._buf.popleft(), True, None
        if self._closed:
            return None, False, None
        return BLOCKED

    # -- the blocking operations -----------------------------------------------
    # Go's chansend/chanrecv. Each begins with the buffered fast path (a
    # value into the buffer, or out of it, with nobody parked on the other
    # side), which keeps every invariant at the top of this module whenever
    # they held before: that path is not re-checked in debug mode.
    # Everything else (hand-offs, parking, close) is, and so re-checks what
    # the fast paths left. The hand-off itself is _handoff_send/_recv, the
    # same functions select uses.

    def send(self, v: T) -> None:
        """Send ``v``, blocking until a receiver takes it (unbuffered) or it
        is in the buffer. ``Panic("send on closed channel")`` if closed,
        including when the channel is closed while this call is blocked."""
        try:
            _take()
        except IndexError:
            _wait_take()
        buf = self._buf
        if len(buf) < self._cap and not self._recvq and not self._closed:
            # The fast path: room, no receiver parked, open. The append
            # keeps invariant 1 (there was room) and 2 (no receiver); room
            # meant no parked sender (3), so none is overtaken.
            try:
                _append(buf, v)
            finally:
                _give(None)
            return
        try:
            if self._closed:
                raise Panic(SEND_ON_CLOSED)
            # (the queue is looked at first: no call when nobody is parked)
            peer = self._handoff_send(v) if self._recvq else None
            if peer is None:
                if len(buf) < self._cap:  # (receivers all refused: see _handoff_send)
                    buf.append(v)
                    return
                w = _task_waiter(v)
                q = w.queue = self._sendq
                q.append(w)
        finally:
            _give(None)
            if FLAGS.debug:
                self._debug_check()
        if peer is not None:
            # wake_peer, inlined: a Task (the usual case) or a Parker
            if isinstance(peer, Task):
                ready(peer)
            else:
                peer.wake()
            return
        task = cast("Task", w.task)  # (typed: a compiled build calls park directly)
        task.sched.park(wr.CHAN_SEND, self, w)
        if not w.ok:
            raise Panic(SEND_ON_CLOSED)

    def _recv(self) -> Any:
        """Receive, blocking: the value, or CLOSED once closed and drained."""
        try:
            _take()
        except IndexError:
            _wait_take()
        buf = self._buf
        if buf and not self._sendq:
            # The fast path: a buffered value (so no receiver is parked, 2)
            # and no sender parked, so the room this leaves admits nobody (3).
            try:
                return _popleft(buf)
            finally:
                _give(None)
        try:
            s = self._handoff_recv() if self._sendq else None  # (as in send)
            if s is None:
                if buf:  # (senders all refused: see _handoff_send)
                    return buf.popleft()
                if self._closed:
                    return CLOSED
                w = _task_waiter(None)
                q = w.queue = self._recvq
                q.append(w)
        finally:
            _give(None)
            if FLAGS.debug:
                self._debug_check()
        if s is not None:
            # Read the value before the wake: once woken, the sender owns its
            # waiter again (and may reuse it, on another thread).
            v = s.value
            peer = s.task
            # wake_peer, inlined (as in send)
            if isinstance(peer, Task):
                ready(peer)
            else:
                peer.wake()
            return v
        task = cast("Task", w.task)
        task.sched.park(wr.CHAN_RECV, self, w)
        return w.value if w.ok else CLOSED

    def recv(self) -> T | None:
        """Receive a value; ``None`` (Go's zero value) once closed and drained."""
        v = self._recv()
        return None if v is CLOSED else v

    def recv_ok(self) -> tuple[T | None, bool]:
        """Receive a value and whether it is real: ``(v, True)``, or
        ``(None, False)`` once the channel is closed and drained."""
        v = self._recv()
        return (None, False) if v is CLOSED else (v, True)

    def close(self) -> None:
        """Close the channel: buffered values can still be received, then
        receivers get ``(None, False)``; blocked receivers wake at once and
        blocked senders get ``Panic("send on closed channel")``."""
        woken: list[Task | Parker] = []  # Waiter.task
        with LOCK:
            if self._closed:
                raise Panic(CLOSE_OF_CLOSED)
            self._closed = True
            while (w := pop_waiter(self._recvq)) is not None:
                w.value, w.ok = None, False  # receivers get the zero value
                woken.append(w.task)
            while (w := pop_waiter(self._sendq)) is not None:
                w.ok = False  # senders wake to panic
                woken.append(w.task)
        if FLAGS.debug:
            self._debug_check()
        for t in woken:
            wake_peer(t)

    def __iter__(self) -> Iterator[T]:
        """``for v in ch``: receive until the channel is closed and drained."""
        # _recv's buffered fast path inlined (a call less per value: the
        # consumer side of a buffered stream spends most of its time here).
        # An empty buffer (always, unbuffered) goes straight to _recv: the
        # look at it without LOCK is only a hint, checked again under it.
        buf, sendq, recv = self._buf, self._sendq, self._recv
        while True:
            if buf:
                try:
                    _take()
                except IndexError:
                    _wait_take()
                if buf and not sendq:
                    try:
                        v = _popleft(buf)
                    finally:
                        _give(None)
                    yield v
                    continue
                _give(None)
            v = recv()
            if v is CLOSED:
                return
            yield v

    # -- the async face (coroutines; chan_async.py: see the module docstring) -

    async def asend(self, v: T) -> None:
        """``await ch.asend(v)``: ``send`` for a coroutine on the event loop
        of an async backend. A coroutine and a green task can be the two
        ends of one channel."""
        await FACE.asend(self, v)

    async def arecv(self) -> T | None:
        """``await ch.arecv()``: ``recv`` for a coroutine (async backends)."""
        return cast("T | None", await FACE.arecv(self))

    async def arecv_ok(self) -> tuple[T | None, bool]:
        """``await ch.arecv_ok()``: ``recv_ok`` for a coroutine (async backends)."""
        return cast("tuple[T | None, bool]", await FACE.arecv_ok(self))

    def __aiter__(self) -> AsyncIterator[T]:
        """``async for v in ch``: receive until closed and drained (async backends)."""
        return cast("AsyncIterator[T]", FACE.aiter(self))

    # -- helpers for timers -------------------------------------------------

    def offer(self, v: T) -> bool:
        """Send ``v`` only if that cannot block; False (value dropped) if it would."""
        with LOCK:
            if self._closed:
                return False
            peer = self._try_send(v)
        if peer is BLOCKED:
            return False
        if peer is not None:
            wake_peer(peer)
        return True

    def drain(self) -> bool:
        """Discard buffered values; True if there were any."""
        with LOCK:
            had = bool(self._buf)
            self._buf.clear()
            # Invariant 3: room in the buffer now, so admit parked senders.
            woken: list[Task | Parker] = []
            while len(self._buf) < self._cap:
                w = pop_waiter(self._sendq)
                if w is None:
                    break
                self._buf.append(w.value)
                w.ok = True
                woken.append(w.task)
        for t in woken:
            wake_peer(t)
        return had

    def _debug_check(self) -> None:
        with LOCK:
            self.check_invariants()

    def check_invariants(self) -> None:
        """Assert the invariants at the top of this module (LOCK held)."""
        buf, recvq, sendq = self._buf, self._recvq, self._sendq
        assert len(buf) <= self._cap, f"{self!r}: buffer over capacity"
        assert not (buf and recvq), f"{self!r}: buffered values with waiting receivers"
        assert not (len(buf) < self._cap and sendq), f"{self!r}: room but senders waiting"
        assert not (self._closed and (recvq or sendq)), f"{self!r}: closed with waiters"
        if recvq and sendq:
            assert any(all(w.group is not None for w in q) for q in (recvq, sendq)), (
                f"{self!r}: senders and receivers both waiting"
            )
        for q in (recvq, sendq):
            assert all(w.queue is q for w in q), f"{self!r}: waiter with a stale queue link"
