"""Range over channels: ``for v in ch`` receives until the channel is closed.

The Go original (Go by Example, "Range over Channels")::

    queue := make(chan string, 2)
    queue <- "one"
    queue <- "two"
    close(queue)
    for elem := range queue { fmt.Println(elem) }

What to look at: closing a non-empty channel keeps its values; the loop
drains them, then ends. The second part is the usual shape: a producer task
closes the channel when it is done, and the consumer's ``for`` loop ends by
itself. Forget the ``close`` and the loop waits forever (see
broken_forgot_close.py).
"""

import gochan


def produce(out: gochan.Chan[int], n: int) -> None:
    for i in range(n):
        out.send(i * i)
    out.close()  # without this, the consumer's for loop never ends


def main() -> None:
    queue = gochan.Chan[str](2)
    queue.send("one")
    queue.send("two")
    queue.close()
    for elem in queue:
        print(elem)

    squares = gochan.Chan[int]()
    gochan.go(produce, squares, 5)
    print("squares:", list(squares))  # list() iterates until close


if __name__ == "__main__":
    gochan.run(main)
