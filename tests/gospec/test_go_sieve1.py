"""Port of Go's test/chan/sieve1.go: the concurrent prime sieve.

A generator task sends 2, 3, 4, ... and every prime found adds a filter
task to a growing chain, each filter dropping the multiples of its prime.
The primes read off the end of the chain must be exactly the primes, in
order. The chain (and the generator) are still running when ``main``
returns: ``run`` must cancel every one of them.
"""

from __future__ import annotations

import pytest

import gochan
from gochan import Chan, go, num_goroutine, run

PRIMES_BELOW_100 = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47,
    53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
]  # fmt: skip


def first_primes(n: int) -> list[int]:
    found: list[int] = []
    k = 2
    while len(found) < n:
        if all(k % p for p in found if p * p <= k):
            found.append(k)
        k += 1
    return found


def generate(ch: Chan[int]) -> None:
    i = 2
    while True:
        ch.send(i)
        i += 1


def filter_multiples(src: Chan[int], dst: Chan[int], prime: int) -> None:
    for i in src:
        if i % prime:
            dst.send(i)


def sieve(primes: Chan[int]) -> None:
    ch = Chan[int]()
    go(generate, ch)
    while True:
        prime = ch.recv()
        assert prime is not None
        primes.send(prime)
        nxt = Chan[int]()
        go(filter_multiples, ch, nxt, prime)
        ch = nxt


def quiesce() -> None:
    """Let every task run until it blocks (virtual clock) before main returns.

    This makes the task count below exact. It also guards against a runtime
    bug (see test_go_goroutines.py): a task still runnable when main returns
    could start a task after run() cancelled everything, and that task was
    never cancelled. The sieve task starts a filter right after handing
    over each prime.
    """
    gochan.sleep(0.001)


def test_first_25_primes() -> None:
    def main() -> list[int | None]:
        primes = Chan[int]()
        go(sieve, primes)
        got = [primes.recv() for _ in range(len(PRIMES_BELOW_100))]
        quiesce()
        return got

    assert run(main, clock="virtual") == PRIMES_BELOW_100


@pytest.mark.parametrize("buffer", [0, 3])
def test_longer_sieve_and_task_count(buffer: int) -> None:
    # Count the tasks alive at the end; all of them must be gone after
    # run() returns.
    n = 200

    def main() -> tuple[list[int | None], int]:
        primes = Chan[int](buffer)
        go(sieve, primes)
        got = [primes.recv() for _ in range(n)]
        quiesce()
        return got, num_goroutine()

    got, tasks = run(main, clock="virtual")
    assert got == first_primes(n)
    # After quiesce the sieve has run ahead of main as far as the buffer
    # lets it: `buffer` more primes are queued, each with its filter started,
    # and it is blocked handing over one more (whose filter is not started).
    # So n + buffer filters, plus the generator, the sieve task and main.
    assert tasks == n + buffer + 3
    assert num_goroutine() == 1
