"""seed=N makes every random choice reproducible: same seed, same trace."""

from __future__ import annotations

import gochan
from gochan import Chan, go, select


def program() -> list[str]:
    """Several tasks racing through selects, sleeps and tickers."""
    trace: list[str] = []
    chans = [Chan[int](2) for _ in range(3)]
    done = Chan[None]()

    def producer(k: int) -> None:
        for i in range(20):
            select(*((c.send, k * 100 + i) for c in chans))
            if i % 5 == 0:
                gochan.sleep(0.1 * (k + 1))
        done.send(None)

    def consumer() -> None:
        tick = gochan.Ticker(0.25)
        while True:
            i, v = select(*(c.recv for c in chans), tick.c.recv, gochan.default)
            if i == 4:  # nothing ready: block until something is
                i, v = select(*(c.recv for c in chans), tick.c.recv)
            trace.append(f"{gochan.monotonic():.2f}:{i}:{v}")

    for k in range(3):
        go(producer, k)
    go(consumer)
    for _ in range(3):
        done.recv()
    return trace


def test_same_seed_same_trace() -> None:
    a = gochan.run(program, seed=1234, clock="virtual")
    b = gochan.run(program, seed=1234, clock="virtual")
    assert len(a) > 30
    assert a == b


def test_different_seeds_give_different_traces() -> None:
    traces = {tuple(gochan.run(program, seed=s, clock="virtual")) for s in range(5)}
    assert len(traces) > 1
