"""Port of Go's test/chan/select4.go: only the chosen case's result is used.

In Go, the left-hand side of a receive case (``case *f() = <-c1:``) is
evaluated only if that case is chosen. gochan's ``select`` has no
assignment targets; the equivalent promise is that the value returned
belongs to the chosen case alone and that the cases not chosen have no
effect on their channels. The ``match`` form from api.md is used to bind
the value, as a Go program binds it in the case clause.
"""

from __future__ import annotations

import gochan
from gochan import Chan, default, go, run, select


def test_value_goes_to_the_chosen_case_only() -> None:
    def main() -> None:
        c = Chan[int](1)
        c1 = Chan[int]()
        c.send(42)
        targets: dict[str, int | None] = {}
        match select(c1.recv, c.recv):
            case 0, v:
                targets["c1"] = v
            case 1, v:
                targets["c"] = v
        assert targets == {"c": 42}
        # Neither channel was left with a value or a waiter.
        assert len(c) == 0
        assert select(c.recv, c1.recv, (c1.send, 0), default) == (3, None)

    run(main)


def test_recv_ok_value_pairs_with_its_case() -> None:
    def main() -> int:
        c = Chan[str](1)
        closed = Chan[str]()
        closed.close()
        c.send("x")
        closed_picks = 0
        for _ in range(60):  # P(60 picks of the closed case in a row) = 2**-60
            match select(c.recv_ok, closed.recv_ok):
                case 0, (v, ok):
                    assert (v, ok) == ("x", True)
                    break
                case 1, (v, ok):
                    assert (v, ok) == (None, False)
                    closed_picks += 1
        else:
            raise AssertionError("the ready buffered case was never chosen")
        # With the single buffered value gone, only the closed case is ready.
        assert select(c.recv_ok, closed.recv_ok) == (1, (None, False))
        return closed_picks

    picks = [run(main, seed=seed) for seed in range(16)]
    # Both outcomes of the first select occur over 16 seeds.
    assert 0 in picks and any(p > 0 for p in picks), picks


def test_unchosen_blocking_receive_does_not_steal_a_later_value() -> None:
    # A parked select that fires on one channel must not also take a value
    # sent later on a channel of a case it did not choose.
    def main() -> None:
        c, c1 = Chan[int](), Chan[int](1)
        t = go(select, c1.recv, c.recv)
        gochan.sleep(0.001)  # virtual clock: the select is parked on both
        c.send(42)
        assert t.join() == (1, 42)
        c1.send(7)
        assert c1.recv() == 7

    run(main, clock="virtual")
