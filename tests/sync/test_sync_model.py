"""Model-based tests for Mutex and Semaphore fairness (hypothesis).

1. ``test_mutex_fairness_and_exclusion``: a random program starts tasks
   that each request the lock once and hold it for a random number of
   ``gosched()`` calls, interleaved with scheduling points and
   ``Task.cancel()`` of random tasks in whatever state they are in. The
   order in which tasks acquire the lock must equal the order in which
   they asked for it, minus exactly those cancelled while parked in
   ``lock()``; no two tasks are ever inside at once; a task cancelled while
   holding the lock releases it (``with``); at the end it is free.

2. ``test_semaphore_matches_fifo_model``: random weighted programs (tasks
   acquiring k units, with or without a context; the main task's
   ``try_acquire``; releases; cancellation of waiting tasks through
   ``Task.cancel()`` or their context) are run against a plain FIFO model
   of golang.org/x/sync/semaphore: a request is granted at once only if
   nobody waits and it fits; a release or a withdrawn request grants
   queued requests from the head while the head fits (the head is never
   overtaken). After every step the granted set, the grant order, the
   units held and the queue length must match the model, and the units
   held never exceed the size. At the end everything is released and
   every request that was not cancelled has been granted.

Everything runs on one thread under the virtual clock; ``settle()``
returns once every other task has run until it parked or ended, so each
step is compared with the model only after its effects are complete.
The scheduler is FIFO, so a program's run is fully reproducible.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

import gochan
from gochan import Cancelled, Mutex, Semaphore, context, go, gosched


def settle() -> None:
    """Virtual clock: returns once every other task is blocked or done."""
    gochan.sleep(0.001)


# ---------------------------------------------------------------------------
# 1. Mutex
# ---------------------------------------------------------------------------

# a new task that will hold the lock for n goscheds; True: main does not yield first
_arrive = st.tuples(st.just("arrive"), st.integers(0, 4), st.sampled_from([False, False, True]))
mutex_ops = st.one_of(
    _arrive,
    _arrive,  # twice: arrivals are the common step
    st.tuples(st.just("sched"), st.integers(1, 3), st.just(False)),  # main yields n times
    # cancel task n (mod the candidates): one parked in lock(), or any task at all
    st.tuples(st.just("cancel"), st.integers(0, 50), st.booleans()),
)


@dataclass
class MutexRun:
    arrivals: list[int] = field(default_factory=list)
    acquired: list[int] = field(default_factory=list)
    cancelled_waiting: set[int] = field(default_factory=set)
    locked_at_end: bool = True


def run_mutex_program(ops: list[tuple[str, int, bool]]) -> MutexRun:
    out = MutexRun()

    def main() -> None:
        mu = Mutex()
        holder: list[int | None] = [None]
        tasks: list[gochan.Task] = []

        def worker(i: int, hold: int) -> None:
            out.arrivals.append(i)  # no switch between this and lock(): arrival order
            with mu:
                assert holder[0] is None, f"task {i} entered while {holder[0]} holds the lock"
                holder[0] = i
                out.acquired.append(i)
                try:
                    for _ in range(hold):
                        gosched()
                finally:
                    holder[0] = None

        for op, n, waiting_only in ops:
            if op == "arrive":
                tasks.append(go(worker, len(tasks), n))
                if not waiting_only:  # usually: let it run until it parks or holds
                    gosched()
            elif op == "sched":
                for _ in range(n):
                    gosched()
            else:
                parked = [i for i, t in enumerate(tasks) if t.state == "sync.Mutex.Lock"]
                candidates = parked if waiting_only else list(range(len(tasks)))
                if not candidates:
                    continue
                i = candidates[n % len(candidates)]
                if i in parked:  # parked in lock(), not yet granted: must never own it
                    out.cancelled_waiting.add(i)
                tasks[i].cancel()
        for t in tasks:
            with contextlib.suppress(Cancelled):
                t.join()
        out.locked_at_end = mu.locked()

    gochan.run(main, clock="virtual")
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(mutex_ops, min_size=8, max_size=40))
def test_mutex_fairness_and_exclusion(ops: list[tuple[str, int, bool]]) -> None:
    r = run_mutex_program(ops)
    event(f"cancelled while waiting: {min(len(r.cancelled_waiting), 2)}")
    event(f"acquisitions: {min(len(r.acquired) // 3 * 3, 9)}+")
    expected = [i for i in r.arrivals if i not in r.cancelled_waiting]
    assert r.acquired == expected, (r.arrivals, r.cancelled_waiting)
    assert r.cancelled_waiting <= set(r.arrivals)
    assert not r.locked_at_end


def test_mutex_program_example() -> None:
    """One program spelled out: 1 is cancelled while queued behind 0, 3 is
    cancelled after it was handed the lock (and still counts), 2 goes last."""
    r = run_mutex_program(
        [
            ("arrive", 2, True),
            ("arrive", 0, True),
            ("arrive", 0, True),
            ("sched", 1, False),
            ("cancel", 0, True),  # the first task parked in lock(): task 1
            ("arrive", 1, True),
            ("sched", 3, False),
            ("cancel", 3, False),  # task 3, which has the lock by now
        ]
    )
    assert r.arrivals == [0, 1, 2, 3]
    assert r.cancelled_waiting == {1}
    assert r.acquired == [0, 2, 3]
    assert not r.locked_at_end


# ---------------------------------------------------------------------------
# 2. Semaphore
# ---------------------------------------------------------------------------

SIZE = 5

_acquire = st.tuples(st.just("acquire"), st.integers(0, SIZE), st.booleans())  # k; with a ctx?
sem_ops = st.one_of(
    _acquire,
    _acquire,  # twice: requests are the common step
    st.tuples(st.just("try"), st.integers(0, SIZE), st.just(False)),
    st.tuples(st.just("release"), st.integers(0, 50), st.just(False)),  # a holder
    st.tuples(st.just("cancel"), st.integers(0, 50), st.booleans()),  # a waiter; via ctx?
)


class FifoSemaphore:
    """golang.org/x/sync/semaphore.Weighted as a plain data structure."""

    def __init__(self, size: int) -> None:
        self.size, self.cur = size, 0
        self.queue: list[tuple[int, int]] = []  # (request id, k), head first
        self.held: dict[int, int] = {}  # request id -> k, granted and not released
        self.order: list[int] = []  # request ids of tasks, in grant order

    def acquire(self, rid: int, k: int) -> None:
        if not self.queue and self.size - self.cur >= k:
            self._grant(rid, k)
        else:
            self.queue.append((rid, k))

    def try_acquire(self, rid: int, k: int) -> bool:
        if not self.queue and self.size - self.cur >= k:
            self.cur += k
            self.held[rid] = k
            return True
        return False

    def release(self, rid: int) -> None:
        self.cur -= self.held.pop(rid)
        self._admit()

    def withdraw(self, rid: int) -> None:
        self.queue = [(r, k) for r, k in self.queue if r != rid]
        self._admit()

    def _grant(self, rid: int, k: int) -> None:
        self.cur += k
        self.held[rid] = k
        self.order.append(rid)

    def _admit(self) -> None:
        while self.queue and self.size - self.cur >= self.queue[0][1]:
            rid, k = self.queue.pop(0)
            self._grant(rid, k)


_REPR = re.compile(r"<gochan\.Semaphore (\d+)/(\d+) held, (\d+) waiting>")


def _state(sem: Semaphore) -> tuple[int, int]:
    m = _REPR.fullmatch(repr(sem))
    assert m is not None, repr(sem)
    cur, size, waiting = map(int, m.groups())
    assert size == sem.size
    assert 0 <= cur <= size, f"{cur} units held of {size}"
    return cur, waiting


def run_semaphore_program(ops: list[tuple[str, int, bool]]) -> dict[str, Any]:
    model = FifoSemaphore(SIZE)
    result: dict[str, Any] = {}

    def main() -> None:
        sem = Semaphore(SIZE)
        order: list[int] = []  # grant order as seen by the tasks
        gave_up: list[int] = []
        tasks: dict[int, gochan.Task] = {}
        cancels: dict[int, Any] = {}
        next_id = [0]

        def acquirer(rid: int, k: int, ctx: context.Context | None) -> None:
            try:
                sem.acquire(k, ctx=ctx)
            except context.Canceled:
                gave_up.append(rid)
                return
            order.append(rid)

        def check() -> None:
            settle()
            cur, waiting = _state(sem)
            assert (cur, waiting) == (model.cur, len(model.queue)), (ops, model.queue)
            assert order == model.order
            for rid, t in tasks.items():
                queued = any(r == rid for r, _ in model.queue)
                assert (t.state == "semacquire") == queued, (rid, t, model.queue)

        for op, n, flag in ops:
            rid = next_id[0]
            if op == "acquire":
                next_id[0] += 1
                ctx = None
                if flag:
                    ctx, cancels[rid] = context.with_cancel(context.background())
                tasks[rid] = go(acquirer, rid, n, ctx)
                model.acquire(rid, n)
            elif op == "try":
                next_id[0] += 1
                assert sem.try_acquire(n) == model.try_acquire(rid, n)
            elif op == "release" and model.held:
                holder = sorted(model.held)[n % len(model.held)]
                sem.release(model.held[holder])
                model.release(holder)
            elif op == "cancel" and model.queue:
                victim, _ = model.queue[n % len(model.queue)]
                if flag and victim in cancels:
                    cancels[victim]()
                else:
                    tasks[victim].cancel()
                model.withdraw(victim)
            check()

        # Release everything: every request left in the queue must be granted.
        while model.held:
            holder = min(model.held)
            sem.release(model.held[holder])
            model.release(holder)
            check()
        assert not model.queue
        assert _state(sem) == (0, 0)
        for cancel in cancels.values():
            cancel()
        result["order"] = order
        result["gave_up"] = gave_up
        result["cancelled"] = [rid for rid, t in tasks.items() if t.cancelled()]

    gochan.run(main, clock="virtual")
    result["model_order"] = model.order
    return result


@settings(max_examples=300, deadline=None)
@given(st.lists(sem_ops, min_size=8, max_size=40))
def test_semaphore_matches_fifo_model(ops: list[tuple[str, int, bool]]) -> None:
    r = run_semaphore_program(ops)
    event(f"grants: {min(len(r['order']) // 3 * 3, 9)}+")
    event(f"withdrawn: cancel={bool(r['cancelled'])} ctx={bool(r['gave_up'])}")
    assert r["order"] == r["model_order"]
    # Every task's request was granted once, or withdrawn by exactly one means.
    granted, gave_up, cancelled = r["order"], set(r["gave_up"]), set(r["cancelled"])
    assert len(set(granted)) == len(granted)
    assert not gave_up & cancelled
    assert not set(granted) & (gave_up | cancelled)
    requested = sum(1 for op, _, _ in ops if op == "acquire")
    assert len(granted) + len(gave_up) + len(cancelled) == requested


def test_semaphore_model_rejects_overtaking() -> None:
    """The model is strict FIFO: a small request behind a big head waits
    (also for try_acquire), and is granted once the head is withdrawn."""
    m = FifoSemaphore(4)
    m.acquire(0, 3)
    m.acquire(1, 4)  # queued: only 1 free
    m.acquire(2, 1)  # fits, but must queue behind the head
    assert m.order == [0] and [r for r, _ in m.queue] == [1, 2]
    assert not m.try_acquire(99, 1)
    m.withdraw(1)
    assert m.order == [0, 2]
    r = run_semaphore_program(
        [("acquire", 3, False), ("acquire", 5, True), ("acquire", 1, False), ("cancel", 0, True)]
    )
    assert r["order"] == [0, 2] and r["gave_up"] == [1]
