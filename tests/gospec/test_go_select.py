"""Port of Go's test/chan/select.go: send cases, default, and nil channels.

A loop offers a fresh value on two one-slot channels with a non-blocking
select and disables a case (sets its channel to nil) once it has fired, so
each channel is sent to exactly once and the loop then falls through to
``default``. Go also counts how often the case values are computed: every
case expression is evaluated once per select, whether or not it is chosen.
In Python that is simply argument evaluation, so the count is the same.
"""

from __future__ import annotations

import pytest

from gochan import Chan, default, nilchan, run, select


class Values:
    """Hands out 1, 2, 4, 8, ... and counts how many it handed out."""

    def __init__(self) -> None:
        self.calls = 0
        self.shift = 0

    def next(self) -> int:
        self.calls += 1
        return 1 << self.shift


def send_until_blocked(a: Chan[int], b: Chan[int], vals: Values) -> int:
    sent = 0
    while True:
        i, _ = select((a.send, vals.next()), (b.send, vals.next()), default)
        if i == 2:
            return sent
        sent += 1
        if i == 0:
            a = nilchan
        else:
            b = nilchan
        vals.shift += 1


def test_send_cases_with_nil_channels_and_default() -> None:
    def main() -> None:
        vals = Values()
        a, b = Chan[int](1), Chan[int](1)
        assert send_until_blocked(a, b, vals) == 2
        av, bv = a.recv(), b.recv()
        assert av is not None and bv is not None
        assert av | bv == 3  # one got 1, the other 2: each fired once
        assert send_until_blocked(a, nilchan, vals) == 1
        assert a.recv() == 4  # the shift carried on from the first call (1 << 2)
        # 3 selects x 2 cases, then 2 selects x 2 cases.
        assert vals.calls == 10

    run(main)


@pytest.mark.parametrize("seed", range(8))
def test_both_orders_are_possible_and_values_match_channels(seed: int) -> None:
    # Whichever channel is chosen first gets 1 and the other gets 2.
    def main() -> tuple[int | None, int | None]:
        a, b = Chan[int](1), Chan[int](1)
        assert send_until_blocked(a, b, Values()) == 2
        return a.recv(), b.recv()

    assert run(main, seed=seed) in {(1, 2), (2, 1)}


def test_both_orders_occur_across_seeds() -> None:
    def main() -> int | None:
        a, b = Chan[int](1), Chan[int](1)
        send_until_blocked(a, b, Values())
        return a.recv()

    firsts = {run(main, seed=s) for s in range(40)}
    # P(all 40 seeds pick the same first case) = 2 * 2**-40 if uniform.
    assert firsts == {1, 2}


def test_only_nil_channels_and_default() -> None:
    def main() -> None:
        vals = Values()
        assert send_until_blocked(nilchan, nilchan, vals) == 0
        assert vals.calls == 2

    run(main)
