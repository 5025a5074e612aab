"""Task greenlets carried from one run() to the next on the same thread
(greenlets.CARRY_MAX): reused, bounded, clean, and ended with the thread."""

from __future__ import annotations

import _thread
import contextvars
import gc
import os
import subprocess
import sys
import threading
import weakref
from typing import Any

import pytest
from greenlet import getcurrent

import gochan
from gochan._runtime import greenlets
from gochan._runtime.greenlets import CARRY_MAX, FREE_MAX
from gochan._runtime.threads import peek_scheduler

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def burst(n: int, body: Any = None) -> list[weakref.ref[Any]]:
    """Run ``n`` tasks that are all alive at once (each parks on a gate);
    weak references to the greenlets they ran on."""
    gate = gochan.Chan[None]()
    seen: list[weakref.ref[Any]] = []

    def task() -> None:
        seen.append(weakref.ref(getcurrent()))
        if body is not None:
            body()
        gate.recv()

    wg = gochan.WaitGroup()
    for _ in range(n):
        wg.go(task)
    gochan.gosched()  # every task starts and parks on the gate
    gate.close()
    wg.wait()
    return seen


def carried() -> int:
    c = getattr(greenlets._local, "carried", None)
    return len(c.gs) if c else 0


@pytest.fixture(autouse=True)
def no_carried_greenlets() -> Any:
    greenlets.end_carried()
    yield
    greenlets.end_carried()


def test_the_next_run_starts_its_tasks_on_the_last_runs_greenlets() -> None:
    n = 500
    first = gochan.run(burst, n)
    assert carried() == n
    second = gochan.run(burst, n)
    assert {id(r()) for r in second} == {id(r()) for r in first}
    assert all(r() is not None for r in first)


def test_nothing_of_a_task_carries_over_to_the_next_run() -> None:
    def first() -> None:
        def body() -> None:
            VAR.set("leaked")
            gochan.current().name = "old"

        burst(50, body)

    def second() -> list[tuple[str, str, bool]]:
        s = peek_scheduler()
        out: list[tuple[str, str, bool]] = []

        def body() -> None:
            t = gochan.current()
            out.append((VAR.get(), t.name, t.sched is s))

        burst(50, body)
        return out

    gochan.run(first)
    assert carried() == 50
    out = gochan.run(second)
    assert out == [("unset", "burst.<locals>.task", True)] * 50


def test_every_task_starts_with_an_empty_context() -> None:
    # As on a fresh greenlet: a task never sees the context variables of
    # the task that ran before it on a reused greenlet (one run), whether
    # that greenlet was switched to or ran the next task in line itself.
    def main() -> list[str]:
        seen: list[str] = []

        def setter(i: int) -> None:
            seen.append(VAR.get())
            VAR.set(f"task {i}")

        for i in range(3):  # one after the other, each on the greenlet freed before it
            wg = gochan.sync.WaitGroup()
            wg.go(setter, i)
            wg.wait()
        wg = gochan.sync.WaitGroup()
        for i in range(3, 6):  # queued together: one greenlet runs them in line
            wg.go(setter, i)
        wg.wait()
        seen.append(VAR.get())  # and main's own context is its own
        return seen

    assert gochan.run(main) == ["unset"] * 7


def test_a_failed_run_leaves_usable_greenlets() -> None:
    def crash() -> None:
        def body() -> None:
            raise KeyError("boom")

        burst(20, body)

    with pytest.raises(KeyError):
        gochan.run(crash)
    assert gochan.run(
        lambda: [t.join() for t in [gochan.go(lambda i=i: i) for i in range(40)]]
    ) == list(range(40))


def test_carried_greenlets_are_bounded() -> None:
    gochan.run(burst, CARRY_MAX + 100)
    assert carried() == CARRY_MAX


def test_the_next_run_trims_what_it_does_not_use_at_its_first_idle_moment() -> None:
    gochan.run(burst, FREE_MAX * 3)
    assert carried() == FREE_MAX * 3

    def main() -> tuple[int, int]:
        s = peek_scheduler()
        assert s is not None
        before = len(s._free)
        gochan.sleep(0.001)  # the hub goes idle: trims
        return before, len(s._free)

    before, after = gochan.run(main, clock="virtual")
    assert before == FREE_MAX * 3
    assert after == FREE_MAX


def test_implicit_mode_and_run_share_the_threads_greenlets() -> None:
    # run() sets the thread's implicit scheduler aside while it runs; each
    # serves its own tasks, whichever greenlet they land on.
    def in_thread() -> None:
        t = gochan.go(lambda: 1)  # implicit mode
        assert t.join() == 1
        assert gochan.run(burst, 30) and carried() == 30
        assert gochan.go(lambda: 2).join() == 2
        assert gochan.run(lambda: gochan.go(lambda: 3).join()) == 3

    th = threading.Thread(target=in_thread)
    th.start()
    th.join()


@pytest.mark.parametrize("kind", ["threading", "_thread"])
def test_the_carried_greenlets_end_with_their_thread(kind: str) -> None:
    refs: list[weakref.ref[Any]] = []
    done = threading.Event()

    def in_thread() -> None:
        try:
            refs.extend(gochan.run(burst, 40))
            assert carried() == 40
        finally:
            done.set()

    if kind == "threading":
        th = threading.Thread(target=in_thread)
        th.start()
        th.join()
    else:
        _thread.start_new_thread(in_thread, ())
        done.wait(10)
    for _ in range(200):  # a _thread thread tears its locals down after done.set()
        gc.collect()
        if all(r() is None for r in refs):
            break
        threading.Event().wait(0.01)
    assert len(refs) == 40
    assert all(r() is None for r in refs)


def test_the_main_threads_carried_greenlets_end_at_exit() -> None:
    code = (  # atexit runs the last registered first: the check, after gochan's
        "import atexit\n"
        "gs = []\n"
        "atexit.register(lambda: print(sum(g.dead for g in gs)))\n"
        "import gochan\n"
        "from gochan._runtime import greenlets\n"
        "def main():\n"
        "    for _ in range(100): gochan.go(gochan.sleep, 0.001)\n"
        "    gochan.sleep(0.01)\n"
        "gochan.run(main)\n"
        "gs.extend(greenlets._local.carried.gs)\n"
        "assert len(gs) == 100, len(gs)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "100"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reuses_the_forking_threads_greenlets() -> None:
    # The forking thread's carried greenlets are the child's too (its own
    # thread, copied); another thread's were left behind with that thread.
    started = threading.Event()
    stop = threading.Event()

    def other() -> None:
        gochan.run(burst, 10)  # carried on this thread, which the child lacks
        started.set()
        stop.wait(10)

    th = threading.Thread(target=other)
    th.start()
    started.wait(10)
    first = {id(r()) for r in gochan.run(burst, 20)}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            again = {id(r()) for r in gochan.run(burst, 20)}
            ok = again == first and carried() == 20
        finally:
            os._exit(0 if ok else 1)
    stop.set()
    th.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
