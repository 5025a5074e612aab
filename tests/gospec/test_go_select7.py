"""Port of Go's test/chan/select7.go: receive cases that discard the value.

Three ways to receive (a plain receive, a one-case select, a two-case
select with an idle second channel) are paired with three ways to send (a
plain send, a one-case select, a two-case select with an idle second
channel): all nine pairs must complete and deliver the value. Go lets the
receiver start first (``runtime.Gosched``); here both orders are run, the
receiver parked first and the sender parked first, each made certain by a
virtual-clock sleep (it ends only when every other task is blocked).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import gochan
from gochan import Chan, go, run, select


def recv_plain(c: Chan[int]) -> int | None:
    return c.recv()


def recv_select1(c: Chan[int]) -> int | None:
    i, v = select(c.recv)
    assert i == 0
    return v


def recv_select2(c: Chan[int]) -> int | None:
    idle = Chan[int]()
    i, v = select(c.recv, idle.recv)
    assert i == 0
    return v


def send_plain(c: Chan[int], v: int) -> None:
    c.send(v)


def send_select1(c: Chan[int], v: int) -> None:
    assert select((c.send, v)) == (0, None)


def send_select2(c: Chan[int], v: int) -> None:
    idle = Chan[int]()
    assert select((c.send, v), (idle.send, -v)) == (0, None)


RECEIVERS = [recv_plain, recv_select1, recv_select2]
SENDERS = [send_plain, send_select1, send_select2]


@pytest.mark.parametrize("receiver_first", [True, False], ids=["recv-first", "send-first"])
@pytest.mark.parametrize("send", SENDERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("recv", RECEIVERS, ids=lambda f: f.__name__)
def test_pair(
    recv: Callable[[Chan[int]], int | None],
    send: Callable[[Chan[int], int], None],
    receiver_first: bool,
) -> None:
    def main() -> None:
        for v in range(1, 4):  # a few rounds on one channel
            c = Chan[int]()
            if receiver_first:
                r = go(recv, c)
                gochan.sleep(0.001)  # virtual clock: the receiver is now parked
                send(c, v)
                assert r.join() == v
            else:
                s = go(send, c, v)
                gochan.sleep(0.001)  # virtual clock: the sender is now parked
                assert recv(c) == v
                s.join()

    run(main, clock="virtual")
