"""OS-thread interop: channels, select, dump(), deadlock detection and timers across threads.

What this proves:

* 100,000 values pushed through buffered and unbuffered channels by four OS threads and
  several green tasks (plain sends and select send cases) arrive exactly once and in
  per-sender order, taken by green tasks on two schedulers and by threads (plain
  receives, ``for v in ch`` and select).
* A parked green task is woken by a send, receive or close made on another thread, and a
  parked thread by a green task; close from another thread wakes blocked receivers with
  ``(None, False)`` and makes blocked senders (plain and select) raise ``Panic("send on
  closed channel")``.
* select works across threads: select-vs-select between a thread and a green task pairs
  every round, and threads and green tasks selecting on the same channels deliver every
  value once.
* ``gochan.dump()`` called from a third thread lists every parked task of every
  scheduler with its state.
* Deadlock is never reported while another live thread could still wake a task (a plain
  thread, a gochan thread blocked outside gochan, a gochan thread waiting on its own
  timer), and is reported once that thread has exited without sending.
* ``Timer``/``Ticker`` ``stop()`` and ``reset()`` called from another thread act on the
  owner's scheduler: a stopped timer never fires (a fired one is drained), a reset one
  fires, and both wake an owner whose scheduler sleeps until a far-away timer (a reset
  delivers the tick; a stop of the only timer lets the owner report Deadlock).

Ordering between threads uses explicit hand-offs only. The key trick: a task started
with ``go(signal)`` right before a blocking call runs only once that call has parked
(same scheduler), so ``signal`` tells another thread "I am parked now" without sleeping.
The one poll is a condition wait on the scheduler's idle flag (proof that a deadlock
check ran). Wall-clock bounds appear only as generous safety nets that turn a hang into
a clean failure, never as assertions about speed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Chan, Deadlock, Panic, go, nilchan, run, select

SAFETY = 60.0  # seconds; a safety net for joins, never an assertion about speed
RESCUE = 20.0  # seconds; turns a missed timer wakeup into a clean failure, not a hang


class Worker(threading.Thread):
    """A thread whose exception (or result) is handed to the test by ``finish``."""

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


def _finish_all(*workers: Worker) -> None:
    for w in workers:
        w.join(timeout=SAFETY)
    for w in workers:
        w.finish()


# ---------------------------------------------------------------------------
# Bulk traffic
# ---------------------------------------------------------------------------

THREAD_SENDERS, PER_THREAD = 4, 20_000
GREEN_SENDERS, PER_GREEN = 4, 5_000
TOTAL = THREAD_SENDERS * PER_THREAD + GREEN_SENDERS * PER_GREEN


def test_100k_values_through_threads_and_tasks_arrive_once_in_order() -> None:
    unbuf, buf = Chan[tuple[int, int, int]](), Chan[tuple[int, int, int]](64)
    chans = (unbuf, buf)
    done = Chan[int]()
    outputs: dict[str, list[tuple[int, int, int]]] = {
        n: [] for n in ("g-unbuf", "g-buf", "g-select", "t-select", "t2-unbuf", "t2-buf")
    }

    def send_all(sid: int, n: int, use_select: bool) -> None:
        for j in range(n):
            if use_select:
                select((unbuf.send, (sid, j, 0)), (buf.send, (sid, j, 1)))
            else:
                c = int(j % 4 != 0)  # a quarter unbuffered, the rest buffered
                chans[c].send((sid, j, c))

    def thread_sender(sid: int) -> None:
        send_all(sid, PER_THREAD, sid % 2 == 1)
        done.send(sid)

    def drain(ch: Chan[Any], out: list[Any]) -> None:
        for v in ch:
            out.append(v)

    def select_drain(out: list[Any]) -> None:
        cases: list[Any] = [unbuf.recv_ok, buf.recv_ok]
        while cases != [nilchan.recv_ok] * 2:
            i, (v, ok) = select(*cases)
            if ok:
                out.append(v)
            else:
                cases[i] = nilchan.recv_ok  # closed and drained: never ready again

    def second_scheduler() -> None:  # a thread running its own green receivers
        tasks = [go(drain, unbuf, outputs["t2-unbuf"]), go(drain, buf, outputs["t2-buf"])]
        for t in tasks:
            t.join()

    threads = [Worker(thread_sender, sid, name=f"sender-{sid}") for sid in range(THREAD_SENDERS)]
    threads.append(Worker(select_drain, outputs["t-select"], name="select-receiver"))
    threads.append(Worker(run, second_scheduler, name="receiver-scheduler"))

    def main() -> None:
        for th in threads:
            th.start()
        senders = [
            go(send_all, THREAD_SENDERS + k, PER_GREEN, k % 2 == 1) for k in range(GREEN_SENDERS)
        ]
        receivers = [
            go(drain, unbuf, outputs["g-unbuf"]),
            go(drain, buf, outputs["g-buf"]),
            go(select_drain, outputs["g-select"]),
        ]
        for t in senders:
            t.join()
        assert sorted(done.recv() for _ in range(THREAD_SENDERS)) == list(range(THREAD_SENDERS))
        unbuf.close()
        buf.close()
        for t in receivers:
            t.join()

    try:
        run(main)
    finally:
        _finish_all(*threads)
    received = [v for out in outputs.values() for v in out]
    expected = {(sid, j) for sid in range(THREAD_SENDERS) for j in range(PER_THREAD)} | {
        (THREAD_SENDERS + k, j) for k in range(GREEN_SENDERS) for j in range(PER_GREEN)
    }
    assert len(expected) == TOTAL == 100_000
    # As many values as were sent, and every one of them: each arrived exactly once.
    assert len(received) == TOTAL
    assert {(sid, j) for sid, j, _ in received} == expected
    for sid, j, c in received:
        if sid % 2 == 0:  # plain senders: the channel is fixed by j
            assert c == int(j % 4 != 0), (sid, j, c)
    for name, out in outputs.items():  # per-sender order, per channel, per receiver
        last: dict[tuple[int, int], int] = {}
        for sid, j, c in out:
            assert last.get((sid, c), -1) < j, f"{name} got sender {sid}'s {j} out of order"
            last[sid, c] = j
    assert len(unbuf) == len(buf) == 0


# ---------------------------------------------------------------------------
# Wakeups across threads
# ---------------------------------------------------------------------------


def test_parked_green_tasks_are_woken_by_another_thread() -> None:
    """A receive and a send, parked on the main thread, completed by a plain thread;
    each woken task resumes on its own thread."""
    to_green, from_green = Chan[int](), Chan[int]()
    go_ahead = threading.Event()

    def other_thread() -> int:
        go_ahead.wait()  # both tasks are parked by now
        to_green.send(42)  # completes the parked receive
        return from_green.recv()  # completes the parked send

    th = Worker(other_thread, name="waker")

    def main() -> list[Any]:
        th.start()
        here = threading.get_ident()
        log: list[Any] = []
        recv = go(lambda: log.append(("recv", to_green.recv(), threading.get_ident() == here)))
        send = go(lambda: log.append(("send", from_green.send(7), threading.get_ident() == here)))
        gochan.gosched()  # both tasks run until they park
        assert (recv.state, send.state) == ("chan receive", "chan send")
        go(go_ahead.set)  # runs once main has parked in join() below
        recv.join()
        send.join()
        return sorted(log)

    try:
        log = run(main)
    finally:
        go_ahead.set()
        got = th.finish()
    assert got == 7
    assert log == [("recv", 42, True), ("send", None, True)]


def test_parked_main_task_is_woken_by_a_thread_send() -> None:
    ch = Chan[str]()
    go_ahead = threading.Event()
    th = Worker(lambda: (go_ahead.wait(), ch.send("from a thread")))

    def main() -> str | None:
        th.start()
        go(go_ahead.set)  # runs only once main has parked in ch.recv()
        return ch.recv()

    try:
        assert run(main) == "from a thread"
    finally:
        go_ahead.set()
        th.finish()


def test_parked_thread_is_woken_by_a_green_task() -> None:
    """A thread's own code (its main task, implicit mode) parks on recv and on send;
    green tasks on the main thread complete both."""
    ch, back = Chan[int](), Chan[int]()
    parked = Chan[str](2)

    def thread_main() -> tuple[int | None, str]:
        go(parked.send, "recv")  # runs once this thread's main task has parked
        v = ch.recv()
        go(parked.send, "send")
        back.send(v + 1)  # type: ignore[operator]
        return v, gochan.current().name

    th = Worker(thread_main, name="parked-thread")

    def main() -> int | None:
        th.start()
        assert parked.recv() == "recv"  # the thread is parked in ch.recv() now
        ch.send(1)
        assert parked.recv() == "send"  # ... and now in back.send()
        return back.recv()

    try:
        assert run(main) == 2
    finally:
        got = th.finish()
    assert got == (1, "main")


def test_close_from_another_thread_wakes_receivers_and_panics_senders() -> None:
    rch, sch = Chan[int](), Chan[int](1)
    go_ahead = threading.Event()

    def closer() -> None:
        go_ahead.wait()
        rch.close()
        sch.close()

    th = Worker(closer, name="closer")

    def sender(v: int) -> str:
        try:
            sch.send(v)
        except Panic as p:
            return str(p)
        return "sent"

    def select_sender() -> str:
        try:
            select((sch.send, 99), nilchan.recv)
        except Panic as p:
            return str(p)
        return "sent"

    def main() -> list[Any]:
        th.start()
        sch.send(0)  # full: the senders below block
        tasks = [
            go(rch.recv_ok),
            go(rch.recv),
            go(select, nilchan.recv, rch.recv_ok),
            go(sender, 1),
            go(sender, 2),
            go(select_sender),
        ]
        gochan.gosched()  # every task runs until it parks
        assert [t.state for t in tasks] == ["chan receive"] * 2 + ["select"] + (
            ["chan send"] * 2 + ["select"]
        )
        assert (len(rch._recvq), len(sch._sendq)) == (3, 3)
        go(go_ahead.set)  # runs once main has parked in join() below
        results = [t.join() for t in tasks]
        assert (len(rch._recvq), len(sch._sendq)) == (0, 0)
        # The buffered value survives the close; then the channel reads as drained.
        results += [sch.recv_ok(), sch.recv_ok()]
        return results

    try:
        results = run(main, debug=True)
    finally:
        go_ahead.set()
        th.finish()
    closed = "send on closed channel"
    assert results == [
        (None, False),
        None,
        (1, (None, False)),
        closed,
        closed,
        closed,
        (0, True),
        (None, False),
    ]


def test_close_from_a_green_task_wakes_parked_threads() -> None:
    rch, sch = Chan[int](), Chan[int]()
    parked = Chan[str](2)

    def thread_receiver() -> tuple[int | None, bool]:
        go(parked.send, "receiver")
        return rch.recv_ok()

    def thread_sender() -> str:
        go(parked.send, "sender")
        try:
            sch.send(1)
        except Panic as p:
            return str(p)
        return "sent"

    threads = [Worker(thread_receiver), Worker(thread_sender)]

    def main() -> None:
        for th in threads:
            th.start()
        assert {parked.recv(), parked.recv()} == {"receiver", "sender"}
        rch.close()
        sch.close()

    try:
        run(main)
    finally:
        _finish_all(*threads)
    assert [th.result for th in threads] == [(None, False), "send on closed channel"]


# ---------------------------------------------------------------------------
# select across threads
# ---------------------------------------------------------------------------


def test_select_vs_select_between_a_thread_and_a_green_task() -> None:
    """Both sides select over the same two unbuffered channels in opposite directions:
    every round pairs exactly one case on each side, so the two logs match."""
    a, b = Chan[tuple[str, int]](), Chan[tuple[str, int]]()
    rounds = 2_000

    def side(name: str, mine: Chan[Any], theirs: Chan[Any]) -> list[tuple[str, Any]]:
        log = []
        for r in range(rounds):
            i, v = select((mine.send, (name, r)), theirs.recv)
            log.append(("sent", r) if i == 0 else ("got", v))
        return log

    th = Worker(side, "thread", a, b, name="selecting-thread")

    def main() -> list[tuple[str, Any]]:
        th.start()
        return side("green", b, a)

    try:
        green_log = run(main, debug=True)
    finally:
        thread_log = th.finish()
    for r, (mine, theirs) in enumerate(zip(green_log, thread_log, strict=True)):
        assert mine in (("sent", r), ("got", ("thread", r))), (r, mine)
        expected = ("got", ("green", r)) if mine == ("sent", r) else ("sent", r)
        assert theirs == expected, (r, mine, theirs)
    assert not a._sendq and not a._recvq and not b._sendq and not b._recvq


def test_threads_and_green_tasks_select_on_the_same_channels() -> None:
    """Senders (two threads, two green tasks) select over send cases on two unbuffered
    channels; receivers (a thread and two green tasks) select over both plus a quit
    channel. Every value arrives once; no waiter is left behind."""
    a, b = Chan[tuple[int, int]](), Chan[tuple[int, int]]()
    quit_ = Chan[None]()
    per_sender = 2_000
    senders_done = Chan[int](4)

    def sender(sid: int) -> None:
        for j in range(per_sender):
            select((a.send, (sid, j)), (b.send, (sid, j)))
        senders_done.send(sid)

    def receiver(out: list[tuple[int, int]]) -> None:
        while True:
            i, v = select(a.recv, b.recv, quit_.recv)
            if i == 2:
                return
            out.append(v)  # type: ignore[arg-type]

    outs: list[list[tuple[int, int]]] = [[], [], []]
    threads = [Worker(sender, 0), Worker(sender, 1), Worker(receiver, outs[0])]

    def main() -> None:
        for th in threads:
            th.start()
        go(sender, 2)
        go(sender, 3)
        receivers = [go(receiver, outs[1]), go(receiver, outs[2])]
        assert sorted(senders_done.recv() for _ in range(4)) == [0, 1, 2, 3]
        quit_.close()
        for t in receivers:
            t.join()

    try:
        run(main, debug=True)
    finally:
        _finish_all(*threads)
    got = [v for out in outs for v in out]
    assert len(got) == 4 * per_sender
    assert set(got) == {(sid, j) for sid in range(4) for j in range(per_sender)}
    for out in outs:  # a sender's values, taken by one receiver, are in order
        for sid in range(4):
            mine = [j for s, j in out if s == sid]
            assert mine == sorted(mine)
    for ch in (a, b, quit_):
        assert not ch._sendq and not ch._recvq


# ---------------------------------------------------------------------------
# dump() from another thread
# ---------------------------------------------------------------------------


def test_dump_from_another_thread_lists_every_parked_task() -> None:
    never, full = Chan[int](), Chan[int](1)
    full.send(0)
    worker_ch, worker_stop = Chan[int](), Chan[None]()
    worker_parked = Chan[list[gochan.Task]](1)
    all_parked = threading.Event()
    dumped = Chan[str](1)

    def worker_thread() -> None:  # a second scheduler with parked tasks of its own
        me = gochan.current()
        me.name = "worker-main"
        tasks = [go(worker_ch.recv), go(select, worker_ch.recv, nilchan.recv)]
        tasks[0].name, tasks[1].name = "worker-recv", "worker-select"
        go(worker_parked.send, [me, *tasks])  # runs once the tasks above have parked
        worker_stop.recv()
        for t in tasks:
            t.join()

    def dumper() -> None:
        all_parked.wait()
        dumped.send(gochan.dump())  # main is parked in dumped.recv() meanwhile

    threads = [Worker(worker_thread, name="worker"), Worker(dumper, name="dumper")]

    def main() -> None:
        for th in threads:
            th.start()
        worker_tasks = worker_parked.recv()
        mine = {
            "recv": go(never.recv),
            "send": go(full.send, 1),
            "select": go(select, never.recv, (full.send, 2)),
            "nil": go(nilchan.recv),
            "nocases": go(select),
            "sleep": go(gochan.sleep, 3600),
        }
        mine["join"] = go(mine["recv"].join)
        for name, t in mine.items():
            t.name = f"parked-{name}"
        go(all_parked.set)  # runs once every task above, and main, has parked
        text = dumped.recv()
        expected_states = {
            "recv": "chan receive",
            "send": "chan send",
            "select": "select",
            "nil": "chan receive (nil chan)",
            "nocases": "select (no cases)",
            "sleep": "sleep",
            "join": "task join",
        }
        me = gochan.current()
        listed = [(me, "chan receive")]
        listed += [(mine[k], state) for k, state in expected_states.items()]
        listed += [(t, "chan receive" if t.name == "worker-main" else None) for t in worker_tasks]
        for t, state in listed:
            pattern = rf"goroutine {t.id} {re.escape(repr(t.name))} \[{re.escape(state or '')}"
            if state is None:  # the worker's tasks: receive or select
                pattern += r"(chan receive|select)"
            assert re.search(pattern + r"\]:", text), (pattern, text)
        assert "=== thread 'worker'" in text
        assert "in worker_thread" in text and "worker_stop.recv()" in text
        assert "in main" in text and "text = dumped.recv()" in text
        worker_ch.close()
        worker_stop.close()
        never.close()
        assert full.recv() == 0

    try:
        run(main)
    finally:
        _finish_all(*threads)


# ---------------------------------------------------------------------------
# Deadlock detection with other threads alive
# ---------------------------------------------------------------------------


def _wait_idle(s: Any) -> None:
    """Wait until scheduler ``s`` has found nothing runnable and no timer, and has run
    its deadlock check (which marks it idle). A condition wait, not a timing guess."""
    give_up = time.monotonic() + SAFETY
    while not s.idle:
        assert time.monotonic() < give_up, "the scheduler never went idle"
        threading.Event().wait(0.001)


@pytest.mark.parametrize("kind", ["plain thread", "gochan thread blocked outside gochan"])
def test_no_deadlock_while_another_thread_can_still_send(kind: str) -> None:
    """Main parks on a channel that only another thread will send on, once it is told
    to. The main scheduler goes idle and checks for deadlock meanwhile: it must not
    report one, because that thread is alive and not parked in gochan."""
    ch = Chan[int]()
    go_ahead = threading.Event()
    checked = threading.Event()
    sched: list[Any] = []

    def other_thread() -> None:
        if kind != "plain thread":
            gochan.current()  # now a gochan thread, blocked below outside gochan
        go_ahead.wait()
        _wait_idle(sched[0])  # the main scheduler has checked for deadlock
        checked.set()
        ch.send(99)

    th = Worker(other_thread)

    def main() -> int | None:
        from gochan._runtime.threads import get_scheduler

        sched.append(get_scheduler())
        th.start()
        go(go_ahead.set)  # runs once main has parked in ch.recv()
        return ch.recv()

    try:
        assert run(main) == 99
    finally:
        go_ahead.set()
        th.finish()
    assert checked.is_set()


@pytest.mark.parametrize("kind", ["plain thread", "gochan thread"])
def test_deadlock_reported_once_the_other_thread_exits_without_sending(kind: str) -> None:
    ch = Chan[int]()
    go_ahead = threading.Event()

    def other_thread() -> None:
        if kind == "gochan thread":
            gochan.go(lambda: None).join()  # used gochan, then leaves
        go_ahead.wait()  # main is parked; exit without sending

    th = Worker(other_thread)

    def main() -> None:
        th.start()
        go(go_ahead.set)
        ch.recv()

    try:
        with pytest.raises(Deadlock, match="all goroutines are asleep - deadlock!"):
            run(main)
    finally:
        go_ahead.set()
        th.finish()


def test_no_deadlock_while_another_gochan_thread_waits_on_a_timer() -> None:
    """A gochan thread parked on a timer is not idle: it will send when it fires."""
    ch = Chan[str]()
    go_ahead = threading.Event()

    def other_thread() -> None:
        go_ahead.wait()
        gochan.after(0.01).recv()  # parked on its own timer, no other work
        ch.send("after the timer")

    th = Worker(other_thread)

    def main() -> str | None:
        th.start()
        go(go_ahead.set)
        return ch.recv()

    try:
        assert run(main) == "after the timer"
    finally:
        go_ahead.set()
        th.finish()


# ---------------------------------------------------------------------------
# Timers driven from other threads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", ["Timer", "after_func"])
def test_timer_stopped_from_another_thread_never_fires(make: str) -> None:
    fired: list[str] = []

    def main() -> int:
        t = gochan.Timer(0) if make == "Timer" else gochan.after_func(0, lambda: fired.append("!"))
        # While this OS thread is blocked in join(), its scheduler cannot fire the
        # (already due) timer: the other thread's stop() wins for sure.
        th = Worker(t.stop)
        th.start()
        assert th.finish() is True
        # A later timer: had t survived, it would fire first (earlier deadline).
        i, _ = select(t.c.recv, gochan.after(0.01).recv)
        assert t.stop() is False
        return i

    assert run(main) == 1
    assert fired == []


def test_fired_timer_drained_by_stop_from_another_thread() -> None:
    def main() -> tuple[Any, ...]:
        t = gochan.Timer(0)
        gochan.sleep(0.001)  # the scheduler runs due timers: t fired into t.c
        assert len(t.c) == 1
        th = Worker(t.stop)
        th.start()
        stopped = th.finish()
        return stopped, len(t.c), select(t.c.recv, gochan.default)

    # Go 1.23: stop() reports True for a fired-but-unreceived timer and drains it.
    assert run(main) == (True, 0, (1, None))


def test_timer_reset_from_another_thread_rearms_it() -> None:
    def main() -> tuple[Any, int]:
        t = gochan.Timer(3600)
        th = Worker(t.reset, 0)
        th.start()
        was_active = th.finish()
        i, _ = select(t.c.recv, gochan.after(RESCUE).recv)
        return was_active, i

    assert run(main) == (True, 0)


def test_timer_reset_from_another_thread_wakes_the_waiting_owner() -> None:
    """The owner is parked, its scheduler asleep until a timer an hour away. A reset
    to zero from another thread must wake it now (the rescue channel is a safety net
    that turns a missed wakeup into a clean failure instead of a hang)."""
    rescue = Chan[None]()
    parked, woke = threading.Event(), threading.Event()
    t_box: list[gochan.Timer] = []

    def other_thread() -> bool:
        parked.wait()
        was_active = t_box[0].reset(0)
        if not woke.wait(timeout=RESCUE):
            rescue.send(None)
        return was_active

    th = Worker(other_thread)

    def main() -> int:
        t_box.append(gochan.Timer(3600))
        th.start()
        go(parked.set)  # runs once main has parked in the select below
        i, _ = select(t_box[0].c.recv, rescue.recv)
        woke.set()
        return i

    try:
        assert run(main) == 0, "reset() from another thread did not wake the owner"
    finally:
        parked.set()
        woke.set()
        assert th.finish() is True


def test_ticker_stop_and_reset_from_another_thread() -> None:
    def main() -> int:
        tk = gochan.Ticker(3600)
        th = Worker(tk.reset, 0.001)  # from another thread: tick soon
        th.start()
        th.finish()
        first = tk.c.recv()
        assert first is not None
        th = Worker(tk.stop)
        th.start()
        th.finish()
        # Stopped (and drained): only the later timer can fire.
        i, _ = select(tk.c.recv, gochan.after(0.05).recv)
        return i

    assert run(main) == 1


@pytest.mark.parametrize("make", ["Timer", "Ticker"])
def test_deadlock_reported_once_another_thread_stops_the_only_timer(make: str) -> None:
    """Main waits only on a timer an hour away; another thread stops it and exits.
    Nothing can wake main any more, so Deadlock is due now: the stop must wake the
    owner's scheduler, which was asleep until the old deadline (a runtime that misses
    this hangs here until pytest-timeout ends the test)."""
    parked = threading.Event()
    box: list[gochan.Timer | gochan.Ticker] = []

    def other_thread() -> None:
        parked.wait()
        box[0].stop()

    th = Worker(other_thread)

    def main() -> None:
        box.append(gochan.Timer(3600) if make == "Timer" else gochan.Ticker(3600))
        th.start()
        go(parked.set)  # runs once main has parked below
        box[0].c.recv()

    try:
        with pytest.raises(Deadlock, match="all goroutines are asleep"):
            run(main)
    finally:
        parked.set()
        th.finish()
