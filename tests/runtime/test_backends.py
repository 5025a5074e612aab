"""Backends: choosing one, and what must hold on every one of them.

What this proves, for each of ``builtin``, ``asyncio``, ``uvloop`` and ``trio``:

* ``run(main, backend=...)`` and ``GOCHAN_BACKEND`` (for ``run`` and for implicit
  mode) select the backend; the test asks the running loop itself which one it is
  (through ``await_``), so a backend that silently fell back to another fails.
* An unknown name is a ``ValueError`` naming every choice; a missing optional
  dependency is an ``ImportError`` naming the extra to install
  (``pip install 'gochan[uvloop]'``, ``'gochan[trio]'``), with the import failure
  simulated through ``sys.modules`` and ``builtins.__import__``.
* Timers work on the real clock, and the virtual clock jumps as it does on builtin.
* Deadlock is still reported, with Go's header; it is not reported while an
  ``await_`` is pending, nor while a coroutine on the loop could still send.
* Shutdown cancels a task parked in ``await_``, and the awaitable is cancelled too:
  the coroutine sees ``asyncio.CancelledError`` or ``trio.Cancelled``.
* Another OS thread wakes green tasks of a loop-backed run (a send, a close, a
  cancel of a task parked in ``await_``).
* No thread or task outlives a run (gochan.testing's leak check runs after every
  test; trio's idle "Trio thread N" cache workers are not counted).

Ordering uses hand-offs only (channels, ``threading.Event``, the "``go(signal)``
right before a blocking call" trick of tests/runtime/test_threads.py). The few real
``asyncio.sleep``/``trio.sleep`` calls only keep an awaitable pending for a while;
no assertion depends on how long they take.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import uvloop

import gochan
from gochan import Chan, Deadlock, go, run
from gochan._runtime.threads import peek_scheduler

BACKENDS = ["builtin", "asyncio", "uvloop", "trio"]
LOOPS = ["asyncio", "uvloop", "trio"]
SAFETY = 30.0  # seconds; a safety net for thread hand-offs, never an assertion about speed


async def _loop_kind() -> str:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        trio.lowlevel.current_task()  # RuntimeError outside trio too
        return "trio"
    return "uvloop" if isinstance(loop, uvloop.Loop) else "asyncio"


def which_backend() -> str:
    """The backend of the running scheduler, as the loop itself reports it."""
    try:
        return gochan.await_(_loop_kind())
    except RuntimeError as e:
        assert "needs an async backend" in str(e)
        return "builtin"


def workout() -> tuple[str, list[int], int, float]:
    """Channels, select, a timer and a join; returns what the backend says it is."""
    ch, out = Chan[int](), Chan[int](2)

    def producer() -> None:
        for i in range(5):
            ch.send(i)
        ch.close()

    go(producer)
    got = list(ch)
    t = go(lambda: out.send(sum(got)))
    i, v = gochan.select(out.recv, gochan.after(60).recv)
    t.join()
    start = gochan.monotonic()
    gochan.sleep(0.001)
    return which_backend(), got, v if i == 0 else -1, gochan.monotonic() - start


# ---------------------------------------------------------------------------
# Choosing a backend
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_uses_the_backend_argument(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOCHAN_BACKEND", raising=False)
    kind, got, total, slept = run(workout, backend=backend)
    assert (kind, got, total) == (backend, [0, 1, 2, 3, 4], 10)
    assert slept >= 0.001


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_uses_the_environment_variable(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOCHAN_BACKEND", backend)
    kind, got, total, _ = run(workout)
    assert (kind, got, total) == (backend, [0, 1, 2, 3, 4], 10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_argument_beats_the_environment(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "trio" if backend != "trio" else "asyncio"
    monkeypatch.setenv("GOCHAN_BACKEND", other)
    assert run(which_backend, backend=backend) == backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_implicit_mode_uses_the_environment_variable(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOCHAN_BACKEND", backend)
    assert peek_scheduler() is None  # no run(): the test's own code is the main task
    kind, got, total, _ = workout()
    assert (kind, got, total) == (backend, [0, 1, 2, 3, 4], 10)
    assert gochan.num_goroutine() == 1


def test_implicit_trio_lets_the_thread_run_trio_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOCHAN_BACKEND=trio; await_(trio.sleep(0)) with no run(); then
    trio.run(trio.sleep, 0) on the same thread works: implicit mode ends its
    guest run when no await_ is left in flight."""
    monkeypatch.setenv("GOCHAN_BACKEND", "trio")
    gochan.await_(trio.sleep(0))
    try:
        trio.run(trio.sleep, 0)
    finally:
        s = peek_scheduler()
        assert s is not None
        s.backend.close()  # so that later tests can run trio


def test_trio_backend_that_cannot_start_reports_why() -> None:
    """gochan.run(main, backend="trio") inside trio.run: trio cannot nest
    runs, so run() refuses at once, before main runs, and points at
    run_async."""
    coro = trio.sleep(0)

    async def host() -> None:
        run(gochan.await_, coro, backend="trio")

    try:
        with pytest.raises(RuntimeError, match="cannot start in a coroutine") as ei:
            trio.run(host)
        assert "a trio run already runs on this thread" in str(ei.value)
        assert "await gochan.run_async(main)" in str(ei.value)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CREATED  # main never ran
    finally:
        coro.close()


@pytest.mark.parametrize("backend", ["asyncio", "uvloop"])
def test_asyncio_backend_inside_a_running_asyncio_loop_refuses_at_once(backend: str) -> None:
    """An asyncio backend needs a loop of its own, which cannot run while a
    coroutine's loop runs on the thread: run() says so before main runs."""
    ran = []

    async def host() -> None:
        run(ran.append, 1, backend=backend)

    with pytest.raises(RuntimeError, match="cannot start in a coroutine") as ei:
        asyncio.run(host())
    assert "an asyncio event loop already runs on this thread" in str(ei.value)
    assert "await gochan.run_async(main)" in str(ei.value)
    assert ran == []


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_unknown_backend_is_a_value_error_naming_the_choices(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    called = []
    kwargs: dict[str, Any] = {}
    if how == "argument":
        kwargs["backend"] = "tornado"
    else:
        monkeypatch.setenv("GOCHAN_BACKEND", "tornado")
    with pytest.raises(ValueError) as ei:
        run(called.append, 1, **kwargs)
    msg = str(ei.value)
    assert "'tornado'" in msg
    for name in BACKENDS:
        assert name in msg
    assert called == []  # main never ran


def test_unknown_backend_in_implicit_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOCHAN_BACKEND", "tornado")
    with pytest.raises(ValueError) as ei:
        go(lambda: None)
    assert "'tornado'" in str(ei.value)
    assert all(name in str(ei.value) for name in BACKENDS)
    assert peek_scheduler() is None


def _forget_backend_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next backend lookup import gochan's backend modules afresh."""
    for mod in ("gochan._runtime.backends.trio", "gochan._runtime.backends.aio"):
        monkeypatch.delitem(sys.modules, mod, raising=False)


@pytest.mark.parametrize("extra", ["uvloop", "trio"])
@pytest.mark.parametrize("how", ["sys.modules", "__import__"])
def test_missing_extra_names_the_pip_command(
    extra: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forget_backend_modules(monkeypatch)
    if how == "sys.modules":
        monkeypatch.setitem(sys.modules, extra, None)  # "import uvloop" raises ImportError
    else:
        real_import = builtins.__import__

        def fake_import(
            name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
        ) -> Any:
            if level == 0 and (name == extra or name.startswith(extra + ".")):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real_import(name, globals, locals, fromlist, level)

        monkeypatch.setattr(builtins, "__import__", fake_import)
    called = []
    with pytest.raises(ImportError) as ei:
        run(called.append, 1, backend=extra)
    assert f"pip install 'gochan[{extra}]'" in str(ei.value)
    assert isinstance(ei.value.__cause__, ImportError)  # the original failure is kept
    assert called == []
    monkeypatch.undo()
    assert run(which_backend, backend=extra) == extra  # and it works again once installed


def test_missing_extra_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _forget_backend_modules(monkeypatch)
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv("GOCHAN_BACKEND", "uvloop")
    with pytest.raises(ImportError, match=r"pip install 'gochan\[uvloop\]'"):
        run(lambda: None)


# ---------------------------------------------------------------------------
# Timers and the virtual clock
# ---------------------------------------------------------------------------


def timer_story() -> list[tuple[str, float]]:
    log: list[tuple[str, float]] = []
    done = Chan[None](3)

    def sleeper(name: str, d: float) -> None:
        gochan.sleep(d)
        log.append((name, gochan.monotonic()))
        done.send(None)

    start = gochan.monotonic()
    go(sleeper, "c", 0.03)
    go(sleeper, "a", 0.01)
    go(sleeper, "b", 0.02)
    t = gochan.Timer(0.015)
    stopped = gochan.Timer(0.005)
    assert stopped.stop()
    t.c.recv()
    log.append(("timer", gochan.monotonic()))
    for _ in range(3):
        done.recv()
    return [(name, at - start) for name, at in log]


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_clock_timers_fire_in_deadline_order(backend: str) -> None:
    log = run(timer_story, backend=backend)
    assert [name for name, _ in log] == ["a", "timer", "b", "c"]
    for (name, at), due in zip(log, [0.01, 0.015, 0.02, 0.03], strict=True):
        assert at >= due, name  # never early


@pytest.mark.parametrize("backend", BACKENDS)
def test_virtual_clock_jumps_on_every_backend(backend: str) -> None:
    def main() -> tuple[list[tuple[str, float]], float]:
        log = timer_story()
        gochan.sleep(3600)  # an hour, instantly
        ticker = gochan.Ticker(60)
        ticks = [ticker.c.recv() for _ in range(3)]
        ticker.stop()
        assert ticks == sorted(ticks)
        return log, gochan.monotonic()

    log, now = run(main, backend=backend, clock="virtual")
    assert log == [("a", 0.01), ("timer", 0.015), ("b", 0.02), ("c", 0.03)]
    assert now == pytest.approx(0.03 + 3600 + 180)


async def _loop_side_story(backend: str) -> list[tuple[str, float]]:
    """Loop-side timers on the loop's own clock: a sleep, a timeout that
    fires, and one that does not."""
    log: list[tuple[str, float]] = []
    if backend == "trio":
        now = trio.current_time
        await trio.sleep(1)
        log.append(("slept", now()))
        with trio.move_on_after(5):
            await trio.sleep(100)
        log.append(("timed out", now()))
        with trio.move_on_after(5):
            await trio.sleep(1)
        log.append(("in time", now()))
    else:
        now = asyncio.get_running_loop().time
        await asyncio.sleep(1)
        log.append(("slept", now()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(100)
        log.append(("timed out", now()))
        async with asyncio.timeout(5):
            await asyncio.sleep(1)
        log.append(("in time", now()))
    return log


@pytest.mark.parametrize("backend", LOOPS)
def test_loop_side_timers_follow_the_virtual_clock(backend: str) -> None:
    """On every loop backend the loop's time is the scheduler's virtual time
    (uvloop included: its Python-level timers are kept by gochan), and loop
    timers interleave with gochan timers in deadline order."""

    def main() -> list[Any]:
        order = Chan[str](2)

        def green_sleeper() -> None:
            gochan.sleep(1.5)
            order.send(f"green at {gochan.monotonic()}")

        go(green_sleeper)
        log = gochan.await_(_loop_side_story(backend))
        order.send(f"loop done at {gochan.monotonic()}")
        return [log, order.recv(), order.recv()]

    log, first, second = run(main, backend=backend, clock="virtual")
    assert log == [("slept", 1.0), ("timed out", 6.0), ("in time", 7.0)]
    assert [first, second] == ["green at 1.5", "loop done at 7.0"]


# ---------------------------------------------------------------------------
# Deadlock detection
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_deadlock_is_reported(backend: str) -> None:
    def main() -> None:
        go(Chan[int]().send, 1)
        Chan[int]().recv()

    with pytest.raises(Deadlock) as ei:
        run(main, backend=backend)
    text = str(ei.value)
    assert text.startswith("all goroutines are asleep - deadlock!\n")
    assert "'main' [chan receive]" in text and "[chan send]" in text


@pytest.mark.parametrize("backend", LOOPS)
def test_deadlock_is_reported_after_loop_work_is_over(backend: str) -> None:
    """A finished await_ leaves nothing pending behind it."""

    async def quick() -> int:
        await (trio.sleep(0) if backend == "trio" else asyncio.sleep(0))
        return 1

    def main() -> None:
        assert gochan.await_(quick()) == 1
        Chan[int]().recv()

    with pytest.raises(Deadlock):
        run(main, backend=backend)


async def _sleep(backend: str, seconds: float) -> None:
    if backend == "trio":
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


@pytest.mark.parametrize("backend", LOOPS)
def test_no_deadlock_while_an_await_is_pending(backend: str) -> None:
    async def slow(v: int) -> int:
        await _sleep(backend, 0.02)
        return v

    def main() -> int | None:
        ch = Chan[int]()
        go(lambda: ch.send(gochan.await_(slow(5))))
        return ch.recv()  # every green task is blocked, but the loop will deliver

    assert run(main, backend=backend) == 5


@pytest.mark.parametrize("backend", LOOPS)
def test_no_deadlock_while_a_coroutine_could_still_send(backend: str) -> None:
    """No await_ in flight at all: the only thing left that could wake main is a
    coroutine on the loop (an asyncio background task; a trio task of an
    await_()ed nursery that already handed its result back is not possible, so on
    trio the coroutine sends from inside the await_)."""
    ch = Chan[int]()

    async def late_sender() -> None:
        await _sleep(backend, 0.02)
        await ch.asend(7)

    async def start_in_background() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(late_sender())

    def main() -> list[Any]:
        if backend == "trio":
            go(gochan.await_, late_sender())
            return [ch.recv()]
        task = gochan.await_(start_in_background())
        got = ch.recv()  # no green task can send, and no await_ is pending
        return [got, gochan.await_(task)]

    assert run(main, backend=backend) == ([7] if backend == "trio" else [7, None])


def test_no_deadlock_while_trio_has_yet_to_start_an_await() -> None:
    """``await_`` on trio only queues its trio task (``nursery.start_soon``):
    trio's I/O thread must first wake the guest run (``run_sync_soon_threadsafe``)
    before that task takes its first step. Until then no trio callback is
    queued, yet the task will run: no deadlock. (Under load the I/O thread took
    longer than the deadlock check's confirmation pause, and a deadlock was
    reported: make stress.) Here that thread's callbacks are held back, by
    construction, until the hub has asked whether trio is busy."""
    held: list[Callable[[], object]] = []
    holding = [False]

    def main() -> int | None:
        s = peek_scheduler()
        assert s is not None
        b: Any = s.backend
        deliver, busy = b._soon_threadsafe, b.busy

        def soon_threadsafe(fn: Callable[[], object]) -> None:
            if holding[0] and threading.get_ident() != b.thread_id:
                held.append(fn)  # trio's I/O thread: not yet
            else:
                deliver(fn)

        def release() -> None:
            holding[0] = False
            while held:
                deliver(held.pop(0))

        def checked_busy() -> bool:  # the hub, looking for a deadlock
            answer = bool(busy())
            if answer and held:
                release()
            return answer

        b._soon_threadsafe, b.busy = soon_threadsafe, checked_busy
        try:
            gochan.await_(trio.sleep(0))  # the guest run starts (unheld)
            holding[0] = True
            ch = Chan[int]()
            go(gochan.await_, ch.asend(7))
            return ch.recv()  # every green task is blocked; trio will send
        finally:
            release()

    assert run(main, backend="trio") == 7


DEADLOCK_WITH_A_PARKED_COROUTINE = """
import gochan

def main():
    ch = gochan.Chan()
    gochan.go(gochan.await_, ch.arecv())  # a coroutine parked on ch; nobody will send
    gochan.Chan().recv()

try:
    gochan.run(main, backend={backend!r})
except gochan.Deadlock as e:
    print(str(e).splitlines()[0])
"""


@pytest.mark.parametrize("backend", LOOPS)
def test_deadlock_with_a_coroutine_parked_on_a_channel_is_reported(backend: str) -> None:
    """main blocks on a fresh channel while the only other work is a coroutine
    in ch.arecv(): asleep like a green task, so this is a deadlock (run in a
    subprocess, which is killed if it hangs)."""
    code = DEADLOCK_WITH_A_PARKED_COROUTINE.format(backend=backend)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung instead of reporting the deadlock")
    assert proc.stdout == "all goroutines are asleep - deadlock!\n", proc.stderr


DEADLOCK_WITH_A_STUCK_ASYNCIO_TASK = """
import asyncio, gochan

async def stuck():
    await asyncio.Event().wait()  # nobody can set it

def main():
    gochan.go(gochan.await_, stuck())
    gochan.Chan().recv()

try:
    gochan.run(main, backend="asyncio")
except gochan.Deadlock as e:
    print(str(e).splitlines()[0])
"""


def test_deadlock_with_an_asyncio_task_that_can_never_run_again_is_reported() -> None:
    """On asyncio's own loop gochan can look inside: no ready callback, no
    timer, no watched fd means no asyncio task can ever run again."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DEADLOCK_WITH_A_STUCK_ASYNCIO_TASK],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung instead of reporting the deadlock")
    assert proc.stdout == "all goroutines are asleep - deadlock!\n", proc.stderr


def test_deadlock_check_survives_another_thread_queueing_a_callback() -> None:
    """The deadlock check reads asyncio's ready queue while another thread may
    append to it (``call_soon_threadsafe`` from a channel send there). Here the
    append happens exactly mid-scan: a queued handle's ``cancelled()`` queues
    another callback, as a thread switching in at that bytecode would. The
    check must still answer (busy: a callback is ready), not raise "deque
    mutated during iteration" out of the scheduler (a CI run saw that)."""
    answers: list[bool] = []

    def main() -> None:
        s = peek_scheduler()
        assert s is not None
        loop = s.backend.loop  # type: ignore[attr-defined]

        class Intruding(asyncio.Handle):
            def cancelled(self) -> bool:  # cancelled: the scan goes on past it
                if not answers:
                    loop.call_soon_threadsafe(lambda: None)
                return True

        loop._ready.append(Intruding(lambda: None, (), loop))
        answers.append(s.backend.busy())  # the callback came in after the look
        answers.append(s.backend.busy())  # now it is there to see

    run(main, backend="asyncio")
    assert answers[1:] == [True]


# ---------------------------------------------------------------------------
# Shutdown cancels awaits, and the awaitable with them
# ---------------------------------------------------------------------------


def _cancelled_type(backend: str) -> type[BaseException]:
    return trio.Cancelled if backend == "trio" else asyncio.CancelledError


@pytest.mark.parametrize("backend", LOOPS)
def test_shutdown_cancels_awaits_and_their_awaitables(backend: str) -> None:
    seen: list[str] = []
    started = Chan[int](3)

    async def forever(i: int) -> None:
        await started.asend(i)
        try:
            if backend == "trio":
                await trio.sleep_forever()
            else:
                await asyncio.Event().wait()
        except _cancelled_type(backend):
            seen.append(f"coroutine {i} cancelled")
            raise

    def waiter(i: int) -> None:
        try:
            gochan.await_(forever(i))
        except gochan.Cancelled:
            seen.append(f"task {i} cancelled")
            raise

    def main() -> None:
        for i in range(3):
            go(waiter, i)
        assert sorted(started.recv() for _ in range(3)) == [0, 1, 2]  # all on the loop now
        # main returns: run() cancels the three tasks, and their awaitables

    run(main, backend=backend)
    assert sorted(seen) == [f"coroutine {i} cancelled" for i in range(3)] + [
        f"task {i} cancelled" for i in range(3)
    ]


@pytest.mark.parametrize("backend", ["asyncio", "uvloop", "trio"])
def test_shutdown_closes_an_awaitable_that_never_got_a_loop_turn(backend: str) -> None:
    """Minimal repro: ``go(await_, coro); gosched(); return`` under run(backend=...)."""
    coro = _sleep(backend, 3600)

    def main() -> None:
        t = go(gochan.await_, coro)
        gochan.gosched()  # t parks in await_; main runs on without the loop turning
        assert t.state == "await"

    try:
        run(main, backend=backend)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    finally:
        coro.close()  # no "never awaited" warning at garbage collection either way


# ---------------------------------------------------------------------------
# Wakeups from other OS threads
# ---------------------------------------------------------------------------


class Worker(threading.Thread):
    """A thread whose exception (or result) is handed back by ``finish``."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__(daemon=True)
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
        assert not self.is_alive(), "thread still running"
        if self.exc is not None:
            raise self.exc
        return self.result


@pytest.mark.parametrize("backend", BACKENDS)
def test_another_thread_wakes_green_tasks(backend: str) -> None:
    """A thread's send wakes a parked receive, its receive a parked send, its close
    a parked select; the loop sleeps in between (nothing else is runnable)."""
    to_green, from_green, closing = Chan[int](), Chan[int](), Chan[int]()
    go_ahead = threading.Event()

    def other_thread() -> int | None:
        assert go_ahead.wait(SAFETY)
        to_green.send(42)
        v = from_green.recv()
        closing.close()
        return v

    th = Worker(other_thread)

    def main() -> list[Any]:
        th.start()
        got = go(to_green.recv)
        sent = go(from_green.send, 7)
        sel = go(gochan.select, closing.recv_ok, gochan.nilchan.recv)
        go(go_ahead.set)  # runs once main has parked in join() below
        return [got.join(), sent.join(), sel.join(), which_backend()]

    try:
        assert run(main, backend=backend) == [42, None, (0, (None, False)), backend]
    finally:
        go_ahead.set()
        assert th.finish() == 7


@pytest.mark.parametrize("backend", LOOPS)
def test_another_thread_cancels_a_task_parked_in_await(backend: str) -> None:
    seen = Chan[str](2)
    started = Chan[None](1)
    go_ahead = threading.Event()

    async def forever() -> None:
        await started.asend(None)
        try:
            await _sleep(backend, 3600)
        except _cancelled_type(backend):
            await seen.asend("awaitable cancelled")  # buffered: never blocks
            raise

    t_box: list[gochan.Task] = []
    th = Worker(lambda: (go_ahead.wait(SAFETY), t_box[0].cancel())[1])

    def main() -> list[Any]:
        t = go(gochan.await_, forever())
        t_box.append(t)
        started.recv()
        th.start()
        go(go_ahead.set)  # runs once main has parked below
        with pytest.raises(gochan.Cancelled):
            t.join()
        return [seen.recv(), t.cancelled()]

    try:
        assert run(main, backend=backend) == ["awaitable cancelled", True]
    finally:
        go_ahead.set()
        assert th.finish() is True


@pytest.mark.parametrize("backend", LOOPS)
def test_another_thread_wakes_main_while_a_coroutine_runs(backend: str) -> None:
    """The loop is busy with a coroutine that waits for the thread; the thread's
    wakeup of a green task must get through all the same."""
    to_green = Chan[str]()
    from_loop = Chan[str]()
    go_ahead = threading.Event()

    async def loop_side() -> str | None:
        return await from_loop.arecv()  # parked on the loop until the thread sends

    def other_thread() -> None:
        assert go_ahead.wait(SAFETY)
        to_green.send("to green")
        from_loop.send("to coroutine")

    th = Worker(other_thread)

    def main() -> list[Any]:
        th.start()
        coro_task = go(gochan.await_, loop_side())
        go(go_ahead.set)
        got = to_green.recv()
        return [got, coro_task.join()]

    try:
        assert run(main, backend=backend) == ["to green", "to coroutine"]
    finally:
        go_ahead.set()
        th.finish()


@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("backend", ["asyncio", "uvloop"])
def test_a_thread_wakeup_beside_the_loops_own_wake_lets_virtual_time_move(
    backend: str, order: str
) -> None:
    """Issue 17: another thread's wakeup (``call_soon_threadsafe(_wake)``) lands
    in the loop's ready queue beside the hub's own queued wake (``soon``), here
    by construction: from a real thread, right before or right after the loop
    greenlet queues its wake for a ``wait(0)``. ("before" is what a blocking()
    job finishing during the virtual asyncio loop's real pause does.) Whichever
    runs first hands the thread back to the hub; the other must not be taken
    for loop work. It was: the first one to run forgot ``soon`` though it was
    still queued, so the loop never looked idle again, every later loop turn
    queued a new wake behind the stale one, and the virtual clock never moved
    (a 100% CPU spin inside ``run_forever``)."""
    hub_rounds = [0]

    def main() -> float:
        s = peek_scheduler()
        assert s is not None
        b: Any = s.backend
        arm, wait = b._arm, b.wait
        todo = [True]

        def wake_from_another_thread() -> None:
            th = threading.Thread(target=s.ready_remote, args=(None,))
            th.start()
            th.join()

        def racing_arm(timeout: float | None) -> None:  # in the loop greenlet
            inject = timeout == 0 and todo and todo.pop()
            if inject and order == "before":
                wake_from_another_thread()
            arm(timeout)
            if inject and order == "after":
                wake_from_another_thread()

        def counted_wait(timeout: float | None, incoming: Any) -> None:  # in the hub
            hub_rounds[0] += 1
            if hub_rounds[0] > 1000:  # three sleeps take a handful
                raise AssertionError("the hub spins: virtual time cannot move")
            wait(timeout, incoming)

        b._arm, b.wait = racing_arm, counted_wait
        gochan.sleep(1)  # the clock jumps; the loop gets a turn: wait(0)
        assert not todo, "the wakeup was not injected"
        gochan.sleep(1)  # spun here, or (uvloop, "after") in the next one
        gochan.sleep(1)
        return gochan.monotonic()

    assert run(main, backend=backend, clock="virtual") == 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_runs_back_to_back_leave_nothing_behind(backend: str) -> None:
    """Two runs in a row on one thread; neither leaves a running loop behind."""
    for _ in range(2):
        assert run(workout, backend=backend)[0] == backend
        assert peek_scheduler() is None
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()


def test_a_trio_being_imported_by_another_thread_is_no_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While one thread imports trio, sys.modules holds it partly initialised
    # (no ``lowlevel`` yet): another thread's run() must not fail on it (seen:
    # AttributeError from three threads starting run(backend="trio") at once).
    import sys
    import types

    from gochan._runtime.backends import foreign_loop

    monkeypatch.setitem(sys.modules, "trio", types.ModuleType("trio"))
    assert foreign_loop(None) is None
    assert gochan.run(lambda: 42) == 42
