"""Channels: an unbuffered channel is a rendezvous between two tasks.

The Go original (Go by Example, "Channels")::

    messages := make(chan string)
    go func() { messages <- "ping" }()
    msg := <-messages
    fmt.Println(msg)

What to look at: ``Chan[str]()`` has capacity 0, so ``send`` blocks until a
receiver takes the value and ``recv`` blocks until a sender offers one. The
second half shows the hand-off order: the sender's ``send`` returns only
once the value has been received.
"""

import gochan


def main() -> None:
    messages = gochan.Chan[str]()
    gochan.go(messages.send, "ping")  # the task blocks until main receives
    msg = messages.recv()
    print(msg)

    # The rendezvous, step by step.
    def sender() -> None:
        print("sender: about to send")
        messages.send("pong")
        print("sender: send returned, the value was taken")

    t = gochan.go(sender)
    gochan.gosched()  # the sender runs and blocks in send: nobody receives yet
    print("main: receiving")
    print("main: got", messages.recv())
    t.join()


if __name__ == "__main__":
    gochan.run(main)
