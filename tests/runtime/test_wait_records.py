"""The parking contract (``waiter.WaitRecord``): for every wait record, exactly
one of *completed* and *withdrawn* wins, and the parked party is woken
exactly once.

For each record kind, hypothesis generates a race between the record's
completions (a peer's send/recv/close, a grant, a timer firing, an fd
becoming ready, a worker thread finishing, a deadline) and its withdrawal
(``Scheduler.interrupt``: cancel, fatal error, deadlock report, thread
exit; or a coroutine's own withdraw), in a generated order, each step on
the test's thread or on another OS thread. Two modes:

* ordered: the steps run one after the other in the generated order (a
  step on another thread is started and joined before the next), so every
  interleaving of whole steps is reached deterministically;
* racing: every step runs on its own thread, all released at once by a
  Barrier; whichever order the threads take, the outcome must obey the
  same rule.

The parked task is a real Task that never runs (its scheduler's main task
keeps running the test): a ``ready()`` of it lands in its scheduler's run
queue (same thread) or ``incoming`` (another thread), where the test counts
it. After all steps, every record must have ended, and:

* the task was readied exactly once (no double ready, no lost wake-up);
* it was withdrawn (``interrupt`` took it back) or completed, never both;
* what was handed over was handed over once: a sent value is with the
  receiver or still in the channel (never both, never neither), a grant,
  a timer's or a worker's outcome is seen by the task only if the
  completion won.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gochan
from gochan._runtime import io, offload
from gochan._runtime.backends.aio_waits import _AwaitRecord
from gochan._runtime.errors import Cancelled, Panic
from gochan._runtime.scheduler import Scheduler
from gochan._runtime.sema import enqueue, grant
from gochan._runtime.task import Task, ready
from gochan._runtime.threads import current_task
from gochan._runtime.timers import SleepTimer, _wake_sleeper
from gochan._runtime.waiter import LOCK, LoopGroup, OneShot, SelectGroup, Waiter, push_waiter

Step = Callable[[], None]


def _execute(steps: list[tuple[Step, bool]], race: bool) -> None:
    """Run ``steps`` (fn, on another thread?) in order, or all at once."""
    errors: list[BaseException] = []

    def guarded(fn: Step, barrier: threading.Barrier | None = None) -> None:
        try:
            if barrier is not None:
                barrier.wait()
            fn()
        except BaseException as e:  # re-raised on the test's thread
            errors.append(e)

    if race:
        barrier = threading.Barrier(len(steps))
        threads = [threading.Thread(target=guarded, args=(fn, barrier)) for fn, _ in steps]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    else:
        for fn, other_thread in steps:
            if other_thread:
                th = threading.Thread(target=guarded, args=(fn,))
                th.start()
                th.join()
            else:
                guarded(fn)
    if errors:
        raise errors[0]


class _Race:
    """One parked task ``t`` of the running scheduler, its record, and the
    steps that race to end the record."""

    def __init__(self) -> None:
        self.s: Scheduler = current_task().sched
        self.t = Task(self.s, "parked")
        self.steps: dict[str, Step] = {}

    def park(self, record: Any) -> None:
        """What Scheduler.park does before switching away."""
        self.t._waiting = record
        self.steps["withdraw"] = self.withdraw

    def withdraw(self) -> None:
        self.s.interrupt(self.t, Cancelled())  # withdraw() under LOCK, then ready

    @property
    def withdrawn(self) -> bool:
        return self.t._resume_exc is not None

    def readies(self) -> int:
        """How often ``t`` was readied; takes it back out of the queues."""
        s, t = self.s, self.t
        n = 0
        for q in (s.runq, s.incoming):
            while t in q:
                q.remove(t)
                n += 1
        return n


# -- the record kinds: each sets up a parked record and its racing steps, and
# returns the check to run once every step is done ------------------------


def _recv_waiter(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """A task parked in ch.recv(); a peer sends (send or offer) or closes."""
    ch = gochan.Chan[int](1)
    w = Waiter(r.t, None)
    with LOCK:
        push_waiter(ch._recvq, w)
    r.park(w)
    outcome: list[str] = []
    use_offer = data.draw(st.booleans(), "offer")

    def send() -> None:
        try:
            if use_offer:
                outcome.append("sent" if ch.offer(7) else "dropped")
            else:
                ch.send(7)
                outcome.append("sent")
        except Panic:
            outcome.append("panicked")

    r.steps["send"] = send
    r.steps["close"] = ch.close

    def check() -> None:
        delivered = w.ok and w.value == 7
        assert not (delivered and r.withdrawn)
        copies = int(delivered) + list(ch._buf).count(7)
        assert copies == (1 if outcome == ["sent"] else 0), (outcome, w.ok, list(ch._buf))
        assert not ch._recvq

    return check


def _send_waiter(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """A task parked in ch.send(8) on a full channel; a peer receives or closes."""
    ch = gochan.Chan[int](1)
    ch.send(1)  # full: the sender parks
    w = Waiter(r.t, 8)
    with LOCK:
        push_waiter(ch._sendq, w)
    r.park(w)
    got: list[int | None] = []
    r.steps["recv"] = lambda: got.append(ch.recv())
    r.steps["close"] = ch.close

    def check() -> None:
        assert not (w.ok and r.withdrawn)
        # 8 is in the channel or was received iff the send completed
        copies = got.count(8) + list(ch._buf).count(8)
        assert copies == int(w.ok), (got, list(ch._buf), w.ok)
        assert got in ([1], [])
        assert not ch._sendq

    return check


def _select_group(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """A task parked in select(a.recv, b.recv); peers send on both, one closes a."""
    a, b = gochan.Chan[int](1), gochan.Chan[int](1)
    g = SelectGroup(r.t)
    wa, wb = Waiter(r.t, None, g, 0), Waiter(r.t, None, g, 1)
    g.waiters += [wa, wb]
    with LOCK:
        push_waiter(a._recvq, wa)
        push_waiter(b._recvq, wb)
    r.park(g)
    panicked: list[int] = []

    def send_a() -> None:
        try:
            a.send(10)
        except Panic:
            panicked.append(10)

    r.steps["send_a"] = send_a
    r.steps["offer_b"] = lambda: None if b.offer(20) else panicked.append(20)
    r.steps["close_a"] = a.close

    def check() -> None:
        won = g.winner
        assert g.fired
        if r.withdrawn:
            assert won is None and not wa.ok and not wb.ok
        else:
            assert won in (wa, wb)
        assert not (wa.ok and wb.ok)
        assert list(a._buf).count(10) + int(wa.ok and wa.value == 10) == int(10 not in panicked)
        assert list(b._buf).count(20) + int(wb.ok and wb.value == 20) == int(20 not in panicked)
        assert not a._recvq and not b._recvq

    return check


def _sema_waiter(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """A task parked in a grant queue (Mutex, Semaphore, ...); a release grants."""
    q: deque[Waiter] = deque()
    with LOCK:
        w = enqueue(q, r.t)
    r.park(w)

    def release() -> None:
        with LOCK:
            t = grant(q, "granted") if q else None
        if t is not None:
            ready(t)

    r.steps["release"] = release

    def check() -> None:
        assert w.ok != r.withdrawn
        assert (w.value == "granted") == w.ok

    return check


def _one_shot(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """Task.join and run-shutdown: the task ends (fire) or the join times out
    (fire with another value), against a withdraw."""
    w = OneShot(r.t)
    r.park(w)

    def fire(value: str) -> Step:
        def step() -> None:
            with LOCK:
                won = w.fire(value)
            if won:
                ready(r.t)

        return step

    r.steps["finish"] = fire("done")
    r.steps["timeout"] = fire("timed out")

    def check() -> None:
        assert w.fired
        assert (w.value is not None) != r.withdrawn

    return check


def _sleep_timer(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """sleep(): its timer fires (_wake_sleeper) against a withdraw."""
    e = SleepTimer(0.0, _wake_sleeper, r.t)
    r.park(e)
    r.steps["fire"] = lambda: _wake_sleeper(r.t)

    def check() -> None:
        assert e.arg is None

    return check


def _io_wait(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """An fd wait (wait_readable, PollDesc): the fd is ready, the timeout
    expires, or the wait is withdrawn."""
    stale: deque[int] = deque()
    rec = io._IOWait(r.t, 99, False, stale)
    r.park(rec)
    r.steps["ready"] = rec.fire
    r.steps["expire"] = lambda: io._expire(rec)

    def check() -> None:
        assert rec.fired
        assert not (rec.timed_out and r.withdrawn)
        # withdraw() (by the withdrawer or the timeout) queues the fd for tidying
        assert len(stale) == int(rec.timed_out or r.withdrawn)

    return check


def _blocking_until(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """blocking_until(): the worker thread finishes, the deadline passes, or
    the wait is withdrawn."""
    job = offload._Abandonable(r.t, lambda: 5, ())
    r.park(job)
    r.steps["finish"] = job.run
    r.steps["deadline"] = lambda: offload._abandon_at_deadline(job)

    def check() -> None:
        assert job.ended
        finished_first = not job.timed_out and not r.withdrawn
        assert not (job.timed_out and r.withdrawn)
        assert (job.result == 5) == finished_first

    return check


def _blocking_job(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """blocking(): cannot be withdrawn; the worker's finish always wins."""
    job = offload._Job(r.t, lambda: 6, (), {})
    r.park(job)
    r.steps["finish"] = job.run

    def check() -> None:
        assert not r.withdrawn and job.result == 6

    return check


class _FakeBackend:
    def __init__(self) -> None:
        self.awaiting: set[Any] = set()
        self.loop = None

    def poke(self) -> None:
        pass


class _CancelledFuture:
    def cancelled(self) -> bool:
        return True


def _await_record(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """await_(): the awaitable's done callback against a withdraw."""
    rec = _AwaitRecord(r.t, _FakeBackend())  # type: ignore[arg-type]
    r.park(rec)
    r.steps["done"] = lambda: rec.completed(_CancelledFuture())  # type: ignore[arg-type]

    def check() -> None:
        assert rec.done

    return check


class _Parker:
    """A coroutine's parker (waiter.Parker) that counts its wakes."""

    def __init__(self, is_dead: bool) -> None:
        self.is_dead = is_dead
        self.wakes = 0
        self.lock = threading.Lock()

    def dead(self) -> bool:
        return self.is_dead

    def wake(self) -> None:
        with self.lock:
            self.wakes += 1


def _loop_group(r: _Race, data: st.DataObject) -> Callable[[], None]:
    """A coroutine in aselect(a.recv, b.send) (LoopGroup); peers send on a,
    receive from b and close a; the coroutine is cancelled (its own
    withdraw); its loop may be gone (the group then refuses every
    completion)."""
    p = _Parker(data.draw(st.booleans(), "dead"))
    a, b = gochan.Chan[int](1), gochan.Chan[int](0)
    g = LoopGroup(p)
    wa, wb = Waiter(p, None, g, 0), Waiter(p, 30, g, 1)
    g.waiters += [wa, wb]
    with LOCK:
        push_waiter(a._recvq, wa)
        push_waiter(b._sendq, wb)
    withdrawn: list[bool] = []

    def cancel() -> None:  # _CoroParker.wait / _TrioParker.wait on cancellation
        with LOCK:
            withdrawn.append(g.withdraw())

    got: list[tuple[int | None, bool]] = []

    def recv_b() -> None:
        with LOCK:
            res = b._try_recv()
        if res is not gochan._runtime.chan.BLOCKED:
            v, ok, peer = res
            got.append((v, ok))
            if peer is not None:
                gochan._runtime.task.wake_peer(peer)

    panicked: list[bool] = []

    def send_a() -> None:
        try:
            a.send(10)
        except Panic:
            panicked.append(True)

    r.steps = {"send_a": send_a, "recv_b": recv_b, "close_a": a.close, "cancel": cancel}

    def check() -> None:
        assert g.fired and len(withdrawn) == 1
        won = withdrawn[0]
        assert p.wakes == (0 if won or p.is_dead else 1)
        assert not (wa.ok and wb.ok)
        assert list(a._buf).count(10) + int(wa.ok) == int(not panicked)
        assert got.count((30, True)) == int(wb.ok)
        assert not a._recvq and not b._sendq

    r.readies = lambda: 1  # type: ignore[method-assign]  # no Task: counted by wakes
    return check


KINDS: dict[str, Callable[[_Race, st.DataObject], Callable[[], None]]] = {
    "recv waiter": _recv_waiter,
    "send waiter": _send_waiter,
    "select group": _select_group,
    "loop group": _loop_group,
    "sema waiter": _sema_waiter,
    "one shot": _one_shot,
    "sleep timer": _sleep_timer,
    "io wait": _io_wait,
    "blocking_until job": _blocking_until,
    "blocking job": _blocking_job,
    "await record": _await_record,
}


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exactly_one_wins(kind: str, data: st.DataObject) -> None:
    def main() -> None:
        r = _Race()
        check = KINDS[kind](r, data)
        names = data.draw(st.permutations(sorted(r.steps)), "order")
        race = data.draw(st.booleans(), "race")
        where = data.draw(
            st.lists(st.booleans(), min_size=len(names), max_size=len(names)), "other thread"
        )
        _execute([(r.steps[n], th) for n, th in zip(names, where, strict=True)], race)
        assert r.readies() == 1, "the parked task must be readied exactly once"
        check()

    gochan.run(main)
