"""W4 fan-out/fan-in: producer -> jobs (cap 100) -> 8 workers -> results
(cap 100) -> collector.

One call pushes ``loops * n`` jobs (ints) through the pipeline: the
producer task sends them on *jobs*, each of 8 worker tasks receives a job
and sends ``job + 1`` on *results*, and the timing task collects them all.
One reported value is one job (two channel hops and the switches they
cause). The worker pool is started once per call, outside the timed region.
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from common import Impl, Workload, run_async

CAP = 100
WORKERS = 8


def gochan_w4(loops: int, n: int) -> float:
    import gochan

    total = loops * n

    def main() -> float:
        jobs, results = gochan.Chan[int](CAP), gochan.Chan[int](CAP)

        def producer() -> None:
            send = jobs.send
            for i in range(total):
                send(i)
            jobs.close()

        def worker() -> None:
            send = results.send
            for j in jobs:
                send(j + 1)

        for _ in range(WORKERS):
            gochan.go(worker)
        gochan.go(producer)
        recv = results.recv
        t0 = perf_counter()
        for _ in range(total):
            recv()
        return perf_counter() - t0

    return gochan.run(main)


def gevent_w4(loops: int, n: int) -> float:
    import gevent
    from gevent.queue import Queue

    total = loops * n
    jobs: Queue = Queue(CAP)
    results: Queue = Queue(CAP)

    def producer() -> None:
        put = jobs.put
        for i in range(total):
            put(i)
        for _ in range(WORKERS):
            put(None)

    def worker() -> None:
        get, put = jobs.get, results.put
        while (j := get()) is not None:
            put(j + 1)

    gs = [gevent.spawn(worker) for _ in range(WORKERS)]
    gs.append(gevent.spawn(producer))
    get = results.get
    t0 = perf_counter()
    for _ in range(total):
        get()
    dt = perf_counter() - t0
    gevent.joinall(gs)
    return dt


def trio_w4(loops: int, n: int) -> float:
    import trio

    total = loops * n

    async def main() -> float:
        jobs_tx, jobs_rx = trio.open_memory_channel[int](CAP)
        res_tx, res_rx = trio.open_memory_channel[int](CAP)

        async def producer() -> None:
            async with jobs_tx:
                send = jobs_tx.send
                for i in range(total):
                    await send(i)

        async def worker(
            rx: trio.MemoryReceiveChannel[int], tx: trio.MemorySendChannel[int]
        ) -> None:
            async with rx, tx:
                send = tx.send
                async for j in rx:
                    await send(j + 1)

        async with trio.open_nursery() as nursery:
            for _ in range(WORKERS):
                nursery.start_soon(worker, jobs_rx.clone(), res_tx.clone())
            nursery.start_soon(producer)
            jobs_rx.close()  # sync close: no checkpoint, nothing runs before t0
            res_tx.close()
            recv = res_rx.receive
            t0 = perf_counter()
            for _ in range(total):
                await recv()
            dt = perf_counter() - t0
        return dt

    return trio.run(main)


def _asyncio_w4(system: str) -> Impl:
    import asyncio

    async def main(total: int) -> float:
        jobs: asyncio.Queue[int | None] = asyncio.Queue(CAP)
        results: asyncio.Queue[int] = asyncio.Queue(CAP)

        async def producer() -> None:
            put = jobs.put
            for i in range(total):
                await put(i)
            for _ in range(WORKERS):
                await put(None)

        async def worker() -> None:
            get, put = jobs.get, results.put
            while (j := await get()) is not None:
                await put(j + 1)

        tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        tasks.append(asyncio.create_task(producer()))
        get = results.get
        t0 = perf_counter()
        for _ in range(total):
            await get()
        dt = perf_counter() - t0
        await asyncio.gather(*tasks)
        return dt

    def fn(loops: int, n: int) -> float:
        return run_async(system, main, loops * n)

    return Impl(f"asyncio.Queue({CAP}) x2, {WORKERS} worker tasks", fn)


def threading_w4(loops: int, n: int) -> float:
    import queue

    total = loops * n
    jobs: queue.Queue[int | None] = queue.Queue(CAP)
    results: queue.Queue[int] = queue.Queue(CAP)

    def producer() -> None:
        put = jobs.put
        for i in range(total):
            put(i)
        for _ in range(WORKERS):
            put(None)

    def worker() -> None:
        get, put = jobs.get, results.put
        while (j := get()) is not None:
            put(j + 1)

    gate = threading.Event()  # the producer starts with the clock, as in the others

    def gated_producer() -> None:
        gate.wait()
        producer()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=gated_producer, daemon=True))
    for t in threads:
        t.start()
    get = results.get
    t0 = perf_counter()
    gate.set()
    for _ in range(total):
        get()
    dt = perf_counter() - t0
    for t in threads:
        t.join()
    return dt


def anyio_w4(loops: int, n: int) -> float:
    import anyio

    total = loops * n

    async def main() -> float:
        jobs_tx, jobs_rx = anyio.create_memory_object_stream[int](CAP)
        res_tx, res_rx = anyio.create_memory_object_stream[int](CAP)

        async def producer() -> None:
            async with jobs_tx:
                send = jobs_tx.send
                for i in range(total):
                    await send(i)

        async def worker(rx: Any, tx: Any) -> None:
            async with rx, tx:
                send = tx.send
                async for j in rx:
                    await send(j + 1)

        async with anyio.create_task_group() as tg:
            for _ in range(WORKERS):
                tg.start_soon(worker, jobs_rx.clone(), res_tx.clone())
            tg.start_soon(producer)
            jobs_rx.close()
            res_tx.close()
            recv = res_rx.receive
            t0 = perf_counter()
            for _ in range(total):
                await recv()
            dt = perf_counter() - t0
        return dt

    return anyio.run(main)


def aiochan_w4(loops: int, n: int) -> float:
    total = loops * n

    async def main() -> float:
        import asyncio

        import aiochan

        jobs, results = aiochan.Chan(CAP), aiochan.Chan(CAP)

        async def producer() -> None:
            put = jobs.put
            for i in range(total):
                await put(i)
            jobs.close()

        async def worker() -> None:
            get, put = jobs.get, results.put
            while (j := await get()) is not None:
                await put(j + 1)

        tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        tasks.append(asyncio.create_task(producer()))
        get = results.get
        t0 = perf_counter()
        for _ in range(total):
            await get()
        dt = perf_counter() - t0
        await asyncio.gather(*tasks)
        return dt

    return run_async("asyncio", main)


def pygolang_w4(loops: int, n: int) -> float:
    from golang import chan, go, sync

    total = loops * n
    jobs, results = chan(CAP), chan(CAP)
    wg = sync.WaitGroup()

    def producer() -> None:
        send = jobs.send
        for i in range(total):
            send(i)
        jobs.close()
        wg.done()

    def worker() -> None:
        recv_, send = jobs.recv_, results.send
        while True:
            j, ok = recv_()
            if not ok:
                break
            send(j + 1)
        wg.done()

    wg.add(WORKERS + 1)
    for _ in range(WORKERS):
        go(worker)
    recv = results.recv
    t0 = perf_counter()
    go(producer)
    for _ in range(total):
        recv()
    dt = perf_counter() - t0
    wg.wait()
    return dt


WORKLOAD = Workload(
    key="W4",
    name="fanout",
    title="W4 fan-out/in",
    unit="job",
    description=f"producer -> jobs (cap {CAP}) -> {WORKERS} workers -> results -> collector",
    sized=True,
    fixed_loops=1,
    quick_loops=2,
    sizes=(200_000, 10_000, 2_000),
    impls={
        "gochan": Impl(f"Chan({CAP}) x2, {WORKERS} worker tasks", gochan_w4),
        "greenlet": Impl.missing(
            "bare greenlets have no scheduler to fan out over; W2's floor is the per-item "
            "hand-off cost"
        ),
        "gevent": Impl(f"gevent.queue.Queue({CAP}) x2, {WORKERS} greenlets", gevent_w4),
        "trio": Impl(f"open_memory_channel({CAP}) x2, {WORKERS} tasks", trio_w4),
        "asyncio": _asyncio_w4("asyncio"),
        "uvloop": _asyncio_w4("uvloop"),
        "threading": Impl(f"queue.Queue({CAP}) x2, {WORKERS} threads", threading_w4),
        "anyio": Impl(
            f"memory object streams({CAP}) x2, {WORKERS} tasks (asyncio backend)", anyio_w4
        ),
        "aiochan": Impl(f"aiochan.Chan({CAP}) x2, {WORKERS} asyncio tasks", aiochan_w4),
        "goless": Impl.missing(
            "goless 0.7.2 fails here: with 8 senders on one buffered chan its "
            "BufferedChannel._send assertion fires (AssertionError) and the task panics"
        ),
        "pygolang": Impl(f"golang.chan({CAP}) x2, {WORKERS} go() = OS threads", pygolang_w4),
        "go": Impl(f"chan int ({CAP}) x2, {WORKERS} goroutines, GOMAXPROCS=1"),
        **{
            s: Impl.missing("not measured: W2's backend rows show the same channel path")
            for s in ("gochan[asyncio]", "gochan[uvloop]", "gochan[trio]")
        },
    },
)
