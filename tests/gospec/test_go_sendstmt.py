"""Port of Go's test/chan/sendstmt.go: send-statement forms.

Go's program checks parsing corner cases of ``ch <- v``: a send case whose
channel is itself received from a channel of channels (``case <-cc <- 2``),
and that the whole right-hand expression is the value sent
(``c <- false || true``). In gochan the channel and value are ordinary
Python expressions evaluated before ``select`` runs, so the same programs
check that channels travel over channels, that the value sent is the
expression's value, and (an adaptation: Python's ``None`` is both a value
and gochan's "zero value") that a sent ``None`` is told apart from a closed
channel by ``recv_ok``.
"""

from __future__ import annotations

from gochan import Chan, default, go, run, select


def test_send_case_on_channel_received_from_channel_of_channels() -> None:
    def main() -> None:
        cc = Chan[Chan[int]](1)
        c = Chan[int](1)
        cc.send(c)
        # Go: select { case <-cc <- 2: default: panic }
        assert select((cc.recv().send, 2), default) == (0, None)
        assert c.recv() == 2
        assert len(cc) == 0

    run(main)


def test_request_reply_over_channel_of_channels() -> None:
    # The usual use of a chan chan: each request carries its reply channel.
    def server(requests: Chan[tuple[int, Chan[int]]]) -> None:
        for x, reply in requests:
            reply.send(x * x)

    def main() -> list[int | None]:
        requests = Chan[tuple[int, Chan[int]]]()
        go(server, requests)
        out = []
        for x in range(5):
            reply = Chan[int]()
            requests.send((x, reply))
            out.append(reply.recv())
        requests.close()
        return out

    assert run(main) == [0, 1, 4, 9, 16]


def test_value_is_the_whole_expression() -> None:
    def main() -> None:
        c = Chan[bool](1)
        no, yes = False, True
        c.send(no or yes)  # Go: c <- false || true sends the whole expression
        assert c.recv() is True
        d = Chan[int](1)
        d.send(1 + 2 * 3)
        assert d.recv() == 7
        assert select((d.send, 1 if d.cap else 2)) == (0, None)
        assert d.recv() == 1

    run(main)


def test_sent_none_is_not_a_close() -> None:
    def main() -> None:
        for cap in (0, 1):
            c = Chan[None](cap)
            go(c.send, None)
            assert c.recv_ok() == (None, True)
            c.close()
            assert c.recv_ok() == (None, False)

    run(main)
