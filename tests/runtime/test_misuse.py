"""Misuse gets the documented exception with a message that says what to do
(issue 17, item 8): async functions, coroutine objects and generator
functions handed to run()/go(), run() nested in a run, the default message
of Cancelled, non-callables and non-awaitables, unknown backend names, a
blocking call made from a coroutine, the wording of dump(), and the
opt-in goroutine dump on a signal."""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import gochan
from gochan import Cancelled, Chan, go, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def _afn() -> int:
    return 1


def _genfn() -> Iterator[int]:
    yield 1


async def _agenfn() -> AsyncIterator[int]:
    yield 1


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` on a fresh thread (its own implicit-mode scheduler); its
    result, or re-raise what it raised."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append((True, fn()))
        except BaseException as e:  # re-raised on the test's thread
            out.append((False, e))

    th = threading.Thread(target=body)
    th.start()
    th.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


# -- 1. async functions and coroutine objects ----------------------------------


def test_run_of_an_async_function_says_its_body_never_ran_and_closes_it() -> None:
    made: list[Coroutine[Any, Any, int]] = []

    def amain() -> Coroutine[Any, Any, int]:
        made.append(_afn())
        return made[0]

    with pytest.raises(TypeError) as ei:
        run(amain)
    msg = str(ei.value)
    assert "main function" in msg and "returned a coroutine, so its body never ran" in msg
    assert "gochan.await_(" in msg and "gochan.run_async(main)" in msg
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED  # no "never awaited"


def test_run_of_a_coroutine_object_points_at_await_and_run_async() -> None:
    coro = _afn()
    with pytest.raises(TypeError, match=r"run\(\) needs a callable, got <coroutine") as ei:
        run(coro)  # type: ignore[arg-type]
    assert "gochan.await_(coro)" in str(ei.value)
    assert "gochan.run_async(main)" in str(ei.value)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_go_of_an_async_function_crashes_the_task_with_advice() -> None:
    def main() -> None:
        go(_afn)
        Chan[int]().recv()

    with pytest.raises(TypeError, match="task '_afn' returned a coroutine, so its body never ran"):
        run(main)


def test_go_of_a_coroutine_object_is_refused_at_the_call() -> None:
    coro = _afn()

    def main() -> None:
        with pytest.raises(TypeError, match="a coroutine object is async code"):
            go(coro)  # type: ignore[arg-type]

    run(main)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


# -- 2. generator functions ----------------------------------------------------


def test_go_of_a_generator_function_says_the_body_never_ran() -> None:
    ran: list[int] = []

    def gen() -> Iterator[int]:
        ran.append(1)
        yield 1

    def main() -> None:
        go(gen)
        Chan[int]().recv()

    with pytest.raises(TypeError) as ei:
        run(main)
    msg = str(ei.value)
    assert "task 'test_go_of_a_generator_function_says_the_body_never_ran.<locals>.gen'" in msg
    assert "returned a generator, so its body never ran" in msg
    assert "list(gen())" in msg
    assert ran == []


def test_go_of_an_async_generator_function_says_the_body_never_ran() -> None:
    def main() -> None:
        go(_agenfn).join()

    with pytest.raises(TypeError, match="returned an async generator, so its body never ran"):
        run(main)


def test_run_of_a_generator_function_says_the_body_never_ran() -> None:
    with pytest.raises(TypeError, match="main function '_genfn' returned a generator"):
        run(_genfn)


def test_a_task_may_return_other_iterators() -> None:
    def main() -> list[int]:
        return list(go(lambda: iter([1, 2])).join())

    assert run(main) == [1, 2]


# -- 3. run() inside run() -----------------------------------------------------


def test_run_inside_run_is_refused_even_with_no_other_task() -> None:
    def main() -> str:
        with pytest.raises(RuntimeError) as ei:
            run(lambda: None)
        return str(ei.value)

    msg = run(main)
    assert "cannot start inside a running gochan.run()" in msg
    assert "task 'main' called it" in msg and "gochan.go()" in msg


def test_run_from_implicit_mode_sets_it_aside_while_it_has_no_other_task() -> None:
    def thread_main() -> list[Any]:
        ch = Chan[int]()
        go(ch.send, 1)
        got = [ch.recv()]  # implicit mode: this thread now has a scheduler
        got.append(run(lambda: gochan.num_goroutine() + 41))
        go(ch.send, 2)  # implicit mode carries on afterwards
        got.append(ch.recv())
        return got

    assert _in_thread(thread_main) == [1, 42, 2]


def test_run_from_implicit_mode_with_live_tasks_names_implicit_mode() -> None:
    def thread_main() -> str:
        t = go(Chan[int]().recv)
        gochan.gosched()
        try:
            with pytest.raises(RuntimeError) as ei:
                run(lambda: None)
        finally:
            t.cancel()
            with pytest.raises(Cancelled):
                t.join()
        return str(ei.value)

    msg = _in_thread(thread_main)
    assert "already has a scheduler from implicit mode (gochan used without run())" in msg
    assert "with 1 other live task," in msg and "gochan.go()" in msg


def test_run_from_a_task_of_implicit_mode_is_refused() -> None:
    def thread_main() -> str:
        def task() -> str:
            with pytest.raises(RuntimeError) as ei:
                run(lambda: None)
            return str(ei.value)

        return str(go(task).join())

    msg = _in_thread(thread_main)
    assert "cannot start inside a running task" in msg and "implicit mode" in msg


# -- 4. Cancelled's message ----------------------------------------------------


def test_cancelled_has_a_default_message() -> None:
    assert str(Cancelled()) == "task cancelled"
    assert str(Cancelled("custom")) == "custom"

    def main() -> str:
        t = go(Chan[int]().recv)
        gochan.gosched()
        t.cancel()
        with pytest.raises(Cancelled) as ei:
            t.join()
        return str(ei.value)

    assert run(main) == "task cancelled"


# -- 5. callables and awaitables, checked up front ------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gochan.Once().do(42), r"Once\.do\(\) needs a callable, got 42; pass"),
        (lambda: gochan.WaitGroup().go(42), r"WaitGroup\.go\(\) needs a callable, got 42; write"),
        (lambda: gochan.ErrGroup().go(42), r"ErrGroup\.go\(\) needs a callable, got 42; write"),
        (lambda: gochan.ErrGroup().try_go(42), r"ErrGroup\.try_go\(\) needs a callable, got 42"),
        (lambda: gochan.blocking(42), r"blocking\(\) needs a callable, got 42; write"),
        (lambda: gochan.after_func(1, 42), r"after_func\(\) needs a callable, got 42; pass"),
        (
            lambda: gochan.context.after_func(gochan.context.background(), 42),
            r"after_func\(\) needs a callable, got 42; pass",
        ),
        (lambda: gochan.supervise(42), r"supervise\(\) needs a callable, got 42; write"),
        (
            lambda: gochan.Supervisor().add(42),
            r"Supervisor\.add\(\) needs a callable or a Supervisor, got 42; write",
        ),
        (
            lambda: gochan.Supervisor(on_report=42),
            r"Supervisor\(\) needs a callable \(or None\) as on_report, got 42",
        ),
        (lambda: gochan.func(gochan.defer)(42), r"defer\(\) needs a callable, got 42; write"),
    ],
    ids=lambda x: None if callable(x) else x.split("\\")[0],
)
def test_apis_taking_a_callable_say_so(call: Callable[[], Any], message: str) -> None:
    def main() -> None:
        with pytest.raises(TypeError, match=message):
            call()

    run(main)


def test_a_coroutine_object_given_for_a_callable_is_closed_with_advice() -> None:
    coro = _afn()

    def main() -> None:
        with pytest.raises(TypeError, match=r"WaitGroup\.go\(\) needs a callable.*await_"):
            gochan.WaitGroup().go(coro)  # type: ignore[arg-type]

    run(main)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_run_async_of_a_non_callable() -> None:
    with pytest.raises(TypeError, match=r"run_async\(\) needs a callable, got 42; write"):
        asyncio.run(gochan.run_async(42))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["builtin", "asyncio"])
def test_await_of_a_non_awaitable_names_what_it_needs(backend: str) -> None:
    def main() -> list[str]:
        msgs = []
        for bad in (42, _afn):
            with pytest.raises(TypeError) as ei:
                gochan.await_(bad)  # type: ignore[arg-type]
            msgs.append(str(ei.value))
        return msgs

    num, fn = run(main, backend=backend)
    assert num == "await_() needs an awaitable (a coroutine, Task or Future), got 42"
    assert fn.startswith("await_() needs an awaitable (a coroutine, Task or Future), got <function")
    assert "call the async function and pass what it returns: await_(f(arg))" in fn


# -- 6. unknown backend names --------------------------------------------------


def test_unknown_backend_lists_only_usable_backends_and_how_to_get_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)  # as if neither were installed
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(ValueError) as ei:
        run(lambda: None, backend="bogus")
    msg = str(ei.value)
    assert msg.startswith("unknown gochan backend 'bogus' (from backend=); usable here: ")
    assert "usable here: builtin, asyncio; not installed: " in msg
    assert "uvloop (pip install 'gochan[uvloop]'), trio (pip install 'gochan[trio]')" in msg

    monkeypatch.setenv("GOCHAN_BACKEND", "bogus")
    with pytest.raises(ValueError) as ei:
        run(lambda: None)
    assert "(from GOCHAN_BACKEND); usable here: builtin, asyncio;" in str(ei.value)
    assert "unset it" in str(ei.value)
    # implicit mode reads GOCHAN_BACKEND too
    with pytest.raises(ValueError) as ei:
        _in_thread(lambda: go(print))
    assert "(from GOCHAN_BACKEND); usable here: builtin, asyncio;" in str(ei.value)


def test_unknown_backend_with_everything_installed_lists_all() -> None:
    with pytest.raises(ValueError) as ei:
        run(lambda: None, backend="tornado")
    assert "usable here: builtin, asyncio, uvloop, trio. Pass one of these" in str(ei.value)
    assert "not installed" not in str(ei.value)


# -- 7. a blocking call made from a coroutine ----------------------------------


def _aio_blocking_recv() -> str:
    async def amain() -> str:
        ch = Chan[int]()
        sender = asyncio.create_task(ch.asend(1))  # could end the wait, if the loop ran
        try:
            with pytest.raises(RuntimeError) as ei:
                ch.recv()
        finally:
            sender.cancel()
        return str(ei.value)

    return asyncio.run(amain())


def test_blocking_recv_in_an_asyncio_coroutine_says_use_arecv() -> None:
    msg = _in_thread(_aio_blocking_recv)
    assert msg.startswith(
        "a blocking gochan call ([chan receive]) was made in a coroutine on this thread's "
        "asyncio event loop"
    )
    assert "await ch.arecv()" in msg and "gochan.run_async(main)" in msg
    assert "gochan.await_()" in msg


def test_blocking_recv_in_a_trio_coroutine_says_use_arecv() -> None:
    async def amain() -> str:
        with pytest.raises(RuntimeError) as ei:
            gochan.sleep(0.5)
        return str(ei.value)

    msg = _in_thread(lambda: trio.run(amain))
    assert "a blocking gochan call ([sleep]) was made in a coroutine on this thread's trio" in msg
    assert "await ch.arecv()" in msg


def test_a_coroutine_may_still_use_green_tasks_that_never_wait_on_the_thread() -> None:
    async def amain() -> int:
        ch = Chan[int]()
        go(ch.send, 7)
        return ch.recv()  # handed over by a green task: the thread never waits

    assert _in_thread(lambda: asyncio.run(amain())) == 7


def test_gochan_run_called_from_a_coroutine_is_a_plain_blocking_call() -> None:
    async def amain() -> str:
        return run(lambda: (gochan.sleep(0.001), "slept")[1], backend="builtin")

    assert _in_thread(lambda: asyncio.run(amain())) == "slept"


# -- 8. the wording of dump() ---------------------------------------------------


def test_dump_shows_a_sleep_as_a_duration_and_a_wake_time() -> None:
    def main() -> str:
        go(gochan.sleep, 60).name = "napper"
        gochan.sleep(15)
        return gochan.dump()

    text = run(main, clock="virtual")
    assert "'napper' [sleep]:\n  sleeping 60.0s, wakes at t=60.0 (in 45.0s)\n" in text


def test_dump_of_a_join_with_timeout_and_a_blocking_call() -> None:
    ev = threading.Event()

    def main() -> str:
        worker = go(Chan[int]().recv)
        go(worker.join, 5).name = "joiner"
        go(gochan.blocking, ev.wait).name = "offloaded"
        gochan.gosched()
        try:
            return gochan.dump()
        finally:
            ev.set()

    text = run(main, clock="virtual")
    assert "'joiner' [task join]:\n  waiting on <Task " in text
    assert "[chan receive]>, times out at t=5.0\n" in text
    assert "'offloaded' [syscall]:\n  waiting on <blocking(Event.wait) in a worker thread>" in text


def test_reprs_count_in_the_singular_too() -> None:
    def main() -> list[str]:
        rw = gochan.RWMutex()
        rw.rlock()
        w = go(rw.lock)
        gochan.gosched()
        r = repr(rw)
        rw.runlock()
        w.join()
        rw.unlock()
        g = gochan.ErrGroup()
        g.go(lambda: gochan.panic("x"))
        with pytest.raises(gochan.Panic):
            g.wait()
        return [r, repr(g)]

    rw, eg = run(main)
    assert rw.startswith("<gochan.RWMutex locked by 1 reader, 1 writer and 0 readers waiting at")
    assert eg == "<gochan.ErrGroup 0 active, 1 error>"


# -- 9. a goroutine dump on a signal ---------------------------------------------

_SIGNAL_SCRIPT = textwrap.dedent(
    """
    import os, signal, gochan
    {install}

    def worker(ch):
        ch.recv()

    def main():
        ch = gochan.Chan()
        gochan.go(worker, ch).name = "stuck-worker"
        gochan.go(gochan.sleep, 30).name = "napper"
        gochan.gosched()
        os.kill(os.getpid(), signal.{sig})
        print("still alive")
        ch.send(1)

    gochan.run(main, clock="virtual")
    print("done")
    """
)


def _run_script(
    tmp: Path, install: str, sig: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = tmp / "example.py"  # a file, so that the dump can show source lines
    script.write_text(_SIGNAL_SCRIPT.format(install=install, sig=sig))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT, **env},
        check=False,
    )


@pytest.mark.skipif(not hasattr(signal, "SIGQUIT"), reason="needs SIGQUIT")
@pytest.mark.parametrize("how", ["call", "environment"])
def test_sigquit_prints_every_task_and_the_program_goes_on(how: str, tmp_path: Path) -> None:
    if how == "call":
        p = _run_script(tmp_path, "gochan.dump_on_signal()", "SIGQUIT", {})
    else:
        p = _run_script(tmp_path, "", "SIGQUIT", {"GOCHAN_DUMP_SIGNAL": "SIGQUIT"})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "still alive\ndone\n"
    err = p.stderr
    assert err.startswith("SIGQUIT: gochan goroutine dump (pid "), err
    assert "goroutine 1 'main' [running]:" in err
    assert "'stuck-worker' [chan receive]:" in err and "in worker\n    ch.recv()" in err
    assert "'napper' [sleep]:\n  sleeping 30.0s, wakes at t=30.0" in err


def test_a_bad_gochan_dump_signal_stops_the_import_with_advice(tmp_path: Path) -> None:
    p = _run_script(tmp_path, "", "SIGUSR1", {"GOCHAN_DUMP_SIGNAL": "SIGNOPE"})
    assert p.returncode != 0
    assert "GOCHAN_DUMP_SIGNAL='SIGNOPE' is not a signal on this platform" in p.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGUSR2"), reason="needs SIGUSR2")
def test_dump_on_signal_in_process_chains_the_previous_handler() -> None:
    from gochan._runtime.dump import _on_signal

    seen: list[int] = []
    out = io.StringIO()
    old = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        prev = gochan.dump_on_signal(signal.SIGUSR2, file=out)
        assert gochan.dump_on_signal(signal.SIGUSR2, file=out) is prev  # idempotent

        def main() -> None:
            go(Chan[int]().recv).name = "parked"
            gochan.gosched()
            signal.raise_signal(signal.SIGUSR2)  # the handlers run before it returns

        run(main)
        assert seen == [signal.SIGUSR2]
        text = out.getvalue()
        assert text.startswith("SIGUSR2: gochan goroutine dump")
        assert "'parked' [chan receive]:" in text
    finally:
        signal.signal(signal.SIGUSR2, old)
        _on_signal.pop(signal.SIGUSR2, None)


def test_dump_on_signal_outside_the_main_thread_says_why_not() -> None:
    with pytest.raises(ValueError, match="must be called from the main thread"):
        _in_thread(gochan.dump_on_signal)
