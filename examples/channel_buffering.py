"""Channel buffering: a buffered channel accepts values without a receiver.

The Go original (Go by Example, "Channel Buffering")::

    messages := make(chan string, 2)
    messages <- "buffered"
    messages <- "channel"
    fmt.Println(<-messages)
    fmt.Println(<-messages)

What to look at: ``Chan[str](2)`` holds two values, so main can send both
with no other task running; values come out in FIFO order. ``len(ch)`` and
``ch.cap`` are Go's ``len`` and ``cap``. A third send would block main
forever (gochan would report a deadlock), so it is attempted with
``select`` and ``default`` instead.
"""

import gochan


def main() -> None:
    messages = gochan.Chan[str](2)
    messages.send("buffered")
    messages.send("channel")
    print("len", len(messages), "cap", messages.cap)

    i, _ = gochan.select((messages.send, "overflow"), gochan.default)
    print("third send would block:", i == 1)

    print(messages.recv())
    print(messages.recv())
    print("len", len(messages))


if __name__ == "__main__":
    gochan.run(main)
