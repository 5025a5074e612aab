"""``await_(awaitable)``: a green task runs async code on the backend's loop.

What this proves, on asyncio, uvloop and trio:

* The result comes back (the very object), and an exception comes back as the very
  same object; on asyncio any coroutine, ``Future``, ``Task`` or object with
  ``__await__`` works, on trio any trio async function call (nurseries and memory
  channels inside it included).
* Only the awaiting task parks: several ``await_`` calls overlap, proved by an
  Event handshake that completes only once all of them are running on the loop at
  the same time.
* Cancellation crosses the bridge both ways: cancelling the green task cancels the
  awaitable (the coroutine sees ``CancelledError``/``trio.Cancelled``), also before
  the awaitable ever started; an awaitable cancelled on the loop raises
  ``gochan.Cancelled`` in the green task, which is not itself cancelled by that. An
  exception raised by an awaitable nobody waits for any more is logged.
* Under the builtin backend ``await_`` raises ``RuntimeError`` with the documented
  message and closes the coroutine (no "coroutine was never awaited" warning);
  a task that is already cancelled raises ``Cancelled`` and closes it too.
* Busy green tasks (a ``gosched()`` loop) do not starve the loop.

Safety nets (``asyncio.timeout``/``trio.fail_after``) only turn a hang into a
failure; no assertion depends on how long anything takes.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
import warnings
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

import pytest
import trio

import gochan
from gochan import Cancelled, Chan, await_, go, gosched, run

LIBS = ["asyncio", "uvloop", "trio"]
AIO = ["asyncio", "uvloop"]
SAFETY = 30.0  # seconds; turns a hang into a failure, never an assertion about speed
SPIN_BOUND = 100_000  # gosched() calls a busy task may make before we call it starvation


async def checkpoint(lib: str) -> None:
    if lib == "trio":
        await trio.sleep(0)
    else:
        await asyncio.sleep(0)


async def sleep_forever(lib: str) -> None:
    if lib == "trio":
        await trio.sleep_forever()
    else:
        await asyncio.Event().wait()


def cancelled_error(lib: str) -> type[BaseException]:
    return trio.Cancelled if lib == "trio" else asyncio.CancelledError


async def with_safety_net(lib: str, aw: Awaitable[Any]) -> Any:
    """``await aw``, failing (not hanging) if it takes more than SAFETY seconds."""
    if lib == "trio":
        with trio.fail_after(SAFETY):
            return await aw
    async with asyncio.timeout(SAFETY):
        return await aw


# ---------------------------------------------------------------------------
# Results and exceptions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_returns_the_result(lib: str) -> None:
    sentinel = object()

    async def echo(v: object, *, times: int) -> object:
        for _ in range(times):
            await checkpoint(lib)
        return v

    def main() -> list[Any]:
        return [await_(echo(sentinel, times=3)), await_(echo(None, times=0))]

    got = run(main, backend=lib)
    assert got[0] is sentinel and got[1] is None


def _raising_params() -> list[Any]:
    kinds = (ValueError, KeyError, KeyboardInterrupt, SystemExit)
    return [pytest.param(lib, k, id=f"{lib}-{k.__name__}") for lib in LIBS for k in kinds]


@pytest.mark.parametrize(("lib", "kind"), _raising_params())
def test_reraises_the_same_exception_object_in_the_awaiting_task(
    lib: str, kind: type[BaseException]
) -> None:
    """A task await_()s a coroutine that raises after one checkpoint, while
    main joins it; KeyboardInterrupt and SystemExit too reach the awaiting
    task (asyncio's own tasks would re-raise them out of the loop), and the
    loop keeps working."""
    exc = kind("from the loop")

    async def fail() -> None:
        await checkpoint(lib)
        raise exc

    def awaiter() -> BaseException:
        try:
            await_(fail())
        except BaseException as e:
            return e
        raise AssertionError("await_ returned")

    def main() -> list[Any]:
        caught = go(awaiter).join()
        return [caught, await_(checkpoint(lib))]  # and the loop still works afterwards

    try:
        caught, later = run(main, backend=lib)
    except BaseException as e:  # a KeyboardInterrupt here would stop pytest itself
        pytest.fail(f"run() raised {e!r} instead of the awaiting task")
    assert caught is exc and later is None


# ---------------------------------------------------------------------------
# What can be awaited
# ---------------------------------------------------------------------------


class Ready:
    """A bare awaitable: an object with ``__await__`` (no coroutine)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __await__(self) -> Generator[Any, None, int]:
        yield from asyncio.sleep(0).__await__()
        return self.v


@pytest.mark.parametrize("lib", AIO)
def test_asyncio_coroutines_futures_tasks_and_awaitables(lib: str) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def make_task(x: int) -> asyncio.Task[int]:
        return asyncio.get_running_loop().create_task(double(x))

    async def make_future() -> asyncio.Future[int]:
        return asyncio.get_running_loop().create_future()

    async def gather_on_the_loop(*coros: Coroutine[Any, Any, int]) -> list[int]:
        # gather() needs the running loop: a green task is not on the loop, so
        # it hands the whole call over instead of calling gather() itself.
        return await asyncio.gather(*coros)

    def main() -> list[Any]:
        got: list[Any] = [await_(double(1))]
        task = await_(make_task(2))
        got.append(await_(task))
        got.append(await_(task))  # a done Task: its result again
        fut = await_(make_future())
        go(fut.set_result, 5)  # resolved by another green task while we wait
        got.append(await_(fut))
        got.append(await_(Ready(6)))
        got.append(await_(gather_on_the_loop(double(7), double(8))))
        return got

    assert run(main, backend=lib) == [2, 4, 4, 5, 6, [14, 16]]


def test_trio_async_function_calls() -> None:
    async def produce(n: int) -> list[int]:
        send, recv = trio.open_memory_channel[int](0)
        out: list[int] = []

        async def producer() -> None:
            async with send:
                for i in range(n):
                    await send.send(i * i)

        async def consumer() -> None:
            async with recv:
                async for v in recv:
                    out.append(v)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            nursery.start_soon(consumer)
        return out

    def main() -> list[Any]:
        return [
            await_(produce(4)),
            await_(trio.sleep(0)),
            await_(trio.lowlevel.checkpoint()),
            await_(trio.to_thread.run_sync(sum, [1, 2, 3])),
        ]

    assert run(main, backend="trio") == [[0, 1, 4, 9], None, None, 6]


# ---------------------------------------------------------------------------
# Concurrency: only the caller parks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_concurrent_awaits_overlap(lib: str) -> None:
    """Each awaitable waits until *all* of them have started: that can only
    happen if the loop runs them at the same time."""
    n = 5
    arrived: list[int] = []
    all_here: list[Any] = []  # the Event, created on the loop by the first arrival

    async def meet(i: int) -> int:
        if not all_here:
            all_here.append(trio.Event() if lib == "trio" else asyncio.Event())
        arrived.append(i)
        if len(arrived) == n:
            all_here[0].set()
        await with_safety_net(lib, all_here[0].wait())
        return i

    def main() -> list[Any]:
        tasks = [go(await_, meet(i)) for i in range(n)]
        return [t.join() for t in tasks]

    assert run(main, backend=lib) == list(range(n))
    assert sorted(arrived) == list(range(n))


@pytest.mark.parametrize("lib", LIBS)
def test_other_green_tasks_run_while_one_awaits(lib: str) -> None:
    """The awaitable waits for a value only a green task can give it."""
    to_loop = Chan[int]()

    async def wait_for_green() -> int | None:
        return await to_loop.arecv()

    def main() -> int | None:
        t = go(await_, wait_for_green())
        to_loop.send(99)  # main, a green task, completes the coroutine's receive
        return t.join()

    assert run(main, backend=lib) == 99


# ---------------------------------------------------------------------------
# Cancellation, both ways
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_cancelling_the_green_task_cancels_the_awaitable(lib: str) -> None:
    started = Chan[None](1)
    seen = Chan[str](4)

    async def forever() -> None:
        await started.asend(None)
        try:
            await sleep_forever(lib)
        except cancelled_error(lib):
            await seen.asend("awaitable cancelled")  # buffered: never blocks
            raise
        finally:
            await seen.asend("awaitable finally")

    def awaiter() -> None:
        try:
            await_(forever())
        finally:
            seen.send("task finally")

    def main() -> list[Any]:
        t = go(awaiter)
        started.recv()  # the coroutine runs on the loop now
        assert t.state == "await"
        assert t.cancel()
        with pytest.raises(Cancelled):
            t.join()
        return [*sorted(seen.recv() for _ in range(3)), t.cancelled()]

    assert run(main, backend=lib) == [
        "awaitable cancelled",
        "awaitable finally",
        "task finally",
        True,
    ]


@pytest.mark.parametrize("lib", LIBS)
def test_cancelling_before_the_awaitable_started_closes_it(lib: str) -> None:
    async def never_reached() -> None:
        await sleep_forever(lib)

    coro = never_reached()

    def main() -> str:
        t = go(await_, coro)
        gosched()  # t parks in await_; the loop has not run yet
        assert t.state == "await"
        t.cancel()
        with pytest.raises(Cancelled):
            t.join()
        await_(checkpoint(lib))  # give the loop a turn
        await_(checkpoint(lib))
        return inspect.getcoroutinestate(coro)

    try:
        assert run(main, backend=lib) == inspect.CORO_CLOSED
    finally:
        coro.close()


@pytest.mark.parametrize("lib", AIO)
def test_awaitable_cancelled_on_the_loop_raises_cancelled(lib: str) -> None:
    async def spawn_forever() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(sleep_forever(lib))

    def awaiter(task: asyncio.Task[None]) -> list[Any]:
        try:
            await_(task)
        except Cancelled as e:
            notes = getattr(e, "__notes__", [])
            # Not a cancellation of this green task: it carries on and can block.
            gochan.sleep(0)
            return ["Cancelled", notes, gochan.current().cancelled()]
        return ["returned"]

    def main() -> list[Any]:
        task = await_(spawn_forever())
        t = go(awaiter, task)
        gosched()
        assert t.state == "await"
        task.cancel()  # cancelled on the loop's side, not through gochan
        return t.join()

    kind, notes, cancelled = run(main, backend=lib)
    assert kind == "Cancelled" and not cancelled
    assert any("cancelled on the event loop" in n for n in notes)


def test_trio_cancelled_escaping_the_awaitable_raises_cancelled() -> None:
    """A ``trio.Cancelled`` that escapes the awaited function becomes
    ``gochan.Cancelled``, with trio's exception as its cause."""

    async def escaping() -> None:
        caught: list[BaseException] = []
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.sleep_forever()
            except trio.Cancelled as e:
                caught.append(e)
        raise caught[0]

    def main() -> list[Any]:
        try:
            await_(escaping())
        except Cancelled as e:
            return [type(e.__cause__), gochan.current().cancelled()]
        return ["returned"]

    assert run(main, backend="trio") == [trio.Cancelled, False]


@pytest.mark.parametrize("lib", LIBS)
def test_an_awaitable_that_raises_after_its_task_left_is_logged(
    lib: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = Chan[None](1)
    done = Chan[None](1)

    async def stubborn() -> None:
        await started.asend(None)
        try:
            await sleep_forever(lib)
        finally:
            await done.asend(None)
            raise ValueError("raised on the way out")  # replaces the cancellation

    def main() -> None:
        t = go(await_, stubborn())
        started.recv()
        t.cancel()
        with pytest.raises(Cancelled):
            t.join()
        done.recv()
        await_(checkpoint(lib))  # the done callback runs on the loop's next turn
        await_(checkpoint(lib))

    with caplog.at_level(logging.ERROR, logger="gochan"):
        run(main, backend=lib)
    records = [r for r in caplog.records if r.name == "gochan"]
    assert len(records) == 1
    assert "after its green task stopped waiting" in records[0].getMessage()
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], ValueError)


@pytest.mark.parametrize("lib", LIBS)
def test_a_cancelled_task_does_not_start_the_awaitable(lib: str) -> None:
    async def body() -> None:
        await checkpoint(lib)

    coro = body()

    def victim() -> None:
        gochan.current().cancel()  # a pending cancellation, raised at the next blocking call
        await_(coro)

    def main() -> bool:
        t = go(victim)
        with pytest.raises(Cancelled):
            t.join()
        return t.cancelled()

    assert run(main, backend=lib)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


# ---------------------------------------------------------------------------
# The builtin backend has no loop
# ---------------------------------------------------------------------------

BUILTIN_MESSAGE = (
    "await_() needs an async backend: start gochan with gochan.run(main, backend='asyncio') "
    "(or 'uvloop', 'trio'), or set GOCHAN_BACKEND; the builtin backend has no event loop"
)


def _assert_no_unawaited_warning(coro: Coroutine[Any, Any, Any]) -> None:
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del coro
        gc.collect()
    assert [w for w in caught if "never awaited" in str(w.message)] == []


@pytest.mark.parametrize("mode", ["run", "implicit"])
def test_await_under_builtin_raises_and_closes_the_coroutine(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOCHAN_BACKEND", "builtin")

    async def never_awaited() -> int:
        return 1

    coro = never_awaited()

    def main() -> str:
        with pytest.raises(RuntimeError) as ei:
            await_(coro)
        return str(ei.value)

    msg = run(main, backend="builtin") if mode == "run" else main()
    assert msg == BUILTIN_MESSAGE
    _assert_no_unawaited_warning(coro)


def test_await_under_builtin_with_a_bare_awaitable() -> None:
    def main() -> None:
        with pytest.raises(RuntimeError, match="needs an async backend"):
            await_(Ready(1))

    run(main, backend="builtin")


# ---------------------------------------------------------------------------
# Busy green tasks and the loop
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_busy_green_tasks_do_not_starve_an_await(lib: str) -> None:
    """A green task that only ever calls gosched() never parks, so the hub never
    sleeps; the loop must still get turns to finish the awaitable."""
    done: list[int] = []

    async def many_steps() -> int:
        for _ in range(20):
            await checkpoint(lib)
        return 20

    def spinner() -> int:
        spins = 0
        give_up = time.monotonic() + SAFETY
        while not done:
            # trio hands its ticks back from its I/O thread, which needs the GIL
            # now and then: bound trio by wall time; asyncio runs in this thread.
            assert spins < SPIN_BOUND or lib == "trio", "the loop is starved"
            assert time.monotonic() < give_up, "the loop is starved"
            gosched()
            spins += 1
        return spins

    def main() -> int:
        s = go(spinner)
        go(lambda: done.append(await_(many_steps())))
        return s.join()

    assert run(main, backend=lib) > 0


@pytest.mark.parametrize("lib", AIO)
def test_busy_green_tasks_do_not_starve_background_coroutines(lib: str) -> None:
    """Minimal repro: await_() a coroutine that starts an asyncio task and returns;
    then spin on gosched() until that task has taken three steps."""
    steps: list[int] = []

    async def background() -> None:
        for i in range(3):
            await asyncio.sleep(0)
            steps.append(i)

    async def start() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(background())

    def main() -> int:
        task = await_(start())
        spins = 0
        while len(steps) < 3 and spins < SPIN_BOUND:
            gosched()
            spins += 1
        await_(task)
        return spins

    assert run(main, backend=lib) < SPIN_BOUND
