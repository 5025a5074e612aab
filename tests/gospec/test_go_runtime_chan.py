"""Port of Go's src/runtime/chan_test.go, the single-channel tests:
TestChan, TestNonblockRecvRace, TestNonblockSelectRace(2),
TestChanSendInterface and TestSelectDuplicateChannel.

TestChan runs a battery of checks for each capacity: a receive from an
empty channel blocks, a send to a full one blocks, the non-blocking forms
take ``default`` then, a closed channel yields its buffered values and then
zero values, close wakes a blocked receiver, values keep their FIFO order
and none is lost or duplicated with several senders and receivers, and
``len``/``cap`` are right. Go waits with ``time.Sleep(time.Millisecond)``
to let goroutines block; here the virtual clock makes that exact: a sleep
ends only once every other task is blocked.
"""

from __future__ import annotations

from collections import Counter

import pytest

import gochan
from gochan import Chan, default, go, run, select

CAPS = [0, 1, 2, 3, 4, 7, 16, 100]


def settle() -> None:
    gochan.sleep(0.001)  # virtual clock: returns once every other task is blocked


@pytest.mark.parametrize("cap", CAPS)
def test_chan(cap: int) -> None:
    def main() -> None:
        # Receive from an empty channel blocks, in both forms.
        c = Chan[int](cap)
        got: list[object] = []
        go(lambda: got.append(("recv", c.recv())))
        go(lambda: got.append(("recv_ok", c.recv_ok())))
        settle()
        assert got == [], f"chan[{cap}]: receive from empty chan"
        assert select(c.recv, default) == (1, None)
        assert select(c.recv_ok, default) == (1, None)
        c.send(0)
        c.send(0)
        settle()
        assert sorted(got, key=str) == [("recv", 0), ("recv_ok", (0, True))]

        # Send to a full channel blocks.
        c = Chan[int](cap)
        for i in range(cap):
            c.send(i)
        sent = []
        go(lambda: (c.send(0), sent.append(True)))
        settle()
        assert sent == [], f"chan[{cap}]: send to full chan"
        assert select((c.send, 0), default) == (1, None)
        c.recv()
        settle()
        assert sent == [True]

        # Closed channel: buffered values first, then zero values.
        c = Chan[int](cap)
        for i in range(cap):
            c.send(i)
        c.close()
        for i in range(cap):
            assert c.recv() == i
        assert c.recv() is None
        assert c.recv_ok() == (None, False)

        # Close unblocks a parked receiver.
        c = Chan[int](cap)
        done = Chan[bool]()
        go(lambda: done.send(c.recv_ok() == (None, False)))
        settle()
        c.close()
        assert done.recv() is True

        # 100 values from one sender arrive intact and in order.
        c = Chan[int](cap)
        go(lambda: [c.send(i) for i in range(100)])
        assert [c.recv() for _ in range(100)] == list(range(100))
        go(lambda: [c.send(i) for i in range(100)])
        assert [c.recv_ok() for _ in range(100)] == [(i, True) for i in range(100)]

        # 4 senders x L values, 4 receivers: each value arrives 4 times.
        p, n = 4, 500
        results = Chan[Counter[int]]()

        def receiver() -> None:
            seen: Counter[int] = Counter()
            for _ in range(n):
                v = c.recv()
                assert v is not None
                seen[v] += 1
            results.send(seen)

        for _ in range(p):
            go(lambda: [c.send(i) for i in range(n)])
            go(receiver)
        total: Counter[int] = Counter()
        for _ in range(p):
            r = results.recv()
            assert r is not None
            total += r
        assert total == Counter({i: p for i in range(n)})

        # len and cap.
        c = Chan[int](cap)
        assert (len(c), c.cap) == (0, cap)
        for i in range(cap):
            c.send(i)
        assert (len(c), c.cap) == (cap, cap)

    run(main, clock="virtual", seed=cap)


def test_nonblock_recv_race() -> None:
    # A non-blocking receive on a channel that holds a value (and is then
    # closed) must never take default.
    def main() -> None:
        for _ in range(1000):
            c = Chan[int](1)
            c.send(1)

            def poll(c: Chan[int] = c) -> int:
                i, _ = select(c.recv, default)
                return i

            t = go(poll)
            c.close()
            c.recv()
            assert t.join() == 0, "chan is not ready"

    run(main)


@pytest.mark.parametrize("make_ready", ["send", "close"])
def test_nonblock_select_race(make_ready: str) -> None:
    # From the moment the poller starts, at least one of c1 and c2 is
    # ready, so its non-blocking select must never take default: select
    # looks at all channels at one instant, not over a smeared window.
    def main() -> None:
        for _ in range(1000):
            c1 = Chan[int](1)
            c2 = Chan[int](1) if make_ready == "send" else Chan[int]()
            c1.send(1)
            t = go(select, c1.recv, c2.recv, default)
            if make_ready == "send":
                c2.send(1)
            else:
                c2.close()
            select(c1.recv, default)
            i, _ = t.join()
            assert i in (0, 1), "no chan is ready"

    run(main, seed=3)


def test_chan_send_interface() -> None:
    # Send cases on a full channel of arbitrary objects must take default.
    class M:
        pass

    def main() -> None:
        m = M()
        c = Chan[object](1)
        c.send(m)
        assert select((c.send, m), default) == (1, None)
        assert select((c.send, m), (c.send, M()), default) == (2, None)
        assert c.recv() is m

    run(main)


def test_select_duplicate_channel() -> None:
    # One select with two cases on the same channel queues its task on that
    # channel twice. When it fires through a third channel, both entries
    # must go, leaving a plain receiver queued behind them intact.
    def main() -> None:
        c, d, e = Chan[int](), Chan[int](), Chan[int]()

        def a() -> tuple[int, object]:
            r = select(c.recv, c.recv, d.recv)
            e.send(9)
            return r

        ta = go(a)
        settle()  # A is queued on c (twice) and d
        tb = go(c.recv)
        settle()  # B is queued on c behind A's two entries
        d.send(7)  # wakes A, which must dequeue itself from c
        assert e.recv() == 9
        c.send(8)  # must reach B, not a stale entry of A
        assert ta.join() == (2, 7)
        assert tb.join() == 8

    run(main, clock="virtual")


@pytest.mark.parametrize("seed", range(3))
def test_duplicate_ready_cases_are_both_eligible(seed: int) -> None:
    # Two cases on one ready channel: either may fire, exactly one does.
    def main() -> Counter[int]:
        c = Chan[int](1)
        picks: Counter[int] = Counter()
        for v in range(200):
            c.send(v)
            i, got = select(c.recv, c.recv)
            assert got == v
            picks[i] += 1
        assert len(c) == 0
        return picks

    picks = run(main, seed=seed)
    # P(one index never picked in 200 fair draws) = 2 * 2**-200.
    assert set(picks) == {0, 1}
