"""Tasks: go, run, implicit mode, gosched, current, num_goroutine, Task
handles, fatal exceptions and cancellation at the end of run()."""

from __future__ import annotations

import gc
import os
import threading

import pytest

import gochan
from gochan import Chan, go, run


def test_run_returns_result_and_passes_arguments() -> None:
    assert run(lambda a, b, *, c: a + b + c, 1, 2, c=3) == 6


def test_run_reraises_main_exception() -> None:
    def main() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        run(main)


def test_go_runs_when_caller_blocks_not_before() -> None:
    order: list[str] = []

    def main() -> None:
        go(order.append, "task")
        order.append("after go")
        gochan.gosched()
        order.append("after gosched")

    run(main)
    assert order == ["after go", "task", "after gosched"]


def test_tasks_run_in_fifo_order() -> None:
    order: list[int] = []

    def main() -> None:
        for i in range(5):
            go(order.append, i)
        gochan.gosched()

    run(main)
    assert order == [0, 1, 2, 3, 4]


def test_gosched_interleaves_tasks() -> None:
    out: list[str] = []

    def worker(name: str) -> None:
        for i in range(3):
            out.append(f"{name}{i}")
            gochan.gosched()

    def main() -> None:
        a, b = go(worker, "a"), go(worker, "b")
        a.join()
        b.join()

    run(main)
    assert out == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_current_and_task_handle() -> None:
    def child() -> int:
        t = gochan.current()
        assert t.name.endswith("child")
        return t.id

    def main() -> None:
        me = gochan.current()
        assert me.name == "main"
        t = go(child)
        assert not t.done()
        with pytest.raises(RuntimeError, match="join"):
            t.result()
        assert t.join() == t.id != me.id
        assert t.done() and t.result() == t.id

    run(main)


def test_task_name_is_writable() -> None:
    def main() -> None:
        t = go(lambda: None)
        t.name = "worker-1"
        t.join()
        assert repr(t).startswith(f"<Task {t.id} 'worker-1'")

    run(main)


def test_num_goroutine_counts_live_tasks() -> None:
    def main() -> None:
        block = Chan[None]()
        assert gochan.num_goroutine() == 1
        ts = [go(block.recv) for _ in range(3)]
        assert gochan.num_goroutine() == 4
        block.close()
        for t in ts:
            t.join()
        assert gochan.num_goroutine() == 1

    run(main)


def test_join_timeout_on_virtual_clock() -> None:
    def main() -> float:
        t = go(gochan.sleep, 10)
        with pytest.raises(TimeoutError):
            t.join(timeout=3)
        assert gochan.monotonic() == 3.0
        t.join(timeout=100)
        return gochan.monotonic()

    assert run(main, clock="virtual") == 10.0


def test_join_self_is_an_error() -> None:
    def main() -> None:
        with pytest.raises(RuntimeError, match="itself"):
            gochan.current().join()

    run(main)


def test_unrecovered_exception_in_task_reaches_main_with_note() -> None:
    cancelled: list[str] = []

    def bystander(ch: Chan[int]) -> None:
        try:
            ch.recv()
        except gochan.Cancelled:
            cancelled.append("bystander")
            raise

    def bad() -> None:
        raise ValueError("boom")

    def main() -> None:
        ch = Chan[int]()
        go(bystander, ch)
        t = go(bad)
        t.name = "the-bad-one"
        ch.recv()  # the crash is delivered here

    with pytest.raises(ValueError, match="boom") as ei:
        run(main)
    assert any("the-bad-one" in n and "goroutine" in n for n in ei.value.__notes__)
    assert cancelled == ["bystander"]


def test_crash_after_main_returned_is_raised_out_of_run() -> None:
    def main() -> None:
        def bad() -> None:
            raise OSError("late")

        go(bad)
        gochan.gosched()  # bad runs and crashes; main is runnable, not parked
        # main returns without blocking again: run() must still raise it

    with pytest.raises(OSError, match="late"):
        run(main)


def test_leftover_tasks_are_cancelled_and_finally_blocks_run() -> None:
    log: list[str] = []

    def waiter(ch: Chan[int]) -> None:
        try:
            ch.recv()
        finally:
            log.append("waiter finally")

    def sleeper() -> None:
        try:
            gochan.sleep(1e9)
        finally:
            log.append("sleeper finally")

    def never_started() -> None:
        log.append("never started ran!")

    def main() -> str:
        go(waiter, Chan[int]())
        go(sleeper)
        gochan.gosched()
        go(never_started)
        return "done"

    assert run(main) == "done"
    assert sorted(log) == ["sleeper finally", "waiter finally"]


def test_cancellation_is_sticky_so_blocking_in_finally_cannot_hang() -> None:
    log: list[str] = []

    def stubborn() -> None:
        try:
            Chan[int]().recv()
        finally:
            try:
                Chan[int]().recv()  # blocking again while cancelled: raises again
            except gochan.Cancelled:
                log.append("cancelled twice")

    def main() -> None:
        go(stubborn)
        gochan.gosched()

    run(main)
    assert log == ["cancelled twice"]


def test_exception_in_finally_during_shutdown_is_raised() -> None:
    def bad_cleanup() -> None:
        try:
            Chan[int]().recv()
        finally:
            raise RuntimeError("cleanup failed")

    def main() -> None:
        go(bad_cleanup)
        gochan.gosched()

    with pytest.raises(RuntimeError, match="cleanup failed"):
        run(main)


def test_task_cancel_wakes_a_parked_task_and_join_sees_cancelled() -> None:
    def main() -> None:
        t = go(Chan[int]().recv)
        gochan.gosched()
        assert t.cancel() is True
        with pytest.raises(gochan.Cancelled):
            t.join()
        assert t.cancelled() and t.cancel() is False

    run(main)


def test_cancelled_receiver_does_not_lose_a_delivered_value() -> None:
    # A value handed to a parked receiver is kept: cancellation arrives at the
    # receiver's *next* blocking point, after it has processed the value.
    got: list[int] = []

    def receiver(ch: Chan[int]) -> None:
        got.append(ch.recv())
        Chan[int]().recv()  # Cancelled here

    def main() -> None:
        ch = Chan[int]()
        t = go(receiver, ch)
        gochan.gosched()  # receiver parks in recv
        ch.send(7)  # hands 7 to the parked receiver, makes it runnable
        t.cancel()  # too late to withdraw: 7 is delivered
        with pytest.raises(gochan.Cancelled):
            t.join()

    run(main)
    assert got == [7]


def test_implicit_mode_channels_and_go_without_run() -> None:
    ch = Chan[int]()
    go(ch.send, 5)
    assert ch.recv() == 5
    assert gochan.current().name == "main"
    assert gochan.num_goroutine() == 1


def test_implicit_mode_in_a_thread() -> None:
    result: list[int] = []

    def thread_main() -> None:
        ch = Chan[int]()
        go(lambda: [ch.send(i) for i in range(3)])
        result.extend(ch.recv() for _ in range(3))  # type: ignore[misc]

    th = threading.Thread(target=thread_main)
    th.start()
    th.join()
    assert result == [0, 1, 2]


def test_run_is_reentrant_after_return_and_fresh_each_time() -> None:
    assert run(gochan.num_goroutine) == 1
    assert run(gochan.num_goroutine) == 1


def test_nested_run_inside_running_tasks_is_an_error() -> None:
    def main() -> None:
        go(Chan[int]().recv)
        gochan.gosched()
        with pytest.raises(RuntimeError, match="go\\(\\)"):
            run(lambda: None)

    run(main)


def test_go_rejects_non_callables_with_a_hint() -> None:
    def main() -> None:
        with pytest.raises(TypeError, match=r"go\(f, arg\)"):
            go(42)  # type: ignore[arg-type]

    run(main)


def test_go_rejects_async_functions() -> None:
    async def coro() -> None:
        pass

    def main() -> None:
        go(coro)
        Chan[int]().recv()

    with pytest.raises(TypeError, match="coroutine"):
        run(main)


def test_run_option_validation() -> None:
    with pytest.raises(ValueError, match="backend"):
        run(lambda: None, backend="nope")
    with pytest.raises(ValueError, match="clock"):
        run(lambda: None, clock="sundial")
    with pytest.raises(TypeError, match="seed"):
        run(lambda: None, seed="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        run(3)  # type: ignore[arg-type]


def test_blocking_in_a_timer_callback_context_is_an_error() -> None:
    # after_func runs fn in a *task*, so blocking there is fine.
    def main() -> int:
        ch = Chan[int]()
        gochan.after_func(1, lambda: ch.send(1))
        return ch.recv()

    assert run(main, clock="virtual") == 1


def test_blocking_from_foreign_greenlet_is_an_error() -> None:
    from greenlet import greenlet

    def main() -> None:
        g = greenlet(lambda: Chan[int]().recv())
        with pytest.raises(RuntimeError, match="does not manage"):
            g.switch()

    run(main)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_implicit_mode_threads_release_their_wakeup_sockets_at_exit() -> None:
    def body() -> None:
        ch = Chan[int]()
        go(lambda: (gochan.sleep(0.001), ch.send(1)))
        ch.recv()  # parks, so the thread's scheduler opens its wakeup sockets

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for _ in range(50):
        th = threading.Thread(target=body)
        th.start()
        th.join()
    gc.collect()
    assert open_fds() - before < 10  # was 3 per thread (150) before the fix


def test_tasks_that_parked_are_freed_by_reference_counting_when_they_end() -> None:
    # Issue 17 (a million tasks): every wait record points back at its task
    # (Waiter.task, OneShot.task, a select's group, a sleep's timer), and a
    # task kept its last record (Task._w, _waiting), so every task that had
    # ever parked ended as a reference cycle: memory that only a cyclic GC
    # pass gives back, a full collection for a task that parked long enough
    # to be promoted. Nor may a suspended scheduler frame pin a task (the
    # task that a parked task or an idle greenlet switched to). With the
    # cyclic GC off, every one of these tasks must be gone once it ended.
    # (Found by id among the objects the GC tracks: a compiled Task cannot
    # be weakly referenced.)
    n = 300
    ids: set[int] = set()

    def main() -> None:
        gate, stop, vals = Chan[None](), Chan[None](), Chan[int]()
        mu = gochan.Mutex()
        wg = gochan.WaitGroup()

        def locker() -> None:
            with mu:
                pass

        blocker = go(gate.recv)
        starts: list[tuple[object, ...]] = [
            (gate.recv,),  # a channel receive: the task's reusable Waiter
            (vals.send, 1),  # a channel send
            (gochan.select, gate.recv, stop.recv),  # a select: its group
            (blocker.join,),  # a join: a OneShot
            (gochan.sleep, 1.0),  # a sleep: its timer is the record
            (locker,),  # a mutex: a semaphore waiter
        ]
        mu.lock()
        for start in starts:
            for _ in range(n):
                ids.add(wg.go(*start).id)  # type: ignore[arg-type]
        del start
        gochan.gosched()  # every task starts and parks
        assert len(ids) == len(starts) * n
        assert sum(1 for t in tasks_of(ids) if not t.done()) == len(ids)
        gate.close()
        for _ in range(n):
            vals.recv()
        mu.unlock()
        wg.wait()  # (the sleepers wake when the virtual clock jumps)
        del blocker

    gc.collect()
    gc.disable()
    try:
        run(main, clock="virtual")
        alive = tasks_of(ids)
    finally:
        gc.enable()
    assert not alive, f"{len(alive)} of {len(ids)} ended tasks left to the cyclic GC: {alive[:3]}"


def tasks_of(ids: set[int]) -> list[gochan.Task]:
    """The live Task objects with these ids (the GC tracks every Task)."""
    return [o for o in gc.get_objects() if isinstance(o, gochan.Task) and o.id in ids]


def test_greenlets_of_a_burst_are_reused_while_busy_and_trimmed_when_idle() -> None:
    # A burst of tasks that are all alive at once needs one greenlet each.
    # Once they end, their greenlets wait on the free list, so that the next
    # burst reuses them; the first moment the hub has nothing to run, it
    # ends all but FREE_MAX of them.
    from gochan._runtime.greenlets import FREE_MAX
    from gochan._runtime.threads import peek_scheduler

    n = FREE_MAX * 3

    def burst(gate: gochan.Chan[None]) -> None:
        wg = gochan.WaitGroup()
        for _ in range(n):
            wg.go(gate.recv)
        gochan.gosched()  # every task starts and parks on the gate
        gate.close()
        wg.wait()

    def main() -> tuple[int, int, int]:
        s = peek_scheduler()
        assert s is not None
        burst(gochan.Chan[None]())
        after_first = len(s._free)  # all n, kept: no idle moment yet
        burst(gochan.Chan[None]())
        after_second = len(s._free)  # the same n greenlets again
        gochan.sleep(0.001)  # the hub goes idle: trims
        return after_first, after_second, len(s._free)

    # (Virtual time: the trim stops early when a timer falls due, and on a
    # real clock the sleep's own timer could.)
    first, second, idle = gochan.run(main, clock="virtual")
    assert first >= n and second == first
    assert idle == FREE_MAX
