"""A coroutine whose event loop was closed under it never completes a channel operation.

``asyncio.run()`` cancels what is left before it closes its loop, and the
cancellation withdraws a pending ``await ch.arecv()``. A loop closed by hand
(``loop.close()``) with the coroutine still pending cannot: the coroutine
stays parked forever. What this proves (api.md, "Edges": a value sent is
received exactly once or the send fails loudly):

* A peer never hands a value to such a coroutine's receive, nor takes the
  value of its send: its waiter is refused and dropped from the queue, and
  the peer goes on as if it had never been there (the next waiter, the
  buffer, parking, or ``default``). On every path that dequeues a waiter:
  a blocking ``send``/``recv``, ``select`` (whose ready-case check saw the
  dead waiter: it starts again), a full buffer's parked sender, ``offer``,
  ``close``.
* A dead ``aselect`` is withdrawn from every channel it waited on.
* Nothing is logged for a refusal (nothing was lost).

Each dead coroutine is made the same way: a fresh loop (asyncio's own, then
uvloop's) runs it until it parks, then is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gochan
from gochan import Chan, default, go, select

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def dead(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[Callable[[Callable[[], Coroutine[Any, Any, Any]]], asyncio.Task[Any]]]:
    """``dead(fn)``: run ``fn()`` on a new loop until it parks, then close the
    loop. Returns the task: done if ``fn`` did not have to wait."""
    left: list[asyncio.Task[Any]] = []

    def make(fn: Callable[[], Coroutine[Any, Any, Any]]) -> asyncio.Task[Any]:
        loop = LOOPS[request.param]()
        task = loop.create_task(fn())
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        left.append(task)
        return task

    with caplog.at_level(logging.WARNING, logger="gochan"):
        yield make
    for task in left:
        if task.done():
            continue
        task.get_coro().close()  # nothing pending left for the GC to finalize
        # ... and the task object itself stays pending forever, as its loop is
        # gone; asyncio would log that when it is collected: known, and the point.
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    assert caplog.records == []


def test_a_send_is_not_handed_to_a_dead_receiver(dead: Any) -> None:
    c = Chan[str]()
    dead(c.arecv)
    assert len(c._recvq) == 1
    # select saw a waiting receiver, but it is refused: default is taken
    assert select((c.send, "precious"), default) == (1, None)
    assert len(c._recvq) == 0


def test_a_blocking_send_skips_a_dead_receiver_for_a_live_one(dead: Any) -> None:
    c = Chan[str]()
    dead(c.arecv)
    got: list[str | None] = []

    def main() -> None:
        t = go(lambda: got.append(c.recv()))
        gochan.gosched()  # t parks behind the dead receiver
        assert len(c._recvq) == 2
        c.send("precious")
        t.join()

    gochan.run(main)
    assert got == ["precious"]


def test_a_receive_does_not_take_a_dead_senders_value(dead: Any) -> None:
    c = Chan[str]()
    dead(lambda: c.asend("from the dead"))
    assert select(c.recv, default) == (1, None)
    assert len(c._sendq) == 0


def test_a_blocking_receive_skips_a_dead_sender_for_a_live_one(dead: Any) -> None:
    c = Chan[str]()
    dead(lambda: c.asend("from the dead"))

    def main() -> str | None:
        go(c.send, "live")
        gochan.gosched()  # the live sender parks behind the dead one
        return c.recv()

    assert gochan.run(main) == "live"


def test_a_full_buffer_does_not_admit_a_dead_senders_value(dead: Any) -> None:
    c = Chan[int](1)
    c.send(1)
    dead(lambda: c.asend(2))
    assert select(c.recv, default) == (0, 1)
    assert select(c.recv, default) == (1, None)
    assert len(c) == 0 and len(c._sendq) == 0


def test_a_dead_aselect_is_withdrawn_from_every_channel(dead: Any) -> None:
    a, b = Chan[int](), Chan[int]()
    dead(lambda: gochan.aselect(a.recv, b.recv))
    assert (len(a._recvq), len(b._recvq)) == (1, 1)
    assert select((a.send, 1), default) == (1, None)
    assert (len(a._recvq), len(b._recvq)) == (0, 0)


def test_offer_and_close_drop_dead_waiters(dead: Any) -> None:
    a, b = Chan[int](), Chan[int]()
    dead(a.arecv)
    dead(lambda: b.asend(1))
    assert a.offer(5) is False  # nobody live to take it: dropped, as offer says
    b.close()
    assert len(b._sendq) == 0
    assert b.recv_ok() == (None, False)


def test_a_live_coroutine_still_receives(dead: Any) -> None:
    # The refusal is for dead loops only: a coroutine on a running loop,
    # queued behind a dead one, gets the value.
    c = Chan[str]()
    dead(c.arecv)

    async def main() -> str | None:
        rx = asyncio.ensure_future(c.arecv())
        await asyncio.sleep(0)
        assert len(c._recvq) == 2
        await c.asend("precious")
        return await rx

    assert asyncio.run(main()) == "precious"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.integers(0, 2),
    ops=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["dead_send", "live_send"]), st.integers(0, 99)),
            st.tuples(st.sampled_from(["dead_recv", "dead_select", "live_recv"]), st.just(0)),
        ),
        max_size=12,
    ),
)
def test_dead_coroutines_are_invisible_to_live_peers(
    dead: Any, cap: int, ops: list[tuple[str, int]]
) -> None:
    # Model: dead waiters are not there at all. Live operations never block
    # (select with default), so the channel is its buffer: a send succeeds
    # iff there is room, a receive takes the head or finds nothing.
    c, other = Chan[int](cap), Chan[int]()
    buf: list[int] = []
    for kind, v in ops:
        # A coroutine that did not have to wait completed before its loop
        # closed: a live operation, like any other.
        if kind == "dead_send":
            if dead(lambda v=v: c.asend(v)).done():
                assert len(buf) < cap
                buf.append(v)
        elif kind == "dead_recv":
            t = dead(c.arecv)
            if t.done():
                assert t.result() == buf.pop(0)
        elif kind == "dead_select":
            t = dead(lambda: gochan.aselect(c.recv, other.recv))
            if t.done():
                assert t.result() == (0, buf.pop(0))
        elif kind == "live_send":
            sent = select((c.send, v), default) == (0, None)
            assert sent == (len(buf) < cap)
            if sent:
                buf.append(v)
        else:
            i, got = select(c.recv, default)
            assert (i, got) == ((0, buf.pop(0)) if buf else (1, None))
    c.close()
    assert [v for v in c] == buf
    assert len(c._recvq) == len(c._sendq) == len(other._recvq) == 0
