"""Port of Go's test/chan/fifo.go: channels are first-in, first-out.

Go checks two things: values put into a buffered channel come out in the
order they went in, and receivers blocked on an unbuffered channel are
served in the order they arrived (a daisy chain of goroutines, each waiting
for its turn, reads the sequence 0..N-1 from one shared channel). The api.md
contract promises the same for blocked senders, so that is checked too.
"""

from __future__ import annotations

import pytest

import gochan
from gochan import Chan, go, run

N = 10


def settle() -> None:
    """Under the virtual clock a sleep ends only once every other task is
    blocked, so after it every task started so far has reached its park."""
    gochan.sleep(0.001)


@pytest.mark.parametrize("cap", [N, 2 * N])
def test_buffered_channel_is_a_queue(cap: int) -> None:
    def main() -> list[int | None]:
        ch = Chan[int](cap)
        for i in range(N):
            ch.send(i)
        assert len(ch) == N
        return [ch.recv() for _ in range(N)]

    assert run(main) == list(range(N))


def test_buffered_queue_interleaved_with_wraparound() -> None:
    # Fill, half drain, refill, drain: the ring buffer must keep order
    # across the wrap point.
    def main() -> list[int | None]:
        ch = Chan[int](4)
        out: list[int | None] = []
        nxt = 0
        for _ in range(25):
            while len(ch) < ch.cap:
                ch.send(nxt)
                nxt += 1
            out.extend(ch.recv() for _ in range(3))
        while len(ch):
            out.append(ch.recv())
        return out

    got = run(main)
    assert got == list(range(len(got)))
    assert len(got) == 25 * 3 + 1


@pytest.mark.parametrize("n", [N, 500])
def test_blocked_receivers_are_served_in_arrival_order(n: int) -> None:
    # Each link waits for the previous link's go-ahead, then receives one
    # value from the shared channel and must see exactly its own index.
    def link(ch: Chan[int], turn: Chan[None], nxt: Chan[None]) -> int | None:
        turn.recv()
        got = ch.recv()
        nxt.send(None)
        return got

    def main() -> None:
        ch = Chan[int]()
        first = Chan[None]()
        turn = first
        tasks = []
        for _ in range(n):
            nxt = Chan[None]()
            tasks.append(go(link, ch, turn, nxt))
            turn = nxt
        first.send(None)
        for i in range(n):
            ch.send(i)
        turn.recv()
        assert [t.join() for t in tasks] == list(range(n))

    run(main)


def test_parked_receivers_wake_first_come_first_served() -> None:
    # Stronger form of the chain: all receivers are parked on the channel
    # at once, queued in a known order, before any value is sent.
    def main() -> None:
        ch = Chan[int]()
        tasks = []
        for _ in range(N):
            tasks.append(go(ch.recv))
            settle()  # this receiver is now queued behind the earlier ones
        for i in range(N):
            ch.send(i)
        assert [t.join() for t in tasks] == list(range(N))

    run(main, clock="virtual")


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_parked_senders_are_admitted_first_come_first_served(cap: int) -> None:
    # Not in fifo.go, but the same promise from the sending side (api.md):
    # senders blocked on a full channel deliver in the order they blocked,
    # after everything already buffered.
    def main() -> None:
        ch = Chan[int](cap)
        for i in range(cap):
            ch.send(i)
        tasks = []
        for i in range(cap, cap + N):
            tasks.append(go(ch.send, i))
            settle()
        got = [ch.recv() for _ in range(cap + N)]
        assert got == list(range(cap + N))
        for t in tasks:
            t.join()

    run(main, clock="virtual")


def test_one_sender_many_values_arrive_in_order() -> None:
    def producer(ch: Chan[int], n: int) -> None:
        for i in range(n):
            ch.send(i)
        ch.close()

    for cap in (0, 1, 7):

        def main(cap: int = cap) -> list[int]:
            ch = Chan[int](cap)
            go(producer, ch, 1000)
            return list(ch)

        assert run(main) == list(range(1000)), cap
