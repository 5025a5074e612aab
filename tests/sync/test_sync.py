"""gochan.sync beyond Go's own tests (those are in tests/gospec/test_go_sync.py).

What this proves:

* Mutex waiters get the lock in arrival order, handed over by ``unlock``
  (the unlocker cannot barge back in), and any task or thread may unlock.
* Cancelling a waiting task (``Task.cancel()``) never loses the lock or the
  units: a cancelled Mutex waiter never becomes owner, a cancelled RWMutex
  writer lets in the readers it held back, a cancelled Semaphore head
  request lets the smaller ones behind it proceed, a cancelled WaitGroup,
  Once or Cond waiter leaves the others intact; a waiter granted the lock
  just before its cancellation owns it and releases it through ``with``.
* ``Cond.wait()`` re-locks its lock before ``Cancelled`` propagates.
* ``with`` works for Mutex, RWMutex (write), ``rlocker()`` and Semaphore,
  and releases on an exception.
* Once: a recursive ``do`` raises RuntimeError, concurrent callers wait for
  a blocking function, its exception reaches the first caller only.
* Deadlock reports and task states name the sync wait reasons.
* A wait parks the green task, not the OS thread, and every primitive works
  when the tasks sharing it live on different OS threads (each thread
  running ``gochan.run`` or in implicit mode): exclusion and FIFO hold,
  waiters are woken and cancelled from other threads, no deadlock is
  reported while another thread can still release, and one is once it
  has exited holding the lock.
* Bad arguments raise TypeError/ValueError naming the problem; reprs.

Ordering is made explicit: under the virtual clock ``settle()`` returns
only once every other task is blocked. Across threads, a task started with
``go(signal)`` right before a blocking call runs only once that call has
parked, which tells another thread "I am parked now" without sleeping.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gochan
from gochan import (
    Cancelled,
    Chan,
    Cond,
    Deadlock,
    ErrGroup,
    Mutex,
    Once,
    Panic,
    RWMutex,
    Semaphore,
    WaitGroup,
    context,
    go,
    gosched,
    run,
)

SAFETY = 60.0  # seconds; a safety net for joins, never an assertion about speed


def settle() -> None:
    """Virtual clock: returns once every other task is blocked."""
    gochan.sleep(0.001)


class Worker(threading.Thread):
    """A thread whose exception (or result) is handed back by ``finish``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._fn, self._args = fn, args
        self.exc: BaseException | None = None
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self._fn(*self._args)
        except BaseException as e:
            self.exc = e

    def finish(self) -> Any:
        self.join(timeout=SAFETY)
        assert not self.is_alive(), f"thread {self.name} still running after {SAFETY}s"
        if self.exc is not None:
            raise self.exc
        return self.result


@pytest.fixture
def gil_ping_pong() -> Iterator[None]:
    """Switch OS threads every few microseconds, so threads really interleave
    inside the critical sections instead of each finishing in one GIL slice."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def finish_all(workers: list[Worker]) -> list[Any]:
    for w in workers:
        w.join(timeout=SAFETY)
    return [w.finish() for w in workers]


# ---------------------------------------------------------------------------
# Mutex: FIFO hand-off, unlock from anywhere
# ---------------------------------------------------------------------------


def test_mutex_waiters_get_the_lock_in_arrival_order() -> None:
    arrival = [3, 0, 5, 1, 4, 2]  # not the order the tasks were started in

    def main() -> list[int | str]:
        mu, order = Mutex(), []
        gates = [Chan[None]() for _ in arrival]

        def contender(i: int) -> None:
            gates[i].recv()
            mu.lock()
            order.append(i)
            gosched()
            mu.unlock()

        tasks = [go(contender, i) for i in range(len(arrival))]
        mu.lock()
        for i in arrival:
            gates[i].send(None)
            settle()  # i is queued on the mutex before the next one arrives
            assert tasks[i].state == "sync.Mutex.Lock"
        mu.unlock()
        # Handed straight to the first waiter: the unlocker cannot barge back in.
        assert mu.locked() and not mu.try_lock()
        mu.lock()  # queues behind all six
        order.append("main")
        mu.unlock()
        for t in tasks:
            t.join()
        return order

    assert run(main, clock="virtual") == [*arrival, "main"]


def test_unlock_from_another_task_is_allowed() -> None:
    def main() -> list[str]:
        mu, log = Mutex(), []
        mu.lock()
        go(mu.unlock).join()
        assert not mu.locked()

        mu.lock()

        def waiter() -> None:
            mu.lock()
            log.append("waiter owns")

        w = go(waiter)
        settle()
        go(mu.unlock).join()  # a third task hands main's lock to the waiter
        w.join()
        assert mu.locked()
        mu.unlock()  # and main may release the lock the waiter took
        assert not mu.locked()
        return log

    assert run(main, clock="virtual") == ["waiter owns"]


def test_lock_free_again_once_the_queue_drains() -> None:
    def main() -> None:
        mu = Mutex()
        mu.lock()
        t = go(lambda: (mu.lock(), mu.unlock()))
        settle()
        mu.unlock()
        t.join()
        assert not mu.locked()
        assert mu.try_lock()
        mu.unlock()

    run(main, clock="virtual")


# ---------------------------------------------------------------------------
# Cancellation never loses the lock or the units
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("victim", ["a", "b", "c"])
def test_cancelled_mutex_waiter_never_becomes_owner(victim: str) -> None:
    def main() -> list[str]:
        mu, log = Mutex(), []
        mu.lock()

        def contender(name: str) -> None:
            try:
                mu.lock()
            except Cancelled:
                log.append(f"{name} cancelled")
                raise
            log.append(f"{name} owns")
            gosched()
            mu.unlock()

        tasks = {name: go(contender, name) for name in "abc"}
        settle()
        assert tasks[victim].cancel()
        settle()
        assert tasks[victim].cancelled()
        assert "2 waiting" in repr(mu)
        mu.unlock()
        for t in tasks.values():
            if t is not tasks[victim]:
                t.join()
        assert not mu.locked()
        return log

    others = [n for n in "abc" if n != victim]
    assert run(main, clock="virtual") == [f"{victim} cancelled"] + [f"{n} owns" for n in others]


def test_waiter_granted_then_cancelled_before_running_releases_through_with() -> None:
    def main() -> list[str]:
        mu, log = Mutex(), []
        mu.lock()

        def first() -> None:
            with mu:
                log.append("first owns")
                gosched()  # Cancelled surfaces here; `with` unlocks
                log.append("never")

        def second() -> None:
            with mu:
                log.append("second owns")

        t1, t2 = go(first), go(second)
        settle()
        mu.unlock()  # hands the lock to first, which has not run yet
        assert t1.state == "runnable"
        t1.cancel()
        t2.join()
        assert t1.cancelled()
        assert not mu.locked()
        return log

    assert run(main, clock="virtual") == ["first owns", "second owns"]


def test_cancelled_rwmutex_writer_lets_held_back_readers_in() -> None:
    def main() -> None:
        rw = RWMutex()
        rw.rlock()
        inside, leave = [], Chan[None]()

        def reader(i: int) -> None:
            rw.rlock()
            inside.append(i)
            leave.recv()
            rw.runlock()

        w = go(rw.lock)
        settle()
        readers = [go(reader, i) for i in range(3)]
        settle()
        assert [r.state for r in readers] == ["sync.RWMutex.RLock"] * 3  # held back by w
        w.cancel()
        settle()
        assert w.cancelled()
        assert sorted(inside) == [0, 1, 2]
        assert "locked by 4 readers, 0 writers and 0 readers waiting" in repr(rw)
        leave.close()
        for r in readers:
            r.join()
        rw.runlock()
        assert rw.try_lock()

    run(main, clock="virtual")


@pytest.mark.parametrize("victim", [0, 1])
def test_cancelled_rwmutex_writer_leaves_the_other_writer_queued(victim: int) -> None:
    def main() -> None:
        rw = RWMutex()
        rw.rlock()
        got = []

        def writer(i: int) -> None:
            rw.lock()
            got.append(i)
            rw.unlock()

        ws = [go(writer, 0), go(writer, 1)]
        settle()
        ws[victim].cancel()
        settle()
        survivor = ws[1 - victim]
        assert survivor.state == "sync.RWMutex.Lock"  # the reader still holds it
        assert not rw.try_rlock()  # and the survivor still holds new readers back
        rw.runlock()
        survivor.join()
        assert got == [1 - victim]
        assert rw.try_lock()

    run(main, clock="virtual")


def test_cancelled_rwmutex_reader_does_not_disturb_the_queue() -> None:
    def main() -> list[str]:
        rw, log = RWMutex(), []
        rw.lock()

        def reader(name: str) -> None:
            rw.rlock()
            log.append(name)
            rw.runlock()

        a, b = go(reader, "a"), go(reader, "b")
        settle()
        a.cancel()
        settle()
        rw.unlock()
        b.join()
        assert a.cancelled()
        assert rw.try_lock()
        return log

    assert run(main, clock="virtual") == ["b"]


def test_cancelled_semaphore_head_request_lets_smaller_ones_proceed() -> None:
    def main() -> None:
        sem = Semaphore(4)
        sem.acquire(3)
        big = go(sem.acquire, 4)
        settle()
        small = [go(sem.acquire, 1), go(sem.acquire, 1)]
        settle()
        # One unit is free, but the big request at the head is not overtaken.
        assert [t.state for t in (big, *small)] == ["semacquire"] * 3
        assert not sem.try_acquire(1)
        big.cancel()
        settle()
        assert big.cancelled()
        assert small[0].done() and not small[1].done()
        assert repr(sem) == "<gochan.Semaphore 4/4 held, 1 waiting>"
        sem.release(1)
        small[1].join()
        sem.release(4)
        assert repr(sem) == "<gochan.Semaphore 0/4 held, 0 waiting>"

    run(main, clock="virtual")


def test_cancelled_semaphore_waiter_behind_the_head_changes_nothing() -> None:
    def main() -> list[int]:
        sem, got = Semaphore(2), []
        sem.acquire(2)

        def taker(k: int) -> None:
            sem.acquire(k)
            got.append(k)

        a, b, c = go(taker, 2), go(taker, 1), go(taker, 1)
        settle()
        b.cancel()
        settle()
        sem.release(2)
        a.join()
        assert not c.done()  # a holds both units now
        sem.release(2)
        c.join()
        assert b.cancelled()
        assert repr(sem) == "<gochan.Semaphore 1/2 held, 0 waiting>"
        return got

    assert run(main, clock="virtual") == [2, 1]


def test_semaphore_acquire_abandoned_through_a_context() -> None:
    def main() -> None:
        sem = Semaphore(3)
        sem.acquire(2)
        ctx, cancel = context.with_cancel(context.background())

        def big() -> object:
            try:
                sem.acquire(3, ctx=ctx)
            except context.Canceled as e:
                return e
            return "acquired"

        b = go(big)
        settle()
        small = go(sem.acquire, 1)
        settle()
        assert small.state == "semacquire"  # behind the big one
        cancel()
        settle()
        assert isinstance(b.result(), context.Canceled)
        assert small.done()
        assert repr(sem) == "<gochan.Semaphore 3/3 held, 0 waiting>"

    run(main, clock="virtual")


def test_cancelled_waitgroup_waiter() -> None:
    def main() -> None:
        wg = WaitGroup()
        wg.add(1)
        a, b = go(wg.wait), go(wg.wait)
        settle()
        a.cancel()
        settle()
        assert a.cancelled()
        assert repr(wg) == "<gochan.WaitGroup count=1, 1 waiting>"
        wg.done()
        b.join()
        assert repr(wg) == "<gochan.WaitGroup count=0, 0 waiting>"

    run(main, clock="virtual")


def test_cancelled_once_waiter_and_cancelled_once_runner() -> None:
    def main() -> list[str]:
        once, gate, log = Once(), Chan[None](), []

        def slow() -> None:
            log.append("slow starts")
            gate.recv()
            log.append("slow ends")

        runner = go(once.do, slow)
        settle()
        w1, w2 = go(once.do, lambda: log.append("w1 fn")), go(once.do, lambda: log.append("w2"))
        settle()
        assert (w1.state, w2.state) == ("semacquire", "semacquire")
        w1.cancel()
        settle()
        assert w1.cancelled() and not w2.done()
        runner.cancel()  # fn raises Cancelled: the Once still counts as done
        w2.join()
        assert runner.cancelled()
        assert once.done()
        once.do(lambda: log.append("later"))
        return log

    assert run(main, clock="virtual") == ["slow starts"]


# ---------------------------------------------------------------------------
# Cond
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["while waiting", "while re-locking after a signal"])
def test_cond_wait_relocks_before_cancelled_propagates(when: str) -> None:
    def main() -> list[Any]:
        mu = Mutex()
        cond, seen = Cond(mu), []

        def waiter() -> None:
            with mu:  # the exit would panic if wait() left mu unlocked
                try:
                    cond.wait()
                except Cancelled:
                    seen.append(("cancelled with the lock held", mu.locked()))
                    raise

        t = go(waiter)
        settle()
        mu.lock()
        if when != "while waiting":
            cond.signal()
            settle()
        t.cancel()
        settle()
        assert t.state == "sync.Mutex.Lock"  # re-locking before it sees Cancelled
        assert seen == []
        mu.unlock()
        settle()
        assert t.cancelled()
        assert not mu.locked()
        return seen

    assert run(main, clock="virtual") == [("cancelled with the lock held", True)]


def test_cond_signal_skips_a_cancelled_waiter() -> None:
    def main() -> list[str]:
        mu = Mutex()
        cond, woke = Cond(mu), []

        def waiter(name: str) -> None:
            with mu:
                cond.wait()
                woke.append(name)

        a, b = go(waiter, "a"), go(waiter, "b")
        settle()
        a.cancel()
        settle()
        with mu:
            cond.signal()  # must reach b, not vanish with a
        b.join()
        assert a.cancelled()
        return woke

    assert run(main, clock="virtual") == ["b"]


def test_cond_wait_without_holding_the_lock_panics_and_leaves_no_waiter() -> None:
    def main() -> None:
        cond = Cond(Mutex())
        with pytest.raises(Panic, match="sync: unlock of unlocked mutex"):
            cond.wait()
        assert repr(cond).startswith("<gochan.Cond 0 waiting")

    run(main)


def test_cond_on_a_read_locker() -> None:
    def main() -> list[str]:
        rw = RWMutex()
        cond, ready, log = Cond(rw.rlocker()), [False], []

        def reader(name: str) -> None:
            with cond.L:
                while not ready[0]:
                    cond.wait()  # gives up its read lock meanwhile
                log.append(name)

        rs = [go(reader, n) for n in ("r1", "r2")]
        settle()
        assert rw.try_lock()  # both readers let go while waiting
        ready[0] = True
        rw.unlock()
        cond.broadcast()
        for r in rs:
            r.join()
        assert rw.try_lock()
        return log

    assert run(main, clock="virtual") == ["r1", "r2"]


def test_cond_signal_wakes_waiters_in_the_order_they_began_waiting() -> None:
    order = [2, 0, 3, 1]

    def main() -> list[int]:
        mu = Mutex()
        cond, woke = Cond(mu), []
        gates = [Chan[None]() for _ in order]

        def waiter(i: int) -> None:
            gates[i].recv()
            with mu:
                cond.wait()
                woke.append(i)

        tasks = [go(waiter, i) for i in range(len(order))]
        for i in order:
            gates[i].send(None)
            settle()  # i waits on cond before the next one starts to
        for _ in order:
            with mu:
                cond.signal()
            settle()
        for t in tasks:
            t.join()
        return woke

    assert run(main, clock="virtual") == order


def test_rwmutex_unlock_admits_queued_readers_before_the_next_writer() -> None:
    def main() -> list[str]:
        rw, log = RWMutex(), []
        rw.lock()

        def reader(name: str) -> None:
            rw.rlock()
            log.append(f"{name} in")
            gosched()
            rw.runlock()

        def writer(name: str) -> None:
            rw.lock()
            log.append(f"{name} in")
            rw.unlock()

        tasks = [go(reader, "r1")]
        settle()
        tasks.append(go(writer, "w2"))
        settle()
        tasks.append(go(reader, "r3"))  # arrives after w2, still queued with r1
        settle()
        rw.unlock()
        for t in tasks:
            t.join()
        return log

    assert run(main, clock="virtual") == ["r1 in", "r3 in", "w2 in"]


def test_waitgroup_releases_every_waiter_and_is_reusable() -> None:
    def main() -> None:
        wg = WaitGroup()
        for _ in range(3):
            wg.add(2)
            waiters = [go(wg.wait) for _ in range(4)]
            settle()
            assert [w.state for w in waiters] == ["sync.WaitGroup.Wait"] * 4
            wg.done()
            settle()
            assert not any(w.done() for w in waiters)
            wg.done()
            settle()
            assert all(w.done() for w in waiters)

    run(main, clock="virtual")


def test_waitgroup_go_counts_each_task_down_however_it_ends() -> None:
    ran: list[str] = []

    def work(tag: str) -> str:
        ran.append(tag)
        return tag

    def parked(ch: gochan.Chan[None]) -> None:
        ch.recv()
        ran.append("never")

    def main() -> None:
        wg = WaitGroup()
        t1 = wg.go(work, tag="a")
        assert t1.name.endswith("work") and repr(wg).startswith("<gochan.WaitGroup count=1")
        t2 = wg.go(work, "never-ran")
        t2.cancel()  # cancelled before its first step: fn never runs, the count still drops
        t3 = wg.go(parked, gochan.Chan[None]())
        settle()
        assert repr(wg).startswith("<gochan.WaitGroup count=1")  # only t3 is left
        t3.cancel()  # cancelled while parked: Cancelled ends it, the count drops
        wg.wait()
        assert repr(wg) == "<gochan.WaitGroup count=0, 0 waiting>"
        assert t1.join() == "a" and ran == ["a"]
        with pytest.raises(gochan.Cancelled):
            t2.join()

    run(main, clock="virtual")


# ---------------------------------------------------------------------------
# `with` forms
# ---------------------------------------------------------------------------


def test_with_forms_lock_and_release() -> None:
    def main() -> None:
        mu, rw, sem = Mutex(), RWMutex(), Semaphore(3)
        with mu:
            assert mu.locked() and not mu.try_lock()
        assert not mu.locked()

        with rw:  # the write lock
            assert not rw.try_rlock() and not rw.try_lock()
        assert rw.try_lock()
        rw.unlock()

        with rw.rlocker():  # a read lock
            assert not rw.try_lock()
            assert rw.try_rlock()
            rw.runlock()
        assert rw.try_lock()
        rw.unlock()

        with sem:
            assert repr(sem) == "<gochan.Semaphore 1/3 held, 0 waiting>"
        assert repr(sem) == "<gochan.Semaphore 0/3 held, 0 waiting>"

    run(main)


@pytest.mark.parametrize("kind", ["Mutex", "RWMutex", "rlocker", "Semaphore"])
def test_with_releases_on_exception(kind: str) -> None:
    def main() -> None:
        mu, rw, sem = Mutex(), RWMutex(), Semaphore(1)
        obj: Any = {"Mutex": mu, "RWMutex": rw, "rlocker": rw.rlocker(), "Semaphore": sem}[kind]
        with pytest.raises(KeyError), obj:
            raise KeyError("boom")
        assert not mu.locked()
        assert rw.try_lock()
        assert sem.try_acquire(1)

    run(main)


# ---------------------------------------------------------------------------
# Once
# ---------------------------------------------------------------------------


def test_once_called_recursively_raises() -> None:
    def main() -> None:
        once = Once()
        with pytest.raises(RuntimeError, match=r"Once\.do\(\) called from inside its own function"):
            once.do(lambda: once.do(lambda: None))
        assert once.done()  # the outer call raised: it still counts as done

    run(main)


def test_once_with_a_blocking_function_makes_concurrent_callers_wait() -> None:
    def main() -> list[str]:
        once, gate, log = Once(), Chan[None](), []

        def init() -> None:
            log.append("init starts")
            gate.recv()
            log.append("init done")

        def caller(name: str) -> None:
            once.do(init)
            log.append(f"{name} returns")

        callers = [go(caller, n) for n in ("a", "b", "c")]
        settle()
        assert [t.state for t in callers] == ["chan receive", "semacquire", "semacquire"]
        assert repr(once) == "<gochan.Once running>"
        assert not once.done()
        gate.send(None)
        for t in callers:
            t.join()
        assert repr(once) == "<gochan.Once done>"
        return log

    assert run(main, clock="virtual") == [
        "init starts",
        "init done",
        "a returns",
        "b returns",
        "c returns",
    ]


def test_once_exception_reaches_the_first_caller_only() -> None:
    def main() -> None:
        once, gate = Once(), Chan[None]()

        def failing() -> None:
            gate.recv()
            raise ValueError("init failed")

        def first() -> str:
            try:
                once.do(failing)
            except ValueError as e:
                return str(e)
            return "no error"

        f = go(first)
        settle()
        w = go(once.do, failing)
        settle()
        gate.send(None)
        assert f.join() == "init failed"
        assert w.join() is None  # the waiter returns normally
        assert once.done()

    run(main, clock="virtual")


# ---------------------------------------------------------------------------
# Deadlock reports name the sync states
# ---------------------------------------------------------------------------


def _stuck_mutex() -> None:
    mu = Mutex()
    mu.lock()
    mu.lock()


def _stuck_waitgroup() -> None:
    wg = WaitGroup()
    wg.add(1)
    wg.wait()


def _stuck_semaphore() -> None:
    sem = Semaphore(2)
    sem.acquire(2)
    sem.acquire(1)


def _stuck_cond() -> None:
    mu = Mutex()
    cond = Cond(mu)
    with mu:
        cond.wait()


def _stuck_rlock() -> None:
    rw = RWMutex()
    rw.lock()
    rw.rlock()


def _stuck_wlock() -> None:
    rw = RWMutex()
    rw.rlock()
    rw.lock()


def _stuck_once() -> None:
    once = Once()
    go(once.do, lambda: Chan[None]().recv())
    gosched()
    once.do(lambda: None)


@pytest.mark.parametrize(
    ("stuck", "state", "waiting_on"),
    [
        (_stuck_mutex, "sync.Mutex.Lock", "<gochan.Mutex locked, 1 waiting"),
        (_stuck_waitgroup, "sync.WaitGroup.Wait", "<gochan.WaitGroup count=1, 1 waiting>"),
        (_stuck_semaphore, "semacquire", "<gochan.Semaphore 2/2 held, 1 waiting>"),
        (_stuck_cond, "sync.Cond.Wait", "<gochan.Cond 1 waiting on <gochan.Mutex unlocked"),
        (
            _stuck_rlock,
            "sync.RWMutex.RLock",
            "<gochan.RWMutex locked by a writer, 0 writers and 1 ",
        ),
        (_stuck_wlock, "sync.RWMutex.Lock", "<gochan.RWMutex locked by 1 reader, 1 writer and 0 "),
        (_stuck_once, "semacquire", "<gochan.Once running>"),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_deadlock_report_names_the_sync_state(
    stuck: Callable[[], None], state: str, waiting_on: str
) -> None:
    with pytest.raises(Deadlock) as ei:
        run(stuck)
    text = str(ei.value)
    assert text.startswith("all goroutines are asleep - deadlock!")
    assert re.search(rf"goroutine \d+ 'main' \[{re.escape(state)}\]:", text), text
    assert f"waiting on {waiting_on}" in text, text
    assert f"in {stuck.__name__}" in text


def test_deadlock_report_lists_sync_waiters_in_other_tasks() -> None:
    def main() -> None:
        mu, wg = Mutex(), WaitGroup()
        mu.lock()
        wg.add(1)
        go(mu.lock).name = "locker"
        go(wg.wait).name = "waiter"
        Chan[None]().recv()

    with pytest.raises(Deadlock) as ei:
        run(main)
    text = str(ei.value)
    assert re.search(r"goroutine \d+ 'locker' \[sync\.Mutex\.Lock\]:", text), text
    assert re.search(r"goroutine \d+ 'waiter' \[sync\.WaitGroup\.Wait\]:", text), text


# ---------------------------------------------------------------------------
# A wait parks the green task, not the thread
# ---------------------------------------------------------------------------


def _blocker(kind: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A blocking call of ``kind`` and the call (from another task) that ends it."""
    if kind == "Mutex":
        mu = Mutex()
        mu.lock()
        return mu.lock, mu.unlock
    if kind == "RWMutex.lock":
        rw = RWMutex()
        rw.rlock()
        return rw.lock, rw.runlock
    if kind == "RWMutex.rlock":
        rw = RWMutex()
        rw.lock()
        return rw.rlock, rw.unlock
    if kind == "WaitGroup":
        wg = WaitGroup()
        wg.add(1)
        return wg.wait, wg.done
    if kind == "Cond":
        mu = Mutex()
        cond = Cond(mu)

        def wait() -> None:
            with mu:
                cond.wait()

        def signal() -> None:
            with mu:
                cond.signal()

        return wait, signal
    if kind == "Semaphore":
        sem = Semaphore(2)
        sem.acquire(2)
        return (lambda: sem.acquire(2)), (lambda: sem.release(2))
    assert kind == "Once"
    once, gate = Once(), Chan[None]()
    go(once.do, gate.recv)
    return (lambda: once.do(lambda: None)), (lambda: gate.send(None))


@pytest.mark.parametrize(
    "kind",
    ["Mutex", "RWMutex.lock", "RWMutex.rlock", "WaitGroup", "Cond", "Semaphore", "Once"],
)
def test_a_wait_blocks_the_task_not_the_thread(kind: str) -> None:
    def main() -> list[Any]:
        here = threading.get_ident()
        block, release = _blocker(kind)
        log: list[Any] = []

        def waiter() -> None:
            block()
            log.append(("woke on the same thread", threading.get_ident() == here))

        def ticker() -> None:
            for i in range(5):
                log.append(i)  # runs while the waiter is parked
                gosched()
            release()

        w = go(waiter)
        gosched()
        gosched()
        assert w.state not in ("running", "runnable", "dead")
        t = go(ticker)
        w.join()
        t.join()
        return log

    assert run(main) == [0, 1, 2, 3, 4, ("woke on the same thread", True)]


# ---------------------------------------------------------------------------
# Across OS threads
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("gil_ping_pong")
def test_mutex_across_threads_excludes_and_counts() -> None:
    mu = Mutex()
    inside, total = [0], [0]
    per_task = 300

    def hammer() -> None:
        for _ in range(per_task):
            with mu:
                inside[0] += 1
                assert inside[0] == 1, "two tasks inside the mutex"
                gosched()
                total[0] += 1
                inside[0] -= 1

    def thread_main() -> None:
        ts = [go(hammer), go(hammer)]
        for t in ts:
            t.join()

    threads = [Worker(run, thread_main, name=f"hammer-{i}") for i in range(3)]
    threads.append(Worker(hammer, name="implicit-hammer"))  # no run(): implicit mode

    def main() -> None:
        for th in threads:
            th.start()
        ts = [go(hammer), go(hammer)]
        for t in ts:
            t.join()

    try:
        run(main)
    finally:
        finish_all(threads)
    assert total[0] == (3 * 2 + 1 + 2) * per_task
    assert not mu.locked()


def test_mutex_fifo_across_threads_and_unlock_from_a_plain_thread() -> None:
    mu = Mutex()
    order: list[int] = []
    parked = Chan[int](3)

    def thread_main(i: int) -> None:
        go(parked.send, i)  # runs once this thread's main task has parked in lock()
        mu.lock()
        order.append(i)
        mu.unlock()

    threads = [Worker(run, thread_main, i, name=f"locker-{i}") for i in range(3)]

    def main() -> None:
        mu.lock()
        for th in threads:  # one at a time: the arrival order is 0, 1, 2
            th.start()
            assert parked.recv() == threads.index(th)
        unlocker = Worker(mu.unlock, name="plain-unlocker")  # never touched gochan
        unlocker.start()
        unlocker.finish()

    try:
        run(main)
    finally:
        finish_all(threads)
    assert order == [0, 1, 2]
    assert not mu.locked()


@pytest.mark.usefixtures("gil_ping_pong")
def test_rwmutex_across_threads() -> None:
    rw = RWMutex()
    guard = threading.Lock()  # makes the activity updates atomic across threads
    activity = [0]
    loops = 150

    def bump(delta: int) -> int:
        with guard:
            activity[0] += delta
            return activity[0]

    def reader() -> None:
        for _ in range(loops):
            with rw.rlocker():
                n = bump(1)
                assert 1 <= n < 10000, f"a reader saw activity {n}"
                gosched()
                bump(-1)

    def writer() -> None:
        for _ in range(loops):
            with rw:
                n = bump(10000)
                assert n == 10000, f"a writer saw activity {n}"
                gosched()
                bump(-10000)

    def thread_main(kind: str) -> None:
        fn = reader if kind == "r" else writer
        ts = [go(fn), go(fn)]
        for t in ts:
            t.join()

    threads = [Worker(run, thread_main, k, name=f"rw-{k}{i}") for i, k in enumerate("rrwrw")]

    def main() -> None:
        for th in threads:
            th.start()
        ts = [go(reader), go(writer), go(reader)]
        for t in ts:
            t.join()

    try:
        run(main)
    finally:
        finish_all(threads)
    assert activity[0] == 0
    assert rw.try_lock()


def test_waitgroup_across_threads() -> None:
    wg, seen_by_plain = WaitGroup(), WaitGroup()
    main_parked = threading.Event()
    released = [False]
    done_work: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        main_parked.wait()  # main is parked in wg.wait() by now
        for _ in range(10):
            gosched()
        with lock:
            done_work.append(i)
        wg.done()

    def plain_waiter() -> str:  # implicit mode: parks this thread's main task
        seen_by_plain.wait()
        return "released"

    threads = [Worker(run, work, i, name=f"worker-{i}") for i in range(4)]
    plain = Worker(plain_waiter, name="plain-waiter")

    def main() -> list[int]:
        seen_by_plain.add(1)
        plain.start()
        wg.add(4)
        for th in threads:
            th.start()
        go(main_parked.set)  # runs once main has parked below
        wg.wait()
        with lock:
            finished = sorted(done_work)
        released[0] = True
        seen_by_plain.done()  # wakes the plain thread's task
        return finished

    try:
        assert run(main) == [0, 1, 2, 3]
    finally:
        main_parked.set()
        finish_all(threads)
        if not released[0]:
            seen_by_plain.done()
        assert plain.finish() == "released"


def test_cond_across_threads() -> None:
    mu = Mutex()
    cond = Cond(mu)
    state = {"go": 0}
    parked = Chan[int](3)
    woke = Chan[int](3)

    def thread_main(i: int) -> None:
        with mu:
            go(parked.send, i)  # runs once this thread's task waits in cond.wait()
            while state["go"] <= 0:
                cond.wait()
            state["go"] -= 1
        woke.send(i)

    threads = [Worker(run, thread_main, i, name=f"cond-{i}") for i in range(3)]

    def main() -> list[Any]:
        for i, th in enumerate(threads):  # one at a time: they wait in order 0, 1, 2
            th.start()
            assert parked.recv() == i
        with mu:
            state["go"] = 1
            cond.signal()  # the longest waiter, on its own thread
        first = woke.recv()
        with mu:
            state["go"] = 2
            cond.broadcast()
        rest = sorted([woke.recv(), woke.recv()])
        return [first, rest]

    try:
        assert run(main) == [0, [1, 2]]
    finally:
        with mu:
            state["go"] = 99
            cond.broadcast()
        finish_all(threads)


@pytest.mark.usefixtures("gil_ping_pong")
def test_semaphore_across_threads_keeps_units_and_fifo() -> None:
    size = 4
    sem = Semaphore(size)
    guard = threading.Lock()
    held, peak = [0], [0]

    def hammer(k: int, loops: int) -> None:
        for _ in range(loops):
            sem.acquire(k)
            with guard:
                held[0] += k
                peak[0] = max(peak[0], held[0])
                assert held[0] <= size, f"{held[0]} units held of {size}"
            gosched()
            with guard:
                held[0] -= k
            sem.release(k)

    def thread_main(k: int) -> None:
        ts = [go(hammer, k, 100), go(hammer, 1, 100)]
        for t in ts:
            t.join()

    threads = [Worker(run, thread_main, k, name=f"sem-{k}") for k in (1, 2, 3, 4)]

    def main() -> None:
        for th in threads:
            th.start()
        hammer(2, 100)

    try:
        run(main)
    finally:
        finish_all(threads)
    assert held[0] == 0 and peak[0] <= size
    assert repr(sem) == f"<gochan.Semaphore 0/{size} held, 0 waiting>"

    # FIFO across threads: a big request parked on another thread is not overtaken.
    parked = Chan[str](2)
    order: list[str] = []

    def request(name: str, k: int) -> None:
        go(parked.send, name)  # runs once the acquire below has parked
        sem.acquire(k)
        order.append(name)
        sem.release(k)

    big = Worker(run, request, "big", 4, name="big")
    small = Worker(run, request, "small", 1, name="small")

    def main2() -> None:
        sem.acquire(3)
        big.start()
        assert parked.recv() == "big"
        assert not sem.try_acquire(1)  # one unit free, but big is at the head
        small.start()
        assert parked.recv() == "small"
        sem.release(3)

    try:
        run(main2)
    finally:
        finish_all([big, small])
    assert order == ["big", "small"]
    assert repr(sem) == f"<gochan.Semaphore 0/{size} held, 0 waiting>"


def test_once_across_threads() -> None:
    once = Once()
    gate = Chan[None]()
    calls: list[str] = []
    parked = Chan[str](3)

    def init() -> None:
        calls.append(threading.current_thread().name)
        gate.recv()

    def thread_main() -> bool:
        go(parked.send, threading.current_thread().name)  # runs once do() has parked
        once.do(init)
        return once.done()

    threads = [Worker(run, thread_main, name=f"once-{i}") for i in range(3)]

    def main() -> None:
        for th in threads:
            th.start()
        names = {parked.recv() for _ in threads}
        assert names == {th.name for th in threads}
        assert not once.done() and len(calls) == 1
        gate.send(None)  # lets the one running init() finish; the others wake

    try:
        run(main)
    finally:
        if not once.done():
            gate.close()
        results = finish_all(threads)
    assert results == [True, True, True]
    assert len(calls) == 1


def _wait_idle(s: Any) -> None:
    """Wait until scheduler ``s`` has found nothing to run and has run its
    deadlock check (which marks it idle): a condition wait, not a timing guess."""
    give_up = time.monotonic() + SAFETY
    while not s.idle:
        assert time.monotonic() < give_up, "the scheduler never went idle"
        threading.Event().wait(0.001)


@pytest.mark.parametrize("kind", ["Mutex", "RWMutex", "WaitGroup", "Semaphore", "Cond"])
def test_no_false_deadlock_while_another_thread_will_release(kind: str) -> None:
    """Main parks on a primitive that only a plain thread will release, once
    main's scheduler has gone idle and checked for deadlock: no report."""
    from gochan._runtime.threads import get_scheduler

    mu, rw, wg, sem = Mutex(), RWMutex(), WaitGroup(), Semaphore(1)
    cond = Cond(mu)
    wait, release = {
        "Mutex": (mu.lock, mu.unlock),
        "RWMutex": (rw.rlock, rw.unlock),
        "WaitGroup": (wg.wait, wg.done),
        "Semaphore": (sem.acquire, sem.release),
        "Cond": (lambda: (mu.lock(), cond.wait(), mu.unlock()), cond.signal),
    }[kind]
    go_ahead, sched = threading.Event(), []

    def other() -> None:
        go_ahead.wait()
        _wait_idle(sched[0])
        release()

    th = Worker(other, name="releaser")

    def main() -> str:
        sched.append(get_scheduler())
        if kind == "Mutex":
            mu.lock()
        rw.lock()
        wg.add(1)
        sem.acquire()
        th.start()
        go(go_ahead.set)  # runs once main has parked below
        wait()
        return "released"

    try:
        assert run(main) == "released"
    finally:
        go_ahead.set()
        th.finish()


def test_deadlock_once_the_thread_holding_the_mutex_exits() -> None:
    mu = Mutex()
    locked = Chan[None]()
    go_ahead = threading.Event()

    def other() -> None:  # implicit mode: this thread's main task takes the lock
        mu.lock()
        locked.send(None)
        go_ahead.wait()  # then the thread ends, still holding it

    th = Worker(other, name="holder")

    def main() -> None:
        th.start()
        locked.recv()
        go(go_ahead.set)
        mu.lock()

    try:
        with pytest.raises(Deadlock, match=r"'main' \[sync\.Mutex\.Lock\]"):
            run(main)
    finally:
        go_ahead.set()
        th.finish()


def test_waiters_cancelled_from_another_thread_lose_nothing() -> None:
    def main() -> list[Any]:
        sem = Semaphore(2)
        sem.acquire(2)
        ctx, cancel = context.with_cancel(context.background())

        def big() -> str:
            try:
                sem.acquire(2, ctx=ctx)
            except context.Canceled:
                return "gave up"
            return "acquired"

        b = go(big)
        settle()
        zero = go(sem.acquire, 0)  # queued behind the big head request
        settle()
        th = Worker(cancel, name="ctx-canceller")  # the context ends on another thread
        th.start()
        th.finish()

        mu = Mutex()
        mu.lock()
        victim = go(mu.lock)
        settle()
        heir = go(lambda: (mu.lock(), "heir owns")[1])
        settle()
        th = Worker(victim.cancel, name="task-canceller")
        th.start()
        assert th.finish() is True
        settle()
        mu.unlock()
        results = [b.join(), zero.join(), heir.join(), victim.cancelled(), repr(sem)]
        mu.unlock()
        return results

    assert run(main, clock="virtual") == [
        "gave up",
        None,
        "heir owns",
        True,
        "<gochan.Semaphore 2/2 held, 0 waiting>",
    ]


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda: Semaphore(-1), ValueError, r"Semaphore size must be an int >= 0, got -1"),
        (lambda: Semaphore("3"), (TypeError, ValueError), r"Semaphore size must be an int"),
        (lambda: Semaphore(2.0), (TypeError, ValueError), r"Semaphore size must be an int"),
        (lambda: Semaphore(2).acquire(-1), ValueError, r"acquire\(\) needs an int >= 0, got -1"),
        (lambda: Semaphore(2).acquire("1"), (TypeError, ValueError), r"acquire\(\) needs an int"),
        (lambda: Semaphore(2).acquire(3), ValueError, r"acquire\(3\) can never succeed.* 2 units"),
        (lambda: Semaphore(2).try_acquire(-2), ValueError, r"try_acquire\(\) needs an int >= 0"),
        (lambda: Semaphore(2).release(-1), ValueError, r"release\(\) needs an int >= 0"),
        (lambda: Semaphore(2).release(0.5), (TypeError, ValueError), r"release\(\) needs an int"),
        (lambda: WaitGroup().add("1"), TypeError, r"WaitGroup\.add\(\) needs an int, got '1'"),
        (lambda: WaitGroup().add(1.0), TypeError, r"WaitGroup\.add\(\) needs an int"),
        (lambda: WaitGroup().go(42), TypeError, r"WaitGroup\.go\(\) needs a callable, got 42"),
        (lambda: Cond(42), TypeError, r"Cond\(\) needs a Locker"),
        (lambda: Cond(object()), TypeError, r"Cond\(\) needs a Locker"),
        (lambda: Once().do(42), TypeError, r"Once\.do\(\) needs a callable, got 42; pass"),
        # A wrong type is a TypeError, a bool included (it used to count as 1).
        (lambda: Semaphore("3"), TypeError, r"Semaphore size must be an int >= 0, got '3'"),
        (lambda: Semaphore(None), TypeError, r"Semaphore size must be an int"),  # type: ignore[arg-type]
        (lambda: Semaphore(True), TypeError, r"Semaphore size must be an int >= 0, got True"),
        (lambda: Semaphore(2).acquire(True), TypeError, r"acquire\(\) needs an int >= 0, got True"),
        (lambda: Semaphore(2).try_acquire(1.0), TypeError, r"try_acquire\(\) needs an int"),
        (lambda: Semaphore(2).release(False), TypeError, r"release\(\) needs an int"),
        (lambda: WaitGroup().add(True), TypeError, r"WaitGroup\.add\(\) needs an int, got True"),
        (lambda: ErrGroup().set_limit(True), TypeError, r"set_limit\(\) needs an int, got True"),
    ],
)
def test_bad_arguments(
    call: Callable[[], Any], exc: type[Exception] | tuple[type[Exception], ...], message: str
) -> None:
    def main() -> None:
        with pytest.raises(exc, match=message):
            call()

    run(main)


def test_bad_arguments_change_nothing() -> None:
    def main() -> None:
        sem = Semaphore(2)
        sem.acquire(1)
        for bad in (lambda: sem.acquire(3), lambda: sem.release(-1), lambda: sem.acquire(-1)):
            with pytest.raises(ValueError):
                bad()
        with pytest.raises(Panic):
            sem.release(2)  # over-release
        assert repr(sem) == "<gochan.Semaphore 1/2 held, 0 waiting>"
        wg = WaitGroup()
        with pytest.raises(TypeError):
            wg.go("not callable")
        with pytest.raises(Panic):
            wg.add(-1)
        assert repr(wg) == "<gochan.WaitGroup count=0, 0 waiting>"
        wg.wait()  # returns at once

    run(main)


def test_zero_weight_and_zero_size_semaphores() -> None:
    def main() -> None:
        sem = Semaphore(0)
        assert sem.size == 0
        sem.acquire(0)
        assert sem.try_acquire(0)
        assert not sem.try_acquire(1)
        with pytest.raises(ValueError, match="can never succeed"):
            sem.acquire(1)
        full = Semaphore(1)
        full.acquire(1)
        full.acquire(0)  # fits even when full, nobody waits

    run(main)


# ---------------------------------------------------------------------------
# reprs
# ---------------------------------------------------------------------------


def test_reprs() -> None:
    def main() -> None:
        mu = Mutex()
        assert re.fullmatch(r"<gochan\.Mutex unlocked, 0 waiting at 0x[0-9a-f]+>", repr(mu))
        mu.lock()
        t = go(mu.lock)
        settle()
        assert re.fullmatch(r"<gochan\.Mutex locked, 1 waiting at 0x[0-9a-f]+>", repr(mu))
        mu.unlock()
        t.join()
        mu.unlock()

        rw = RWMutex()
        assert re.fullmatch(
            r"<gochan\.RWMutex unlocked, 0 writers and 0 readers waiting at 0x[0-9a-f]+>",
            repr(rw),
        )
        rw.lock()
        waiters = [go(rw.rlock), go(rw.rlock), go(rw.lock)]
        settle()
        assert re.fullmatch(
            r"<gochan\.RWMutex locked by a writer, 1 writer and 2 readers waiting at 0x[0-9a-f]+>",
            repr(rw),
        )
        rw.unlock()
        settle()
        assert "locked by 2 readers, 1 writer and 0 readers waiting" in repr(rw)
        rw.runlock()
        rw.runlock()
        for w in waiters:
            w.join()
        rw.unlock()

        wg = WaitGroup()
        wg.add(2)
        w = go(wg.wait)
        settle()
        assert repr(wg) == "<gochan.WaitGroup count=2, 1 waiting>"
        wg.add(-2)
        w.join()

        once = Once()
        assert repr(once) == "<gochan.Once not done>"
        once.do(lambda: None)
        assert repr(once) == "<gochan.Once done>"

        cond = Cond(mu)
        c = go(lambda: (mu.lock(), cond.wait(), mu.unlock()))
        settle()
        assert re.fullmatch(
            r"<gochan\.Cond 1 waiting on <gochan\.Mutex unlocked, 0 waiting at 0x[0-9a-f]+>>",
            repr(cond),
        )
        cond.signal()
        c.join()

        sem = Semaphore(3)
        sem.acquire(2)
        s = go(sem.acquire, 2)
        settle()
        assert repr(sem) == "<gochan.Semaphore 2/3 held, 1 waiting>"
        sem.release(2)
        s.join()

    run(main, clock="virtual")
