"""Deadlock reports and dump(): Go's header, every task with its id, name,
state and Python stack; never a false report."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable

import pytest

import gochan
from gochan import Chan, Deadlock, go, run


def _report(main) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Deadlock) as ei:
        run(main)
    return str(ei.value)


def test_main_alone_blocked_on_recv() -> None:
    def lonely_main() -> None:
        Chan[int]().recv()

    text = _report(lonely_main)
    assert text.startswith("all goroutines are asleep - deadlock!\n")
    assert re.search(r"goroutine \d+ 'main' \[chan receive\]:", text)
    assert "in lonely_main" in text and "Chan[int]().recv()" in text


def test_report_lists_every_task_with_state_and_stack() -> None:
    def stuck_sender(ch: Chan[int]) -> None:
        ch.send(1)

    def stuck_selecter(a: Chan[int], b: Chan[int]) -> None:
        gochan.select(a.recv, b.recv)

    def main() -> None:
        s = go(stuck_sender, Chan[int]())
        s.name = "sender"
        go(stuck_selecter, Chan[int](), Chan[int]())
        go(gochan.nilchan.recv)
        go(gochan.select)
        Chan[int]().recv()

    text = _report(main)
    for pattern in (
        r"'main' \[chan receive\]",
        r"'sender' \[chan send\]",
        r"'main\.<locals>\.stuck_selecter'|stuck_selecter' \[select\]",
        r"\[chan receive \(nil chan\)\]",
        r"\[select \(no cases\)\]",
    ):
        assert re.search(pattern, text), (pattern, text)
    assert "in stuck_sender" in text and "ch.send(1)" in text
    assert "created by goroutine" in text
    assert "waiting on <Chan cap=0" in text
    assert "_runtime" not in text  # gochan internals are hidden from stacks


def test_sleeping_task_is_not_a_deadlock() -> None:
    def main() -> int:
        ch = Chan[int]()
        go(lambda: (gochan.sleep(5), ch.send(1)))
        return ch.recv()

    assert run(main, clock="virtual") == 1


def test_deadlock_after_timers_run_out() -> None:
    def main() -> None:
        ch = Chan[int]()
        gochan.after_func(3, lambda: None)
        ch.recv()

    with pytest.raises(Deadlock):
        run(main, clock="virtual")


def test_deadlock_is_catchable_and_run_continues() -> None:
    def main() -> str:
        ch = Chan[int]()
        with pytest.raises(Deadlock):
            ch.recv()
        go(ch.send, 3)
        return f"recovered {ch.recv()}"

    assert run(main) == "recovered 3"


def test_deadlock_in_implicit_mode() -> None:
    with pytest.raises(Deadlock, match="all goroutines are asleep"):
        Chan[int]().recv()


def test_no_false_report_while_a_foreign_thread_can_still_send() -> None:
    ch = Chan[int]()
    go_ahead = threading.Event()

    def other_thread() -> None:
        go_ahead.wait()
        ch.send(99)

    th = threading.Thread(target=other_thread)
    th.start()

    def main() -> int:
        # Parked with no timer: only the other thread can wake us. The
        # scheduler keeps re-checking and must not report while it lives.
        go(lambda: (gochan.sleep(0.05), go_ahead.set()))
        return ch.recv()

    try:
        assert run(main) == 99
    finally:
        go_ahead.set()
        th.join()


def test_deadlock_reported_once_the_other_thread_exits() -> None:
    ch = Chan[int]()
    started = threading.Event()

    def other_thread() -> None:
        started.set()  # exits without sending

    th = threading.Thread(target=other_thread)
    th.start()
    started.wait()
    try:
        with pytest.raises(Deadlock):
            run(ch.recv)
    finally:
        th.join()


def test_global_deadlock_across_two_gochan_threads() -> None:
    a, b = Chan[int](), Chan[int]()
    errors: list[BaseException] = []
    ready = threading.Event()

    def thread_main() -> None:
        try:
            ready.set()
            a.recv()  # waits for main thread, which waits for us
        except Deadlock as e:
            errors.append(e)

    th = threading.Thread(target=thread_main, name="peer")
    th.start()
    ready.wait()
    try:
        with pytest.raises(Deadlock) as ei:
            run(b.recv)
    finally:
        th.join(timeout=30)
    assert not th.is_alive()
    assert len(errors) == 1
    assert "=== thread 'peer'" in str(ei.value)


def test_dump_lists_tasks_from_inside_and_from_another_thread() -> None:
    out: list[str] = []

    def main() -> None:
        w = go(Chan[int]().recv)
        w.name = "parked-worker"
        gochan.gosched()
        out.append(gochan.dump())
        th = threading.Thread(target=lambda: out.append(gochan.dump()))
        th.start()
        th.join()

    run(main)
    inside, outside = out
    assert re.search(r"'main' \[running\]", inside)
    assert re.search(r"'parked-worker' \[chan receive\]", inside)
    assert re.search(r"'parked-worker' \[chan receive\]", outside)
    assert "in main" in inside


def test_no_false_report_while_a_raw_thread_can_still_send() -> None:
    # Threads started with _thread.start_new_thread are missing from
    # threading.enumerate(); the detector must still count them.
    import _thread
    import time

    ch = Chan[int]()
    running, finished = _thread.allocate_lock(), _thread.allocate_lock()
    running.acquire()
    finished.acquire()

    def raw(main_task: gochan.Task) -> None:
        try:
            running.release()
            while main_task.state != "chan receive":  # wait until main is parked
                time.sleep(0.001)
            time.sleep(0.05)  # the detector runs meanwhile and must not fire
            ch.send(42)
        finally:
            finished.release()

    def main() -> int:
        _thread.start_new_thread(raw, (gochan.current(),))
        running.acquire()  # the raw thread is up before main parks
        return ch.recv()

    assert run(main) == 42
    finished.acquire()


def _raw_thread_that_exits(body: Callable[[], object]) -> int:
    """Run ``body`` on a thread started outside ``threading`` and return
    its ident once the thread is gone (no Python thread state left)."""
    import _thread
    import time

    done = _thread.allocate_lock()
    done.acquire()
    ident: list[int] = []

    def raw() -> None:
        try:
            ident.append(_thread.get_ident())
            threading.current_thread()  # registers a _DummyThread for it
            body()
        finally:
            done.release()

    _thread.start_new_thread(raw, ())
    done.acquire()
    while ident[0] in sys._current_frames():  # its thread state goes last
        time.sleep(0.001)
    return ident[0]


@pytest.mark.parametrize("used_gochan", [False, True], ids=["plain", "implicit-mode"])
def test_a_raw_thread_that_has_exited_does_not_hide_a_deadlock(used_gochan: bool) -> None:
    # Python 3.11 keeps the _DummyThread of an exited raw thread in
    # threading.enumerate(); counted as a live thread that could still send,
    # it made every later deadlock wait forever (the hub re-checking in
    # 0.25 s steps).
    ident = _raw_thread_that_exits((lambda: go(lambda: None)) if used_gochan else (lambda: None))
    if sys.version_info < (3, 12):  # the case this guards: still listed, but dead
        assert ident in {th.ident for th in threading.enumerate()}
    with pytest.raises(Deadlock):
        run(Chan[int]().recv)
