"""Fixed: the producer closes its channel, so the consumer's loop ends.

The fix for broken_forgot_close.py, in Go::

    func producer(ch chan<- int) {
        defer close(ch)   // whatever happens, the receivers learn it is over
        for i := 0; i < 3; i++ { ch <- i }
    }

What to look at: the channel is closed by its *sender*, the one task that
knows no more values will come, and in a ``finally`` (Go's ``defer``) so
that a producer that fails halfway still ends its consumers' loops.
Receivers never close: a close while someone still sends would make that
send raise ``Panic("send on closed channel")``. With several producers,
close once after all of them are done (a ``WaitGroup`` and a closer task,
as in pipeline_cancel.py). The second run shows the ``finally`` at work:
the producer fails after two values, and the consumer still finishes.
"""

import gochan


def producer(ch: gochan.Chan[int], fail_at: int | None = None) -> None:
    try:
        for i in range(3):
            if i == fail_at:
                raise OSError("the source went away")
            ch.send(i)
    except OSError as e:
        print("producer:", e)
    finally:
        ch.close()  # the fix


def consumer(ch: gochan.Chan[int], done: gochan.Chan[int]) -> None:
    total = 0
    for v in ch:
        total += v
    done.send(total)


def main() -> None:
    for fail_at in (None, 2):
        ch, done = gochan.Chan[int](), gochan.Chan[int]()
        gochan.go(producer, ch, fail_at)
        gochan.go(consumer, ch, done)
        print("total:", done.recv())
    print("tasks left:", gochan.num_goroutine() - 1)


if __name__ == "__main__":
    gochan.run(main)
