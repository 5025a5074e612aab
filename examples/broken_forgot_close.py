"""Broken on purpose: a producer forgets to close its channel, and the program deadlocks.

The Go original (the commonest channel bug)::

    func producer(ch chan<- int) {
        for i := 0; i < 3; i++ { ch <- i }
        // forgot: close(ch)
    }

    func consumer(ch <-chan int, done chan<- int) {
        total := 0
        for v := range ch { total += v }   // never ends: ch is never closed
        done <- total
    }

Go kills this program with "fatal error: all goroutines are asleep -
deadlock!" and a dump of every goroutine. gochan raises ``gochan.Deadlock``
in the main task instead, with the same header and one paragraph per task:
its state in brackets, the channel it waits on and where in the code it
waits. This script catches it and prints the report, so it exits with
status 0 and its output can be checked. Read the report the way docs/
debugging.md explains: ``main`` waits on ``done``, ``consumer`` waits in
its ``for v in ch`` loop, and nobody is left to send or to close (the
producer has returned, so it is not listed). The fix is one line; see
fixed_forgot_close.py.

Before printing, ``tidy`` numbers task ids and object addresses in order of
appearance and makes file paths relative to the repository, since those
change from run to run and machine to machine. Nothing else is changed.
"""

import re
from pathlib import Path

import gochan

REPO = str(Path(__file__).resolve().parent.parent) + "/"


def producer(ch: gochan.Chan[int]) -> None:
    for i in range(3):
        ch.send(i)
    # forgot: ch.close()


def consumer(ch: gochan.Chan[int], done: gochan.Chan[int]) -> None:
    total = 0
    for v in ch:
        total += v
    done.send(total)


def main() -> None:
    ch, done = gochan.Chan[int](), gochan.Chan[int]()
    gochan.go(producer, ch)
    gochan.go(consumer, ch, done)
    print("total:", done.recv())


def tidy(report: str) -> str:
    ids: dict[str, int] = {}
    addrs: dict[str, int] = {}
    report = report.replace(REPO, "")
    report = re.sub(
        r"goroutine (\d+)", lambda m: f"goroutine {ids.setdefault(m[1], len(ids) + 1)}", report
    )
    return re.sub(r"0x[0-9a-f]+", lambda m: f"#{addrs.setdefault(m[0], len(addrs) + 1)}", report)


if __name__ == "__main__":
    try:
        gochan.run(main)
    except gochan.Deadlock as e:
        print("gochan.Deadlock raised in main; the report:\n")
        print(tidy(str(e)), end="")
