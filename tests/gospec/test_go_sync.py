"""Port of Go's sync package tests and golang.org/x/sync/semaphore's tests.

From golang/go src/sync: waitgroup_test.go, mutex_test.go, rwmutex_test.go,
once_test.go and cond_test.go; from golang.org/x/sync: semaphore_test.go
(including TestWeightedAcquireCanceled, go.dev/issue/63615: a context that
is done first makes acquire fail even when the units are free).

Go's tests lean on preemption and real parallelism (GOMAXPROCS) to make
goroutines collide inside critical sections. Green tasks only switch at
blocking calls, so the hammers here call ``gosched()`` inside the critical
section to force the same collisions, and check mutual exclusion with an
explicit "who is inside" counter. Anything that sleeps runs on the virtual
clock, where a sleep ends only once every other task is blocked; Go's
"fail after N seconds" guards become a race against ``after()`` on that
clock, which only fires if the code under test really stalls.

Misuse that is a fatal ``throw`` in Go (unlock of an unlocked mutex) is a
``gochan.Panic`` carrying Go's exact message here.

Not ported: TestWaitGroupMisuse2/3 (opportunistic detection of Add racing
Wait under GOMAXPROCS=4; gochan does not attempt it), TestWaitGroupAlign
(memory layout), TestCondCopy (a Python object is never copied by
assignment), the runtime semaphore hammer TestSemaphore (an internal
runtime hook) and all benchmarks.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

import gochan
from gochan import (
    Chan,
    Cond,
    ErrGroup,
    Mutex,
    Once,
    Panic,
    RWMutex,
    Semaphore,
    WaitGroup,
    context,
    default,
    go,
    gosched,
    run,
    select,
)


def settle() -> None:
    """Virtual clock: returns once every other task is blocked."""
    gochan.sleep(0.001)


def nothing_ready(ch: Chan[object]) -> bool:
    """True if a receive from ``ch`` would block right now."""
    i, _ = select(ch.recv, default)
    return i == 1


# ---------------------------------------------------------------------------
# WaitGroup
# ---------------------------------------------------------------------------


def _barrier_round(wg1: WaitGroup, wg2: WaitGroup) -> None:
    n = 16
    wg1.add(n)
    wg2.add(n)
    exited = Chan[bool](n)

    def member() -> None:
        wg1.done()
        wg2.wait()
        exited.send(True)

    for _ in range(n):
        go(member)
    wg1.wait()
    for _ in range(n):
        assert nothing_ready(exited), "WaitGroup released its waiters too soon"
        wg2.done()
    for _ in range(n):
        exited.recv()  # a waiter the barrier failed to release would deadlock here


def test_wait_group() -> None:
    # TestWaitGroup
    def main() -> None:
        wg1, wg2 = WaitGroup(), WaitGroup()
        for _ in range(8):  # reused: the group must be back in a clean state
            _barrier_round(wg1, wg2)

    run(main)


def test_wait_group_misuse() -> None:
    # TestWaitGroupMisuse
    def main() -> None:
        wg = WaitGroup()
        wg.add(1)
        wg.done()
        with pytest.raises(Panic) as ei:
            wg.done()
        assert ei.value.value == "sync: negative WaitGroup counter"
        assert str(ei.value) == "sync: negative WaitGroup counter"
        wg.wait()  # the failed done() left the counter at zero

    run(main)


def test_wait_group_race() -> None:
    # TestWaitGroupRace
    def main() -> None:
        for _ in range(300):
            wg, n = WaitGroup(), [0]

            def bump(n: list[int] = n, wg: WaitGroup = wg) -> None:
                gosched()
                n[0] += 1
                wg.done()

            wg.add(1)
            go(bump)
            wg.add(1)
            go(bump)
            wg.wait()
            assert n[0] == 2, "spurious wakeup from wait()"

    run(main)


def test_wait_group_go() -> None:
    # TestWaitGroupGo (Go 1.25's WaitGroup.Go)
    def main() -> int:
        wg, i = WaitGroup(), [0]

        def incr() -> None:
            gosched()
            i[0] += 1

        wg.go(incr)
        wg.wait()
        return i[0]

    assert run(main) == 1


# ---------------------------------------------------------------------------
# Mutex
# ---------------------------------------------------------------------------


def test_mutex() -> None:
    # TestMutex (with the TryLock checks and the TryLock-ing hammer of newer Go)
    inside = [0]

    def hammer(m: Mutex, loops: int, done: Chan[bool]) -> None:
        for i in range(loops):
            if i % 3 == 0:
                if m.try_lock():
                    m.unlock()
                continue
            m.lock()
            inside[0] += 1
            assert inside[0] == 1, "two tasks inside the mutex"
            gosched()  # let the others pile up on the lock
            inside[0] -= 1
            m.unlock()
        done.send(True)

    def main() -> None:
        m = Mutex()
        m.lock()
        assert not m.try_lock(), "try_lock succeeded with the mutex locked"
        m.unlock()
        assert m.try_lock(), "try_lock failed with the mutex unlocked"
        m.unlock()
        done = Chan[bool]()
        for _ in range(10):
            go(hammer, m, 1000, done)
        for _ in range(10):
            done.recv()
        assert not m.locked()

    run(main)


def _mutex_unlock() -> None:
    Mutex().unlock()


def _mutex_unlock2() -> None:
    mu = Mutex()
    mu.lock()
    mu.unlock()
    mu.unlock()


def _rw_unlock() -> None:
    RWMutex().unlock()


def _rw_unlock2() -> None:
    mu = RWMutex()
    mu.rlock()
    mu.unlock()


def _rw_unlock3() -> None:
    mu = RWMutex()
    mu.lock()
    mu.unlock()
    mu.unlock()


def _rw_runlock() -> None:
    RWMutex().runlock()


def _rw_runlock2() -> None:
    mu = RWMutex()
    mu.lock()
    mu.runlock()


def _rw_runlock3() -> None:
    mu = RWMutex()
    mu.rlock()
    mu.runlock()
    mu.runlock()


MUTEX_UNLOCKED = "sync: unlock of unlocked mutex"
RW_UNLOCKED = "sync: Unlock of unlocked RWMutex"
RW_RUNLOCKED = "sync: RUnlock of unlocked RWMutex"


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        (_mutex_unlock, MUTEX_UNLOCKED),
        (_mutex_unlock2, MUTEX_UNLOCKED),
        (_rw_unlock, RW_UNLOCKED),
        (_rw_unlock2, RW_UNLOCKED),
        (_rw_unlock3, RW_UNLOCKED),
        (_rw_runlock, RW_RUNLOCKED),
        (_rw_runlock2, RW_RUNLOCKED),
        (_rw_runlock3, RW_RUNLOCKED),
    ],
    ids=lambda x: getattr(x, "__name__", "msg"),
)
def test_mutex_misuse(misuse: Callable[[], None], message: str) -> None:
    # TestMutexMisuse (a fatal error in Go, a Panic with Go's message here)
    def main() -> None:
        with pytest.raises(Panic) as ei:
            misuse()
        assert ei.value.value == message

    run(main)


def test_mutex_fairness() -> None:
    # TestMutexFairness
    def main() -> int:
        mu = Mutex()
        stop, done = Chan[bool](), Chan[bool]()

        def hog() -> None:
            while True:
                mu.lock()
                gochan.sleep(100e-6)
                mu.unlock()
                if not nothing_ready(stop):  # closed: time to go
                    return

        def polite() -> None:
            for _ in range(10):
                gochan.sleep(100e-6)
                mu.lock()
                mu.unlock()
            done.send(True)

        h = go(hog)
        go(polite)
        i, _ = select(done.recv, gochan.after(10).recv)
        stop.close()
        h.join()
        return i

    assert run(main, clock="virtual") == 0, "the polite task never got the mutex in 10s"


# ---------------------------------------------------------------------------
# RWMutex
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("num_readers", [1, 3, 4])
def test_parallel_readers(num_readers: int) -> None:
    # TestParallelReaders
    def reader(m: RWMutex, locked: Chan[bool], unlock: Chan[bool], done: Chan[bool]) -> None:
        m.rlock()
        locked.send(True)
        unlock.recv()
        m.runlock()
        done.send(True)

    def main() -> None:
        m = RWMutex()
        locked, unlock, done = Chan[bool](), Chan[bool](), Chan[bool]()
        for _ in range(num_readers):
            go(reader, m, locked, unlock, done)
        # Every reader holds the lock at once: were rlock exclusive, the
        # second reader would block and this loop would deadlock.
        for _ in range(num_readers):
            locked.recv()
        for _ in range(num_readers):
            unlock.send(True)
        for _ in range(num_readers):
            done.recv()
        assert m.try_lock()

    run(main)


@pytest.mark.parametrize("num_readers", [1, 3, 10, 5])
def test_rw_mutex(num_readers: int) -> None:
    # TestRWMutex (with the TryLock/TryRLock checks of newer Go)
    iterations = 200
    activity = [0]  # readers inside + 10000 * writers inside

    def reader(rw: RWMutex, done: Chan[bool]) -> None:
        for _ in range(iterations):
            rw.rlock()
            activity[0] += 1
            n = activity[0]
            assert 1 <= n < 10000, f"a reader saw activity {n}"
            gosched()
            activity[0] -= 1
            rw.runlock()
        done.send(True)

    def writer(rw: RWMutex, done: Chan[bool]) -> None:
        for _ in range(iterations):
            rw.lock()
            activity[0] += 10000
            n = activity[0]
            assert n == 10000, f"a writer saw activity {n}"
            gosched()
            activity[0] -= 10000
            rw.unlock()
        done.send(True)

    def main() -> None:
        m = RWMutex()
        m.lock()
        assert not m.try_lock(), "try_lock succeeded with the mutex write-locked"
        assert not m.try_rlock(), "try_rlock succeeded with the mutex write-locked"
        m.unlock()
        assert m.try_lock(), "try_lock failed with the mutex unlocked"
        m.unlock()
        assert m.try_rlock(), "try_rlock failed with the mutex unlocked"
        assert m.try_rlock(), "try_rlock failed with the mutex read-locked"
        assert not m.try_lock(), "try_lock succeeded with the mutex read-locked"
        m.runlock()
        m.runlock()

        rw, done = RWMutex(), Chan[bool]()
        go(writer, rw, done)
        half = num_readers // 2
        for _ in range(half):
            go(reader, rw, done)
        go(writer, rw, done)
        for _ in range(half, num_readers):
            go(reader, rw, done)
        for _ in range(2 + num_readers):
            done.recv()
        assert activity[0] == 0

    run(main)


def test_rlocker() -> None:
    # TestRLocker
    def main() -> None:
        wl = RWMutex()
        rl = wl.rlocker()
        wlocked, rlocked = Chan[bool](1), Chan[bool](1)
        n = 10

        def locker() -> None:
            for _ in range(n):
                rl.lock()
                rl.lock()
                rlocked.send(True)
                wl.lock()
                wlocked.send(True)

        go(locker)
        for _ in range(n):
            rlocked.recv()
            rl.unlock()
            settle()  # the locker has tried wl.lock() by now
            assert nothing_ready(wlocked), "rlocker() did not read-lock"
            rl.unlock()
            wlocked.recv()
            settle()  # ... and rl.lock() of the next round
            assert nothing_ready(rlocked), "rlocker() did not respect the write lock"
            wl.unlock()

    run(main, clock="virtual")


def test_waiting_writer_blocks_new_readers() -> None:
    # Go's RWMutex doc rule: a blocked Lock call excludes new readers
    def main() -> list[str]:
        rw, log = RWMutex(), []
        rw.rlock()

        def writer() -> None:
            rw.lock()
            log.append("writer")
            rw.unlock()

        def late_reader() -> None:
            rw.rlock()
            log.append("late reader")
            rw.runlock()

        w = go(writer)
        settle()
        assert w.state == "sync.RWMutex.Lock"
        assert not rw.try_rlock(), "a new reader got in past a waiting writer"
        r = go(late_reader)
        settle()
        assert r.state == "sync.RWMutex.RLock"
        rw.runlock()  # the last old reader leaves: the writer goes first
        w.join()
        r.join()
        return log

    assert run(main, clock="virtual") == ["writer", "late reader"]


# ---------------------------------------------------------------------------
# Once
# ---------------------------------------------------------------------------


def test_once() -> None:
    # TestOnce
    def main() -> int:
        o, once, c = [0], Once(), Chan[bool]()

        def increment() -> None:
            gosched()  # still running while the other callers arrive
            o[0] += 1

        def caller() -> None:
            once.do(increment)
            assert o[0] == 1, f"once failed inside the caller: {o[0]} is not 1"
            c.send(True)

        for _ in range(10):
            go(caller)
        for _ in range(10):
            c.recv()
        return o[0]

    assert run(main) == 1


def test_once_panic() -> None:
    # TestOncePanic
    def main() -> None:
        once = Once()
        for i in range(2):

            def fail() -> None:
                raise Panic("failed")

            if i == 0:
                with pytest.raises(Panic, match="failed"):
                    once.do(fail)
            else:
                once.do(fail)  # must not run, so must not raise
        once.do(lambda: None)

        def twice() -> None:
            raise AssertionError("Once called twice")

        once.do(twice)
        assert once.done()

    run(main)


# ---------------------------------------------------------------------------
# Cond
# ---------------------------------------------------------------------------


def test_cond_signal() -> None:
    # TestCondSignal
    def main() -> None:
        m = Mutex()
        c = Cond(m)
        n = 2
        running, awake = Chan[bool](n), Chan[bool](n)

        def sleeper() -> None:
            m.lock()
            running.send(True)
            c.wait()
            awake.send(True)
            m.unlock()

        for _ in range(n):
            go(sleeper)
        for _ in range(n):
            running.recv()
        while n > 0:
            assert nothing_ready(awake), "a task woke without a signal"
            m.lock()
            c.signal()
            m.unlock()
            awake.recv()  # deadlocks if no task woke
            assert nothing_ready(awake), "one signal woke more than one task"
            n -= 1
        c.signal()  # nobody waits: a no-op

    run(main)


def test_cond_signal_generations() -> None:
    # TestCondSignalGenerations
    def main() -> None:
        m = Mutex()
        c = Cond(m)
        n = 100
        running, awake = Chan[bool](n), Chan[int](n)

        def sleeper(i: int) -> None:
            m.lock()
            running.send(True)
            c.wait()
            awake.send(i)
            m.unlock()

        for i in range(n):
            go(sleeper, i)
            if i > 0:
                a = awake.recv()
                assert a == i - 1, f"wrong task woke up: want {i - 1}, got {a}"
            running.recv()
            m.lock()
            c.signal()
            m.unlock()

    run(main)


def test_cond_broadcast() -> None:
    # TestCondBroadcast
    def main() -> None:
        m = Mutex()
        c = Cond(m)
        n = 100
        running, awake = Chan[int](n), Chan[int](n)
        exit_ = [False]

        def sleeper(g: int) -> None:
            m.lock()
            while not exit_[0]:
                running.send(g)
                c.wait()
                awake.send(g)
            m.unlock()

        for g in range(n):
            go(sleeper, g)
        for i in range(n):
            for _ in range(n):
                running.recv()  # deadlocks unless all n are waiting
            if i == n - 1:
                m.lock()
                exit_[0] = True
                m.unlock()
            assert nothing_ready(awake), "a task woke without a broadcast"
            m.lock()
            c.broadcast()
            m.unlock()
            seen = [False] * n
            for _ in range(n):
                g = awake.recv()
                assert g is not None
                assert not seen[g], "a task woke up twice"
                seen[g] = True
        settle()
        assert nothing_ready(running), "a task did not exit"
        c.broadcast()

    run(main, clock="virtual")


def test_race() -> None:
    # TestRace
    def main() -> None:
        x = [0]
        c = Cond(Mutex())
        done = Chan[bool]()

        def first() -> None:
            c.L.lock()
            x[0] = 1
            c.wait()
            assert x[0] == 2, "want 2"
            x[0] = 3
            c.signal()
            c.L.unlock()
            done.send(True)

        def second() -> None:
            c.L.lock()
            while True:
                if x[0] == 1:
                    x[0] = 2
                    c.signal()
                    break
                c.L.unlock()
                gosched()
                c.L.lock()
            c.L.unlock()
            done.send(True)

        def third() -> None:
            c.L.lock()
            while True:
                if x[0] == 2:
                    c.wait()
                    assert x[0] == 3, "want 3"
                    break
                if x[0] == 3:
                    break
                c.L.unlock()
                gosched()
                c.L.lock()
            c.L.unlock()
            done.send(True)

        go(first)
        go(second)
        go(third)
        for _ in range(3):
            done.recv()

    run(main)


@pytest.mark.parametrize("broadcast_first", [True, False])
def test_cond_signal_stealing(broadcast_first: bool) -> None:
    # TestCondSignalStealing (both start orders of the two racing tasks)
    def main() -> None:
        for _ in range(200):
            m = Mutex()
            cond = Cond(m)
            ch = Chan[None]()

            def first_waiter(m: Mutex = m, cond: Cond = cond, ch: Chan[None] = ch) -> None:
                m.lock()
                ch.send(None)
                cond.wait()
                m.unlock()
                ch.send(None)

            go(first_waiter)
            ch.recv()
            m.lock()  # the first waiter is inside cond.wait() now
            m.unlock()

            done = [False]

            def second_waiter(m: Mutex = m, cond: Cond = cond, done: list[bool] = done) -> None:
                m.lock()
                while not done[0]:
                    cond.wait()
                m.unlock()

            if broadcast_first:
                go(cond.broadcast)
                second = go(second_waiter)
            else:
                second = go(second_waiter)
                go(cond.broadcast)
            # The new waiter may or may not be woken; the first one must be.
            i, _ = select(ch.recv, gochan.after(2).recv)
            assert i == 0, "the first waiter missed the broadcast"
            m.lock()
            done[0] = True
            m.unlock()
            cond.broadcast()
            second.join()

    run(main, clock="virtual")


# ---------------------------------------------------------------------------
# golang.org/x/sync/semaphore
# ---------------------------------------------------------------------------


def test_weighted() -> None:
    # TestWeighted
    n, loops = 4, 250  # n stands in for GOMAXPROCS
    held = [0]

    def hammer(sem: Semaphore, k: int, rng: random.Random) -> None:
        for _ in range(loops):
            sem.acquire(k)
            held[0] += k
            assert held[0] <= n, f"{held[0]} units held of {n}"
            gochan.sleep(rng.randrange(1000) * 1e-6)  # up to 1ms
            held[0] -= k
            sem.release(k)

    def main() -> None:
        sem, wg = Semaphore(n), WaitGroup()
        for i in range(n):
            wg.go(hammer, sem, i, random.Random(i))
        wg.wait()
        assert sem.try_acquire(n)

    run(main, clock="virtual")


def test_weighted_panic() -> None:
    # TestWeightedPanic
    def main() -> None:
        w = Semaphore(1)
        with pytest.raises(Panic) as ei:
            w.release(1)
        assert ei.value.value == "semaphore: released more than held"

    run(main)


def test_weighted_try_acquire() -> None:
    # TestWeightedTryAcquire
    def main() -> list[bool]:
        sem, tries = Semaphore(2), []
        sem.acquire(1)
        tries.append(sem.try_acquire(1))
        tries.append(sem.try_acquire(1))
        sem.release(2)
        tries.append(sem.try_acquire(1))
        sem.acquire(1)
        tries.append(sem.try_acquire(1))
        return tries

    assert run(main) == [True, False, True, False]


def test_weighted_acquire() -> None:
    # TestWeightedAcquire
    def main() -> list[bool]:
        sem, tries = Semaphore(2), []

        def try_acquire(k: int) -> bool:
            ctx, cancel = context.with_timeout(context.background(), 0.010)
            try:
                sem.acquire(k, ctx=ctx)
            except context.DeadlineExceeded:
                return False
            finally:
                cancel()
            return True

        sem.acquire(1)
        tries.append(try_acquire(1))
        tries.append(try_acquire(1))
        sem.release(2)
        tries.append(try_acquire(1))
        sem.acquire(1)
        tries.append(try_acquire(1))
        return tries

    assert run(main, clock="virtual") == [True, False, True, False]


def test_weighted_doesnt_block_if_too_big() -> None:
    # TestWeightedDoesntBlockIfTooBig (gochan fails at once instead of blocking)
    n = 2

    def main() -> None:
        sem = Semaphore(n)
        ctx, cancel = context.with_cancel(context.background())
        with pytest.raises(ValueError, match=r"acquire\(3\) can never succeed"):
            sem.acquire(n + 1, ctx=ctx)
        with pytest.raises(ValueError, match=r"acquire\(3\) can never succeed"):
            sem.acquire(n + 1)
        cancel()

        g = ErrGroup()

        def one(g: ErrGroup = g) -> None:
            sem.acquire(1, ctx=g.ctx)
            gochan.sleep(0.001)
            sem.release(1)

        for _ in range(n * 3):
            g.go(one)
        g.wait()  # re-raises if any acquire failed
        assert sem.try_acquire(n)

    run(main, clock="virtual")


def test_large_acquire_doesnt_starve() -> None:
    # TestLargeAcquireDoesntStarve
    n = 4

    def main() -> int:
        sem, wg = Semaphore(n), WaitGroup()
        running = [True]

        def churn() -> None:
            try:
                while running[0]:
                    gochan.sleep(0.001)
                    sem.release(1)
                    sem.acquire(1)
            finally:
                sem.release(1)
                wg.done()

        wg.add(n)
        for _ in range(n):
            sem.acquire(1)
            go(churn)
        got = Chan[None]()
        go(lambda: (sem.acquire(n), got.close()))
        i, _ = select(got.recv, gochan.after(10).recv)
        running[0] = False
        got.recv()
        sem.release(n)
        wg.wait()
        return i

    assert run(main, clock="virtual") == 0, "the large acquire starved"


def test_alloc_cancel_doesnt_starve() -> None:
    # TestAllocCancelDoesntStarve
    def main() -> tuple[int, object]:
        sem = Semaphore(10)
        sem.acquire(1)  # one "read lock"

        def big() -> object:
            ctx, cancel = context.with_timeout(context.background(), 0.300)
            try:
                sem.acquire(10, ctx=ctx)  # a "write lock" that gives up at 300ms
            except context.DeadlineExceeded as e:
                return e
            finally:
                cancel()
            return "acquired"

        b = go(big)
        gochan.sleep(0.100)  # the big request is queued by now
        done = Chan[None]()

        def small() -> None:
            sem.acquire(1)  # queued behind the big one until it gives up
            sem.release(1)
            done.close()

        go(small)
        i, _ = select(done.recv, gochan.after(1).recv)
        return i, b.join()

    i, big_result = run(main, clock="virtual")
    assert i == 0, "the small request stayed stuck behind the abandoned big one"
    assert isinstance(big_result, context.DeadlineExceeded)


def test_weighted_acquire_canceled() -> None:
    # TestWeightedAcquireCanceled (go.dev/issue/63615), first half
    def main() -> None:
        sem = Semaphore(2)
        ctx, cancel = context.with_cancel(context.background())
        sem.acquire(1)
        ch = Chan[None]()

        def other() -> None:
            while sem.try_acquire(1):  # until the acquire(2) below is queued
                sem.release(1)
                gosched()
            cancel()  # the context ends before enough units are free ...
            sem.release(1)
            ch.close()

        go(other)
        with pytest.raises(context.Canceled):
            sem.acquire(2, ctx=ctx)  # ... so this must fail
        ch.recv()
        assert sem.try_acquire(2), "units were lost by the cancelled acquire"

    run(main)


def test_weighted_acquire_with_done_context_fails_even_if_free() -> None:
    # TestWeightedAcquireCanceled (go.dev/issue/63615), second half
    def main() -> None:
        sem = Semaphore(2)
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        with pytest.raises(context.Canceled):
            sem.acquire(1, ctx=ctx)  # done first: fails although both units are free
        assert sem.try_acquire(2), "the failed acquire took units"

    run(main)
