"""Tutorial: a buffered channel of three.

The Go original::

    ch := make(chan string, 3)
    ch <- "a"
    ch <- "b"
    ch <- "c"        // three sends, no receiver: none of them blocks
    // ch <- "d"     // a fourth would block until someone receives
    fmt.Println(<-ch, <-ch, <-ch)

What to look at: ``Chan[str](3)`` takes three values with nobody
receiving; ``len`` counts what is buffered. The fourth send is tried
without blocking (``select`` with ``default``) to show it would block.
Then a producer task sends six values while main receives slowly: the
producer runs up to three values ahead, then waits for room, which is what
a buffer is for: it smooths out bursts, it does not remove the need for a
receiver.
"""

import gochan


def producer(ch: gochan.Chan[int]) -> None:
    for i in range(6):
        ch.send(i)
        print(f"t={gochan.monotonic():.0f}  producer: sent {i} (buffered: {len(ch)})")
    ch.close()


def main() -> None:
    ch = gochan.Chan[str](3)
    for v in "abc":
        ch.send(v)
        print(f"sent {v}, len {len(ch)}, cap {ch.cap}")
    blocked = gochan.select((ch.send, "d"), gochan.default)[0] == 1
    print("a fourth send would block:", blocked)
    print("received:", ch.recv(), ch.recv(), ch.recv())

    nums = gochan.Chan[int](3)
    gochan.go(producer, nums)
    gochan.sleep(1)  # the producer fills the buffer meanwhile, then waits
    for n in nums:
        print(f"t={gochan.monotonic():.0f}  main: got {n}")
        gochan.sleep(1)  # a slow consumer


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
