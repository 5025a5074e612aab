"""Daisy chain: 100,000 tasks pass a number down a line of channels.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    func f(left, right chan int) { left <- 1 + <-right }

    const n = 100000
    leftmost := make(chan int)
    right := leftmost
    left := leftmost
    for i := 0; i < n; i++ {
        right = make(chan int)
        go f(left, right)
        left = right
    }
    go func(c chan int) { c <- 1 }(right)
    fmt.Println(<-leftmost)

What to look at: tasks are cheap. Each of the 100,000 tasks is a greenlet
blocked on a channel; the 1 sent into the rightmost channel is incremented
by every task on its way to the left. It takes a few seconds of CPU here
(Go takes well under one), and ``num_goroutine()`` shows them all alive
before the whisper starts. The time is not printed, so the output is
exact; run ``time python examples/daisy_chain.py`` to see it.
"""

import gochan

N = 100_000


def f(left: gochan.Chan[int], right: gochan.Chan[int]) -> None:
    left.send(1 + right.recv())


def main() -> None:
    leftmost = gochan.Chan()  # Chan[int]() is the same channel, a bit slower to build
    left = right = leftmost
    for _ in range(N):
        right = gochan.Chan()
        gochan.go(f, left, right)
        left = right
    print("tasks alive:", gochan.num_goroutine())
    gochan.go(right.send, 1)
    print(leftmost.recv())
    print("tasks alive:", gochan.num_goroutine())


if __name__ == "__main__":
    gochan.run(main)
