"""Port of Go's test/chan/doubleselect.go: one select never runs two cases.

A sender offers each counter value on four unbuffered channels in a single
select. Four forwarders copy whatever they get onto one shared channel, and
the receiver checks that no value ever shows up twice (two cases of the same
select both completing) and, stronger than Go's check, that every value
shows up exactly once (no case lost). Go runs this with GOMAXPROCS(2); the
last test here puts the sender on a second OS thread for the same effect.
"""

from __future__ import annotations

import threading

import pytest

from gochan import Chan, go, run, select


def sender(n: int, outs: list[Chan[int]]) -> None:
    sends = [c.send for c in outs]
    for i in range(n):
        select(*[(send, i) for send in sends])
    for c in outs:
        c.close()


def forward(src: Chan[int], dst: Chan[int], done: Chan[None]) -> None:
    for v in src:
        dst.send(v)
    done.send(None)


def collect(merged: Chan[int]) -> list[int]:
    seen: set[int] = set()
    order: list[int] = []
    for v in merged:
        assert v not in seen, f"value {v} delivered by two cases of one select"
        seen.add(v)
        order.append(v)
    return order


def closer(merged: Chan[int], done: Chan[None], k: int) -> None:
    for _ in range(k):
        done.recv()
    merged.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_select_delivers_exactly_once(seed: int) -> None:
    n = 20_000

    def main() -> list[int]:
        outs = [Chan[int]() for _ in range(4)]
        merged, done = Chan[int](), Chan[None]()
        go(sender, n, outs)
        for c in outs:
            go(forward, c, merged, done)
        go(closer, merged, done, len(outs))
        return collect(merged)

    got = run(main, seed=seed)
    assert sorted(got) == list(range(n))


def test_every_send_case_gets_used() -> None:
    # With four forwarders always ready, the sender's select is usually
    # choosing among several ready cases; each channel must carry a share.
    n = 4_000

    def main() -> list[int]:
        outs = [Chan[int]() for _ in range(4)]
        counts = [0] * 4
        done = Chan[None]()

        def count(k: int) -> None:
            for _ in outs[k]:
                counts[k] += 1
            done.send(None)

        go(sender, n, outs)
        for k in range(4):
            go(count, k)
        for _ in range(4):
            done.recv()
        return counts

    counts = run(main, seed=7)
    assert sum(counts) == n
    assert all(c > 0 for c in counts), counts


def test_sender_on_another_os_thread() -> None:
    # The select runs on its own scheduler in a second thread, so its cases
    # are completed by receivers woken across threads.
    n = 10_000
    outs = [Chan[int]() for _ in range(4)]
    errors: list[BaseException] = []

    def thread_main() -> None:
        try:
            run(sender, n, outs)
        except BaseException as e:  # surfaced by the assert below
            errors.append(e)

    th = threading.Thread(target=thread_main, name="doubleselect-sender")

    def main() -> list[int]:
        merged, done = Chan[int](), Chan[None]()
        for c in outs:
            go(forward, c, merged, done)
        go(closer, merged, done, len(outs))
        th.start()
        return collect(merged)

    try:
        got = run(main, seed=11)
    finally:
        th.join(timeout=30)
    assert not th.is_alive()
    assert not errors, errors
    assert sorted(got) == list(range(n))
