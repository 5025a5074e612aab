"""W8 sync: the fixed cost of the two most used ``sync`` primitives.

W8a mutex: one task locks and unlocks a mutex nobody else wants. One
reported value is one ``lock()`` + ``unlock()`` pair. This is the price every
critical section pays, contended or not.

W8b waitgroup: one task runs ``add(1)``, ``done()``, ``wait()`` on a group of
its own, so ``wait()`` finds the counter at zero. One reported value is one
such cycle: the bookkeeping a WaitGroup adds per task (``add`` + ``done``)
and per group (``wait``). Parking and waking are not what this measures;
W1 measures a park plus a wake-up per hand-off.

Only gochan and threading have a real WaitGroup-like tool (threading has
none either, so a ``Condition``-guarded counter stands in). For gevent and
asyncio the closest honest equivalent is a counter plus an ``Event`` that
is set at zero and cleared when the counter leaves zero. trio's nursery is
not one: it waits for tasks it spawned itself, so it would measure spawning.
trio gets the same counter with a ``trio.Event``, replaced each time the
counter leaves zero because trio's events cannot be cleared; like every trio
primitive, its ``wait()`` (and ``Lock.acquire()``) is a checkpoint that
passes through the scheduler even when it need not wait, and the table says
so. uvloop is n/a for both: an uncontended ``asyncio.Lock`` or a set
``asyncio.Event`` never calls into the event loop, so its row would time the
asyncio row's code again.

The floor is a plain-Python object with the same methods and no locking at
all: what any lock or counter written in Python pays for its method calls.
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from common import Impl, Workload, run_async

UVLOOP_NA = (
    "identical to the asyncio row: an uncontended asyncio.Lock or a set asyncio.Event "
    "never calls into the event loop"
)


# -- W8a mutex ----------------------------------------------------------------


def gochan_w8a(loops: int, n: int = 0) -> float:
    import gochan

    def main() -> float:
        mu = gochan.Mutex()
        lock, unlock = mu.lock, mu.unlock
        t0 = perf_counter()
        for _ in range(loops):
            lock()
            unlock()
        return perf_counter() - t0

    return gochan.run(main)


class _FlagLock:
    """The floor: a lock that only checks and flips a flag."""

    __slots__ = ("locked",)

    def __init__(self) -> None:
        self.locked = False

    def lock(self) -> None:
        if self.locked:
            raise RuntimeError("would block")
        self.locked = True

    def unlock(self) -> None:
        if not self.locked:
            raise RuntimeError("unlock of unlocked lock")
        self.locked = False


def floor_w8a(loops: int, n: int = 0) -> float:
    mu = _FlagLock()
    lock, unlock = mu.lock, mu.unlock
    t0 = perf_counter()
    for _ in range(loops):
        lock()
        unlock()
    return perf_counter() - t0


def gevent_w8a(loops: int, n: int = 0) -> float:
    from gevent.lock import BoundedSemaphore

    mu = BoundedSemaphore(1)
    acquire, release = mu.acquire, mu.release
    t0 = perf_counter()
    for _ in range(loops):
        acquire()
        release()
    return perf_counter() - t0


def trio_w8a(loops: int, n: int = 0) -> float:
    import trio

    async def main() -> float:
        mu = trio.Lock()
        acquire, release = mu.acquire, mu.release
        t0 = perf_counter()
        for _ in range(loops):
            await acquire()
            release()
        return perf_counter() - t0

    return trio.run(main)


def asyncio_w8a(loops: int, n: int = 0) -> float:
    import asyncio

    async def main(loops: int) -> float:
        mu = asyncio.Lock()
        acquire, release = mu.acquire, mu.release
        t0 = perf_counter()
        for _ in range(loops):
            await acquire()
            release()
        return perf_counter() - t0

    return run_async("asyncio", main, loops)


def threading_w8a(loops: int, n: int = 0) -> float:
    mu = threading.Lock()
    acquire, release = mu.acquire, mu.release
    t0 = perf_counter()
    for _ in range(loops):
        acquire()
        release()
    return perf_counter() - t0


def anyio_w8a(loops: int, n: int = 0) -> float:
    import anyio

    async def main() -> float:
        mu = anyio.Lock()
        acquire, release = mu.acquire, mu.release
        t0 = perf_counter()
        for _ in range(loops):
            await acquire()
            release()
        return perf_counter() - t0

    return anyio.run(main)


def pygolang_w8a(loops: int, n: int = 0) -> float:
    from golang import sync

    mu = sync.Mutex()
    lock, unlock = mu.lock, mu.unlock
    t0 = perf_counter()
    for _ in range(loops):
        lock()
        unlock()
    return perf_counter() - t0


def _others(why_aiochan: str, why_goless: str) -> dict[str, Impl]:
    """The rows every W8 workload shares: gochan's other backends and the
    peers that have no such primitive."""
    return {
        **{
            s: Impl.missing("an uncontended call never reaches the backend: the gochan row's code")
            for s in ("gochan[asyncio]", "gochan[uvloop]", "gochan[trio]")
        },
        "aiochan": Impl.missing(why_aiochan),
        "goless": Impl.missing(why_goless),
    }


MUTEX = Workload(
    key="W8a",
    name="mutex",
    title="W8a mutex",
    unit="lock/unlock pair",
    description="one task locks and unlocks a mutex nobody else wants",
    impls={
        "gochan": Impl("Mutex: lock(); unlock()", gochan_w8a),
        "greenlet": Impl(
            "floor: plain-Python flag object, lock(); unlock() (no locking)", floor_w8a
        ),
        "gevent": Impl(
            "gevent.lock.BoundedSemaphore(1) (what monkey-patched threading.Lock is)", gevent_w8a
        ),
        "trio": Impl("trio.Lock: await acquire(); release() (acquire is a checkpoint)", trio_w8a),
        "asyncio": Impl("asyncio.Lock: await acquire(); release()", asyncio_w8a),
        "uvloop": Impl.missing(UVLOOP_NA),
        "threading": Impl("threading.Lock: acquire(); release()", threading_w8a),
        "anyio": Impl(
            "anyio.Lock: await acquire(); release() (asyncio backend; acquire is a checkpoint)",
            anyio_w8a,
        ),
        "pygolang": Impl("golang.sync.Mutex: lock(); unlock() (C++)", pygolang_w8a),
        "go": Impl("sync.Mutex Lock/Unlock, GOMAXPROCS=1"),
        **_others("no lock in aiochan (asyncio.Lock is the asyncio row)", "no lock in goless"),
    },
)


# -- W8b waitgroup --------------------------------------------------------------


def gochan_w8b(loops: int, n: int = 0) -> float:
    import gochan

    def main() -> float:
        wg = gochan.WaitGroup()
        add, done, wait = wg.add, wg.done, wg.wait
        t0 = perf_counter()
        for _ in range(loops):
            add(1)
            done()
            wait()
        return perf_counter() - t0

    return gochan.run(main)


class _PlainCounter:
    """The floor: the counter alone, nothing to lock and nobody to wake."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int = 1) -> None:
        n = self.n + k
        if n < 0:
            raise ValueError("negative counter")
        self.n = n

    def done(self) -> None:
        self.add(-1)

    def wait(self) -> None:
        if self.n:
            raise RuntimeError("would block")


def floor_w8b(loops: int, n: int = 0) -> float:
    wg = _PlainCounter()
    add, done, wait = wg.add, wg.done, wg.wait
    t0 = perf_counter()
    for _ in range(loops):
        add(1)
        done()
        wait()
    return perf_counter() - t0


class _CondCounter:
    """A WaitGroup for threads: a counter guarded by a Condition."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.n = 0

    def add(self, k: int = 1) -> None:
        with self.cond:
            n = self.n + k
            if n < 0:
                raise ValueError("negative counter")
            self.n = n
            if n == 0:
                self.cond.notify_all()

    def done(self) -> None:
        self.add(-1)

    def wait(self) -> None:
        with self.cond:
            while self.n:
                self.cond.wait()


def threading_w8b(loops: int, n: int = 0) -> float:
    wg = _CondCounter()
    add, done, wait = wg.add, wg.done, wg.wait
    t0 = perf_counter()
    for _ in range(loops):
        add(1)
        done()
        wait()
    return perf_counter() - t0


class _EventCounter:
    """A counter with an Event that is set exactly while the counter is 0
    (gevent's and asyncio's events can be cleared). ``event.wait`` is the
    caller's to await or call."""

    def __init__(self, event: Any) -> None:
        self.event = event
        self.event.set()
        self.n = 0

    def add(self, k: int = 1) -> None:
        n = self.n + k
        if n < 0:
            raise ValueError("negative counter")
        self.n = n
        if n == 0:
            self.event.set()
        elif n == k:  # just left zero
            self.event.clear()

    def done(self) -> None:
        self.add(-1)


def gevent_w8b(loops: int, n: int = 0) -> float:
    from gevent.event import Event

    wg = _EventCounter(Event())
    add, done, wait = wg.add, wg.done, wg.event.wait
    t0 = perf_counter()
    for _ in range(loops):
        add(1)
        done()
        wait()
    return perf_counter() - t0


def asyncio_w8b(loops: int, n: int = 0) -> float:
    import asyncio

    async def main(loops: int) -> float:
        wg = _EventCounter(asyncio.Event())
        add, done = wg.add, wg.done
        t0 = perf_counter()
        for _ in range(loops):
            add(1)
            done()
            await wg.event.wait()
        return perf_counter() - t0

    return run_async("asyncio", main, loops)


def trio_w8b(loops: int, n: int = 0) -> float:
    import trio

    class TrioCounter:
        """trio.Event cannot be cleared: a fresh one each time 0 is left."""

        def __init__(self) -> None:
            self.event = trio.Event()
            self.event.set()
            self.n = 0

        def add(self, k: int = 1) -> None:
            n = self.n + k
            if n < 0:
                raise ValueError("negative counter")
            self.n = n
            if n == 0:
                self.event.set()
            elif n == k:
                self.event = trio.Event()

        def done(self) -> None:
            self.add(-1)

        async def wait(self) -> None:
            await self.event.wait()

    async def main() -> float:
        wg = TrioCounter()
        add, done, wait = wg.add, wg.done, wg.wait
        t0 = perf_counter()
        for _ in range(loops):
            add(1)
            done()
            await wait()
        return perf_counter() - t0

    return trio.run(main)


def anyio_w8b(loops: int, n: int = 0) -> float:
    import anyio

    class AnyioCounter:
        """anyio.Event cannot be cleared: a fresh one each time 0 is left."""

        def __init__(self) -> None:
            self.event = anyio.Event()
            self.event.set()
            self.n = 0

        def add(self, k: int = 1) -> None:
            n = self.n + k
            if n < 0:
                raise ValueError("negative counter")
            self.n = n
            if n == 0:
                self.event.set()
            elif n == k:
                self.event = anyio.Event()

        def done(self) -> None:
            self.add(-1)

        async def wait(self) -> None:
            await self.event.wait()

    async def main() -> float:
        wg = AnyioCounter()
        add, done, wait = wg.add, wg.done, wg.wait
        t0 = perf_counter()
        for _ in range(loops):
            add(1)
            done()
            await wait()
        return perf_counter() - t0

    return anyio.run(main)


def pygolang_w8b(loops: int, n: int = 0) -> float:
    from golang import sync

    wg = sync.WaitGroup()
    add, done, wait = wg.add, wg.done, wg.wait
    t0 = perf_counter()
    for _ in range(loops):
        add(1)
        done()
        wait()
    return perf_counter() - t0


WAITGROUP = Workload(
    key="W8b",
    name="waitgroup",
    title="W8b waitgroup",
    unit="add/done/wait cycle",
    description="one task: add(1), done(), then wait() on a counter that is back at zero",
    impls={
        "gochan": Impl("WaitGroup: add(1); done(); wait()", gochan_w8b),
        "greenlet": Impl("floor: plain-Python counter, same 3 methods (no locking)", floor_w8b),
        "gevent": Impl("no WaitGroup: counter + gevent.event.Event (set at 0)", gevent_w8b),
        "trio": Impl(
            "no WaitGroup: counter + trio.Event, new one per cycle; wait() is a checkpoint",
            trio_w8b,
        ),
        "asyncio": Impl("no WaitGroup: counter + asyncio.Event (set at 0)", asyncio_w8b),
        "uvloop": Impl.missing(UVLOOP_NA),
        "threading": Impl("no WaitGroup: counter + threading.Condition(Lock())", threading_w8b),
        "anyio": Impl(
            "no WaitGroup: counter + anyio.Event, new one per cycle; wait() is a checkpoint",
            anyio_w8b,
        ),
        "pygolang": Impl("golang.sync.WaitGroup: add(1); done(); wait() (C++)", pygolang_w8b),
        "go": Impl("sync.WaitGroup Add/Done/Wait, GOMAXPROCS=1"),
        **_others("no WaitGroup in aiochan", "no WaitGroup in goless"),
    },
)

WORKLOADS = [MUTEX, WAITGROUP]
