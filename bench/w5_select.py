"""W5 select: a 4-way receive select in a loop where exactly one random case
is ready.

Each iteration puts one int into one of four capacity-1 channels (chosen
from a fixed pseudo-random sequence, so no RNG runs in the timed loop) and
then runs one 4-way select that receives it. One reported value is one
iteration: one non-blocking buffered send plus one select whose single
ready case must be found. Only one task is involved, so this measures the
select machinery, not context switching.

gochan is the only system with a native select over channels. For gevent,
trio and asyncio/uvloop the table reports their idiomatic emulation (race
one receiver task per channel, take the first, cancel the rest), labelled
"emulated"; each is correct here (a cancelled receiver never consumes a
value) but costs a task per case. threading has no way to wait on several
queue.Queue objects and cannot cancel a blocked get(), so it is n/a.
"""

from __future__ import annotations

from collections import deque
from time import perf_counter

from common import SELECT_SEQ, SEQ_MASK, Impl, Workload, gochan_rows, run_async


def gochan_w5(loops: int, n: int = 0, backend: str = "builtin") -> float:
    import gochan

    def main() -> float:
        chans = [gochan.Chan[int](1) for _ in range(4)]
        a, b, c, d = (ch.recv for ch in chans)
        sends = [ch.send for ch in chans]
        select, seq, mask = gochan.select, SELECT_SEQ, SEQ_MASK
        t0 = perf_counter()
        for i in range(loops):
            sends[seq[i & mask]](i)
            select(a, b, c, d)
        return perf_counter() - t0

    return gochan.run(main, backend=backend)


def floor_w5(loops: int, n: int = 0) -> float:
    """The floor: four deques, a scan for the ready ones and a uniform pick
    among them (what any select must do at least), in plain Python."""
    import random

    qs: list[deque[int]] = [deque() for _ in range(4)]
    appends = [q.append for q in qs]
    randrange = random.Random(1).randrange
    seq, mask = SELECT_SEQ, SEQ_MASK
    t0 = perf_counter()
    for i in range(loops):
        appends[seq[i & mask]](i)
        ready = [k for k in range(4) if qs[k]]
        k = ready[0] if len(ready) == 1 else ready[randrange(len(ready))]
        qs[k].popleft()
    return perf_counter() - t0


def gevent_w5(loops: int, n: int = 0) -> float:
    import gevent
    from gevent.queue import Queue

    qs = [Queue(1) for _ in range(4)]
    puts = [q.put for q in qs]
    gets = [q.get for q in qs]
    spawn, wait, killall = gevent.spawn, gevent.wait, gevent.killall
    seq, mask = SELECT_SEQ, SEQ_MASK
    t0 = perf_counter()
    for i in range(loops):
        puts[seq[i & mask]](i)
        racers = [spawn(get) for get in gets]
        winner = wait(racers, count=1)[0]
        killall([g for g in racers if g is not winner])
        winner.get()
    return perf_counter() - t0


def trio_w5(loops: int, n: int = 0) -> float:
    import trio

    async def main() -> float:
        pairs = [trio.open_memory_channel[int](1) for _ in range(4)]
        senders = [s.send_nowait for s, _ in pairs]
        receivers = [r.receive for _, r in pairs]
        seq, mask = SELECT_SEQ, SEQ_MASK

        async def select() -> tuple[int, int]:
            won: list[tuple[int, int]] = []
            async with trio.open_nursery() as nursery:

                async def race(k: int) -> None:
                    v = await receivers[k]()
                    won.append((k, v))
                    nursery.cancel_scope.cancel()

                for k in range(4):
                    nursery.start_soon(race, k)
            return won[0]

        t0 = perf_counter()
        for i in range(loops):
            senders[seq[i & mask]](i)
            await select()
        return perf_counter() - t0

    return trio.run(main)


def _asyncio_w5(system: str) -> Impl:
    import asyncio

    async def main(loops: int) -> float:
        qs: list[asyncio.Queue[int]] = [asyncio.Queue(maxsize=1) for _ in range(4)]
        puts = [q.put_nowait for q in qs]
        gets = [q.get for q in qs]
        create_task, wait, first = asyncio.create_task, asyncio.wait, asyncio.FIRST_COMPLETED
        seq, mask = SELECT_SEQ, SEQ_MASK
        t0 = perf_counter()
        for i in range(loops):
            puts[seq[i & mask]](i)
            racers = [create_task(get()) for get in gets]
            done, pending = await wait(racers, return_when=first)
            for t in pending:
                t.cancel()
            done.pop().result()
        return perf_counter() - t0

    def fn(loops: int, n: int = 0) -> float:
        return run_async(system, main, loops)

    return Impl("emulated: 4 get() tasks + asyncio.wait(FIRST_COMPLETED), cancel losers", fn)


def anyio_w5(loops: int, n: int = 0) -> float:
    import anyio

    async def main() -> float:
        pairs = [anyio.create_memory_object_stream[int](1) for _ in range(4)]
        senders = [s.send_nowait for s, _ in pairs]
        receivers = [r.receive for _, r in pairs]
        seq, mask = SELECT_SEQ, SEQ_MASK

        async def select() -> tuple[int, int]:
            won: list[tuple[int, int]] = []
            async with anyio.create_task_group() as tg:

                async def race(k: int) -> None:
                    v = await receivers[k]()
                    won.append((k, v))
                    tg.cancel_scope.cancel()

                for k in range(4):
                    tg.start_soon(race, k)
            return won[0]

        t0 = perf_counter()
        for i in range(loops):
            senders[seq[i & mask]](i)
            await select()
        return perf_counter() - t0

    return anyio.run(main)


def aiochan_w5(loops: int, n: int = 0) -> float:
    async def main() -> float:
        import aiochan

        chans = [aiochan.Chan(1) for _ in range(4)]
        puts = [c.put_nowait for c in chans]
        select, seq, mask = aiochan.select, SELECT_SEQ, SEQ_MASK
        a, b, c, d = chans
        t0 = perf_counter()
        for i in range(loops):
            puts[seq[i & mask]](i)
            await select(a, b, c, d)
        return perf_counter() - t0

    return run_async("asyncio", main)


def goless_w5(loops: int, n: int = 0) -> float:
    import goless

    chans = [goless.chan(1) for _ in range(4)]
    sends = [c.send for c in chans]
    cases = [goless.rcase(c) for c in chans]
    select, seq, mask = goless.select, SELECT_SEQ, SEQ_MASK
    t0 = perf_counter()
    for i in range(loops):
        sends[seq[i & mask]](i)
        select(cases)
    return perf_counter() - t0


def pygolang_w5(loops: int, n: int = 0) -> float:
    from golang import chan, select

    chans = [chan(1) for _ in range(4)]
    sends = [c.send for c in chans]
    a, b, c, d = (ch.recv for ch in chans)
    seq, mask = SELECT_SEQ, SEQ_MASK
    t0 = perf_counter()
    for i in range(loops):
        sends[seq[i & mask]](i)
        select(a, b, c, d)
    return perf_counter() - t0


WORKLOAD = Workload(
    key="W5",
    name="select",
    title="W5 select",
    unit="select",
    description="4-way receive select, one random case ready (cap-1 channels, filled per "
    "iteration)",
    impls={
        **gochan_rows(gochan_w5, "select(a.recv, b.recv, c.recv, d.recv), Chan(1) x4"),
        "greenlet": Impl("floor: 4 deques, scan + uniform pick (no switch needed)", floor_w5),
        "gevent": Impl(
            "emulated: spawn 4 Queue(1).get + gevent.wait(count=1), kill losers", gevent_w5
        ),
        "trio": Impl("emulated: nursery racing 4 receive(), winner cancels the scope", trio_w5),
        "asyncio": _asyncio_w5("asyncio"),
        "uvloop": _asyncio_w5("uvloop"),
        "threading": Impl.missing(
            "queue.Queue cannot wait on several queues, and a blocked get() cannot be "
            "cancelled, so racing helper threads would swallow values"
        ),
        "anyio": Impl(
            "emulated: task group racing 4 receive(), winner cancels the scope (asyncio backend)",
            anyio_w5,
        ),
        "aiochan": Impl("aiochan.select(a, b, c, d), native, Chan(1) x4 (on asyncio)", aiochan_w5),
        "goless": Impl(
            "goless.select([rcase(c) x4]), native; takes the first ready case in order (no "
            "random pick), chan(1) x4",
            goless_w5,
        ),
        "pygolang": Impl("golang.select(a.recv, ...), native, chan(1) x4", pygolang_w5),
        "go": Impl("select over 4 chan int (1), GOMAXPROCS=1"),
    },
)
