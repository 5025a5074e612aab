"""W6 memory: RSS bytes per task parked on a receive.

Not a time, so pyperf does not run it: ``run.py`` starts this file once per
(system, repeat) in a fresh interpreter,

    python bench/w6_memory.py SYSTEM N

which imports the system, starts its runtime, creates the one channel every
task will wait on, takes the resident set size (``/proc/self/statm``) after a
``gc.collect()``, starts N tasks that each bump a counter and park on a
receive from that channel, yields until all N are parked, collects again,
takes the RSS again and prints ``{"bytes_per_task": (after - before) / N}``
as JSON. The process then exits without waking anyone (nothing to time).

Everything a parked task holds is counted: its task object, its greenlet's
saved C stack slice or its coroutine frames, and its entry in the channel's
wait queue. Threads (threading, pygolang's threads runtime) are measured
with ``THREADS`` parked threads, not 100,000, and the label says so.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Impl, Workload, build_seen, run_async

THREADS = 1_000  # parked OS threads for the thread-based systems
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def gochan_w6(n: int) -> float:
    import gochan

    def main() -> float:
        ch = gochan.Chan[int]()
        started = 0

        def parked() -> None:
            nonlocal started
            started += 1
            ch.recv()

        before = rss()
        for _ in range(n):
            gochan.go(parked)
        while started < n:
            gochan.gosched()
        # Leave from inside main: run() would otherwise cancel every task.
        return _exit_with((rss() - before) / n)

    return gochan.run(main)


def greenlet_w6(n: int) -> float:
    """The floor: a greenlet that switched back to main and waits there
    (no scheduler, no channel, no task object)."""
    from greenlet import getcurrent, greenlet

    main = getcurrent()
    back = main.switch
    gs = []
    before = rss()
    for _ in range(n):
        g = greenlet(back)
        g.switch()
        gs.append(g)
    return _exit_with((rss() - before) / n)


def gevent_w6(n: int) -> float:
    import gevent
    from gevent.queue import Channel

    ch: Channel = Channel()
    started = 0

    def parked() -> None:
        nonlocal started
        started += 1
        ch.get()

    gevent.sleep(0)  # start the hub before the baseline
    before = rss()
    gs = [gevent.spawn(parked) for _ in range(n)]
    while started < n:
        gevent.sleep(0)
    result = (rss() - before) / n
    del gs
    return _exit_with(result)


def trio_w6(n: int) -> float:
    import trio

    async def main() -> float:
        _, recv = trio.open_memory_channel[int](0)
        started = 0

        async def parked() -> None:
            nonlocal started
            started += 1
            await recv.receive()

        async with trio.open_nursery() as nursery:
            before = rss()
            for _ in range(n):
                nursery.start_soon(parked)
            while started < n:
                await trio.sleep(0)
            _exit_with((rss() - before) / n)
        return 0.0

    return trio.run(main)


def anyio_w6(n: int) -> float:
    import anyio

    async def main() -> float:
        _, recv = anyio.create_memory_object_stream[int](0)
        started = 0

        async def parked() -> None:
            nonlocal started
            started += 1
            await recv.receive()

        async with anyio.create_task_group() as tg:
            before = rss()
            for _ in range(n):
                tg.start_soon(parked)
            while started < n:
                await anyio.sleep(0)
            _exit_with((rss() - before) / n)
        return 0.0

    return anyio.run(main)


def _asyncio_w6(system: str) -> Callable[[int], float]:
    import asyncio

    async def main(n: int) -> float:
        q: asyncio.Queue[int] = asyncio.Queue()
        started = 0

        async def parked() -> None:
            nonlocal started
            started += 1
            await q.get()

        before = rss()
        tasks = [asyncio.create_task(parked()) for _ in range(n)]
        while started < n:
            await asyncio.sleep(0)
        result = (rss() - before) / n
        del tasks
        return _exit_with(result)

    def fn(n: int) -> float:
        return run_async(system, main, n)

    return fn


def goless_w6(n: int) -> float:
    import gevent
    import goless

    ch = goless.chan()
    started = 0

    def parked() -> None:
        nonlocal started
        started += 1
        ch.recv()

    gevent.sleep(0)
    before = rss()
    gs = [goless.go(parked) for _ in range(n)]
    while started < n:
        gevent.sleep(0)
    result = (rss() - before) / n
    del gs
    return _exit_with(result)


def threading_w6(n: int) -> float:
    import queue
    import threading

    n = min(n, THREADS)
    q: queue.Queue[int] = queue.Queue()
    started = threading.Semaphore(0)

    def parked() -> None:
        started.release()
        q.get()

    before = rss()
    for _ in range(n):
        threading.Thread(target=parked, daemon=True).start()
    for _ in range(n):
        started.acquire()
    return _exit_with((rss() - before) / n)


def pygolang_w6(n: int) -> float:
    import threading

    from golang import chan, go

    n = min(n, THREADS)
    ch = chan()
    started = threading.Semaphore(0)

    def parked() -> None:
        started.release()
        ch.recv()

    before = rss()
    for _ in range(n):
        go(parked)
    for _ in range(n):
        started.acquire()
    return _exit_with((rss() - before) / n)


def _exit_with(bytes_per_task: float) -> float:
    """Print the result and leave at once: the parked tasks are never woken
    (tearing 100,000 of them down is not part of the measurement). A gochan
    row also says which build it imported, for run.py's check."""
    out: dict[str, object] = {"bytes_per_task": bytes_per_task}
    if (build := build_seen()) is not None:
        out["gochan_build"] = build
    print(json.dumps(out), flush=True)
    os._exit(0)


PARKERS: dict[str, Callable[[int], float]] = {
    "gochan": gochan_w6,
    "greenlet": greenlet_w6,
    "gevent": gevent_w6,
    "trio": trio_w6,
    "anyio": anyio_w6,
    "asyncio": _asyncio_w6("asyncio"),
    "uvloop": _asyncio_w6("uvloop"),
    "threading": threading_w6,
    "goless": goless_w6,
    "pygolang": pygolang_w6,
}

_BACKEND_NA = "a parked task's memory does not depend on the backend: the gochan row"
_T = f"{THREADS:,} parked threads (not 100,000), "

WORKLOAD = Workload(
    key="W6",
    name="memory",
    title="W6 memory",
    unit="parked task",
    description="tasks parked on a receive from one shared channel; RSS growth divided by "
    "the task count, each system in a fresh process",
    sized=True,
    sizes=(100_000, 20_000, 5_000),
    shown="bytes",
    external=True,
    impls={
        "gochan": Impl("go(f) where f does ch.recv(), Chan()", None),
        "gochan[asyncio]": Impl.missing(_BACKEND_NA),
        "gochan[uvloop]": Impl.missing(_BACKEND_NA),
        "gochan[trio]": Impl.missing(_BACKEND_NA),
        "greenlet": Impl("bare greenlet switched back to main (no task, no channel)", None),
        "gevent": Impl("gevent.spawn, Channel().get()", None),
        "trio": Impl("nursery.start_soon, memory channel(0).receive()", None),
        "anyio": Impl("task group, memory object stream(0).receive() (asyncio backend)", None),
        "asyncio": Impl("create_task, Queue().get()", None),
        "uvloop": Impl("create_task, Queue().get() (uvloop loop)", None),
        "threading": Impl(_T + "queue.Queue().get()", None),
        "aiochan": Impl.missing(
            "aiochan allows at most 1,024 pending gets on one channel (MAX_OP_QUEUE_SIZE)"
        ),
        "goless": Impl("goless.go, chan().recv() (gevent)", None),
        "pygolang": Impl(_T + "go(f), chan().recv(), threads runtime", None),
        "go": Impl("goroutines blocked on <-ch (unbuffered), GOMAXPROCS=1"),
    },
)


if __name__ == "__main__":
    system, count = sys.argv[1], int(sys.argv[2])
    PARKERS[system](count)
    sys.exit("the parker returned without printing a result")
