"""Port of Go's test/chan/goroutines.go: a daisy chain of 10,000 goroutines.

Each task receives from its right neighbour and passes the value on to its
left neighbour; one value enters at the right end and must come out at the
left end. Go's program only checks that the chain is built and torn down
cleanly; here each link also adds one, so the value that comes out proves
that every one of the 10,000 links ran exactly once, and the task count is
checked before, during and after.

Two regression tests guard runtime bugs this port found: tasks started back
to back used to lose most of their recursion budget, and a task started
after ``run()`` had begun cancelling used to escape cancellation.
"""

from __future__ import annotations

import gochan
from gochan import Chan, go, num_goroutine, run

N = 10_000


def link(left: Chan[int], right: Chan[int]) -> None:
    v = right.recv()
    assert v is not None
    left.send(v + 1)


def test_daisy_chain_of_10000() -> None:
    def main() -> tuple[int | None, int, int]:
        leftmost = Chan[int]()
        left = leftmost
        tasks = []
        for _ in range(N):
            right = Chan[int]()
            tasks.append(go(link, left, right))
            left = right
        built = num_goroutine()
        go(left.send, 0)  # feed the right end
        out = leftmost.recv()
        for t in tasks:
            t.join()
        return out, built, num_goroutine()

    out, built, after = run(main)
    assert out == N
    assert built == N + 1
    assert after == 1


def test_chain_parked_then_released() -> None:
    # Same chain, but every link is parked on its receive before the value
    # enters (virtual clock), so the value crosses 10,000 parked tasks.
    def main() -> int | None:
        leftmost = Chan[int]()
        left = leftmost
        for _ in range(N):
            right = Chan[int]()
            go(link, left, right)
            left = right
        gochan.sleep(0.001)
        assert num_goroutine() == N + 1
        left.send(0)
        return leftmost.recv()

    assert run(main, clock="virtual") == N


def test_chain_torn_down_by_run_while_blocked() -> None:
    # Nothing is ever fed in: run() must cancel all 10,000 parked tasks, and
    # each must unwind (its finally block runs) before run() returns.
    finished = []

    def guarded(left: Chan[int], right: Chan[int]) -> None:
        try:
            link(left, right)
        finally:
            finished.append(1)

    def main() -> int:
        # Workaround for the recursion-depth bug below: park main once
        # before starting tasks so the scheduler's own loop starts on a
        # shallow stack. Without it, tasks started later in the run sit so
        # close to the recursion limit that unwinding Cancelled overflows.
        gochan.sleep(0.001)
        leftmost = Chan[int]()
        left = leftmost
        for _ in range(N):
            right = Chan[int]()
            go(guarded, left, right)
            left = right
        gochan.sleep(0.001)  # every link is parked now (virtual clock)
        return num_goroutine()

    assert run(main, clock="virtual") == N + 1
    assert len(finished) == N
    assert num_goroutine() == 1


def deep(n: int) -> int:
    return 0 if n == 0 else 1 + deep(n - 1)


def test_every_task_gets_the_full_recursion_budget() -> None:
    # 100 tasks, each of which recurses 500 deep (half of Python's default
    # limit) once released. Each goroutine has its own stack in Go; each
    # task should likewise start from a shallow depth, whatever ran before.
    def main() -> list[int]:
        gate = Chan[None]()

        def worker() -> int:
            gate.recv()
            return deep(500)

        tasks = [go(worker) for _ in range(100)]
        gochan.gosched()  # all of them start and park on the gate
        gate.close()
        return [t.join() for t in tasks]

    assert run(main) == [500] * 100


def test_task_started_during_shutdown_is_cancelled() -> None:
    # api.md: when main returns, every task still alive is cancelled. The
    # parent is runnable (its receive completed) when main returns, so it
    # still runs once and starts a child after run()'s cancel sweep. The
    # child sleeps (virtual clock) instead of blocking forever so that the
    # bug shows as a wrong result rather than a hang.
    outcome: list[str] = []

    def child() -> None:
        try:
            gochan.sleep(10)
            outcome.append("survived shutdown")
        except gochan.Cancelled:
            outcome.append("cancelled")
            raise

    def main() -> None:
        ch = Chan[int]()

        def parent() -> None:
            ch.recv()
            go(child)

        go(parent)
        gochan.gosched()  # parent parks in recv
        ch.send(1)  # parent is readied; main returns before it runs

    run(main, clock="virtual")
    # Started after main returned, the child is born cancelled and never runs
    # (as in Go, where nothing runs once main returns); run() returns at once.
    assert outcome == []
