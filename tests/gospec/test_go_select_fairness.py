"""Port of Go's src/runtime/chan_test.go TestSelectFairness and
TestPseudoRandomSend: among ready cases, select chooses uniformly, and a
blocked select with several cases on one channel is woken on a uniformly
random one of them.

Every test is seeded (``run(main, seed=N)``), so it is deterministic; the
bounds are nevertheless set so that a fair runtime would fail them with
astronomically small probability for any seed, while a biased choice
(always the first ready case, round-robin by position, ...) fails at once.
"""

from __future__ import annotations

import math

import pytest

from gochan import Chan, go, gosched, run, select


@pytest.mark.parametrize("seed", [1, 2])
def test_select_fairness(seed: int) -> None:
    # Go's shape: a task selects over two never-ready unbuffered channels
    # and two always-ready buffered ones, and forwards what it got. With
    # trials = 10,000 draws of a fair coin, sigma = sqrt(n/4) = 50; Go
    # accepts anything within 10 sigma (+-500) of n/2. By Hoeffding,
    # P(|X - n/2| > 500) < 2 * exp(-2 * 500**2 / 10000) ~ 4e-22.
    trials = 10_000

    def main() -> tuple[int, int]:
        c1, c2 = Chan[int](trials + 1), Chan[int](trials + 1)
        for _ in range(trials + 1):
            c1.send(1)
            c2.send(2)
        c3, c4 = Chan[int](), Chan[int]()
        out, done = Chan[int](), Chan[None]()

        def chooser() -> None:
            while True:
                _, b = select(c3.recv, c4.recv, c1.recv, c2.recv)
                i, _ = select((out.send, b), done.recv)
                if i == 1:
                    return

        t = go(chooser)
        counts = {1: 0, 2: 0}
        for _ in range(trials):
            b = out.recv()
            assert b in counts, f"unexpected value {b!r} on channel"
            counts[b] += 1
        done.close()
        t.join()
        return counts[1], counts[2]

    cnt1, cnt2 = run(main, seed=seed)
    assert cnt1 + cnt2 == trials
    sigma = math.sqrt(trials / 4)
    assert abs(cnt1 - trials / 2) <= 10 * sigma, (cnt1, cnt2)


@pytest.mark.parametrize("seed", [7, 8])
def test_four_ready_cases_chi_square(seed: int) -> None:
    # Four always-ready cases (two receives, two sends), 40,000 selects.
    # Each count is Binomial(40000, 1/4): mean 10,000, sigma ~ 86.6; we
    # allow +-700 (8 sigma). By Hoeffding, P(any of the 4 cells outside) <
    # 4 * 2 * exp(-2 * 700**2 / 40000) ~ 2e-10. The chi-square statistic
    # (3 degrees of freedom) must stay below 60: P(chi2_3 > 60) ~ 6e-13.
    n = 40_000

    def main() -> list[int]:
        r1, r2 = Chan[int](1), Chan[int](1)
        s1, s2 = Chan[int](1), Chan[int](1)
        counts = [0, 0, 0, 0]
        for _ in range(n):
            # Make all four ready again: receives need a value, sends room.
            for r in (r1, r2):
                if len(r) == 0:
                    r.send(1)
            for w in (s1, s2):
                if len(w):
                    w.recv()
            i, _ = select(r1.recv, (s1.send, 0), r2.recv, (s2.send, 0))
            counts[i] += 1
        return counts

    counts = run(main, seed=seed)
    assert sum(counts) == n
    expected = n / 4
    assert all(abs(c - expected) <= 700 for c in counts), counts
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 60, (chi2, counts)


@pytest.mark.parametrize("cap", [0, 100])
def test_pseudo_random_send(cap: int) -> None:
    # A select with two send cases on the same channel, values 0 and 1.
    # Go requires each value more than n/10 times in n = 100 sends.
    # P(Binomial(100, 1/2) <= 10) ~ 1.5e-17 per value.
    n = 100

    def main() -> list[int | None]:
        c = Chan[int](cap)
        got: list[int | None] = []

        def reader() -> None:
            for _ in range(n):
                got.append(c.recv())

        t = go(reader)
        for _ in range(n):
            select((c.send, 1), (c.send, 0))
        t.join()
        return got

    got = run(main, seed=cap + 1)
    assert len(got) == n
    assert got.count(0) > n // 10 and got.count(1) > n // 10, got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pseudo_random_send_from_a_blocked_select(seed: int) -> None:
    # As above, but the select is parked before the reader comes: its two
    # waiters sit in one queue, and the reader must wake a uniformly random
    # one (Go enqueues a select's cases in a random order), not the first.
    n = 100

    def main() -> list[int]:
        c = Chan[int]()
        got = []
        for _ in range(n):
            t = go(select, (c.send, 1), (c.send, 0))
            gosched()  # the select parks on both cases
            v = c.recv()
            assert t.join() == (1 - (v or 0), None)  # the index matches the value
            got.append(v or 0)
        return got

    got = run(main, seed=seed)
    assert got.count(0) > n // 10 and got.count(1) > n // 10, got


@pytest.mark.parametrize("seed", [1, 2])
def test_blocked_select_with_three_receives_on_one_channel_wakes_each_case(seed: int) -> None:
    # Three receive cases on one channel (plus one elsewhere): each of the
    # three is woken about a third of the time (P(Bin(300, 1/3) <= 50) ~ 1e-11).
    n = 300

    def main() -> list[int]:
        c = Chan[int]()
        counts = [0, 0, 0, 0]
        for _ in range(n):
            t = go(select, c.recv, Chan[int]().recv, c.recv_ok, c.recv)
            gosched()
            c.send(7)
            i, v = t.join()
            assert v == ((7, True) if i == 2 else 7)
            counts[i] += 1
        return counts

    counts = run(main, seed=seed)
    assert counts[1] == 0 and sum(counts) == n
    assert all(counts[i] > 50 for i in (0, 2, 3)), counts


def test_choices_depend_on_seed_and_only_on_seed() -> None:
    # Determinism underpins every bound above: the same seed replays the
    # same choices, and different seeds give different sequences.
    def main() -> list[int]:
        a, b = Chan[int](1), Chan[int](1)
        picks = []
        for _ in range(64):
            if len(a) == 0:
                a.send(0)
            if len(b) == 0:
                b.send(0)
            i, _ = select(a.recv, b.recv)
            picks.append(i)
        return picks

    assert run(main, seed=42) == run(main, seed=42)
    # 2**-64 chance that two fair seeds agree on all 64 picks.
    assert run(main, seed=42) != run(main, seed=43)
