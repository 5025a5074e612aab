"""``gochan.blocking(fn, *args, **kwargs)``: a thread-blocking call on a worker
thread, parking only the calling task.

What this proves:

* The result comes back, and an exception comes back as the very same object
  (``BaseException``s too); arguments and keywords are passed through; the
  call runs on another OS thread.
* Only the calling task parks: another green task of the same thread runs
  meanwhile (it is the one that lets the thread call finish).
* Calls from different tasks overlap: ``MAX_WORKERS`` calls all meet at one
  ``threading.Barrier``; more calls than workers queue and all complete, and
  never more than ``MAX_WORKERS`` worker threads exist.
* Deadlock detection: a pending call is pending work (no Deadlock, and the
  virtual clock does not jump over it), while idle pool threads never hide a
  genuine deadlock afterwards.
* Cancellation: a task cancelled while waiting keeps waiting for the thread,
  then raises ``Cancelled`` with the thread's exception as ``__cause__`` and
  in a note; ``run()`` does not return while a call is still running.
* Misuse: ``RuntimeError`` in a timer callback or a foreign greenlet,
  ``TypeError`` for non-callables.

Hand-offs between threads are ``threading.Event``/``Barrier`` waits or a
condition poll on scheduler state; their timeouts are safety nets that turn a
hang into a failure, never assertions about speed.
"""

from __future__ import annotations

import contextvars
import operator
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from greenlet import greenlet

import gochan
from gochan import Cancelled, Chan, Deadlock, blocking, go, gosched, run
from gochan._runtime import offload
from gochan._runtime.scheduler import Scheduler
from gochan._runtime.threads import get_scheduler

SAFETY = 30.0  # seconds; a safety net for hand-offs, never an assertion about speed


def wait_until(cond: Callable[[], bool], what: str) -> None:
    """Poll ``cond`` (state another thread changes) until true; fail after SAFETY."""
    give_up = time.monotonic() + SAFETY
    while not cond():
        assert time.monotonic() < give_up, f"gave up waiting: {what}"
        threading.Event().wait(0.001)


def sleeping_idle(s: Scheduler) -> Callable[[], bool]:
    """True once ``s`` has nothing to run and its loop sleeps in the backend."""
    return lambda: s.current is None and not s.runq and s.backend.sleeping


# ---------------------------------------------------------------------------
# Results and exceptions
# ---------------------------------------------------------------------------


def test_returns_the_result_and_passes_arguments() -> None:
    def call(a: int, b: int = 0, *, c: int) -> tuple[int, int, int, int]:
        return a, b, c, threading.get_ident()

    def main() -> tuple[Any, int]:
        return blocking(call, 1, 2, c=3), threading.get_ident()

    (a, b, c, ident), here = run(main)
    assert (a, b, c) == (1, 2, 3)
    assert ident != here  # it ran on a worker thread


@pytest.mark.parametrize("kind", [ValueError, KeyboardInterrupt, SystemExit])
def test_reraises_the_same_exception_object(kind: type[BaseException]) -> None:
    exc = kind("from the thread")

    def fail() -> None:
        raise exc

    def main() -> BaseException:
        with pytest.raises(kind) as ei:
            blocking(fail)
        return ei.value

    assert run(main) is exc


def test_works_in_implicit_mode() -> None:
    assert blocking(operator.add, 1, 2) == 3  # no run(): the thread's code is its main task


# ---------------------------------------------------------------------------
# Only the caller parks; calls overlap; the pool is bounded
# ---------------------------------------------------------------------------


def test_the_call_runs_in_a_copy_of_the_tasks_context() -> None:
    # As asyncio.to_thread and trio.to_thread.run_sync: the call sees the
    # task's context variables; what it sets stays in its copy.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def in_thread() -> tuple[str, str]:
        seen = var.get()
        var.set("set in the thread")
        return seen, var.get()

    def main() -> tuple[tuple[str, str], str, str]:
        var.set("the task's")
        got = gochan.blocking(in_thread)
        deadline = gochan.monotonic() + SAFETY
        late = offload.blocking_until(deadline, var.get)
        return got, late, var.get()

    assert run(main) == (("the task's", "set in the thread"), "the task's", "the task's")


def test_parks_only_the_calling_task() -> None:
    release = threading.Event()

    def in_thread() -> bool:
        return release.wait(SAFETY)  # only a green task can set it

    def main() -> tuple[bool, list[str], list[int]]:
        caller = go(blocking, in_thread)
        seen: list[str] = []
        pings: list[int] = []

        def other() -> None:
            seen.append(caller.state)
            ping, pong = Chan[int](), Chan[int]()
            go(lambda: [pong.send(ping.recv() + 1) for _ in range(50)])
            for i in range(50):  # plenty of channel traffic while the caller waits
                ping.send(i)
                pings.append(pong.recv())
            seen.append(caller.state)
            release.set()

        go(other)
        return caller.join(), seen, pings

    ok, seen, pings = run(main)
    assert ok is True, "the thread call was never released: the green tasks did not run"
    assert seen == ["syscall", "syscall"]
    assert pings == list(range(1, 51))


def test_parallel_calls_overlap() -> None:
    n = offload.MAX_WORKERS
    barrier = threading.Barrier(n, timeout=SAFETY)  # breaks unless all n calls meet

    def main() -> list[int]:
        tasks = [go(blocking, barrier.wait) for _ in range(n)]
        return sorted(t.join() for t in tasks)

    assert run(main) == list(range(n))


def test_pool_is_bounded_and_queued_calls_all_complete() -> None:
    n, extra = offload.MAX_WORKERS, 3
    gate, all_busy = threading.Event(), threading.Event()
    lock = threading.Lock()
    active, peak = [0], [0]

    def job(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] == n:
                all_busy.set()
        gate.wait(SAFETY)
        with lock:
            active[0] -= 1
        return i

    def main() -> list[int]:
        tasks = [go(blocking, job, i) for i in range(n + extra)]
        gosched()  # every task runs until it parks in blocking()
        assert [t.state for t in tasks] == ["syscall"] * (n + extra)
        assert len(offload.POOL.threads) == n  # no worker beyond the bound
        assert all_busy.wait(SAFETY)  # blocks this OS thread only: the workers run on
        assert len(offload.POOL.jobs) == extra  # the rest wait their turn
        gate.set()
        return [t.join() for t in tasks]

    assert run(main) == list(range(n + extra))
    assert peak[0] == n


# ---------------------------------------------------------------------------
# Deadlock detection
# ---------------------------------------------------------------------------


def test_a_pending_call_is_not_a_deadlock() -> None:
    """Main waits on a channel that only the task in blocking() will send on, and the
    scheduler has nothing else to do: it must sleep, not report a deadlock."""

    def main() -> str | None:
        s = get_scheduler()

        def in_thread() -> str:
            wait_until(sleeping_idle(s), "the main scheduler to go idle")
            return "from the thread"

        ch = Chan[str]()
        go(lambda: ch.send(blocking(in_thread)))
        return ch.recv()

    assert run(main) == "from the thread"


def test_virtual_clock_does_not_jump_over_a_pending_call() -> None:
    """With only a timer left besides the call, virtual time must not advance: the
    thread call is work in progress, not a blocked task."""

    def main() -> tuple[int, Any, float]:
        s = get_scheduler()
        t0 = gochan.monotonic()

        def in_thread() -> str:
            wait_until(sleeping_idle(s), "the main scheduler to go idle")
            return "from the thread"

        ch = Chan[str]()
        go(lambda: ch.send(blocking(in_thread)))
        i, v = gochan.select(ch.recv, gochan.after(60).recv)
        return i, v, gochan.monotonic() - t0

    assert run(main, clock="virtual") == (0, "from the thread", 0)


@pytest.mark.timeout(20)  # with the bug, the report would wait for IDLE_SECONDS
def test_idle_pool_threads_do_not_hide_a_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offload, "IDLE_SECONDS", 3600.0)  # idle workers stay for the test

    def main() -> None:
        barrier = threading.Barrier(3, timeout=SAFETY)
        tasks = [go(blocking, barrier.wait) for _ in range(3)]
        for t in tasks:
            t.join()
        workers = [t for t in threading.enumerate() if t.name.startswith("gochan-blocking-")]
        assert len(workers) == 3
        with pytest.raises(Deadlock, match="all goroutines are asleep - deadlock!"):
            Chan[int]().recv()
        assert all(t.is_alive() for t in workers)  # reported while they were still there

    run(main)


# ---------------------------------------------------------------------------
# Cancellation and run()
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["raises", "returns"])
def test_cancelled_task_waits_for_the_thread_then_raises(outcome: str) -> None:
    release, finished = threading.Event(), threading.Event()
    boom = OSError("disk on fire")
    seen: dict[str, Any] = {}

    def in_thread() -> str:
        assert release.wait(SAFETY)
        finished.set()
        if outcome == "raises":
            raise boom
        return "a result nobody takes"

    def caller() -> None:
        try:
            blocking(in_thread)
        except Cancelled as e:
            seen["exc"] = e
            seen["thread had finished"] = finished.is_set()
            raise

    def main() -> gochan.Task:
        t = go(caller)
        gosched()
        assert t.state == "syscall"
        assert t.cancel()
        gosched()
        assert not t.done() and t.state == "syscall"  # still waiting for the thread
        release.set()
        with pytest.raises(Cancelled):
            t.join()
        return t

    t = run(main)
    assert t.cancelled()
    e = seen["exc"]
    assert seen["thread had finished"]
    if outcome == "raises":
        assert e.__cause__ is boom
        assert any("OSError: disk on fire" in note for note in e.__notes__)
    else:
        assert e.__cause__ is None
        assert not getattr(e, "__notes__", None)


def test_run_does_not_return_while_a_call_is_running() -> None:
    returned = threading.Event()
    log: list[Any] = []
    scheds: list[Scheduler] = []

    def in_thread() -> int:
        s = scheds[0]
        # main has returned; run() now waits in its shutdown for the task in blocking()
        wait_until(
            lambda: returned.is_set() or (s.main.state == "run shutdown" and s.backend.sleeping),
            "run() to wait in its shutdown",
        )
        log.append(("run() still waiting", not returned.is_set()))
        return 1

    def main() -> gochan.Task:
        scheds.append(get_scheduler())
        t = go(blocking, in_thread)
        gosched()
        assert t.state == "syscall"
        return t

    t = run(main)
    returned.set()
    log.append("run() returned")
    assert log == [("run() still waiting", True), "run() returned"]
    assert t.cancelled()  # shutdown cancelled it; it ended once the thread returned


# ---------------------------------------------------------------------------
# Misuse
# ---------------------------------------------------------------------------


def test_blocking_in_a_timer_callback_is_a_runtime_error() -> None:
    called: list[int] = []

    def main() -> list[Exception]:
        s = get_scheduler()
        errors: list[Exception] = []

        def callback() -> None:  # runs in the scheduler loop, where nothing may block
            try:
                blocking(called.append, 1)
            except RuntimeError as e:
                errors.append(e)

        s.timers.add(gochan.monotonic() + 1, callback)
        gochan.sleep(2)
        return errors

    errors = run(main, clock="virtual")
    assert len(errors) == 1 and "timer callback" in str(errors[0])
    assert called == []


def test_blocking_from_a_foreign_greenlet_is_a_runtime_error() -> None:
    called: list[int] = []

    def main() -> None:
        g = greenlet(lambda: blocking(called.append, 1))
        with pytest.raises(RuntimeError, match="does not manage"):
            g.switch()

    run(main)
    assert called == []


@pytest.mark.parametrize("bad", [42, None, "print", (print,)])
def test_non_callable_is_a_type_error(bad: Any) -> None:
    def main() -> None:
        with pytest.raises(TypeError, match="callable"):
            blocking(bad)

    run(main)
    assert not offload.POOL.threads  # nothing was submitted
