"""Goroutines: ``go f(x)`` starts a function running concurrently.

The Go original (Go by Example, "Goroutines")::

    f("direct")
    go f("goroutine")
    go func(msg string) { fmt.Println(msg) }("going")
    time.Sleep(time.Second)
    fmt.Println("done")

What to look at: ``gochan.go(f, "goroutine")`` takes the function and its
arguments separately (``go(f("x"))`` would call ``f`` right away). A new
task first runs when the caller blocks, here in ``sleep``; tasks are
cooperative, so each runs until *it* blocks or calls ``gosched()``. In Go
the two goroutines' lines interleave unpredictably; here the ``gosched()``
in ``f`` makes them take turns, the same way on every run. The sleep is on
the virtual clock, so the program takes no real time.
"""

import gochan


def f(source: str) -> None:
    for i in range(3):
        print(source, ":", i)
        gochan.gosched()  # let the other tasks have a turn


def main() -> None:
    f("direct")  # an ordinary call: runs to the end before going on

    gochan.go(f, "goroutine")
    gochan.go(lambda msg: print(msg), "going")  # Go's anonymous goroutine

    gochan.sleep(1)  # main blocks: the two tasks run now
    print("done at t =", gochan.monotonic())


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
