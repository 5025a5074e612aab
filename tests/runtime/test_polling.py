"""Polling loops and tasks that hold their thread (issue: no task can starve the others).

What this proves:

* A task that keeps polling -- ``select`` with ``default``, ``Mutex.try_lock``,
  ``RWMutex.try_lock``/``try_rlock``, ``Semaphore.try_acquire`` -- still lets the other
  tasks, timers and interrupts through: every ``POLL_YIELD`` failed tries of a thread
  yield through the hub. Each loop below would spin forever without that rule.
* A polling task can be cancelled, and a fatal error reaches a polling main task.
* The opt-in hold monitor (``run(monitor=...)``, ``GOCHAN_MONITOR``) logs a warning
  naming a task that holds its thread past the threshold while something waits, with
  its stack; it reports once per hold, never for an idle thread or a thread nobody else
  needs; it costs nothing when off (no trace function, no thread), never vetoes a
  deadlock report, and its threshold is validated like every duration.

Orderings are explicit hand-offs. The monitor's own decisions are tested by calling
``Watch.look`` with explicit times; the one end-to-end test waits for the report itself
(the spinning task stops when the warning arrives), never for an amount of time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from types import SimpleNamespace
from typing import Any

import greenlet
import pytest

import gochan
from gochan import Chan, Deadlock, default, go, gosched, run, select
from gochan._runtime import monitor
from gochan._runtime.gosched import POLL_YIELD

SAFETY = 60.0  # seconds; a safety net, never an assertion about speed


def test_a_select_default_loop_lets_the_sender_run() -> None:
    def main() -> tuple[str | None, int]:
        c = Chan[str]()
        go(c.send, "hi")
        spins = 0
        while True:
            i, v = select(c.recv, default)
            if i == 0:
                return v, spins
            spins += 1

    v, spins = run(main)
    assert v == "hi" and spins <= POLL_YIELD


def test_a_select_default_loop_lets_timers_fire() -> None:
    def main() -> int:
        t = gochan.after(0.001)
        spins = 0
        while select(t.recv, default)[0] != 0:
            spins += 1
        return spins

    assert run(main) >= 0  # it ends: the hub fired the timer between polls


def test_other_tasks_run_at_least_once_per_poll_yield_failed_polls() -> None:
    def main() -> int:
        ran = 0

        def other() -> None:
            nonlocal ran
            while True:
                ran += 1
                gosched()

        go(other)
        for _ in range(POLL_YIELD * 10):
            select(gochan.nilchan.recv, default)
        return ran

    assert run(main) >= 10


@pytest.mark.parametrize("kind", ["mutex", "rwmutex", "rlock", "semaphore"])
def test_try_loops_let_the_holder_release(kind: str) -> None:
    def main() -> int:
        if kind == "semaphore":
            sem = gochan.Semaphore(1)
            sem.acquire()
            take, give = sem.try_acquire, sem.release
        elif kind == "mutex":
            m = gochan.Mutex()
            m.lock()
            take, give = m.try_lock, m.unlock
        else:
            rw = gochan.RWMutex()
            rw.lock()
            take = rw.try_rlock if kind == "rlock" else rw.try_lock
            give = rw.unlock

        def holder() -> None:
            gosched()
            give()

        go(holder)
        tries = 0
        while not take():
            tries += 1
        return tries

    assert run(main) >= 1


def test_a_polling_task_can_be_cancelled() -> None:
    def main() -> bool:
        def poller() -> None:
            while True:
                select(gochan.nilchan.recv, default)

        t = go(poller)
        gosched()  # it starts polling; its polls yield back to us
        t.cancel()
        with pytest.raises(gochan.Cancelled):
            t.join()
        return t.cancelled()

    assert run(main)


def test_a_fatal_error_reaches_a_polling_main_task() -> None:
    class Boom(Exception):
        pass

    def main() -> None:
        def bad() -> None:
            raise Boom

        go(bad)
        while True:
            select(gochan.nilchan.recv, default)

    with pytest.raises(Boom):
        run(main)


# -- the hold monitor ----------------------------------------------------------------


def _fake_sched(current: Any, runq: int = 0, due: float | None = None) -> Any:
    clock = SimpleNamespace(now=lambda: 100.0)
    timers = [] if due is None else [(due, 0, None)]
    return SimpleNamespace(
        current=current,
        runq=[object()] * runq,
        incoming=[],
        timers=SimpleNamespace(heap=timers),
        clock=clock,
        thread=SimpleNamespace(name="T"),
        thread_id=-1,
    )


def _fake_task() -> Any:
    return SimpleNamespace(
        id=7, name="crunch", state="running", waiting_on=None, greenlet=None, creator=0
    )


def test_the_monitor_reports_a_hold_once_with_what_waits() -> None:
    w = monitor.Watch(_fake_sched(_fake_task(), runq=2, due=99.5), 0.1, now=0.0)
    assert w.look(0.0) is None  # first look: the switch count is news
    assert w.look(0.05) is None  # under the threshold
    report = w.look(0.2)
    assert report is not None
    assert "goroutine 7 ('crunch') has held thread 'T' for 0.200s" in report
    assert "2 runnable task(s)" in report and "a timer (0.500s overdue)" in report
    assert "gochan.gosched()" in report and "gochan.blocking()" in report
    assert w.look(0.5) is None  # once per hold
    w.switches += 1  # the task switched: a new hold starts
    assert w.look(0.6) is None
    assert w.look(0.75) is not None


def test_the_monitor_is_quiet_for_an_idle_thread_or_one_nobody_else_needs() -> None:
    idle = monitor.Watch(_fake_sched(None, runq=3), 0.1, now=0.0)
    alone = monitor.Watch(_fake_sched(_fake_task()), 0.1, now=0.0)
    future = monitor.Watch(_fake_sched(_fake_task(), due=101.0), 0.1, now=0.0)
    for w in (idle, alone, future):
        w.look(0.0)
        assert w.look(10.0) is None


def test_a_task_holding_its_thread_is_reported_with_its_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reported = threading.Event()

    class Flag(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reported.set()

    flag = Flag()
    logging.getLogger("gochan.monitor").addHandler(flag)

    def crunch() -> None:
        give_up = time.monotonic() + SAFETY
        while not reported.is_set() and time.monotonic() < give_up:
            pass  # holds the thread: no blocking call, no yield

    def main() -> None:
        assert greenlet.gettrace() is not None
        go(crunch)
        go(lambda: None)  # waits for the thread while crunch holds it
        gosched()

    try:
        with caplog.at_level(logging.WARNING, logger="gochan.monitor"):
            run(main, monitor=0.05)
    finally:
        logging.getLogger("gochan.monitor").removeHandler(flag)
    assert reported.is_set()
    (record,) = caplog.records
    assert "crunch') has held thread" in record.message
    assert "in crunch" in record.message  # its stack
    assert not [t for t in threading.enumerate() if t.name == "gochan-monitor"]
    assert greenlet.gettrace() is None


def test_the_monitor_costs_nothing_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOCHAN_MONITOR", raising=False)

    def main() -> tuple[object, list[str]]:
        return greenlet.gettrace(), [t.name for t in threading.enumerate()]

    trace, names = run(main)
    assert trace is None and "gochan-monitor" not in names
    trace, names = run(main, monitor=math.inf)  # "never": off
    assert trace is None and "gochan-monitor" not in names


def test_the_monitor_thread_never_hides_a_deadlock() -> None:
    with pytest.raises(Deadlock):
        run(Chan[int]().recv, monitor=0.05)


def test_the_environment_variable_turns_it_on_for_run_and_implicit_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOCHAN_MONITOR", "0.05")

    def names() -> list[str]:
        return [t.name for t in threading.enumerate()]

    assert "gochan-monitor" in run(names)
    seen: list[list[str]] = []

    def body() -> None:
        gochan.go(lambda: None)  # implicit mode on this thread
        seen.append(names())

    th = threading.Thread(target=body)
    th.start()
    th.join(SAFETY)
    assert "gochan-monitor" in seen[0]
    assert "gochan-monitor" not in names()  # unwatched and joined when the thread ended


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (math.nan, ValueError),
        (0, ValueError),
        (-1, ValueError),
        (-math.inf, ValueError),
        (True, TypeError),
        ("0.1", TypeError),
    ],
)
def test_bad_monitor_thresholds_are_refused_at_the_call(value: Any, error: type) -> None:
    with pytest.raises(error, match="monitor"):
        run(lambda: None, monitor=value)


@pytest.mark.parametrize("raw", ["abc", "nan", "0", "-2"])
def test_a_bad_environment_value_is_refused_naming_the_variable(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOCHAN_MONITOR", raw)
    with pytest.raises(ValueError, match="GOCHAN_MONITOR"):
        run(lambda: None)
