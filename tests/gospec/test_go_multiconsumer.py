"""Port of Go's src/runtime/chan_test.go TestMultiConsumer.

A feeder sends a long stream of values into a buffered work queue, 23
workers range over the queue and forward each value to a buffered results
channel (some of them yield on particular values, to disturb the FIFO-ish
hand-out), and after the queue is closed and every worker has finished,
the results channel is closed. The consumer must see exactly as many
values as were fed, with the same sum. Go's 271,828 iterations are kept
(plus a short run with another seed), and the port also checks that the
work is spread over all the workers.
"""

from __future__ import annotations

import pytest

import gochan
from gochan import Chan, go, run

NWORK = 23
PN = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31]


@pytest.mark.parametrize(("niter", "seed"), [(271_828, 1), (5_000, 2)])
def test_multi_consumer(niter: int, seed: int) -> None:
    def main() -> tuple[int, int, int, list[int]]:
        q = Chan[int](NWORK * 3)
        r = Chan[int](NWORK * 3)
        handled = [0] * NWORK

        def worker(w: int) -> None:
            for v in q:
                if PN[w % len(PN)] == v:
                    gochan.gosched()  # mess with the order of the hand-out
                handled[w] += 1
                r.send(v)

        workers = [go(worker, w) for w in range(NWORK)]
        expect = [0]

        def feeder() -> None:
            for i in range(niter):
                v = PN[i % len(PN)]
                expect[0] += v
                q.send(v)
            q.close()  # no more work
            for t in workers:
                t.join()  # workers done
            r.close()  # so there can be no more results

        go(feeder)
        n = s = 0
        for v in r:
            n += 1
            s += v
        return n, s, expect[0], handled

    n, s, expect, handled = run(main, seed=seed)
    assert n == niter
    assert s == expect
    assert sum(handled) == niter
    # Every worker took part: the queue hands out to all parked workers.
    assert all(h > 0 for h in handled), handled
