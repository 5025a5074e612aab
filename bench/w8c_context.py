"""W8c context cancel fan-out: one cancel reaches a batch of waiting tasks.

One loop is one round: a root context, ``n`` child contexts derived from it
(``with_cancel(root)``), and one task per child parked on ``child.done()``;
once every task is parked, the root is cancelled and the round ends when all
``n`` tasks have woken and finished. Only that part is timed (the cancel,
its propagation down the tree, the wake-ups and the exits), not the set-up.
One reported value is one task's share of it.

gochan and Go have context trees. The other systems get their own way of
cancelling a batch of waiting tasks at once: trio and anyio a cancel scope
around a nursery (task group) of tasks in ``sleep_forever``; asyncio and
uvloop a parent task whose ``TaskGroup`` holds the waiting tasks, cancelled
with ``parent.cancel()``; gevent ``killall`` on the greenlets. threading and
pygolang (whose runtime here is OS threads) would need a thousand threads a
round; aiochan, goless and the bare greenlets have no cancellation.
"""

from __future__ import annotations

import contextlib
from time import perf_counter

from common import Impl, Workload, gochan_rows, run_async

TASKS = 1000  # tasks per round (full and quick runs)


def gochan_w8c(loops: int, n: int, backend: str = "builtin") -> float:
    import gochan
    from gochan import context

    def main() -> float:
        total = 0.0
        for _ in range(loops):
            root, cancel = context.with_cancel(context.background())
            wg = gochan.WaitGroup()
            for _ in range(n):
                child, _ = context.with_cancel(root)
                wg.go(child.done().recv)
            gochan.gosched()  # every task runs and parks on its child's done()
            t0 = perf_counter()
            cancel()
            wg.wait()
            total += perf_counter() - t0
        return total

    return gochan.run(main, backend=backend)


def gevent_w8c(loops: int, n: int) -> float:
    import gevent

    total = 0.0
    for _ in range(loops):
        gs = [gevent.spawn(gevent.sleep, 3600) for _ in range(n)]
        gevent.sleep(0)  # every greenlet starts and parks in its sleep
        t0 = perf_counter()
        gevent.killall(gs, block=True)
        total += perf_counter() - t0
    return total


def trio_w8c(loops: int, n: int) -> float:
    import trio
    import trio.testing

    async def main() -> float:
        total = 0.0
        for _ in range(loops):
            scope = trio.CancelScope()
            finished = trio.Event()

            async def group(scope: trio.CancelScope, finished: trio.Event) -> None:
                with scope:
                    async with trio.open_nursery() as nursery:
                        for _ in range(n):
                            nursery.start_soon(trio.sleep_forever)
                finished.set()

            async with trio.open_nursery() as outer:
                outer.start_soon(group, scope, finished)
                await trio.testing.wait_all_tasks_blocked()
                t0 = perf_counter()
                scope.cancel()
                await finished.wait()
                total += perf_counter() - t0
        return total

    return trio.run(main)


def anyio_w8c(loops: int, n: int) -> float:
    import anyio

    async def main() -> float:
        total = 0.0
        for _ in range(loops):
            started = 0

            async def waiter() -> None:
                nonlocal started
                started += 1
                await anyio.sleep_forever()

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(waiter)
                while started < n:
                    await anyio.sleep(0)
                await anyio.sleep(0)  # the last one reaches its sleep
                t0 = perf_counter()
                tg.cancel_scope.cancel()
            total += perf_counter() - t0
        return total

    return anyio.run(main)


def _asyncio_w8c(system: str) -> Impl:
    import asyncio

    async def main(loops: int, n: int) -> float:
        total = 0.0
        for _ in range(loops):
            started = 0

            async def waiter() -> None:
                nonlocal started
                started += 1
                await asyncio.Event().wait()

            async def parent() -> None:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(n):
                        tg.create_task(waiter())

            p = asyncio.create_task(parent())
            while started < n:
                await asyncio.sleep(0)
            await asyncio.sleep(0)  # the last one reaches its wait
            t0 = perf_counter()
            p.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await p
            total += perf_counter() - t0
        return total

    def fn(loops: int, n: int) -> float:
        return run_async(system, main, loops, n)

    return Impl(f"parent task's TaskGroup of {TASKS:,} waiting tasks, parent.cancel()", fn)


WORKLOAD = Workload(
    key="W8c",
    name="context",
    title="W8c context cancel fan-out",
    unit="task woken by one cancel",
    description=f"{TASKS:,} tasks wait on child contexts of one root; cancel the root, "
    "time until all have woken and exited (per task)",
    sized=True,
    sizes=(TASKS, TASKS, 100),
    quick_loops=1,  # one round per value: a quick run skips the loop calibration
    impls={
        **gochan_rows(gochan_w8c, f"with_cancel(root) x {TASKS:,}, tasks on done(); cancel root"),
        "greenlet": Impl.missing("bare greenlets have no cancellation"),
        "gevent": Impl(f"no contexts: gevent.killall of {TASKS:,} sleeping greenlets", gevent_w8c),
        "trio": Impl(f"cancel scope around a nursery of {TASKS:,} sleep_forever", trio_w8c),
        "asyncio": _asyncio_w8c("asyncio"),
        "uvloop": _asyncio_w8c("uvloop"),
        "threading": Impl.missing(f"no cancellation of threads; {TASKS:,} threads a round"),
        "anyio": Impl(
            f"task group cancel scope, {TASKS:,} sleep_forever (asyncio backend)", anyio_w8c
        ),
        "aiochan": Impl.missing("no contexts or cancellation of its own (asyncio's: its row)"),
        "goless": Impl.missing("no contexts or cancellation"),
        "pygolang": Impl.missing(
            f"golang.context exists, but its tasks are OS threads here: {TASKS:,} threads a round"
        ),
        "go": Impl(f"context.WithCancel tree, {TASKS:,} goroutines on <-ctx.Done(), GOMAXPROCS=1"),
    },
)
