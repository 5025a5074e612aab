"""W3 spawn: start a batch of tasks that do nothing, then wait for them all.

One call starts ``loops * n`` tasks in batches of ``n`` (100,000 in a full
run); after each batch the timing task waits until every task of it has
finished. One reported value is one task: its creation, its (empty) run,
its end and the join bookkeeping. Each system uses its idiomatic "start
many, wait for all": gochan ``WaitGroup.go``, gevent ``spawn`` +
``joinall``, a trio nursery, asyncio ``TaskGroup``. Threads cost ~100x
more, so threading times batches of at most ``THREAD_BATCH`` and the label
says so (per-thread cost does not depend on the batch size).
"""

from __future__ import annotations

import threading
from time import perf_counter

from common import Impl, Workload, run_async

BACKEND_NA = "spawning never calls into the backend: the gochan row's code, not measured again"


def _same_as_gochan() -> dict[str, Impl]:
    backends = ("gochan[asyncio]", "gochan[uvloop]", "gochan[trio]")
    return {s: Impl.missing(BACKEND_NA) for s in backends}


THREAD_BATCH = 1_000


def _noop() -> None:
    pass


def gochan_w3(loops: int, n: int) -> float:
    import gochan

    def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            wg = gochan.WaitGroup()
            start = wg.go
            for _ in range(n):
                start(_noop)
            wg.wait()
        return perf_counter() - t0

    return gochan.run(main)


def greenlet_w3(loops: int, n: int) -> float:
    """The floor: create each greenlet and run it to completion at once
    (no scheduler, no queue, nothing to wait for)."""
    from greenlet import greenlet

    t0 = perf_counter()
    for _ in range(loops):
        for _ in range(n):
            greenlet(_noop).switch()
    return perf_counter() - t0


def gevent_w3(loops: int, n: int) -> float:
    import gevent

    spawn, joinall = gevent.spawn, gevent.joinall
    t0 = perf_counter()
    for _ in range(loops):
        joinall([spawn(_noop) for _ in range(n)])
    return perf_counter() - t0


def trio_w3(loops: int, n: int) -> float:
    import trio

    async def noop() -> None:
        pass

    async def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with trio.open_nursery() as nursery:
                start = nursery.start_soon
                for _ in range(n):
                    start(noop)
        return perf_counter() - t0

    return trio.run(main)


def _asyncio_w3(system: str) -> Impl:
    import asyncio

    async def noop() -> None:
        pass

    async def main(loops: int, n: int) -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with asyncio.TaskGroup() as tg:
                create = tg.create_task
                for _ in range(n):
                    create(noop())
        return perf_counter() - t0

    def fn(loops: int, n: int) -> float:
        return run_async(system, main, loops, n)

    return Impl("asyncio.TaskGroup, create_task", fn)


def threading_w3(loops: int, n: int) -> float:
    batch = min(n, THREAD_BATCH)
    t0 = perf_counter()
    for _ in range(loops):
        threads = [threading.Thread(target=_noop) for _ in range(batch)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return (perf_counter() - t0) * n / batch  # scaled to n per loop


def anyio_w3(loops: int, n: int) -> float:
    import anyio

    async def noop() -> None:
        pass

    async def main() -> float:
        t0 = perf_counter()
        for _ in range(loops):
            async with anyio.create_task_group() as tg:
                start = tg.start_soon
                for _ in range(n):
                    start(noop)
        return perf_counter() - t0

    return anyio.run(main)


def pygolang_w3(loops: int, n: int) -> float:
    from golang import go, sync

    batch = min(n, THREAD_BATCH)
    t0 = perf_counter()
    for _ in range(loops):
        wg = sync.WaitGroup()
        wg.add(batch)
        done = wg.done
        for _ in range(batch):
            go(done)
        wg.wait()
    return (perf_counter() - t0) * n / batch  # scaled to n per loop


WORKLOAD = Workload(
    key="W3",
    name="spawn",
    title="W3 spawn",
    unit="task",
    description="start a batch of empty tasks, wait for all",
    sized=True,
    fixed_loops=1,
    quick_loops=1,
    sizes=(100_000, 10_000, 2_000),
    shown="\u00b5s",
    scale=1e3,
    impls={
        "gochan": Impl("WaitGroup.go x n, wait()", gochan_w3),
        "greenlet": Impl("greenlet(f).switch() x n", greenlet_w3),
        "gevent": Impl("gevent.spawn x n, joinall", gevent_w3),
        "trio": Impl("nursery.start_soon x n", trio_w3),
        "asyncio": _asyncio_w3("asyncio"),
        "uvloop": _asyncio_w3("uvloop"),
        "threading": Impl(f"Thread.start/join, batches of {THREAD_BATCH:,} (scaled)", threading_w3),
        "anyio": Impl("anyio task group, start_soon x n (asyncio backend)", anyio_w3),
        "aiochan": Impl.missing("aiochan has no tasks of its own: aiochan.go is asyncio's task"),
        "goless": Impl.missing("goless.go is gevent.spawn and goless has no join"),
        "pygolang": Impl(
            f"go(wg.done) x n, sync.WaitGroup; threads runtime: OS threads, batches of "
            f"{THREAD_BATCH:,} (scaled)",
            pygolang_w3,
        ),
        "go": Impl("go wg.Done() x n, sync.WaitGroup, GOMAXPROCS=1"),
        **_same_as_gochan(),
    },
)
