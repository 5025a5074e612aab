"""Quit channel: tell a task to stop, and wait until it has cleaned up.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    func boring(msg string, quit chan string) <-chan string {
        c := make(chan string)
        go func() {
            for i := 0; ; i++ {
                select {
                case c <- fmt.Sprintf("%s: %d", msg, i):
                    // do nothing
                case <-quit:
                    cleanup()
                    quit <- "See you!"
                    return
                }
            }
        }()
        return c
    }

    quit := make(chan string)
    c := boring("Joe", quit)
    for i := rand.Intn(10); i >= 0; i-- { fmt.Println(<-c) }
    quit <- "Bye!"
    fmt.Printf("Joe says: %q\n", <-quit)

What to look at: the task chooses where it stops: in its ``select``,
between two messages. The quit channel is used both ways: main says "Bye!",
and the task answers "See you!" once its cleanup is done, so main knows it
is safe to go on. The second part stops three tasks at once by *closing* a
channel (a close wakes every receiver) and waits for them with a
``WaitGroup``. ``task.cancel()`` exists too, but this lets the task pick
its stopping point.
"""

import random

import gochan

rng = random.Random(4)


def boring(msg: str, quit: gochan.Chan[str]) -> gochan.Chan[str]:
    c = gochan.Chan[str]()

    def loop() -> None:
        i = 0
        while True:
            match gochan.select((c.send, f"{msg}: {i}"), quit.recv):
                case 0, _:
                    i += 1
                case 1, bye:
                    print(f"{msg} heard {bye!r}; cleaning up")
                    quit.send("See you!")
                    return

    gochan.go(loop)
    return c


def worker(name: str, quit: gochan.Chan[None], wg: gochan.WaitGroup) -> None:
    try:
        beats = 0
        while True:
            match gochan.select(quit.recv, gochan.after(0.3).recv):
                case 0, _:
                    print(f"{name} stops after {beats} beats")
                    return
                case 1, _:
                    beats += 1
    finally:
        wg.done()


def main() -> None:
    quit = gochan.Chan[str]()
    c = boring("Joe", quit)
    for _ in range(rng.randrange(10) + 1):
        print(c.recv())
    quit.send("Bye!")
    print(f"Joe says: {quit.recv()!r}")

    stop, wg = gochan.Chan[None](), gochan.WaitGroup()
    for name in ("w1", "w2", "w3"):
        wg.add(1)
        gochan.go(worker, name, stop, wg)
    gochan.sleep(1)
    stop.close()  # one close reaches every worker
    wg.wait()
    print(f"all workers stopped at t = {gochan.monotonic()}")


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
