"""Port of Go's test/chan/zerosize.go: channels of zero-size elements.

Go only checks that ``make`` accepts channels of ``struct{}`` and ``[0]byte``
(buffered and not). The Python counterparts are channels that carry no
information, ``Chan[None]`` and ``Chan[tuple[()]]``, used purely to signal;
they must work like any other channel: creation, hand-off, buffering,
counting, closing. ``make`` with a negative size panics in Go; gochan's
contract (api.md) raises ``ValueError`` instead.
"""

from __future__ import annotations

import pytest

from gochan import Chan, go, run, select


@pytest.mark.parametrize("cap", [0, 1, 5])
@pytest.mark.parametrize("token", [None, ()], ids=["None", "empty-tuple"])
def test_signal_only_channels(cap: int, token: tuple[()] | None) -> None:
    def main() -> None:
        ch = Chan[tuple[()] | None](cap)
        assert (len(ch), ch.cap) == (0, cap)
        # Buffered: fill without blocking; the count is all there is.
        for i in range(cap):
            ch.send(token)
            assert len(ch) == i + 1
        for _ in range(cap):
            assert ch.recv_ok() == (token, True)
        # Hand-off through the channel works for any capacity.
        done = Chan[tuple[()]]()

        def signaller() -> None:
            for _ in range(3):
                ch.send(token)
            done.send(())

        go(signaller)
        assert [ch.recv_ok() for _ in range(3)] == [(token, True)] * 3
        assert done.recv() == ()
        ch.close()
        assert ch.recv_ok() == (None, False)
        assert select(ch.recv_ok) == (0, (None, False))

    run(main)


def test_make_with_bad_sizes() -> None:
    with pytest.raises(ValueError):
        Chan[None](-1)
    with pytest.raises(TypeError):
        Chan[None](1.0)  # type: ignore[arg-type]
    assert Chan[None]().cap == 0
    assert Chan[tuple[()]](1).cap == 1
