"""Go's ``sync`` package for green tasks: Mutex, RWMutex, WaitGroup, Once,
Cond and a weighted Semaphore (golang.org/x/sync/semaphore).

Every wait parks only the calling green task, never its OS thread, and the
tasks sharing a primitive may live on different threads. Waiters are served
first come, first served: a release hands what it frees straight to the
oldest waiter (Go's "starvation mode", always on), so nobody starves.

Misuse panics with Go's own message (``gochan.Panic``).

>>> import gochan
>>> def main():
...     mu, wg, total = gochan.Mutex(), gochan.WaitGroup(), [0]
...     def add():
...         for _ in range(100):
...             with mu:
...                 v = total[0]
...                 gochan.gosched()      # a switch inside the critical section
...                 total[0] = v + 1
...     for _ in range(4):
...         wg.go(add)
...     wg.wait()
...     return total[0]
>>> gochan.run(main)
400
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._runtime import waitreason as wr
from ._runtime.errors import Panic, not_callable, plural
from ._runtime.gosched import poll_failed
from ._runtime.sema import enqueue, grant, wait_grant, wake
from ._runtime.task import ready, wake_peer
from ._runtime.threads import current_task
from ._runtime.waiter import LOCK, Waiter
from ._runtime.waitgroup import WaitGroup

if TYPE_CHECKING:
    from ._runtime.task import Task
    from .context import Context

__all__ = ["Cond", "Locker", "Mutex", "Once", "RWMutex", "Semaphore", "WaitGroup"]

_take, _wait_take, _give = LOCK.take, LOCK.wait_take, LOCK.give  # see _runtime/lock.py


class Locker(Protocol):
    """Anything with ``lock()`` and ``unlock()``: Go's ``sync.Locker``."""

    def lock(self) -> None: ...

    def unlock(self) -> None: ...


class _LockContext:
    """``with x:`` for lockers: lock on entry, unlock on exit."""

    __slots__ = ()

    def lock(self) -> None:
        raise NotImplementedError

    def unlock(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        self.lock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlock()


class Mutex(_LockContext):
    """A mutual exclusion lock; Go's ``sync.Mutex``. ``with mu:`` locks it.

    Not owned by a task: any task may unlock it, as in Go. Waiters get the
    lock in arrival order, handed over directly by ``unlock``.

    >>> import gochan
    >>> def main():
    ...     mu = gochan.Mutex()
    ...     mu.lock()
    ...     first = mu.try_lock()     # already locked
    ...     mu.unlock()
    ...     with mu:
    ...         return first, mu.locked()
    >>> gochan.run(main)
    (False, True)
    """

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[Waiter] = deque()

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<gochan.Mutex {state}, {len(self._waiters)} waiting at {id(self):#x}>"

    def locked(self) -> bool:
        """True while some task holds the lock."""
        return self._locked

    def lock(self) -> None:
        """Lock; if it is held, park until it is handed to this task."""
        try:
            _take()
        except IndexError:
            _wait_take()
        try:
            if not self._locked:
                self._locked = True
                return
        finally:
            _give(None)
        self._lock_slow()

    def _lock_slow(self) -> None:
        cur = current_task()
        with LOCK:
            if not self._locked:
                self._locked = True
                return
            w = enqueue(self._waiters, cur)
        wait_grant(w, wr.SYNC_MUTEX_LOCK, self, self._abandon)

    def _abandon(self, granted: bool) -> None:
        if granted:  # handed to us, but we will not return: pass it on
            self.unlock()

    __enter__ = lock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlock()

    def try_lock(self) -> bool:
        """Lock if free and return True; else return False at once."""
        with LOCK:
            if not self._locked:
                self._locked = True
                return True
        poll_failed()  # a loop of tries lets the holder run
        return False

    def unlock(self) -> None:
        """Unlock; the longest waiting task, if any, gets the lock next.

        Panics with ``sync: unlock of unlocked mutex`` if it is not locked.
        """
        try:
            _take()
        except IndexError:
            _wait_take()
        try:
            if not self._locked:
                raise Panic("sync: unlock of unlocked mutex")
            q = self._waiters
            if not q:
                self._locked = False
                return
            t = grant(q)  # stays locked: ownership passes to t
        finally:
            _give(None)
        ready(t)


class RWMutex(_LockContext):
    """A reader/writer lock; Go's ``sync.RWMutex``.

    Many readers (``rlock``/``runlock``) or one writer (``lock``/``unlock``,
    also ``with rw:``). A writer waiting for the readers to leave blocks new
    readers, so writers do not starve; when a writer unlocks, the readers
    that queued meanwhile all enter before the next writer.

    >>> import gochan
    >>> def main():
    ...     rw = gochan.RWMutex()
    ...     rw.rlock(); rw.rlock()            # two readers at once
    ...     busy = rw.try_lock()              # a writer must wait
    ...     rw.runlock(); rw.runlock()
    ...     with rw:
    ...         return busy, rw.try_rlock()
    >>> gochan.run(main)
    (False, False)
    """

    __slots__ = ("_readers", "_rq", "_wq", "_writer")

    def __init__(self) -> None:
        self._readers = 0  # readers holding the lock
        self._writer = False  # a writer holds the lock
        self._rq: deque[Waiter] = deque()  # readers waiting
        self._wq: deque[Waiter] = deque()  # writers waiting

    def __repr__(self) -> str:
        if self._writer:
            held = "locked by a writer"
        elif self._readers:
            held = f"locked by {plural(self._readers, 'reader')}"
        else:
            held = "unlocked"
        return (
            f"<gochan.RWMutex {held}, {plural(len(self._wq), 'writer')} and "
            f"{plural(len(self._rq), 'reader')} waiting at {id(self):#x}>"
        )

    # Readers --------------------------------------------------------------

    def rlock(self) -> None:
        """Lock for reading; parks while a writer holds or awaits the lock."""
        cur = current_task()
        with LOCK:
            if not self._writer and not self._wq:
                self._readers += 1
                return
            w = enqueue(self._rq, cur)
        wait_grant(w, wr.SYNC_RWMUTEX_RLOCK, self, self._abandon_read)

    def _abandon_read(self, granted: bool) -> None:
        if granted:
            self.runlock()

    def try_rlock(self) -> bool:
        """Lock for reading if that needs no wait; True if it did."""
        with LOCK:
            if not (self._writer or self._wq):
                self._readers += 1
                return True
        poll_failed()
        return False

    def runlock(self) -> None:
        """Undo one ``rlock``; the last reader out lets a waiting writer in.

        Panics with ``sync: RUnlock of unlocked RWMutex`` if no reader holds it.
        """
        woken = None
        with LOCK:
            if self._readers <= 0:
                raise Panic("sync: RUnlock of unlocked RWMutex")
            self._readers -= 1
            if self._readers == 0 and self._wq:
                self._writer = True
                woken = grant(self._wq)
        if woken is not None:
            ready(woken)

    def rlocker(self) -> Locker:
        """A ``Locker`` (and context manager) whose lock/unlock are
        ``rlock``/``runlock``: Go's ``RLocker``."""
        return _ReadLocker(self)

    # Writers --------------------------------------------------------------

    def lock(self) -> None:
        """Lock for writing; parks until no reader or writer holds it."""
        cur = current_task()
        with LOCK:
            if not self._writer and self._readers == 0 and not self._wq:
                self._writer = True
                return
            w = enqueue(self._wq, cur)
        wait_grant(w, wr.SYNC_RWMUTEX_LOCK, self, self._abandon_write)

    def _abandon_write(self, granted: bool) -> None:
        if granted:
            self.unlock()
            return
        # The withdrawn writer may have been the one holding readers back.
        with LOCK:
            woken = self._admit_locked()
        wake(woken)

    def try_lock(self) -> bool:
        """Lock for writing if that needs no wait; True if it did."""
        with LOCK:
            if not (self._writer or self._readers or self._wq):
                self._writer = True
                return True
        poll_failed()
        return False

    def unlock(self) -> None:
        """Unlock for writing; queued readers enter first, then the next writer.

        Panics with ``sync: Unlock of unlocked RWMutex`` if no writer holds it.
        """
        with LOCK:
            if not self._writer:
                raise Panic("sync: Unlock of unlocked RWMutex")
            self._writer = False
            woken = self._admit_locked()
        wake(woken)

    def _admit_locked(self) -> list[Task]:
        """With no writer holding the lock: let in every queued reader, or
        else the first queued writer once no reader holds it (LOCK held)."""
        if self._writer:
            return []
        rq = self._rq
        if rq:
            woken = [grant(rq) for _ in range(len(rq))]
            self._readers += len(woken)
            return woken
        if self._wq and self._readers == 0:
            self._writer = True
            return [grant(self._wq)]
        return []


class _ReadLocker(_LockContext):
    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    def lock(self) -> None:
        self._rw.rlock()

    def unlock(self) -> None:
        self._rw.runlock()


class Once:
    """Run a function exactly once; Go's ``sync.Once``.

    The first ``do(fn)`` calls ``fn``; calls made while it runs wait for it
    to finish; later calls return at once. If ``fn`` raises, the exception
    reaches the first caller only and ``fn`` still counts as done (as Go).

    >>> import gochan
    >>> def main():
    ...     once, calls = gochan.Once(), []
    ...     for _ in range(3):
    ...         once.do(lambda: calls.append("init"))
    ...     return calls
    >>> gochan.run(main)
    ['init']
    """

    __slots__ = ("_runner", "_state", "_waiters")

    _NEW, _RUNNING, _DONE = 0, 1, 2

    def __init__(self) -> None:
        self._state = Once._NEW
        self._runner: Task | None = None
        self._waiters: deque[Waiter] = deque()

    def __repr__(self) -> str:
        state = ("not done", "running", "done")[self._state]
        return f"<gochan.Once {state}>"

    def done(self) -> bool:
        """True once the function has run (returned or raised)."""
        return self._state == Once._DONE

    def do(self, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` if no ``do`` of this Once has called it yet."""
        if not callable(fn):
            raise not_callable(
                "Once.do()", fn, "; pass the function itself: once.do(f), not once.do(f())"
            )
        if self._state == Once._DONE:  # fast path; the flag is only ever set
            return
        cur = current_task()
        with LOCK:
            state = self._state
            if state == Once._RUNNING:
                if self._runner is cur:
                    raise RuntimeError(
                        "Once.do() called from inside its own function: it would wait "
                        "for itself forever (a deadlock in Go)"
                    )
                w = enqueue(self._waiters, cur)
            elif state == Once._NEW:
                self._state, self._runner = Once._RUNNING, cur
        if state == Once._DONE:
            return
        if state == Once._RUNNING:
            wait_grant(w, wr.SEMACQUIRE, self)
            return
        try:
            fn()
        finally:
            with LOCK:
                self._state, self._runner = Once._DONE, None
                q = self._waiters
                woken = [grant(q) for _ in range(len(q))]
            wake(woken)


class Cond:
    """A condition variable; Go's ``sync.Cond``. ``L`` is its Locker.

    ``wait()`` (with ``L`` locked) unlocks ``L``, parks until ``signal()``
    or ``broadcast()``, and locks ``L`` again before returning. Waiters are
    woken in the order they began waiting. Always re-check the condition
    in a loop, as in Go.

    >>> import gochan
    >>> def main():
    ...     mu = gochan.Mutex()
    ...     cond, ready = gochan.Cond(mu), []
    ...     def setter():
    ...         with mu:
    ...             ready.append(True)
    ...             cond.broadcast()
    ...     gochan.go(setter)
    ...     with mu:
    ...         while not ready:
    ...             cond.wait()
    ...     return ready
    >>> gochan.run(main)
    [True]
    """

    __slots__ = ("L", "_waiters")

    def __init__(self, lock: Locker) -> None:
        if not (callable(getattr(lock, "lock", None)) and callable(getattr(lock, "unlock", None))):
            raise TypeError(f"Cond() needs a Locker (a Mutex or RWMutex), got {lock!r}")
        self.L = lock
        self._waiters: deque[Waiter] = deque()

    def __repr__(self) -> str:
        return f"<gochan.Cond {len(self._waiters)} waiting on {self.L!r}>"

    def wait(self) -> None:
        """Unlock ``L``, park until signalled, then lock ``L`` again.

        If the task is cancelled while waiting, ``L`` is still re-locked
        before ``Cancelled`` propagates, so ``with mu:`` blocks stay balanced.
        """
        cur = current_task()
        with LOCK:
            w = enqueue(self._waiters, cur)
        try:
            self.L.unlock()
        except BaseException:
            with LOCK:
                w.withdraw()
            raise
        try:
            wait_grant(w, wr.SYNC_COND_WAIT, self, self._abandon)
        finally:
            _relock(cur, self.L)

    def _abandon(self, granted: bool) -> None:
        if granted:  # a signal reached us as we were torn away: pass it on
            self.signal()

    def signal(self) -> None:
        """Wake the longest-waiting task, if any."""
        with LOCK:
            if not self._waiters:
                return
            t = grant(self._waiters)
        ready(t)

    def broadcast(self) -> None:
        """Wake every waiting task."""
        with LOCK:
            q = self._waiters
            woken = [grant(q) for _ in range(len(q))]
        wake(woken)


def _relock(cur: Task, lock: Locker) -> None:
    """Lock ``lock`` even if ``cur`` is being cancelled; re-raise after."""
    from ._runtime.errors import Cancelled

    cancelled = None
    while True:
        was = cur._cancelled
        cur._cancelled = False
        try:
            lock.lock()
            break
        except Cancelled as e:
            cancelled = e
        finally:
            cur._cancelled = cur._cancelled or was
    if cancelled is not None:
        raise cancelled


class Semaphore:
    """A weighted semaphore of size ``n``; golang.org/x/sync/semaphore.

    ``acquire(k)`` parks until ``k`` units are free; waiters are served in
    arrival order, so a large request at the head is never overtaken by
    smaller ones behind it. ``with sem:`` acquires and releases one unit.

    >>> import gochan
    >>> def main():
    ...     sem = gochan.Semaphore(3)
    ...     sem.acquire(2)
    ...     ok1 = sem.try_acquire(2)    # only 1 free
    ...     ok2 = sem.try_acquire(1)
    ...     sem.release(3)
    ...     return ok1, ok2
    >>> gochan.run(main)
    (False, True)
    """

    __slots__ = ("_cur", "_size", "_waiters")

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Semaphore size must be an int >= 0, got {n!r}")
        if n < 0:
            raise ValueError(f"Semaphore size must be an int >= 0, got {n!r}")
        self._size = n
        self._cur = 0
        self._waiters: deque[Waiter] = deque()  # .value: the units asked for

    def __repr__(self) -> str:
        return f"<gochan.Semaphore {self._cur}/{self._size} held, {len(self._waiters)} waiting>"

    @property
    def size(self) -> int:
        """The number of units."""
        return self._size

    def _check(self, k: int, what: str) -> None:
        if k.__class__ is not int and (isinstance(k, bool) or not isinstance(k, int)):
            raise TypeError(f"Semaphore.{what}() needs an int >= 0, got {k!r}")
        if k < 0:
            raise ValueError(f"Semaphore.{what}() needs an int >= 0, got {k!r}")

    def acquire(self, k: int = 1, *, ctx: Context | None = None) -> None:
        """Acquire ``k`` units, parking until they are free.

        With ``ctx``, give up when the context is done and raise its error
        (``ctx.err()``); nothing is acquired then, even if the units are
        free. Asking for more than the size raises ``ValueError`` at once:
        it could never succeed.
        """
        self._check(k, "acquire")
        if k > self._size:
            raise ValueError(
                f"Semaphore.acquire({k}) can never succeed: the semaphore has only "
                f"{self._size} units"
            )
        cur = current_task()
        if ctx is not None:  # a done context fails even if units are free (go.dev/issue/63615)
            err = ctx.err()
            if err is not None:
                raise err
        with LOCK:
            if not self._waiters and self._size - self._cur >= k:
                self._cur += k
                return
            w = enqueue(self._waiters, cur, k)
        stop = None
        if ctx is not None:
            from .context import _on_done

            stop = _on_done(ctx, lambda: _give_up(w))

        def abandon(granted: bool) -> None:
            if granted:  # handed to us, but we will not return: give back
                self.release(k)
            else:  # a withdrawn head request may have held others back
                with LOCK:
                    woken = self._admit_locked()
                wake(woken)

        try:
            wait_grant(w, wr.SEMACQUIRE, self, abandon)
        finally:
            if stop is not None:
                stop()
        if not w.ok:  # the context gave up for us
            abandon(False)
            assert ctx is not None
            err = ctx.err()
            assert err is not None
            raise err

    def try_acquire(self, k: int = 1) -> bool:
        """Acquire ``k`` units if they are free and nobody waits; True if so."""
        self._check(k, "try_acquire")
        with LOCK:
            if not self._waiters and self._size - self._cur >= k:
                self._cur += k
                return True
        poll_failed()
        return False

    def release(self, k: int = 1) -> None:
        """Release ``k`` units, waking waiters whose requests now fit.

        Panics with ``semaphore: released more than held`` on over-release.
        """
        self._check(k, "release")
        with LOCK:
            if k > self._cur:
                raise Panic("semaphore: released more than held")
            self._cur -= k
            woken = self._admit_locked()
        wake(woken)

    def _admit_locked(self) -> list[Task]:
        """Grant queued requests in order while the head one fits (LOCK held)."""
        q, woken = self._waiters, []
        while q and self._size - self._cur >= q[0].value:
            self._cur += q[0].value
            woken.append(grant(q, q[0].value))
        return woken

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _give_up(w: Waiter) -> None:
    """A context is done: take ``w`` back if it is still queued (any thread)."""
    with LOCK:
        if not w.withdraw():
            return
    wake_peer(w.task)
