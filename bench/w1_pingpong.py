"""W1 ping-pong: two tasks bounce a token over two channels.

The main task sends ``i`` on *ping* and waits for it back on *pong*; an echo
task does the reverse. One reported value is one round trip (two hand-offs,
two context switches). Each system uses its closest rendezvous primitive;
where it has none the label says what was used instead. In a ping-pong only
one token is ever in flight, so a 1-slot queue blocks exactly where a
rendezvous would (the echo side is always parked before the next send).
"""

from __future__ import annotations

import threading
from time import perf_counter

from common import Impl, Workload, gochan_rows, run_async


def gochan_w1(loops: int, n: int = 0, backend: str = "builtin") -> float:
    import gochan

    def main() -> float:
        ping, pong = gochan.Chan[int](), gochan.Chan[int]()

        def echo() -> None:
            send = pong.send
            for v in ping:
                send(v)

        gochan.go(echo)
        send, recv = ping.send, pong.recv
        t0 = perf_counter()
        for i in range(loops):
            send(i)
            recv()
        dt = perf_counter() - t0
        ping.close()
        return dt

    return gochan.run(main, backend=backend)


def greenlet_w1(loops: int, n: int = 0) -> float:
    from greenlet import getcurrent, greenlet

    main = getcurrent()

    def echo(v: int) -> None:
        back = main.switch
        while True:
            v = back(v)

    g = greenlet(echo)
    switch = g.switch
    t0 = perf_counter()
    for i in range(loops):
        switch(i)
    dt = perf_counter() - t0
    g.throw()  # GreenletExit ends the echo loop and returns here
    return dt


def gevent_w1(loops: int, n: int = 0) -> float:
    import gevent
    from gevent.queue import Channel

    ping: Channel = Channel()
    pong: Channel = Channel()

    def echo() -> None:
        get, put = ping.get, pong.put
        while (v := get()) is not None:
            put(v)

    g = gevent.spawn(echo)
    put, get = ping.put, pong.get
    t0 = perf_counter()
    for i in range(loops):
        put(i)
        get()
    dt = perf_counter() - t0
    put(None)
    g.join()
    return dt


def trio_w1(loops: int, n: int = 0) -> float:
    import trio

    async def main() -> float:
        ping_s, ping_r = trio.open_memory_channel[int](0)
        pong_s, pong_r = trio.open_memory_channel[int](0)

        async def echo() -> None:
            async for v in ping_r:
                await pong_s.send(v)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            send, recv = ping_s.send, pong_r.receive
            t0 = perf_counter()
            for i in range(loops):
                await send(i)
                await recv()
            dt = perf_counter() - t0
            await ping_s.aclose()
        return dt

    return trio.run(main)


def _asyncio_w1(system: str) -> Impl:
    import asyncio

    async def main(loops: int) -> float:
        ping: asyncio.Queue[int | None] = asyncio.Queue(maxsize=1)
        pong: asyncio.Queue[int] = asyncio.Queue(maxsize=1)

        async def echo() -> None:
            while (v := await ping.get()) is not None:
                await pong.put(v)

        task = asyncio.create_task(echo())
        put, get = ping.put, pong.get
        t0 = perf_counter()
        for i in range(loops):
            await put(i)
            await get()
        dt = perf_counter() - t0
        await put(None)
        await task
        return dt

    def fn(loops: int, n: int = 0) -> float:
        return run_async(system, main, loops)

    return Impl("asyncio.Queue(maxsize=1) x2 (no rendezvous in asyncio)", fn)


def threading_w1(loops: int, n: int = 0) -> float:
    import queue

    ping: queue.Queue[int | None] = queue.Queue(maxsize=1)
    pong: queue.Queue[int] = queue.Queue(maxsize=1)

    def echo() -> None:
        get, put = ping.get, pong.put
        while (v := get()) is not None:
            put(v)

    th = threading.Thread(target=echo, daemon=True)
    th.start()
    put, get = ping.put, pong.get
    t0 = perf_counter()
    for i in range(loops):
        put(i)
        get()
    dt = perf_counter() - t0
    put(None)
    th.join()
    return dt


def anyio_w1(loops: int, n: int = 0) -> float:
    import anyio

    async def main() -> float:
        ping_s, ping_r = anyio.create_memory_object_stream[int](0)
        pong_s, pong_r = anyio.create_memory_object_stream[int](0)

        async def echo() -> None:
            async with ping_r:
                async for v in ping_r:
                    await pong_s.send(v)

        async with anyio.create_task_group() as tg:
            tg.start_soon(echo)
            send, recv = ping_s.send, pong_r.receive
            t0 = perf_counter()
            for i in range(loops):
                await send(i)
                await recv()
            dt = perf_counter() - t0
            ping_s.close()
        return dt

    return anyio.run(main)


def aiochan_w1(loops: int, n: int = 0) -> float:
    async def main(loops: int) -> float:
        import asyncio

        import aiochan

        ping, pong = aiochan.Chan(), aiochan.Chan()

        async def echo() -> None:
            get, put = ping.get, pong.put
            while (v := await get()) is not None:
                await put(v)

        task = asyncio.create_task(echo())
        put, get = ping.put, pong.get
        t0 = perf_counter()
        for i in range(loops):
            await put(i)
            await get()
        dt = perf_counter() - t0
        ping.close()
        await task
        return dt

    return run_async("asyncio", main, loops)


def goless_w1(loops: int, n: int = 0) -> float:
    import goless

    ping, pong = goless.chan(), goless.chan()
    done = goless.chan()

    def echo() -> None:
        send = pong.send
        for v in ping:
            send(v)
        done.send(None)

    goless.go(echo)
    send, recv = ping.send, pong.recv
    t0 = perf_counter()
    for i in range(loops):
        send(i)
        recv()
    dt = perf_counter() - t0
    ping.close()
    done.recv()
    return dt


def pygolang_w1(loops: int, n: int = 0) -> float:
    from golang import chan, go

    ping, pong, done = chan(), chan(), chan()

    def echo() -> None:
        recv_, send = ping.recv_, pong.send
        while True:
            v, ok = recv_()
            if not ok:
                break
            send(v)
        done.close()

    go(echo)
    send, recv = ping.send, pong.recv
    t0 = perf_counter()
    for i in range(loops):
        send(i)
        recv()
    dt = perf_counter() - t0
    ping.close()
    done.recv()
    return dt


WORKLOAD = Workload(
    key="W1",
    name="pingpong",
    title="W1 ping-pong",
    unit="round trip",
    description="two tasks bounce a token over two unbuffered channels",
    impls={
        **gochan_rows(gochan_w1, "Chan() x2"),
        "greenlet": Impl("bare greenlet.switch(v) both ways", greenlet_w1),
        "gevent": Impl("gevent.queue.Channel x2", gevent_w1),
        "trio": Impl("trio.open_memory_channel(0) x2", trio_w1),
        "asyncio": _asyncio_w1("asyncio"),
        "uvloop": _asyncio_w1("uvloop"),
        "threading": Impl(
            "2 threads, queue.Queue(maxsize=1) x2 (no rendezvous in queue)", threading_w1
        ),
        "anyio": Impl("create_memory_object_stream(0) x2 (asyncio backend)", anyio_w1),
        "aiochan": Impl("aiochan.Chan() x2 (unbuffered, on asyncio)", aiochan_w1),
        "goless": Impl("goless.chan() x2 (on gevent)", goless_w1),
        "pygolang": Impl("golang.chan() x2, threads runtime (go() = OS thread)", pygolang_w1),
        "go": Impl("unbuffered chan int x2, GOMAXPROCS=1"),
    },
)
