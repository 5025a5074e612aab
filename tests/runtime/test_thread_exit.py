"""When an OS thread that used gochan ends, its leftover tasks are cancelled there first.

What this proves (api.md, "Edges"):

* A task parked in implicit mode on a thread whose code then ends is cancelled on that
  thread before ``Thread.join()`` returns: its ``finally`` block runs there, it ends
  ``cancelled()``, and its wait is withdrawn, for every kind of wait: channel send and
  receive, ``select``, nil channel, ``sleep``, a ``Timer``'s channel, ``Mutex``,
  ``RWMutex``, ``WaitGroup``, ``Cond``, ``Semaphore``, ``Task.join``, an I/O wait,
  ``blocking()`` and (on a loop backend) ``await_``.
* So no operation ever completes against a task that cannot run again: the issue's
  case, a value offered by another thread's ``select`` to a receiver whose thread is
  gone, is not taken (the other case fires instead), with the receiver parked in a plain
  receive or in a ``select``.
* An exception that escaped a task and never reached the thread's code is reported when
  the thread ends, through ``threading.excepthook``, naming the thread.
* At program exit the main thread's implicit scheduler does the same: leftover tasks'
  ``finally`` blocks run, and an undelivered exception is printed with exit status 1
  (subprocesses).

Ordering uses explicit hand-offs: the thread starts the task and yields once
(``gosched``), which runs the task until it parks; then the thread's code returns.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Chan, default, go, select

SAFETY = 60.0  # seconds; a safety net for joins, never an assertion about speed
LOOP_BACKENDS = ("asyncio", "uvloop", "trio")


def _run_thread(body: Callable[[], Any]) -> Any:
    """Run ``body`` on a fresh OS thread (implicit mode there); its result."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = body()
        except BaseException as e:  # handed to the test below
            out["error"] = e

    th = threading.Thread(target=target, name="ending")
    th.start()
    th.join(SAFETY)
    assert not th.is_alive(), "the thread did not end"
    if "error" in out:
        raise out["error"]
    return out.get("result")


def _park_on_ending_thread(block: Callable[[], Any], setup: Callable[[], Any] = lambda: None):
    """Start a task running ``block()`` on a thread whose code then ends; return
    (task, state while parked, the thread's ident, the ident its finally ran on)."""
    seen: dict[str, Any] = {}

    def task() -> None:
        try:
            block()
        finally:
            seen["finally_on"] = threading.get_ident()

    def body() -> None:
        setup()
        t = go(task)
        gochan.gosched()  # t runs until it parks
        seen["task"], seen["state"], seen["ident"] = t, t.state, threading.get_ident()

    _run_thread(body)
    return seen["task"], seen["state"], seen["ident"], seen.get("finally_on")


# Each kind of wait: a name, and a factory giving (setup on the thread, the blocking call).
def _kinds() -> list[tuple[str, Callable[[], tuple[Callable[[], Any], Callable[[], Any]]]]]:
    def chan_recv() -> Any:
        c = Chan[int]()
        return (lambda: None), c.recv

    def chan_send() -> Any:
        c = Chan[int]()
        return (lambda: None), (lambda: c.send(1))

    def select_two() -> Any:
        a, b = Chan[int](), Chan[int](1)
        b.send(0)  # full: the send case blocks
        return (lambda: None), (lambda: select(a.recv, (b.send, 1)))

    def nil() -> Any:
        return (lambda: None), gochan.nilchan.recv

    def sleep() -> Any:
        return (lambda: None), (lambda: gochan.sleep(3600))

    def timer() -> Any:
        return (lambda: None), (lambda: gochan.Timer(3600).c.recv())

    def mutex() -> Any:
        m = gochan.Mutex()
        return m.lock, m.lock

    def rwmutex() -> Any:
        rw = gochan.RWMutex()
        return rw.lock, rw.rlock

    def waitgroup() -> Any:
        wg = gochan.WaitGroup()
        return (lambda: wg.add(1)), wg.wait

    def cond() -> Any:
        m = gochan.Mutex()
        c = gochan.Cond(m)

        def wait() -> None:
            with m:
                c.wait()

        return (lambda: None), wait

    def semaphore() -> Any:
        s = gochan.Semaphore(1)
        return s.acquire, s.acquire

    def join() -> Any:
        def forever() -> None:
            Chan[int]().recv()

        return (lambda: None), (lambda: go(forever).join())

    return [
        ("chan receive", chan_recv),
        ("chan send", chan_send),
        ("select", select_two),
        ("nil chan", nil),
        ("sleep", sleep),
        ("timer", timer),
        ("mutex", mutex),
        ("rwmutex", rwmutex),
        ("waitgroup", waitgroup),
        ("cond", cond),
        ("semaphore", semaphore),
        ("join", join),
    ]


@pytest.mark.parametrize("kind", [k for k, _ in _kinds()])
def test_tasks_left_parked_are_cancelled_on_their_thread_when_it_ends(kind: str) -> None:
    setup, block = dict(_kinds())[kind]()
    t, state, ident, finally_on = _park_on_ending_thread(block, setup)
    assert state not in ("runnable", "running", "dead"), state  # it really was parked
    assert t.done() and t.cancelled()
    assert finally_on == ident  # its finally ran on its own thread, before join() returned


def test_io_wait_is_cancelled_when_the_thread_ends() -> None:
    a, b = socket.socketpair()
    with a, b:
        t, state, ident, finally_on = _park_on_ending_thread(lambda: gochan.wait_readable(a))
    assert state in ("IO wait", "await")  # a loop backend waits through its loop
    assert t.cancelled() and finally_on == ident


def test_blocking_call_is_waited_for_then_its_task_cancelled_when_the_thread_ends() -> None:
    # As at the end of run(): a call running on a pool thread cannot be taken
    # back, so the ending thread waits for it, then the task raises Cancelled.
    release, body_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def task() -> None:
        try:
            gochan.blocking(release.wait, SAFETY)
        finally:
            seen["finally_on"] = threading.get_ident()

    def body() -> None:
        seen["task"] = go(task)
        gochan.gosched()  # the task runs and parks in blocking()
        seen["ident"] = threading.get_ident()
        body_done.set()

    th = threading.Thread(target=body)
    th.start()
    try:
        assert body_done.wait(SAFETY)
        assert "finally_on" not in seen  # still waiting for the pool thread's call
    finally:
        release.set()
        th.join(SAFETY)
    assert not th.is_alive()
    assert seen["task"].cancelled() and seen["finally_on"] == seen["ident"]


@pytest.mark.parametrize("backend", LOOP_BACKENDS)
def test_await_is_cancelled_when_the_thread_ends(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(backend)
    monkeypatch.setenv("GOCHAN_BACKEND", backend)  # the thread's implicit scheduler

    def wait() -> None:
        if backend == "trio":
            import trio

            gochan.await_(trio.sleep(3600))
        else:
            gochan.await_(asyncio.sleep(3600))

    t, _state, ident, finally_on = _park_on_ending_thread(wait)
    assert t.cancelled() and finally_on == ident


@pytest.mark.parametrize("how", ["recv", "select"])
def test_no_value_is_handed_to_a_task_whose_thread_has_ended(how: str) -> None:
    c = Chan[str]()
    got: list[str | None] = []

    def rx() -> None:
        if how == "recv":
            got.append(c.recv())
        else:
            got.append(select(c.recv, Chan[str]().recv)[1])

    t, _state, _ident, _fin = _park_on_ending_thread(rx)
    # The receiver's thread is gone: nobody may take the value.
    assert select((c.send, "precious"), default) == (1, None)
    assert got == [] and t.cancelled()
    assert len(c._recvq) == 0  # its waiter was withdrawn, not left behind


def test_an_undelivered_task_exception_is_reported_when_the_thread_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reported: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)

    def body() -> str:
        c = Chan[str]()

        def bad() -> None:
            c.send("value")  # completes the thread's wait first...
            raise ValueError("after the send")  # ...so this cannot reach it any more

        go(bad)
        return c.recv() or ""

    assert _run_thread(body) == "value"
    assert len(reported) == 1
    args = reported[0]
    assert isinstance(args.exc_value, ValueError)
    assert args.thread is not None and args.thread.name == "ending"
    assert "raised in goroutine" in args.exc_value.__notes__[0]


def _script(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=SAFETY,
        check=False,
    )


def test_program_exit_cancels_the_main_threads_leftover_tasks() -> None:
    r = _script(
        """
        import gochan

        def waiter():
            try:
                gochan.Chan().recv()
            finally:
                print("finally ran")

        gochan.go(waiter)
        gochan.gosched()
        print("end of script")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "end of script\nfinally ran\n"
    assert r.stderr == ""


def test_a_fatal_error_reaches_the_main_threads_code_at_gosched() -> None:
    r = _script(
        """
        import gochan
        gochan.go(lambda: 1 / 0)
        gochan.gosched()
        print("end")
        """
    )
    assert r.returncode == 1
    assert "end" not in r.stdout
    assert "ZeroDivisionError" in r.stderr and "raised in goroutine" in r.stderr


def test_an_exception_still_undelivered_at_program_exit_is_reported_with_status_1() -> None:
    r = _script(
        """
        import gochan
        c = gochan.Chan()

        def bad():
            c.send("value")
            raise ValueError("boom after the send")

        gochan.go(bad)
        print("got", c.recv())
        """
    )
    assert r.returncode == 1
    assert r.stdout == "got value\n"
    assert "never delivered" in r.stderr
    assert "ValueError: boom after the send" in r.stderr


def test_an_exception_retrieved_by_join_is_not_raised_again_in_implicit_mode() -> None:
    r = _script(
        """
        import gochan

        def bad():
            raise ValueError("bad")

        try:
            gochan.go(bad).join()
        except ValueError:
            print("caught")
        gochan.sleep(0.01)
        gochan.gosched()
        print("end")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "caught\nend\n"
    assert r.stderr == ""


def test_a_coroutine_whose_loop_was_closed_under_it(caplog: pytest.LogCaptureFixture) -> None:
    # asyncio.run() cancels what is left, which withdraws the wait. A loop
    # closed with the coroutine still pending cannot: its waiter is then
    # refused by every peer (tests/runtime/test_closed_loop.py). If the loop is
    # closed after a peer took the waiter but before the wake-up, the wake
    # says so as an error (not raised to the peer, whose close() would then
    # leave its other waiters unwoken).
    c = Chan[int]()

    async def rx() -> None:
        await c.arecv()

    left: list[asyncio.Task[None]] = []

    async def start() -> None:
        left.append(asyncio.ensure_future(rx()))
        await asyncio.sleep(0)

    asyncio.run(start())
    assert left[0].cancelled()
    assert len(c._recvq) == 0 and select((c.send, 1), default) == (1, None)

    loop = asyncio.new_event_loop()
    task = loop.create_task(rx())
    loop.run_until_complete(asyncio.sleep(0))
    (w,) = c._recvq
    loop.close()
    with caplog.at_level("ERROR", logger="gochan"):
        w.task.wake()  # as a peer that claimed it just before the close would
    assert "event loop is closed" in caplog.text
    task.get_coro().close()  # no pending coroutine left for the GC to finalize later


@pytest.mark.parametrize("backend", ["asyncio", "uvloop"])
def test_a_daemon_threads_loop_backend_is_left_alone_at_program_exit(backend: str) -> None:
    # At exit the daemon thread still runs, parked in its event loop's
    # greenlet; closing its backend from the main thread used to try to
    # switch into that greenlet and print "parent cannot be on a different
    # thread" from weakref's exit hook.
    pytest.importorskip(backend)
    r = _script(
        f"""
        import os, threading
        os.environ["GOCHAN_BACKEND"] = {backend!r}
        import gochan

        ready = threading.Event()

        def parked():
            gochan.sleep(0.001)  # the loop greenlet has run
            ready.set()
            gochan.Chan().recv()

        threading.Thread(target=parked, daemon=True).start()
        ready.wait()
        print("end")
        """
    )
    assert r.stdout == "end\n"
    assert r.stderr == ""
    assert r.returncode == 0


# What a daemon thread can be waiting in when the program ends: each leaves
# the hub (or the loop's greenlet) waiting in the backend, with greenlet's
# frames on the thread's C stack.
DAEMON_WAITS = {
    "ticker": "for _ in gochan.tick(0.001): pass",
    "channel": "gochan.Chan().recv()",
    "blocking": "while True: gochan.blocking(time.sleep, 0.005)",
    "socket": (
        "ln = net.listen('tcp', '127.0.0.1:0')\n"
        "gochan.go(lambda: net.dial('tcp', str(ln.addr)).read(1))\n"
        "ln.accept().read(1)"
    ),
    "run": (
        "def main():\n"
        "    for _ in range(3):\n"
        "        gochan.go(lambda: [gochan.sleep(0.001) for _ in iter(int, 1)])\n"
        "    gochan.Chan().recv()\n"
        "gochan.run(main)"
    ),
}


@pytest.mark.parametrize("wait", sorted(DAEMON_WAITS))
@pytest.mark.parametrize("backend", ["builtin", "asyncio", "uvloop", "trio"])
def test_the_program_exits_cleanly_while_a_daemon_thread_waits_in_gochan(
    backend: str, wait: str
) -> None:
    # Python ends a daemon thread that wakes during finalization with
    # pthread_exit; unwinding greenlet's frames then released objects
    # without the GIL: a segfault or "Fatal Python error: PyThreadState_Get"
    # at exit (every run on 3.13, often on 3.11; CPython gh-87135). gochan
    # parks such threads on their own stack at exit instead.
    if backend != "builtin":
        pytest.importorskip(backend)
    body = textwrap.indent(DAEMON_WAITS[wait], "    ")
    r = _script(
        f"""
        import os, threading, time
        os.environ["GOCHAN_BACKEND"] = {backend!r}
        import gochan
        from gochan import net

        started = threading.Event()

        def daemon():
            gochan.sleep(0.001)
            started.set()
{textwrap.indent(body, "        ")}

        threading.Thread(target=daemon, daemon=True).start()
        started.wait()
        time.sleep(0.02)
        print("end")
        """
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "end\n", "")
