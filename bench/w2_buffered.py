"""W2 buffered: ints stream through a capacity-128 channel, one producer
task, one consumer task.

One call moves ``loops * n`` ints (the producer sends 0, 1, 2, ... and then
signals the end; the consumer, which is the timing task, drains until the
end); pyperf divides by ``loops * n`` (``inner_loops=n``), so one reported
value is one item. The clock starts before the producer first runs and
stops when the consumer sees the end, so the producer's start-up is in the
timed region for every system alike (a few microseconds).
"""

from __future__ import annotations

import threading
from collections import deque
from time import perf_counter

from common import Impl, Workload, gochan_rows, run_async

CAP = 128


def gochan_w2(loops: int, n: int, backend: str = "builtin") -> float:
    import gochan

    total = loops * n

    def main() -> float:
        ch = gochan.Chan[int](CAP)

        def producer() -> None:
            send = ch.send
            for i in range(total):
                send(i)
            ch.close()

        gochan.go(producer)
        t0 = perf_counter()
        for _ in ch:
            pass
        return perf_counter() - t0

    return gochan.run(main, backend=backend)


def greenlet_w2(loops: int, n: int) -> float:
    """The floor: a plain deque of 128; the producer switches to the
    consumer when the deque is full, the consumer back when it is empty."""
    from greenlet import getcurrent, greenlet

    total = loops * n
    buf: deque[int] = deque()
    main = getcurrent()

    def producer() -> None:
        append, to_consumer = buf.append, main.switch
        for i in range(total):
            if len(buf) == CAP:
                to_consumer()
            append(i)
        # returning switches to the parent (the consumer): the end signal

    g = greenlet(producer)
    popleft, to_producer = buf.popleft, g.switch
    t0 = perf_counter()
    while True:
        if buf:
            popleft()
        elif g.dead:
            break
        else:
            to_producer()
    return perf_counter() - t0


def gevent_w2(loops: int, n: int) -> float:
    import gevent
    from gevent.queue import Queue

    total = loops * n
    q: Queue = Queue(CAP)

    def producer() -> None:
        put = q.put
        for i in range(total):
            put(i)
        put(None)

    g = gevent.spawn(producer)
    get = q.get
    t0 = perf_counter()
    while get() is not None:
        pass
    dt = perf_counter() - t0
    g.join()
    return dt


def trio_w2(loops: int, n: int) -> float:
    import trio

    total = loops * n

    async def main() -> float:
        send_ch, recv_ch = trio.open_memory_channel[int](CAP)

        async def producer() -> None:
            async with send_ch:
                send = send_ch.send
                for i in range(total):
                    await send(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            t0 = perf_counter()
            async for _ in recv_ch:
                pass
            dt = perf_counter() - t0
        return dt

    return trio.run(main)


def _asyncio_w2(system: str) -> Impl:
    import asyncio

    async def main(total: int) -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue(maxsize=CAP)

        async def producer() -> None:
            put = q.put
            for i in range(total):
                await put(i)
            await put(None)

        task = asyncio.create_task(producer())
        get = q.get
        t0 = perf_counter()
        while await get() is not None:
            pass
        dt = perf_counter() - t0
        await task
        return dt

    def fn(loops: int, n: int) -> float:
        return run_async(system, main, loops * n)

    return Impl("asyncio.Queue(maxsize=128)", fn)


def threading_w2(loops: int, n: int) -> float:
    import queue

    total = loops * n
    q: queue.Queue[int | None] = queue.Queue(maxsize=CAP)

    def producer() -> None:
        put = q.put
        for i in range(total):
            put(i)
        put(None)

    th = threading.Thread(target=producer, daemon=True)
    get = q.get
    t0 = perf_counter()
    th.start()
    while get() is not None:
        pass
    dt = perf_counter() - t0
    th.join()
    return dt


def anyio_w2(loops: int, n: int) -> float:
    import anyio

    total = loops * n

    async def main() -> float:
        send_s, recv_s = anyio.create_memory_object_stream[int](CAP)

        async def producer() -> None:
            async with send_s:
                send = send_s.send
                for i in range(total):
                    await send(i)

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            t0 = perf_counter()
            async for _ in recv_s:
                pass
            dt = perf_counter() - t0
        return dt

    return anyio.run(main)


def aiochan_w2(loops: int, n: int) -> float:
    total = loops * n

    async def main() -> float:
        import asyncio

        import aiochan

        ch = aiochan.Chan(CAP)

        async def producer() -> None:
            put = ch.put
            for i in range(total):
                await put(i)
            ch.close()

        task = asyncio.create_task(producer())
        get = ch.get
        t0 = perf_counter()
        while await get() is not None:
            pass
        dt = perf_counter() - t0
        await task
        return dt

    return run_async("asyncio", main)


def goless_w2(loops: int, n: int) -> float:
    import goless

    total = loops * n
    ch = goless.chan(CAP)

    def producer() -> None:
        send = ch.send
        for i in range(total):
            send(i)
        send(None)

    goless.go(producer)
    recv = ch.recv
    t0 = perf_counter()
    while recv() is not None:
        pass
    return perf_counter() - t0


def pygolang_w2(loops: int, n: int) -> float:
    from golang import chan, go

    total = loops * n
    ch = chan(CAP)

    def producer() -> None:
        send = ch.send
        for i in range(total):
            send(i)
        ch.close()

    recv_ = ch.recv_
    t0 = perf_counter()
    go(producer)
    while recv_()[1]:
        pass
    return perf_counter() - t0


WORKLOAD = Workload(
    key="W2",
    name="buffered",
    title="W2 buffered",
    unit="item",
    description=f"ints through a cap-{CAP} channel, one producer, one consumer",
    sized=True,
    fixed_loops=1,
    quick_loops=2,
    sizes=(1_000_000, 20_000, 5_000),
    impls={
        **gochan_rows(gochan_w2, f"Chan({CAP}), for v in ch"),
        "greenlet": Impl(f"bare greenlets + deque, switch when full/empty ({CAP})", greenlet_w2),
        "gevent": Impl(f"gevent.queue.Queue({CAP})", gevent_w2),
        "trio": Impl(f"trio.open_memory_channel({CAP})", trio_w2),
        "asyncio": _asyncio_w2("asyncio"),
        "uvloop": _asyncio_w2("uvloop"),
        "threading": Impl(f"2 threads, queue.Queue(maxsize={CAP})", threading_w2),
        "anyio": Impl(f"create_memory_object_stream({CAP}) (asyncio backend)", anyio_w2),
        "aiochan": Impl(f"aiochan.Chan({CAP}) (on asyncio)", aiochan_w2),
        "goless": Impl(f"goless.chan({CAP}) (on gevent)", goless_w2),
        "pygolang": Impl(f"golang.chan({CAP}), threads runtime", pygolang_w2),
        "go": Impl(f"chan int ({CAP}), GOMAXPROCS=1"),
    },
)
