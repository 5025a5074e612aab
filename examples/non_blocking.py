"""Non-blocking channel operations: ``select`` with a ``default`` case.

The Go original (Go by Example, "Non-Blocking Channel Operations")::

    select {
    case msg := <-messages: fmt.Println("received message", msg)
    default:                fmt.Println("no message received")
    }

What to look at: ``gochan.default`` is chosen when no other case is ready,
so ``select(ch.recv, default)`` is a receive that never blocks, and
``select((ch.send, v), default)`` a send that never blocks. With an
unbuffered channel and nobody waiting on the other side, nothing is ready.
The last part uses the same trick to drop events when a buffer is full.
"""

import gochan


def main() -> None:
    messages, signals = gochan.Chan[str](), gochan.Chan[bool]()

    match gochan.select(messages.recv, gochan.default):
        case 0, msg:
            print("received message", msg)
        case 1, _:
            print("no message received")

    msg = "hi"
    match gochan.select((messages.send, msg), gochan.default):
        case 0, _:
            print("sent message", msg)
        case 1, _:
            print("no message sent")

    match gochan.select(messages.recv, signals.recv, gochan.default):
        case 0, msg:
            print("received message", msg)
        case 1, sig:
            print("received signal", sig)
        case 2, _:
            print("no activity")

    # With a receiver already waiting, the non-blocking send succeeds.
    t = gochan.go(messages.recv)
    gochan.gosched()  # the task starts and blocks in recv
    match gochan.select((messages.send, msg), gochan.default):
        case 0, _:
            print("sent message", msg, "to a waiting receiver; it got", t.join())
        case 1, _:
            print("no message sent")

    # Drop instead of block: a lossy event buffer of two.
    events = gochan.Chan[int](2)
    dropped = [e for e in range(5) if gochan.select((events.send, e), gochan.default)[0] == 1]
    print("kept", [events.recv() for _ in range(len(events))], "dropped", dropped)


if __name__ == "__main__":
    gochan.run(main)
