"""Port of Go's test/chan/select6.go (Go issue 2075): a select that fires on
one channel must leave the wait queues of its other channels intact.

In the original bug, a select queued last among several receivers of ``c1``
fired on ``c2``; unlinking it from ``c1`` corrupted ``c1``'s queue, so later
receivers on ``c1`` were never woken. Go's program deadlocks if the bug is
present; here a deadlock raises ``gochan.Deadlock`` and fails the test.
The parametrized test generalises the scenario: the select sits at every
position of a queue of plain receivers, and every receiver must then be
served, in arrival order.
"""

from __future__ import annotations

import pytest

import gochan
from gochan import Chan, go, run, select


def settle() -> None:
    gochan.sleep(0.001)  # virtual clock: returns once every other task is blocked


def test_issue_2075() -> None:
    def main() -> list[object]:
        c1, c2, c3 = Chan[bool](), Chan[bool](), Chan[bool]()
        first = go(c1.recv)

        def selector() -> tuple[int, bool | None]:
            i, _ = select(c1.recv, c2.recv)
            assert i == 1, "the select fired on c1, which nobody sent to yet"
            c3.send(True)
            return i, c1.recv()

        sel = go(selector)
        go(c2.send, True)
        c3.recv()
        c1.send(True)
        c1.send(True)
        return [first.join(), sel.join()]

    assert run(main) == [True, (1, True)]


@pytest.mark.parametrize("n_plain", [1, 2, 5])
@pytest.mark.parametrize("where", ["head", "middle", "tail"])
def test_select_leaves_queue_of_other_channel_intact(where: str, n_plain: int) -> None:
    def main() -> None:
        shared, trigger = Chan[int](), Chan[int]()
        pos = {"head": 0, "middle": n_plain // 2, "tail": n_plain}[where]
        receivers = []
        sel = None
        for k in range(n_plain + 1):
            if k == pos:
                sel = go(select, shared.recv, trigger.recv)
            else:
                receivers.append(go(shared.recv))
            settle()  # queue them on `shared` in this exact order
        assert sel is not None
        trigger.send(99)
        assert sel.join() == (1, 99)
        # Every plain receiver is still queued, in order, and gets served.
        for i in range(n_plain):
            shared.send(i)
        assert [t.join() for t in receivers] == list(range(n_plain))
        # And the queue is now empty: a fresh receiver is next in line.
        late = go(shared.recv)
        settle()
        shared.send(-1)
        assert late.join() == -1

    run(main, clock="virtual")


def test_many_selects_interleaved_on_two_channels() -> None:
    # Several selects and plain receivers share two queues; firing the
    # selects through one channel must leave the plain receivers of both.
    def main() -> None:
        a, b = Chan[int](), Chan[int]()
        plain_a, plain_b, selects = [], [], []
        for _ in range(4):
            plain_a.append(go(a.recv))
            selects.append(go(select, a.recv, b.recv))
            plain_b.append(go(b.recv))
            settle()
        # `a` queue: pa0 s0 pa1 s1 ...; `b` queue: s0 pb0 s1 pb1 ...
        # Sending on b serves the oldest b-waiter each time: s0, pb0, s1, ...
        for i in range(8):
            b.send(i)
        assert [t.join() for t in selects] == [(1, 0), (1, 2), (1, 4), (1, 6)]
        assert [t.join() for t in plain_b] == [1, 3, 5, 7]
        for i in range(4):
            a.send(10 + i)
        assert [t.join() for t in plain_a] == [10, 11, 12, 13]

    run(main, clock="virtual")
