"""Port of Go's test/chan/select8.go: one-, two- and three-case selects
against a goroutine that sends forever.

Go's test is about ``break`` inside select clauses (a gccgo bug); Python has
no such statement form, so what carries over is the shape: a select with a
single receive case, with only ``default``, with a receive and ``default``,
and with a receive, a send and ``default`` on the same channel, each must
pick a legal case. The send case on the channel the other goroutine only
sends to can never be chosen. The endless sender is still blocked when
``main`` returns and must be cancelled by ``run``.
"""

from __future__ import annotations

import pytest

from gochan import Chan, default, go, run, select


@pytest.mark.parametrize("seed", range(6))
def test_small_selects_against_endless_sender(seed: int) -> None:
    def main() -> list[tuple[int, object]]:
        ch = Chan[int]()

        def forever() -> None:
            while True:
                ch.send(5)

        go(forever)
        results = [select(ch.recv), select(default)]
        results.append(select(ch.recv, default))
        results.append(select(ch.recv, (ch.send, 10), default))
        return results

    one, only_default, recv_or_default, three = run(main, seed=seed)
    assert one == (0, 5)
    assert only_default == (0, None)
    assert recv_or_default in [(0, 5), (1, None)]
    assert three in [(0, 5), (2, None)], "the send case had no receiver to meet"


def test_endless_sender_is_cancelled_at_exit() -> None:
    cleaned: list[str] = []

    def main() -> int:
        ch = Chan[int]()

        def forever() -> None:
            try:
                while True:
                    ch.send(5)
            finally:
                cleaned.append("sender")

        go(forever)
        return sum(v for _, v in (select(ch.recv) for _ in range(10)))

    assert run(main) == 50
    assert cleaned == ["sender"]
