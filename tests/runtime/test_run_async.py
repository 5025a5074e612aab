"""``await gochan.run_async(main)``: green tasks inside a running asyncio or trio
program.

What this proves, hosted by ``asyncio.run`` (and uvloop) and by ``trio.run``:

* ``main``'s result comes back, arguments are passed through, and an exception
  comes back as the very same object.
* The host's other coroutines keep running while green tasks run and block, and
  green tasks ``await_`` work on the host's own loop (sleeps, Events, futures the
  host resolves).
* Channels are shared between host coroutines and green tasks, both directions.
* Leftover green tasks are cancelled when ``main`` returns, and an awaitable a
  leftover task was waiting on is cancelled with it.
* Deadlock: reported under asyncio hosting when nothing else runs on the loop,
  not reported while a host coroutine could still send (on trio hosting it is
  never reported: trio has no list of the host's tasks).
* Another OS thread wakes a green task of a hosted run.
* Misuse: outside a running loop, or while green tasks run on this thread, is a
  ``RuntimeError``; the virtual clock is a ``ValueError``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio
import uvloop

import gochan
from gochan import Cancelled, Chan, Deadlock, await_, go, gosched, run_async

HOSTS = ["asyncio", "uvloop", "trio"]
SAFETY = 30.0  # seconds; a safety net for thread hand-offs, never an assertion about speed
SPIN_BOUND = 100_000


def host_run(host: str, amain: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``amain()`` as the host program: asyncio.run, uvloop or trio.run."""
    if host == "trio":
        return trio.run(amain)
    if host == "uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(amain())
    return asyncio.run(amain())


async def host_checkpoint(host: str) -> None:
    if host == "trio":
        await trio.sleep(0)
    else:
        await asyncio.sleep(0)


async def host_sleep(host: str, seconds: float) -> None:
    if host == "trio":
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def host_event(host: str) -> Any:
    return trio.Event() if host == "trio" else asyncio.Event()


async def with_host_tasks(host: str, *coros: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run ``coros`` concurrently on the host (a nursery on trio, gather on asyncio)."""
    if host == "trio":
        async with trio.open_nursery() as nursery:
            for c in coros:
                nursery.start_soon(c)
    else:
        await asyncio.gather(*(c() for c in coros))


# ---------------------------------------------------------------------------
# Results and exceptions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_returns_main_s_result_with_arguments(host: str) -> None:
    def main(a: int, b: int, *, scale: int) -> int:
        ch = Chan[int]()
        go(lambda: ch.send(a + b))
        return ch.recv() * scale  # type: ignore[operator]

    async def amain() -> int:
        return await run_async(main, 1, 2, scale=10)

    assert host_run(host, amain) == 30


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("where", ["main", "a task"])
def test_reraises_the_same_exception_object(host: str, where: str) -> None:
    exc = ValueError("from a green task")

    def fail() -> None:
        raise exc

    def main() -> None:
        if where == "main":
            fail()
        go(fail)
        Chan[int]().recv()  # the crash of the task interrupts main here

    async def amain() -> BaseException:
        with pytest.raises(ValueError) as ei:
            await run_async(main)
        return ei.value

    assert host_run(host, amain) is exc


@pytest.mark.parametrize("host", HOSTS)
def test_runs_can_follow_each_other_on_one_loop(host: str) -> None:
    async def amain() -> list[Any]:
        out = [await run_async(lambda: 1), await run_async(lambda: 2)]
        out.append(await run_async(await_, host_checkpoint(host)))
        return out

    assert host_run(host, amain) == [1, 2, None]


# ---------------------------------------------------------------------------
# The host keeps running; green tasks use its loop
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_host_coroutines_run_while_green_tasks_block(host: str) -> None:
    """Main blocks on a channel that only a host coroutine feeds, after it has
    taken many steps of its own on the host loop."""
    ch = Chan[int]()
    steps: list[int] = []

    async def host_side() -> None:
        for i in range(20):
            await host_checkpoint(host)
            steps.append(i)
        await ch.asend(len(steps))

    def main() -> int | None:
        relay = Chan[int]()
        go(lambda: relay.send(ch.recv()))  # another green task blocks too
        return relay.recv()

    async def green_side() -> None:
        assert await run_async(main) == 20

    async def amain() -> list[int]:
        await with_host_tasks(host, host_side, green_side)
        return steps

    assert host_run(host, amain) == list(range(20))


@pytest.mark.parametrize(
    "host",
    HOSTS,
)
def test_host_coroutines_run_while_green_tasks_are_busy(host: str) -> None:
    """Minimal repro: a host task takes three checkpoints; run_async(main) where
    main spins on gosched() until those are done."""
    steps: list[int] = []

    async def host_side() -> None:
        for i in range(3):
            await host_checkpoint(host)
            steps.append(i)

    def spin() -> int:
        spins = 0
        while len(steps) < 3 and spins < SPIN_BOUND:
            gosched()
            spins += 1
        return spins

    async def green_side() -> None:
        assert await run_async(spin) < SPIN_BOUND

    async def amain() -> None:
        await with_host_tasks(host, host_side, green_side)

    host_run(host, amain)


@pytest.mark.parametrize("host", HOSTS)
def test_green_tasks_await_host_loop_work(host: str) -> None:
    async def amain() -> list[Any]:
        ev = host_event(host)
        box: list[Any] = []

        async def host_side() -> None:
            await host_checkpoint(host)
            box.append("set by the host")
            ev.set()

        def main() -> list[Any]:
            got = [await_(host_sleep(host, 0))]
            t = go(await_, ev.wait())  # resolved by a host task, not by gochan
            t.join()
            got.append(box[0])
            if host != "trio":
                fut = await_(_create_future())
                go(fut.set_result, "future")
                got.append(await_(fut))
            return got

        async def green_side() -> None:
            box.append(await run_async(main))

        await with_host_tasks(host, green_side, host_side)
        return box[1]

    expected = [None, "set by the host"] + ([] if host == "trio" else ["future"])
    assert host_run(host, amain) == expected


async def _create_future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@pytest.mark.parametrize("host", HOSTS)
def test_channels_shared_with_host_coroutines(host: str) -> None:
    """Host producer -> green doubler -> host consumer, unbuffered both ways.
    (The producer does not close ``raw``: see the xfail test below.)"""
    raw, doubled = Chan[int](), Chan[int]()
    out: list[int] = []

    async def producer() -> None:
        for i in range(5):
            await raw.asend(i)

    async def consumer() -> None:
        async for v in doubled:
            out.append(v)

    def doubler() -> None:
        for _ in range(5):
            doubled.send(2 * raw.recv())  # type: ignore[operator]
        doubled.close()

    async def green_side() -> None:
        await run_async(doubler)

    async def amain() -> list[int]:
        await with_host_tasks(host, consumer, green_side, producer)
        return out

    assert host_run(host, amain) == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("host", ["asyncio", "trio"])
def test_a_host_coroutine_closing_a_channel_wakes_a_green_task(host: str) -> None:
    """Minimal repro: ``run_async(ch.recv_ok)`` while a host task calls
    ``ch.close()``. A 1 s gochan timer is the safety net: main must have run
    before it fired."""
    ch = Chan[int]()

    async def closer() -> None:
        while not ch._recvq:  # main is parked in recv_ok()
            await host_checkpoint(host)
        ch.close()

    def main() -> tuple[Any, bool]:
        safety = gochan.after(1.0)  # makes the hub run after 1 s at the latest
        got = ch.recv_ok()
        return got, len(safety) == 0  # False: only the timer got main running

    async def green_side() -> None:
        assert await run_async(main) == ((None, False), True)

    async def amain() -> None:
        await with_host_tasks(host, green_side, closer)

    host_run(host, amain)


# ---------------------------------------------------------------------------
# The end of the run
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_leftover_tasks_and_their_awaitables_are_cancelled(host: str) -> None:
    seen: list[str] = []
    started = Chan[None](1)
    cancelled = trio.Cancelled if host == "trio" else asyncio.CancelledError

    async def forever() -> None:
        await started.asend(None)
        try:
            await host_sleep(host, 3600)
        except cancelled:
            seen.append("awaitable cancelled")
            raise

    def blocked() -> None:
        try:
            Chan[int]().recv()
        except Cancelled:
            seen.append("blocked task cancelled")
            raise

    def awaiting() -> None:
        try:
            await_(forever())
        except Cancelled:
            seen.append("awaiting task cancelled")
            raise

    def main() -> int:
        go(blocked)
        go(awaiting)
        started.recv()
        return gochan.num_goroutine()

    async def amain() -> int:
        n = await run_async(main)
        await host_checkpoint(host)
        return n

    assert host_run(host, amain) == 3
    assert sorted(seen) == [
        "awaitable cancelled",
        "awaiting task cancelled",
        "blocked task cancelled",
    ]


# ---------------------------------------------------------------------------
# Deadlock
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["asyncio", "uvloop"])
def test_deadlock_is_reported_when_nothing_else_runs_on_the_loop(host: str) -> None:
    def main() -> None:
        go(Chan[int]().send, 1)
        Chan[int]().recv()

    async def amain() -> str:
        with pytest.raises(Deadlock) as ei:
            await run_async(main)
        return str(ei.value)

    text = host_run(host, amain)
    assert text.startswith("all goroutines are asleep - deadlock!\n")
    assert "'main' [chan receive]" in text


@pytest.mark.parametrize("host", HOSTS)
def test_no_deadlock_while_a_host_coroutine_could_still_send(host: str) -> None:
    ch = Chan[str]()

    async def late() -> None:
        await host_sleep(host, 0.02)  # the green side is fully blocked meanwhile
        await ch.asend("from the host")

    async def green_side() -> None:
        assert await run_async(ch.recv) == "from the host"

    async def amain() -> None:
        await with_host_tasks(host, late, green_side)

    host_run(host, amain)


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_another_thread_wakes_a_hosted_green_task(host: str) -> None:
    ch = Chan[int]()
    go_ahead = threading.Event()
    th = threading.Thread(target=lambda: (go_ahead.wait(SAFETY), ch.send(5)))

    def main() -> int | None:
        th.start()
        go(go_ahead.set)  # runs once main has parked in ch.recv()
        return ch.recv()

    async def amain() -> int:
        return await run_async(main)

    try:
        assert host_run(host, amain) == 5
    finally:
        go_ahead.set()
        th.join(SAFETY)
    assert not th.is_alive()


# ---------------------------------------------------------------------------
# Misuse
# ---------------------------------------------------------------------------


def test_outside_a_running_loop_is_a_runtime_error() -> None:
    coro = run_async(lambda: 1)
    with pytest.raises(RuntimeError, match="inside a running asyncio or trio event loop"):
        coro.send(None)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_while_green_tasks_run_on_this_thread_is_a_runtime_error(backend: str) -> None:
    def inner() -> int:
        return 1

    def main() -> str:
        go(Chan[int]().recv)  # another live task on this thread's scheduler (cancelled at the end)
        with pytest.raises(RuntimeError) as ei:
            await_(run_async(inner))
        return str(ei.value)

    msg = gochan.run(main, backend=backend)
    assert "cannot start while this thread's scheduler runs green tasks" in msg
    assert "gochan.go()" in msg


@pytest.mark.parametrize("host", ["asyncio", "trio"])
def test_the_virtual_clock_is_refused(host: str) -> None:
    async def amain() -> None:
        with pytest.raises(ValueError, match="cannot use the virtual clock"):
            await run_async(gochan.sleep, 1, clock="virtual")

    host_run(host, amain)


def test_not_callable_is_a_type_error() -> None:
    async def amain() -> None:
        with pytest.raises(TypeError, match="callable"):
            await run_async(42)  # type: ignore[arg-type]

    asyncio.run(amain())


@pytest.mark.parametrize("host", ["asyncio", "trio"])
def test_seed_makes_select_reproducible(host: str) -> None:
    def main() -> list[int]:
        a, b = Chan[int](50), Chan[int](50)
        for i in range(50):
            a.send(i)
            b.send(i)
        return [gochan.select(a.recv, b.recv)[0] for _ in range(50)]

    async def amain() -> list[list[int]]:
        return [
            await run_async(main, seed=3),
            await run_async(main, seed=3),
            await run_async(main, seed=4),
        ]

    one, again, other = host_run(host, amain)
    assert one == again != other
