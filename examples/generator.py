"""Generator: a function that returns a channel, fed by a task it starts.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    func boring(msg string) <-chan string {
        c := make(chan string)
        go func() {
            for i := 0; ; i++ {
                c <- fmt.Sprintf("%s %d", msg, i)
                time.Sleep(time.Duration(rand.Intn(1e3)) * time.Millisecond)
            }
        }()
        return c
    }

    c := boring("boring!")
    for i := 0; i < 5; i++ { fmt.Printf("You say: %q\n", <-c) }
    fmt.Println("You're boring; I'm leaving.")

What to look at: the channel is a handle on a service; two calls give two
independent services, and main talks to them in lockstep. Nobody stops the
generator tasks: when main returns, ``run`` cancels them (in Go they just
die with the program; see quit_channel.py for stopping one politely). The
random pauses come from a seeded ``random.Random`` on the virtual clock, so
the times printed are the same on every run.
"""

import random

import gochan

rng = random.Random(2012)


def boring(msg: str) -> gochan.Chan[str]:
    c = gochan.Chan[str]()

    def loop() -> None:
        i = 0
        while True:
            c.send(f"{msg} {i}")
            gochan.sleep(rng.randrange(1000) / 1000)  # up to a second
            i += 1

    gochan.go(loop)
    return c  # return the channel to the caller


def main() -> None:
    c = boring("boring!")
    for _ in range(5):
        print(f"You say: {c.recv()!r} (t={gochan.monotonic():.3f})")
    print("You're boring; I'm leaving.")

    joe, ann = boring("Joe"), boring("Ann")
    for _ in range(3):  # in lockstep: Ann waits for Joe, and Joe for Ann
        print(joe.recv(), "|", ann.recv(), f"(t={gochan.monotonic():.3f})")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
