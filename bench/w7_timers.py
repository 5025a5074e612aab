"""W7 timers: 10,000 tasks each sleep 10 ms at the same time.

One reported value is one round: start ``TASKS`` tasks that each sleep
``DELAY`` seconds, and wait until all have woken and finished. The ideal is
10 ms; everything above it is the cost of arming, firing and waking ten
thousand timers (and starting and joining the tasks). Real clock for every
system. threading is n/a: 10,000 sleeping threads would measure thread
creation, not timers.
"""

from __future__ import annotations

from time import perf_counter

from common import Impl, Workload, gochan_rows, run_async

TASKS = 10_000
DELAY = 0.010


def gochan_w7(loops: int, n: int = 0, backend: str = "builtin") -> float:
    import gochan

    def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            wg = gochan.WaitGroup()
            for _ in range(TASKS):
                wg.go(gochan.sleep, DELAY)
            wg.wait()
        return perf_counter() - t0

    return gochan.run(main, backend=backend)


def gevent_w7(loops: int, n: int = 0) -> float:
    import gevent

    t0 = perf_counter()
    for _ in range(loops):
        gevent.joinall([gevent.spawn(gevent.sleep, DELAY) for _ in range(TASKS)])
    return perf_counter() - t0


def trio_w7(loops: int, n: int = 0) -> float:
    import trio

    async def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with trio.open_nursery() as nursery:
                for _ in range(TASKS):
                    nursery.start_soon(trio.sleep, DELAY)
        return perf_counter() - t0

    return trio.run(main)


def _asyncio_w7(system: str) -> Impl:
    import asyncio

    async def main(loops: int) -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with asyncio.TaskGroup() as tg:
                for _ in range(TASKS):
                    tg.create_task(asyncio.sleep(DELAY))
        return perf_counter() - t0

    def fn(loops: int, n: int = 0) -> float:
        return run_async(system, main, loops)

    return Impl(f"TaskGroup of {TASKS:,} asyncio.sleep", fn)


def anyio_w7(loops: int, n: int = 0) -> float:
    import anyio

    async def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with anyio.create_task_group() as tg:
                for _ in range(TASKS):
                    tg.start_soon(anyio.sleep, DELAY)
        return perf_counter() - t0

    return anyio.run(main)


WORKLOAD = Workload(
    key="W7",
    name="timers",
    title="W7 timers",
    shown="ms",
    fixed_loops=1,
    quick_loops=1,
    scale=1e6,
    unit=f"round of {TASKS:,} sleeps of {DELAY * 1000:g} ms",
    description=f"{TASKS:,} tasks sleep {DELAY * 1000:g} ms at once; wall time per round",
    impls={
        **gochan_rows(gochan_w7, f"WaitGroup.go(sleep) x {TASKS:,}"),
        "greenlet": Impl.missing("bare greenlets have no timers"),
        "gevent": Impl(f"spawn(gevent.sleep) x {TASKS:,}, joinall", gevent_w7),
        "trio": Impl(f"nursery of {TASKS:,} trio.sleep", trio_w7),
        "asyncio": _asyncio_w7("asyncio"),
        "uvloop": _asyncio_w7("uvloop"),
        "threading": Impl.missing(f"{TASKS:,} sleeping threads is not a timer workload"),
        "anyio": Impl(f"task group of {TASKS:,} anyio.sleep (asyncio backend)", anyio_w7),
        "aiochan": Impl.missing("no timers of its own: they are asyncio's (the asyncio row)"),
        "goless": Impl.missing("no timers of its own: they are gevent's (the gevent row)"),
        "pygolang": Impl.missing(
            f"threads runtime: time.sleep in {TASKS:,} OS threads is not a timer workload"
        ),
        "go": Impl(f"{TASKS:,} goroutines time.Sleep, sync.WaitGroup, GOMAXPROCS=1"),
    },
)
