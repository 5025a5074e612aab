"""The async face of channels: ``asend``, ``arecv``, ``arecv_ok``, ``async for`` and
``aselect``, for coroutines on asyncio, uvloop and trio.

What this proves:

* A coroutine and a green task are interchangeable ends of one channel: unbuffered
  (a rendezvous, in both directions), buffered (a coroutine's ``asend`` blocks only
  when the buffer is full), and FIFO among mixed waiters (green tasks and
  coroutines parked in one queue are served in arrival order).
* Close: ``arecv_ok`` gives ``(None, False)``, ``arecv`` ``None``, ``async for``
  ends after the buffered values; ``asend`` on a closed channel, or on one closed
  while it is parked, raises ``Panic("send on closed channel")``.
* ``nilchan``'s async operations block until cancelled.
* ``aselect``: ``default``, blocking until a green task acts, send cases, and a
  uniform random choice that a seeded run reproduces.
* Cancellation (bridge.py's rules): a coroutine cancelled while parked withdraws
  (nothing is sent or received); if a peer completed the operation first, the
  operation stands (the value is returned, or was delivered) and the cancellation
  surfaces at the coroutine's next ``await``.
* No gochan run at all: plain ``asyncio.run`` and ``trio.run`` programs use
  channels between their own coroutines, and a green task on another OS thread
  completes a coroutine's receive.
* Hypothesis: random interleavings of green senders and coroutine receivers (and
  the reverse) on a channel of random capacity deliver every value exactly once.

Ordering uses hand-offs: "parked" is read from the channel's wait queue while the
green side yields with ``gosched()`` (with a wall-clock safety net, so a bug fails
instead of hanging), and asyncio's FIFO ``sleep(0)`` steps in plain asyncio
programs.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import gochan
from gochan import Cancelled, Chan, Panic, await_, go, gosched, nilchan, run
from gochan._runtime.threads import peek_scheduler

LIBS = ["asyncio", "uvloop", "trio"]
AIO = ["asyncio", "uvloop"]
SAFETY = 30.0  # seconds; a safety net for thread hand-offs, never an assertion about speed
CLOSED = "send on closed channel"


def wait_until(cond: Callable[[], bool], what: str) -> None:
    """Yield (gosched) until ``cond()``; the loop gets turns meanwhile.

    Bounded by wall time, not by a count: trio's guest run hands its ticks back
    from its I/O thread, which needs the GIL for a moment now and then.
    """
    give_up = time.monotonic() + SAFETY
    while not cond():
        assert time.monotonic() < give_up, f"never happened: {what}"
        gosched()


def on_loop(coro: Coroutine[Any, Any, Any]) -> gochan.Task:
    """Run ``coro`` on the backend's loop, through a green task."""
    return go(await_, coro)


async def checkpoint(lib: str) -> None:
    if lib == "trio":
        await trio.sleep(0)
    else:
        await asyncio.sleep(0)


def cancelled_error(lib: str) -> type[BaseException]:
    return trio.Cancelled if lib == "trio" else asyncio.CancelledError


# ---------------------------------------------------------------------------
# A coroutine and a green task on one channel
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_coroutine_sends_green_task_receives_unbuffered(lib: str) -> None:
    ch = Chan[int]()
    sent: list[int] = []

    async def sender() -> None:
        for i in range(3):
            await ch.asend(i)
            sent.append(i)

    def main() -> list[Any]:
        t = on_loop(sender())
        wait_until(lambda: len(ch._sendq) == 1, "the coroutine parks in asend(0)")
        assert sent == []  # a rendezvous: no receiver, no send
        first = ch.recv()
        wait_until(lambda: len(ch._sendq) == 1, "the coroutine parks in asend(1)")
        assert sent == [0]
        rest = [ch.recv(), ch.recv()]
        t.join()
        return [first, *rest, sent]

    assert run(main, backend=lib) == [0, 1, 2, [0, 1, 2]]


@pytest.mark.parametrize("lib", LIBS)
def test_green_task_sends_coroutine_receives_unbuffered(lib: str) -> None:
    ch = Chan[int]()
    delivered: list[int] = []

    def sender() -> None:
        for i in range(3):
            ch.send(i)
            delivered.append(i)
        ch.close()

    async def receiver() -> list[Any]:
        got: list[Any] = [await ch.arecv(), await ch.arecv_ok()]
        got += [v async for v in ch]
        got.append(await ch.arecv_ok())
        return got

    def main() -> list[Any]:
        s = go(sender)
        gosched()
        assert s.state == "chan send" and delivered == []  # waits for the coroutine
        return on_loop(receiver()).join()

    assert run(main, backend=lib) == [0, (1, True), 2, (None, False)]


@pytest.mark.parametrize("lib", LIBS)
def test_buffered_asend_blocks_only_when_full(lib: str) -> None:
    ch = Chan[int](2)
    log: list[str] = []

    async def sender() -> None:
        await ch.asend(0)
        await ch.asend(1)
        log.append("two buffered")
        await ch.asend(2)
        log.append("third sent")

    def main() -> list[Any]:
        t = on_loop(sender())
        wait_until(lambda: len(ch._sendq) == 1, "the coroutine parks on a full buffer")
        assert (log, len(ch)) == (["two buffered"], 2)
        got = [ch.recv()]  # makes room: the parked value moves into the buffer
        t.join()
        got += [ch.recv(), ch.recv()]
        return [got, log]

    assert run(main, backend=lib) == [[0, 1, 2], ["two buffered", "third sent"]]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("cap", [0, 2])
def test_fifo_among_green_and_coroutine_receivers(lib: str, cap: int) -> None:
    ch = Chan[int](cap)

    def main() -> list[Any]:
        waiters = []
        for i in range(4):
            if i % 2 == 0:
                waiters.append(go(ch.recv))
            else:
                waiters.append(on_loop(ch.arecv()))
            wait_until(lambda n=i + 1: len(ch._recvq) == n, f"receiver {i} parks")
        for v in range(4):
            ch.send(v)
        return [w.join() for w in waiters]

    assert run(main, backend=lib) == [0, 1, 2, 3]


@pytest.mark.parametrize("lib", LIBS)
def test_fifo_among_green_and_coroutine_senders(lib: str) -> None:
    ch = Chan[str]()

    def main() -> list[Any]:
        senders = []
        for i, name in enumerate(["green 0", "coroutine 1", "green 2", "coroutine 3"]):
            if name.startswith("green"):
                senders.append(go(ch.send, name))
            else:
                senders.append(on_loop(ch.asend(name)))
            wait_until(lambda n=i + 1: len(ch._sendq) == n, f"sender {i} parks")
        got = [ch.recv() for _ in range(4)]
        for s in senders:
            s.join()
        return got

    assert run(main, backend=lib) == ["green 0", "coroutine 1", "green 2", "coroutine 3"]


# ---------------------------------------------------------------------------
# Close
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_receiving_from_a_closed_channel(lib: str) -> None:
    ch = Chan[int](2)

    async def drain() -> list[Any]:
        await ch.asend(1)
        await ch.asend(2)
        ch.close()
        return [
            await ch.arecv_ok(),  # buffered values survive the close
            await ch.arecv(),
            await ch.arecv_ok(),
            await ch.arecv(),
            [v async for v in ch],
        ]

    def main() -> Any:
        return await_(drain())

    assert run(main, backend=lib) == [(1, True), 2, (None, False), None, []]


@pytest.mark.parametrize("lib", LIBS)
def test_asend_on_a_closed_channel_panics(lib: str) -> None:
    ch = Chan[int](1)
    ch.close()

    async def send() -> str:
        try:
            await ch.asend(1)
        except Panic as p:
            return str(p)
        return "sent"

    assert run(lambda: await_(send()), backend=lib) == CLOSED


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("cap", [0, 1])
def test_close_wakes_parked_coroutines(lib: str, cap: int) -> None:
    """Parked in asend (Panic), in arecv_ok, arecv, async for and aselect; a green
    task closes the channel."""
    sendq, recvq = Chan[int](cap), Chan[int]()
    if cap:
        sendq.send(0)  # full: asend parks

    async def send() -> str:
        try:
            await sendq.asend(1)
        except Panic as p:
            return str(p)
        return "sent"

    async def for_loop() -> list[int]:
        return [v async for v in recvq]

    async def select_send() -> str:
        try:
            await gochan.aselect((sendq.send, 2), nilchan.recv)
        except Panic as p:
            return str(p)
        return "sent"

    def main() -> list[Any]:
        tasks = [
            on_loop(send()),
            on_loop(select_send()),
            on_loop(recvq.arecv_ok()),
            on_loop(recvq.arecv()),
            on_loop(for_loop()),
            on_loop(gochan.aselect(nilchan.recv, recvq.recv_ok)),
        ]
        wait_until(
            lambda: (len(sendq._sendq), len(recvq._recvq)) == (2, 4), "all six coroutines park"
        )
        sendq.close()
        recvq.close()
        got = [t.join() for t in tasks]
        if cap:
            got.append(sendq.recv_ok())  # the buffered value is still there
        return got

    expected: list[Any] = [CLOSED, CLOSED, (None, False), None, [], (1, (None, False))]
    if cap:
        expected.append((0, True))
    assert run(main, backend=lib, debug=True) == expected


@pytest.mark.parametrize("lib", ["asyncio", "trio"])
def test_a_coroutine_closing_a_channel_wakes_a_green_receiver(lib: str) -> None:
    """Minimal repro: main parks in ch.recv_ok(); a coroutine calls ch.close() and
    then waits for main to answer. On asyncio main never runs (a 1 s safety net
    ends the wait); trio's hub looks at its run queue after every trio batch."""
    ch, answer = Chan[int](), Chan[str]()

    async def closer() -> str:
        ch.close()
        try:
            if lib == "trio":
                with trio.fail_after(1):
                    return await answer.arecv() or ""
            async with asyncio.timeout(1):
                return await answer.arecv() or ""
        except TimeoutError:
            return "main never ran"

    def main() -> list[Any]:
        t = on_loop(closer())
        got = ch.recv_ok()
        answer.offer("main ran")
        return [got, t.join()]

    assert run(main, backend=lib) == [(None, False), "main ran"]


# ---------------------------------------------------------------------------
# nilchan
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("op", ["asend", "arecv", "arecv_ok", "async for", "aselect"])
def test_nilchan_blocks_until_cancelled(lib: str, op: str) -> None:
    seen = Chan[str](2)

    async def block() -> None:
        await seen.asend("blocking")
        try:
            if op == "asend":
                await nilchan.asend(1)
            elif op == "arecv":
                await nilchan.arecv()
            elif op == "arecv_ok":
                await nilchan.arecv_ok()
            elif op == "async for":
                async for _ in nilchan:
                    pass
            else:
                await gochan.aselect(nilchan.recv, (nilchan.send, 1))
        except cancelled_error(lib):
            await seen.asend("cancelled")
            raise
        await seen.asend("returned")

    def main() -> list[Any]:
        t = on_loop(block())
        assert seen.recv() == "blocking"
        for _ in range(200):  # plenty of loop turns: it stays blocked
            gosched()
        assert t.state == "await" and len(seen) == 0
        t.cancel()
        with pytest.raises(Cancelled):
            t.join()
        return [seen.recv()]

    assert run(main, backend=lib) == ["cancelled"]


# ---------------------------------------------------------------------------
# aselect
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_aselect_default_ready_and_blocking_cases(lib: str) -> None:
    a, b, out = Chan[int](), Chan[str](1), Chan[int]()

    async def selects() -> list[Any]:
        got = [await gochan.aselect(a.recv, b.recv, gochan.default)]  # nothing ready
        await b.asend("buffered")
        got.append(await gochan.aselect(a.recv, b.recv, gochan.default))
        got.append(await gochan.aselect(a.recv, b.recv_ok))  # blocks: a green task sends
        got.append(await gochan.aselect(a.recv, (out.send, 5)))  # blocks: a green task receives
        return got

    def main() -> list[Any]:
        t = on_loop(selects())
        wait_until(lambda: len(a._recvq) == 1 and len(b._recvq) == 1, "aselect parks")
        a.send(1)
        wait_until(lambda: len(out._sendq) == 1, "the send case parks")
        v = out.recv()
        return [t.join(), v]

    assert run(main, backend=lib, debug=True) == [
        [(2, None), (1, "buffered"), (0, 1), (1, None)],
        5,
    ]


@pytest.mark.parametrize("lib", LIBS)
def test_aselect_random_choice_is_uniform_and_seeded(lib: str) -> None:
    rounds = 200

    def main() -> list[int]:
        a, b = Chan[int](rounds), Chan[int](rounds)
        for i in range(rounds):
            a.send(i)
            b.send(i)

        async def choose() -> list[int]:
            return [(await gochan.aselect(a.recv, b.recv))[0] for _ in range(rounds)]

        return await_(choose())

    first = run(main, backend=lib, seed=7)
    assert first == run(main, backend=lib, seed=7)  # the seed reproduces every choice
    assert first != run(main, backend=lib, seed=8)
    assert 60 <= first.count(0) <= 140  # both cases are chosen, about evenly


# ---------------------------------------------------------------------------
# Cancellation rules (bridge.py's module docstring)
# ---------------------------------------------------------------------------


async def _start_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro)
    await asyncio.sleep(0)  # one step: the task runs until it parks
    return task


def _aio_cancel_scenario(op: str, peer_first: bool) -> list[Any]:
    """A coroutine parks in ``op`` on an unbuffered channel; the green side
    (optionally completes it and then) cancels the coroutine's asyncio task."""
    ch = Chan[int]()
    log: list[Any] = []

    async def parked() -> None:
        if op == "arecv":
            log.append(("received", await ch.arecv()))
        elif op == "asend":
            await ch.asend(7)
            log.append("sent")
        else:
            log.append(("selected", await gochan.aselect(ch.recv, nilchan.recv)))
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            log.append("cancelled at the next await")
            raise
        log.append("never cancelled")

    task = await_(_start_task(parked()))
    queue = ch._sendq if op == "asend" else ch._recvq
    assert len(queue) == 1  # parked
    if peer_first:
        if op == "asend":
            log.append(("green received", ch.recv()))
        else:
            ch.send(42)  # completes the parked receive at once
    task.cancel()
    with pytest.raises(Cancelled):
        await_(task)
    # Withdrawn, or completed: either way nothing is left queued.
    assert len(ch._sendq) == len(ch._recvq) == 0
    leftover = gochan.select(ch.recv, (ch.send, 0), gochan.default)
    return [*log, leftover]


@pytest.mark.parametrize("lib", AIO)
@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
def test_asyncio_cancelled_while_parked_withdraws(lib: str, op: str) -> None:
    assert run(_aio_cancel_scenario, op, False, backend=lib) == [(2, None)]


@pytest.mark.parametrize("lib", AIO)
@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
def test_asyncio_cancelled_after_the_peer_completed_keeps_the_value(lib: str, op: str) -> None:
    got = run(_aio_cancel_scenario, op, True, backend=lib)
    first = {
        "arecv": ("received", 42),
        "asend": ("green received", 7),
        "aselect": ("selected", (0, 42)),
    }[op]
    middle = ["sent"] if op == "asend" else []
    assert got == [first, *middle, "cancelled at the next await", (2, None)]


def _trio_cancel_scenario(op: str, peer_first: bool) -> list[Any]:
    ch = Chan[int]()
    log: list[Any] = []
    scopes: list[trio.CancelScope] = []

    async def parked() -> None:
        with trio.CancelScope() as scope:
            scopes.append(scope)
            if op == "arecv":
                log.append(("received", await ch.arecv()))
            elif op == "asend":
                await ch.asend(7)
                log.append("sent")
            else:
                log.append(("selected", await gochan.aselect(ch.recv, nilchan.recv)))
            await trio.sleep(0)
            log.append("never cancelled")
        log.append(("scope caught the cancellation", scope.cancelled_caught))

    t = on_loop(parked())
    queue = ch._sendq if op == "asend" else ch._recvq
    wait_until(lambda: len(queue) == 1, "the trio task parks")
    if peer_first:
        if op == "asend":
            log.append(("green received", ch.recv()))
        else:
            ch.send(42)
    scopes[0].cancel()
    t.join()
    assert len(ch._sendq) == len(ch._recvq) == 0
    return [*log, gochan.select(ch.recv, (ch.send, 0), gochan.default)]


@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
def test_trio_cancelled_while_parked_withdraws(op: str) -> None:
    assert run(_trio_cancel_scenario, op, False, backend="trio") == [
        ("scope caught the cancellation", True),
        (2, None),
    ]


@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
def test_trio_cancelled_after_the_peer_completed_keeps_the_value(op: str) -> None:
    got = run(_trio_cancel_scenario, op, True, backend="trio")
    first = {
        "arecv": ("received", 42),
        "asend": ("green received", 7),
        "aselect": ("selected", (0, 42)),
    }[op]
    middle = ["sent"] if op == "asend" else []
    assert got == [first, *middle, ("scope caught the cancellation", True), (2, None)]


# ---------------------------------------------------------------------------
# Without any gochan run
# ---------------------------------------------------------------------------


async def _pipeline(lib: str) -> list[Any]:
    """Producer -> unbuffered -> doubler -> buffered -> consumer, all coroutines."""
    raw, doubled = Chan[int](), Chan[int](2)
    out: list[Any] = []

    async def producer() -> None:
        for i in range(5):
            await raw.asend(i)
        raw.close()

    async def doubler() -> None:
        async for v in raw:
            await doubled.asend(2 * v)
        doubled.close()

    async def consumer() -> None:
        while True:
            v, ok = await doubled.arecv_ok()
            if not ok:
                break
            out.append(v)
        i, v = await gochan.aselect(raw.recv_ok, gochan.default)
        out.append((i, v))

    if lib == "trio":
        async with trio.open_nursery() as nursery:
            for fn in (consumer, doubler, producer):
                nursery.start_soon(fn)
    else:
        await asyncio.gather(consumer(), doubler(), producer())
    return out


@pytest.mark.parametrize("lib", ["asyncio", "trio"])
def test_channels_between_plain_coroutines(lib: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOCHAN_BACKEND", raising=False)
    expected = [0, 2, 4, 6, 8, (0, (None, False))]
    if lib == "trio":
        assert trio.run(_pipeline, lib) == expected
    else:
        assert asyncio.run(_pipeline(lib)) == expected


def test_plain_asyncio_cancellation_keeps_a_completed_value() -> None:
    """The rules again, with no gochan scheduler anywhere: both ends are
    coroutines, ordered by asyncio's FIFO steps."""
    ch = Chan[int]()

    async def receiver(log: list[Any]) -> None:
        log.append(await ch.arecv())
        await asyncio.sleep(0)
        log.append("never cancelled")

    async def main() -> list[Any]:
        done_log: list[Any] = []
        t = asyncio.create_task(receiver(done_log))
        await asyncio.sleep(0)  # t parks in arecv
        await ch.asend(42)  # completes it without blocking
        t.cancel()
        withdrawn_log: list[Any] = []
        u = asyncio.create_task(receiver(withdrawn_log))
        await asyncio.sleep(0)
        u.cancel()
        results = await asyncio.gather(t, u, return_exceptions=True)
        return [done_log, withdrawn_log, [type(r).__name__ for r in results], len(ch._recvq)]

    assert asyncio.run(main()) == [[42], [], ["CancelledError", "CancelledError"], 0]


def test_plain_trio_tasks_share_a_channel() -> None:
    ch = Chan[int]()

    async def main() -> list[Any]:
        got: list[Any] = []

        async def receiver() -> None:
            got.append(await ch.arecv())
            got.append(await ch.arecv_ok())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await trio.testing.wait_all_tasks_blocked()
            assert len(ch._recvq) == 1
            await ch.asend(1)
            await ch.asend(2)
        return got

    assert trio.run(main) == [1, (2, True)]


def test_plain_aselect_leaves_no_scheduler_behind() -> None:
    """asyncio.run of a coroutine that aselects over two ready buffered
    channels leaves no gochan scheduler on the thread."""

    async def main() -> tuple[int, Any]:
        a, b = Chan[int](1), Chan[int](1)
        await a.asend(1)
        await b.asend(2)
        return await gochan.aselect(a.recv, b.recv)

    assert asyncio.run(main())[0] in (0, 1)
    assert peek_scheduler() is None


# ---------------------------------------------------------------------------
# Across OS threads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_a_green_task_on_another_thread_completes_a_coroutine_receive(lib: str) -> None:
    ch, back = Chan[str](), Chan[str]()
    go_ahead = threading.Event()
    errors: list[BaseException] = []

    def other_thread() -> None:
        def sender() -> None:
            assert go_ahead.wait(SAFETY)
            ch.send("from another thread")
            assert back.recv() == "thanks"

        try:
            run(sender)  # its own scheduler, builtin backend
        except BaseException as e:
            errors.append(e)

    th = threading.Thread(target=other_thread)

    async def receiver() -> str | None:
        await checkpoint(lib)
        v = await ch.arecv()
        await back.asend("thanks")  # a green task of the other thread receives it
        return v

    def main() -> str | None:
        th.start()
        t = on_loop(receiver())
        wait_until(lambda: len(ch._recvq) == 1, "the coroutine parks")
        go_ahead.set()
        return t.join()

    try:
        assert run(main, backend=lib) == "from another thread"
    finally:
        go_ahead.set()
        th.join(SAFETY)
    assert not th.is_alive() and errors == []


def test_a_thread_completes_a_receive_in_plain_asyncio() -> None:
    ch = Chan[int]()

    async def main() -> list[Any]:
        parked = asyncio.Event()

        def other_thread() -> None:
            def sender() -> None:
                ch.send(1)
                ch.close()

            run(sender)

        th = threading.Thread(target=other_thread)
        got = []

        async def receive() -> None:
            parked.set()
            async for v in ch:
                got.append(v)

        task = asyncio.create_task(receive())
        await parked.wait()
        th.start()
        await task
        th.join(SAFETY)
        return got

    assert asyncio.run(main()) == [1]


# ---------------------------------------------------------------------------
# Property: every value exactly once
# ---------------------------------------------------------------------------


def _exactly_once(
    cap: int, counts: list[int], receivers: int, seed: int, green_sends: bool
) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """Green senders and coroutine receivers (or the reverse) on one channel;
    every side yields a random number of times between operations."""
    ch = Chan[tuple[int, int]](cap)
    rng = random.Random(seed)
    per_receiver: list[list[tuple[int, int]]] = [[] for _ in range(receivers)]

    def green_send(sid: int, n: int) -> None:
        for j in range(n):
            ch.send((sid, j))
            for _ in range(rng.randrange(3)):
                gosched()

    async def coro_send(sid: int, n: int) -> None:
        for j in range(n):
            await ch.asend((sid, j))
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)

    def green_recv(k: int) -> None:
        for v in ch:
            per_receiver[k].append(v)
            for _ in range(rng.randrange(3)):
                gosched()

    async def coro_recv(k: int) -> None:
        async for v in ch:
            per_receiver[k].append(v)
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)

    async def gather(*coros: Coroutine[Any, Any, None]) -> None:
        await asyncio.gather(*coros)

    def main() -> None:
        if green_sends:
            recv_side = on_loop(gather(*(coro_recv(k) for k in range(receivers))))
            for t in [go(green_send, sid, n) for sid, n in enumerate(counts)]:
                t.join()
            ch.close()
            recv_side.join()
        else:
            receivers_ = [go(green_recv, k) for k in range(receivers)]
            await_(gather(*(coro_send(sid, n) for sid, n in enumerate(counts))))
            ch.close()
            for t in receivers_:
                t.join()
        assert len(ch) == 0 and not ch._sendq and not ch._recvq

    run(main, backend="asyncio", seed=seed, debug=True)
    sent = [(sid, j) for sid, n in enumerate(counts) for j in range(n)]
    return sent, per_receiver


@settings(max_examples=40, deadline=None)
@given(
    cap=st.integers(0, 3),
    counts=st.lists(st.integers(0, 8), min_size=1, max_size=4),
    receivers=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    green_sends=st.booleans(),
)
def test_every_value_arrives_exactly_once(
    cap: int, counts: list[int], receivers: int, seed: int, green_sends: bool
) -> None:
    sent, per_receiver = _exactly_once(cap, counts, receivers, seed, green_sends)
    received = [v for got in per_receiver for v in got]
    assert Counter(received) == Counter(sent)  # every value, exactly once
    for got in per_receiver:  # and each receiver sees each sender's values in order
        for sid in range(len(counts)):
            mine = [j for s, j in got if s == sid]
            assert mine == sorted(mine)
