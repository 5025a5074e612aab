"""Port of Go's test/chan/select2.go: selects do not consume memory.

Go runs 100,000 two-case selects (one case always fires, the other is on a
channel nobody uses), then another 100,000, and requires the second batch
not to grow the heap. Here the second batch runs under ``tracemalloc``; a
leak of even one small object per select (a waiter left queued on the idle
channel, a wait record kept alive) would show up as hundreds of KB. The idle
channel must also come out with no waiter left on it.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

import gochan
from gochan import Chan, default, go, run, select

N = 10_000
# Measured growth is a few KiB (allocator noise); one leaked 50-byte object
# per select would be about 500 KB. 128 KiB keeps a wide margin both ways.
LIMIT = 128 * 1024


def sender(c: Chan[int], n: int) -> None:
    for _ in range(n):
        c.send(1)


def receiver(c: Chan[int], idle: Chan[int], n: int, *, send_case: bool) -> None:
    for _ in range(n):
        if send_case:
            i, v = select(c.recv, idle.recv, (idle.send, 0))
        else:
            i, v = select(c.recv, idle.recv)
        assert (i, v) == (0, 1)


def idle_channel_is_untouched(idle: Chan[int]) -> None:
    # No receiver left behind by the selects: a non-blocking send finds no one.
    assert select((idle.send, 0), default) == (1, None)
    # No sender left behind either: a non-blocking receive finds nothing.
    assert select(idle.recv, default) == (1, None)


@pytest.mark.parametrize("send_case", [False, True], ids=["recv-only", "recv-and-send"])
def test_selects_do_not_leak(send_case: bool) -> None:
    def batch(c: Chan[int], idle: Chan[int]) -> None:
        t = go(sender, c, N)
        receiver(c, idle, N, send_case=send_case)
        t.join()

    def main() -> int:
        c, idle = Chan[int](), Chan[int]()
        batch(c, idle)  # warm up: caches, free lists, interned ints
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            batch(c, idle)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        idle_channel_is_untouched(idle)
        return grown

    grown = run(main)
    assert grown < LIMIT, f"{N} selects grew traced memory by {grown} bytes"


def test_parked_selects_leave_no_waiters_behind() -> None:
    # The same property for selects that actually park: the receiver is
    # always waiting when the value comes, so every select takes the
    # enqueue-on-all-channels path and must unlink from the idle channel.
    def main() -> None:
        c, idle = Chan[int](), Chan[int]()
        got = []

        def parked_receiver() -> None:
            for _ in range(1_000):
                got.append(select(c.recv, idle.recv, (idle.send, 5)))

        t = go(parked_receiver)
        for i in range(1_000):
            # Under the virtual clock this sleep ends only once the receiver
            # is blocked, i.e. parked in its select on all three cases.
            gochan.sleep(0.001)
            c.send(i)
        t.join()
        assert got == [(0, i) for i in range(1_000)]
        idle_channel_is_untouched(idle)

    run(main, clock="virtual")
