"""select: case forms, default, blocking, closed and nil channels, no trace
left on other channels, select-vs-select, misuse errors."""

from __future__ import annotations

import pytest

import gochan
from gochan import Chan, Panic, default, go, nilchan, run, select


def test_picks_the_ready_case_and_returns_its_value() -> None:
    def main() -> None:
        a, b = Chan[int](1), Chan[int](1)
        b.send(5)
        assert select(a.recv, b.recv) == (1, 5)
        b.send(6)
        assert select(a.recv_ok, b.recv_ok) == (1, (6, True))
        assert select((a.send, 9), b.recv) == (0, None)
        assert a.recv() == 9

    run(main)


def test_default_only_when_nothing_ready() -> None:
    def main() -> None:
        a = Chan[int](1)
        assert select(a.recv, default) == (1, None)
        a.send(1)
        assert select(a.recv, default) == (0, 1)
        assert select(default) == (0, None)

    run(main)


def test_blocking_select_wakes_on_the_case_that_fires_and_leaves_no_trace() -> None:
    def main() -> None:
        a, b, c = Chan[int](), Chan[int](), Chan[int]()
        t = go(select, a.recv, b.recv, (c.send, 3))
        gochan.gosched()
        assert (len(a._recvq), len(b._recvq), len(c._sendq)) == (1, 1, 1)
        b.send(2)
        assert t.join() == (1, 2)
        assert (len(a._recvq), len(b._recvq), len(c._sendq)) == (0, 0, 0)

    run(main)


def test_blocking_send_case() -> None:
    def main() -> None:
        a, b = Chan[int](), Chan[int]()
        t = go(select, (a.send, 1), (b.send, 2))
        gochan.gosched()
        assert b.recv() == 2
        assert t.join() == (1, None)
        assert not a._sendq

    run(main)


def test_closed_channel_recv_case_is_ready() -> None:
    def main() -> None:
        a, b = Chan[int](), Chan[int]()
        a.close()
        assert select(a.recv_ok, b.recv) == (0, (None, False))
        assert select(a.recv, b.recv) == (0, None)

    run(main)


def test_close_wakes_blocked_select() -> None:
    def main() -> None:
        a, b = Chan[int](), Chan[int]()
        t = go(select, a.recv_ok, b.recv_ok)
        gochan.gosched()
        b.close()
        assert t.join() == (1, (None, False))
        assert not a._recvq

    run(main)


def test_send_case_on_closed_channel_panics() -> None:
    def main() -> None:
        a = Chan[int]()
        a.close()
        with pytest.raises(Panic, match="send on closed channel"):
            select((a.send, 1))

    run(main)


def test_blocked_send_case_panics_when_closed() -> None:
    def main() -> None:
        a = Chan[int]()
        t = go(select, (a.send, 1), Chan[int]().recv)
        gochan.gosched()
        a.close()
        with pytest.raises(Panic, match="send on closed channel"):
            t.join()

    run(main)  # delivered to the join() that was waiting for it: not raised again


def test_nil_channel_cases_are_never_chosen() -> None:
    def main() -> None:
        a = Chan[int](1)
        a.send(1)
        for _ in range(20):
            assert select(nilchan.recv, (nilchan.send, 0), default) == (2, None)
        assert select(nilchan.recv, a.recv) == (1, 1)

    run(main)


def test_select_with_no_cases_blocks_forever() -> None:
    def main() -> None:
        t = go(select)
        gochan.gosched()
        assert t.state == "select (no cases)"

    run(main)


def test_same_channel_in_several_cases() -> None:
    def main() -> None:
        ch = Chan[int]()
        t = go(select, ch.recv, ch.recv_ok, ch.recv)
        gochan.gosched()
        assert len(ch._recvq) == 3
        ch.send(4)
        i, v = t.join()
        assert (i, v) in {(0, 4), (1, (4, True)), (2, 4)}
        assert not ch._recvq

    run(main)


def test_select_vs_select_on_one_unbuffered_channel() -> None:
    def main() -> None:
        ch = Chan[int]()
        other = Chan[int]()
        rx = go(select, ch.recv, other.recv)
        gochan.gosched()
        assert select((ch.send, 8), (other.send, 9)) in {(0, None), (1, None)}
        assert rx.join() in {(0, 8), (1, 9)}

    run(main)


def test_select_sending_and_receiving_same_unbuffered_channel_needs_a_peer() -> None:
    # A select never matches with itself (Go's TestSelfSelect).
    def main() -> None:
        ch = Chan[int]()
        t = go(select, (ch.send, 1), ch.recv)
        gochan.gosched()
        assert not t.done()
        assert ch.recv() == 1
        assert t.join() == (0, None)

    run(main, debug=True)


def test_match_statement_style_from_api_md() -> None:
    def main() -> list[str]:
        jobs, results = Chan[int](1), Chan[int](1)
        jobs.send(1)
        seen: list[str] = []
        for _ in range(3):
            match select(jobs.recv_ok, (results.send, 42), gochan.after(1.0).recv):
                case 0, (job, True):
                    seen.append(f"job {job}")
                case 0, (_, False):
                    seen.append("closed")
                case 1, _:
                    seen.append("delivered")
                case 2, _:
                    seen.append("timeout")
            if len(seen) == 2:
                jobs.close()
        return sorted(seen)

    assert run(main, clock="virtual", seed=1) == ["closed", "delivered", "job 1"]


def test_uniform_choice_among_ready_cases_is_seeded() -> None:
    def main() -> list[int]:
        chans = [Chan[int](1) for _ in range(3)]
        picks = []
        for _ in range(300):
            for c in chans:
                if not len(c):
                    c.send(0)
            picks.append(select(*(c.recv for c in chans))[0])
        return picks

    a, b = run(main, seed=7), run(main, seed=7)
    assert a == b
    # 300 draws over 3 cases: each count ~ Binomial(300, 1/3), sd ~8.2;
    # [60, 140] is > 4.8 sd either side.
    assert all(60 <= a.count(i) <= 140 for i in range(3)), [a.count(i) for i in range(3)]
    assert run(main, seed=8) != a


def test_misuse_errors() -> None:
    def main() -> None:
        ch = Chan[int]()
        with pytest.raises(ValueError, match="two default"):
            select(ch.recv, default, default)
        full = Chan[int](1)
        full.send(3)
        with pytest.raises(TypeError, match="did you call it"):
            select(full.recv())
        with pytest.raises(TypeError, match="case 0"):
            select((ch.recv, 1))
        with pytest.raises(TypeError, match="pair"):
            select((ch.send, 1, 2))
        with pytest.raises(TypeError, match="case 1"):
            select(ch.recv, ch.send)
        with pytest.raises(TypeError):
            select(len)
        assert not ch._recvq and not ch._sendq

    run(main)


def test_cases_passed_as_one_sequence_get_a_hint() -> None:
    a, b = Chan[int](1), Chan[int](1)
    for cases in ([a.recv, b.recv], (a.recv, default), (a.recv, b.recv_ok), [(a.send, 1), default]):
        with pytest.raises(TypeError, match=r"a sequence of cases: write select\(\*cases\)"):
            select(cases)
    assert select((a.send, b.recv)) == (0, None)  # a send case whose value is a method
    assert a.recv() == b.recv
