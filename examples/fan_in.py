"""Fan-in (multiplexing): merge several channels into one, whoever is ready first.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    func fanIn(input1, input2 <-chan string) <-chan string {
        c := make(chan string)
        go func() { for { c <- <-input1 } }()
        go func() { for { c <- <-input2 } }()
        return c
    }

    // the same with one goroutine and a select
    func fanIn(input1, input2 <-chan string) <-chan string {
        c := make(chan string)
        go func() {
            for {
                select {
                case s := <-input1: c <- s
                case s := <-input2: c <- s
                }
            }
        }()
        return c
    }

What to look at: unlike generator.py's lockstep, Joe and Ann now speak
whenever they are ready, so the merged order follows their (seeded,
virtual) random pauses. The first version needs a forwarding task per
input; the second needs one task and ``select``. The last version takes
any number of inputs and closes its output once every input is closed,
which uses the nil-channel trick (see subscription.py) to switch off the
inputs that are done.
"""

import random

import gochan
from gochan import nilchan

rng = random.Random(1)


def boring(msg: str, n: int | None = None) -> gochan.Chan[str]:
    c = gochan.Chan[str]()

    def loop() -> None:
        i = 0
        while n is None or i < n:
            c.send(f"{msg} {i}")
            gochan.sleep(rng.randrange(1000) / 1000)
            i += 1
        c.close()

    gochan.go(loop)
    return c


def forward(src: gochan.Chan[str], dst: gochan.Chan[str]) -> None:
    while True:
        dst.send(src.recv())  # Go's  for { c <- <-input }


def fan_in(input1: gochan.Chan[str], input2: gochan.Chan[str]) -> gochan.Chan[str]:
    c = gochan.Chan[str]()
    gochan.go(forward, input1, c)
    gochan.go(forward, input2, c)
    return c


def fan_in_select(input1: gochan.Chan[str], input2: gochan.Chan[str]) -> gochan.Chan[str]:
    c = gochan.Chan[str]()

    def loop() -> None:
        while True:
            _, s = gochan.select(input1.recv, input2.recv)
            c.send(s)

    gochan.go(loop)
    return c


def merge(*inputs: gochan.Chan[str]) -> gochan.Chan[str]:
    out = gochan.Chan[str]()

    def loop() -> None:
        live = list(inputs)
        while any(ch is not nilchan for ch in live):
            match gochan.select(*(ch.recv_ok for ch in live)):
                case i, (s, True):
                    out.send(s)
                case i, (_, False):
                    live[i] = nilchan  # closed: never chosen again
        out.close()

    gochan.go(loop)
    return out


def main() -> None:
    c = fan_in(boring("Joe"), boring("Ann"))
    for _ in range(6):
        msg = c.recv()
        print(f"t={gochan.monotonic():.3f} {msg}")
    print("You're both boring; I'm leaving.")

    c = fan_in_select(boring("Joe"), boring("Ann"))
    print("with select:", ", ".join(c.recv() or "" for _ in range(6)))

    everyone = merge(boring("Joe", 2), boring("Ann", 3), boring("Bob", 1))
    print("merged until all closed:", list(everyone))


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
