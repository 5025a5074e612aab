"""Port of Go's src/runtime/chan_test.go TestSelfSelect and TestSelectStress.

TestSelfSelect: two tasks repeatedly run a select that both sends on and
receives from the same channel; this must neither crash nor deadlock, and
on an unbuffered channel a task must never receive its own value (a select
cannot rendezvous with itself).

TestSelectStress: on four channels (two unbuffered, capacities 2 and 3),
four plain senders, four plain receivers, one task that sends on all four
in a single select and one that receives from all four in a single select
all run at once, each disabling a channel (swapping in ``nilchan``) once it
has moved its quota there. The whole construction must finish, and every
counter must come out exact. A second variant runs the two select tasks on
another OS thread, so that channel operations cross schedulers.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gochan import Chan, go, nilchan, run, select


@pytest.mark.parametrize("cap", [0, 10])
@pytest.mark.parametrize("seed", [1, 2])
def test_self_select(cap: int, seed: int) -> None:
    def worker(c: Chan[int], p: int, n: int) -> list[int]:
        received = []
        for i in range(n):
            if p == 0 or i % 2 == 0:
                cases: tuple[Any, ...] = ((c.send, p), c.recv)
                recv_index = 1
            else:
                cases = (c.recv, (c.send, p))
                recv_index = 0
            idx, v = select(*cases)
            if idx == recv_index:
                if cap == 0:
                    assert v != p, "self receive"
                received.append(v)
        return received

    def main() -> tuple[list[int], list[int]]:
        c = Chan[int](cap)
        t0 = go(worker, c, 0, 1000)
        t1 = go(worker, c, 1, 1000)
        return t0.join(), t1.join()

    r0, r1 = run(main, seed=seed)
    if cap == 0:
        # Every rendezvous pairs one select of each task, so each receive
        # by one task is a send by the other.
        assert len(r0) + len(r1) == 1000
        assert set(r0) <= {1} and set(r1) <= {0}
    else:
        assert set(r0) | set(r1) <= {0, 1}


N = 5000
CAPS = (0, 0, 2, 3)


def plain_sender(c: Chan[int], n: int) -> None:
    for _ in range(n):
        c.send(0)


def plain_receiver(c: Chan[int], n: int) -> int:
    got = 0
    for _ in range(n):
        c.recv()
        got += 1
    return got


def select_sender(chans: list[Chan[int]], n: int) -> list[int]:
    counts = [0] * len(chans)
    live = list(chans)
    for _ in range(len(chans) * n):
        # Case order deliberately differs from the channel order, as in Go.
        order = [3, 2, 0, 1]
        i, _ = select(*[(live[k].send, 0) for k in order])
        k = order[i]
        counts[k] += 1
        if counts[k] == n:
            live[k] = nilchan
    return counts


def select_receiver(chans: list[Chan[int]], n: int) -> list[int]:
    counts = [0] * len(chans)
    live = list(chans)
    for _ in range(len(chans) * n):
        k, _ = select(*[c.recv for c in live])
        counts[k] += 1
        if counts[k] == n:
            live[k] = nilchan
    return counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_select_stress(seed: int) -> None:
    def main() -> None:
        chans = [Chan[int](cap) for cap in CAPS]
        plain = []
        for c in chans:
            plain.append(go(plain_sender, c, N))
            plain.append(go(plain_receiver, c, N))
        s = go(select_sender, chans, N)
        r = go(select_receiver, chans, N)
        assert s.join() == [N] * 4
        assert r.join() == [N] * 4
        for t in plain:
            assert t.join() in (None, N)
        for c in chans:
            assert len(c) == 0

    run(main, seed=seed)


def test_select_stress_across_threads() -> None:
    chans = [Chan[int](cap) for cap in CAPS]
    out: dict[str, Any] = {}

    def thread_main() -> None:
        def both() -> tuple[list[int], list[int]]:
            s = go(select_sender, chans, N)
            r = go(select_receiver, chans, N)
            return s.join(), r.join()

        try:
            out["result"] = run(both, seed=5)
        except BaseException as e:  # reported by the asserts below
            out["error"] = e

    th = threading.Thread(target=thread_main, name="select-stress")

    def main() -> list[int | None]:
        plain = []
        for c in chans:
            plain.append(go(plain_sender, c, N))
            plain.append(go(plain_receiver, c, N))
        th.start()
        return [t.join() for t in plain]

    try:
        got = run(main, seed=4)
    finally:
        th.join(timeout=60)
    assert not th.is_alive()
    assert "error" not in out, out.get("error")
    assert out["result"] == ([N] * 4, [N] * 4)
    assert got == [None, N] * 4
    for c in chans:
        assert len(c) == 0
