"""Port of Go's test/chan/select3.go: which operations block and which panic.

Go decides "blocks" empirically: it runs the operation in a goroutine and
races it against a 0.1 s sleep. Under gochan's virtual clock that race is
exact rather than empirical: the timer can only fire once every task is
blocked, so if the operation's task has not finished by then it is blocked
for good. Each row of the tables below is one of Go's cases (plus the nil
and double-close panics that api.md spells out).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import gochan
from gochan import Chan, Panic, default, go, nilchan, run, select

ALWAYS, NEVER = "blocks", "returns"


def unreachable(*_: object) -> None:
    raise AssertionError("control flow should not reach here")


def closed_chan() -> Chan[int]:
    ch = Chan[int]()
    ch.close()
    return ch


def blocks(op: Callable[[], object]) -> str:
    """Run ``op`` in a task; report whether it ever returns."""

    def main() -> str:
        verdict = Chan[str](2)

        def attempt() -> None:
            op()
            verdict.send(NEVER)

        def watchdog() -> None:
            gochan.sleep(0.1)
            verdict.send(ALWAYS)

        go(attempt)
        go(watchdog)
        v = verdict.recv()
        assert v is not None
        return v

    return run(main, clock="virtual")


def recv_closed_ten_times() -> None:
    ch = closed_chan()
    for _ in range(10):
        assert ch.recv() is None
        assert ch.recv_ok() == (None, False)


def select_must_pick(want: int, *cases: object) -> Callable[[], None]:
    def op() -> None:
        i, _ = select(*cases)
        assert i == want, f"select picked case {i}, wanted {want}"

    return op


def select_on_itself() -> None:
    c = Chan[int]()
    select((c.send, 1), c.recv)


def full_then_select_send() -> None:
    ch = Chan[int](1)
    ch.send(7)
    select((ch.send, 8))


def buffered(n: int, *values: int) -> Chan[int]:
    ch = Chan[int](n)
    for v in values:
        ch.send(v)
    return ch


BLOCK_CASES: list[tuple[str, str, Callable[[], object]]] = [
    ("send on nil channel", ALWAYS, lambda: nilchan.send(7)),
    ("recv on nil channel", ALWAYS, nilchan.recv),
    ("recv_ok on nil channel", ALWAYS, nilchan.recv_ok),
    ("send with free buffer space", NEVER, lambda: Chan[int](1).send(7)),
    ("recv from closed channel", NEVER, recv_closed_ten_times),
    ("recv from non-ready channel", ALWAYS, lambda: Chan[int]().recv()),
    ("recv from empty buffered channel", ALWAYS, lambda: Chan[int](3).recv()),
    ("send to full buffered channel", ALWAYS, lambda: buffered(1, 1).send(2)),
    ("send on unbuffered channel, no receiver", ALWAYS, lambda: Chan[int]().send(1)),
    ("empty select", ALWAYS, select),
    ("select on nil recv only", ALWAYS, lambda: select(nilchan.recv)),
    ("select on nil send only", ALWAYS, lambda: select((nilchan.send, 7))),
    ("select on nil send and recv", ALWAYS, lambda: select(nilchan.recv, (nilchan.send, 7))),
    ("select on non-ready channel", ALWAYS, lambda: select(Chan[int]().recv)),
    ("select on full buffered send", ALWAYS, full_then_select_send),
    ("select with only default", NEVER, select_must_pick(0, default)),
    ("nil recv plus default", NEVER, select_must_pick(1, nilchan.recv, default)),
    ("nil send plus default", NEVER, select_must_pick(1, (nilchan.send, 7), default)),
    ("default before nil recv", NEVER, select_must_pick(0, default, nilchan.recv)),
    (
        "ready send beats default",
        NEVER,
        lambda: select_must_pick(0, (Chan[int](1).send, 7), default)(),
    ),
    (
        "ready recv beats default",
        NEVER,
        lambda: select_must_pick(0, buffered(1, 7).recv, default)(),
    ),
    ("select recv on closed channel", NEVER, lambda: select(closed_chan().recv)),
    ("select recv_ok on closed channel", NEVER, lambda: select(closed_chan().recv_ok)),
    (
        "closed channel beats nil channel",
        NEVER,
        lambda: select_must_pick(1, nilchan.recv, closed_chan().recv)(),
    ),
    ("select sees itself on one unbuffered channel", ALWAYS, select_on_itself),
]


@pytest.mark.parametrize(
    ("want", "op"), [(w, op) for _, w, op in BLOCK_CASES], ids=[n for n, _, _ in BLOCK_CASES]
)
def test_blocks(want: str, op: Callable[[], object]) -> None:
    assert blocks(op) == want


def test_closed_channel_yields_zero_values_in_select() -> None:
    def main() -> None:
        c = closed_chan()
        assert select(c.recv) == (0, None)
        assert select(c.recv_ok) == (0, (None, False))
        assert select(nilchan.recv, c.recv_ok, default) == (1, (None, False))

    run(main)


def select_send_closed() -> None:
    select((closed_chan().send, 7))


def select_send_closed_with_default() -> None:
    select((closed_chan().send, 7), default)


def select_nil_with_default() -> None:
    i, _ = select((nilchan.send, 7), nilchan.recv, default)
    if i != 2:
        unreachable()


PANIC_CASES: list[tuple[str, str | None, Callable[[], object]]] = [
    ("send on closed channel", "send on closed channel", lambda: closed_chan().send(7)),
    ("select send on closed channel", "send on closed channel", select_send_closed),
    (
        "select send on closed channel with default",
        "send on closed channel",
        select_send_closed_with_default,
    ),
    ("close of closed channel", "close of closed channel", lambda: closed_chan().close()),
    ("close of nil channel", "close of nil channel", nilchan.close),
    ("nil cases with default", None, select_nil_with_default),
    ("recv from closed channel", None, recv_closed_ten_times),
]


@pytest.mark.parametrize(
    ("message", "op"), [(m, op) for _, m, op in PANIC_CASES], ids=[n for n, _, _ in PANIC_CASES]
)
def test_panics(message: str | None, op: Callable[[], object]) -> None:
    def main() -> None:
        if message is None:
            op()
        else:
            with pytest.raises(Panic) as info:
                op()
            assert str(info.value) == message
            assert info.value.value == message

    run(main)


def test_blocked_sender_panics_when_channel_is_closed() -> None:
    # The select3 rule "sending to a closed channel panics" also holds for a
    # sender (plain or in a select) that was already parked at close time.
    def catching(op: Callable[[], object]) -> str:
        try:
            op()
        except Panic as p:
            return str(p)
        return "no panic"

    def main() -> None:
        ch = Chan[int]()
        plain = go(catching, lambda: ch.send(1))
        in_select = go(catching, lambda: select((ch.send, 2), nilchan.recv))
        gochan.sleep(0.001)  # both are parked now (virtual clock)
        ch.close()
        assert plain.join() == "send on closed channel"
        assert in_select.join() == "send on closed channel"

    run(main, clock="virtual")
