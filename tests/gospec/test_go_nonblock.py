"""Port of Go's test/chan/nonblock.go: non-blocking sends and receives.

A ``select`` with a ``default`` case is Go's non-blocking channel operation.
For unbuffered and one-slot channels, and for several value types, it must
take ``default`` exactly when the operation would block, and must succeed
once a partner (a parked receiver, a parked sender or a buffered value) is
there. Go waits for the partner with a retry loop around ``time.Sleep``;
here the partner is given turns with ``gosched()`` and must be found within
a fixed, small number of them.
"""

from __future__ import annotations

from typing import Any

import pytest

import gochan
from gochan import Chan, default, go, run, select

# (value the main task sends, value the helper task sends)
VALUES = [
    pytest.param(123, 234, id="int"),
    pytest.param(123456789012345, 234567890123456, id="bigint"),
    pytest.param(True, True, id="bool"),
    pytest.param("hello", "hello again", id="str"),
    pytest.param(1.5, -2.25, id="float"),
    pytest.param((1, "a"), (2, "b"), id="tuple"),
]

MAX_TRIES = 10


def try_send(ch: Chan[Any], v: Any) -> bool:
    i, _ = select((ch.send, v), default)
    return i == 0


def try_recv(ch: Chan[Any]) -> tuple[bool, Any]:
    i, got = select(ch.recv, default)
    return i == 0, got


@pytest.mark.parametrize("buffer", [0, 1])
@pytest.mark.parametrize(("mine", "theirs"), VALUES)
def test_nonblocking_ops(buffer: int, mine: Any, theirs: Any) -> None:
    def main() -> None:
        ch = Chan[Any](buffer)
        strobe = Chan[bool]()

        # Nothing to receive: default, every time, and nothing is consumed.
        for _ in range(3):
            assert try_recv(ch) == (False, None)
        assert select(ch.recv_ok, default) == (1, None)

        # A receiver appears: a non-blocking send reaches it.
        def receiver() -> None:
            assert ch.recv() == mine
            strobe.send(True)

        go(receiver)
        if buffer == 0:
            # go() returns before the task runs, so no receiver yet.
            assert not try_send(ch, mine)
        for _ in range(MAX_TRIES):
            if try_send(ch, mine):
                break
            gochan.gosched()
        else:
            pytest.fail(f"non-blocking send never found the receiver (buffer={buffer})")
        assert strobe.recv() is True

        # A sender appears: a non-blocking receive takes its value.
        def sender() -> None:
            ch.send(theirs)
            strobe.send(True)

        go(sender)
        if buffer > 0:
            assert strobe.recv() is True  # the send went into the buffer
        for _ in range(MAX_TRIES):
            ok, got = try_recv(ch)
            if ok:
                break
            gochan.gosched()
        else:
            pytest.fail(f"non-blocking receive never found the sender (buffer={buffer})")
        assert got == theirs
        if buffer == 0:
            assert strobe.recv() is True

        # Back to empty: both directions behave as at the start.
        assert try_recv(ch) == (False, None)
        if buffer == 0:
            assert not try_send(ch, mine)
        else:
            assert try_send(ch, mine)
            assert not try_send(ch, mine)  # the single slot is taken
            assert try_recv(ch) == (True, mine)

    run(main)


@pytest.mark.parametrize("buffer", [0, 1, 5])
def test_nonblocking_recv_from_closed_channel(buffer: int) -> None:
    # A closed channel is always ready to receive from: never default.
    def main() -> None:
        ch = Chan[int](buffer)
        for i in range(buffer):
            ch.send(i)
        ch.close()
        for i in range(buffer):
            assert select(ch.recv_ok, default) == (0, (i, True))
        for _ in range(3):
            assert select(ch.recv_ok, default) == (0, (None, False))
            assert select(ch.recv, default) == (0, None)

    run(main)


def test_nonblocking_send_on_closed_channel_panics() -> None:
    # A closed channel is "ready" for a send case, which then panics; the
    # default case does not hide that (api.md, Go spec).
    def main() -> None:
        ch = Chan[int](1)
        ch.close()
        with pytest.raises(gochan.Panic, match=r"^send on closed channel$"):
            select((ch.send, 1), default)

    run(main)
