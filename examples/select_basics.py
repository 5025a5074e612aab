"""Select: wait on several channel operations at once (named select_basics.py
because a file called select.py would shadow the standard library module).

The Go original (Go by Example, "Select")::

    go func() { time.Sleep(1 * time.Second); c1 <- "one" }()
    go func() { time.Sleep(2 * time.Second); c2 <- "two" }()
    for i := 0; i < 2; i++ {
        select {
        case msg1 := <-c1: fmt.Println("received", msg1)
        case msg2 := <-c2: fmt.Println("received", msg2)
        }
    }

What to look at: ``select`` is a function; it takes the operations
*uncalled* (``c1.recv``, not ``c1.recv()``) and returns ``(index,
value)``, which ``match`` unpacks like Go's ``case`` clauses. The two
sleeps run concurrently, so the whole thing takes 2 s, not 3: the virtual
clock shows it exactly. When several cases are ready at once the choice is
random; ``seed=`` makes it reproducible, as the last part shows.
"""

import gochan


def after_sleep(seconds: float, ch: gochan.Chan[str], msg: str) -> None:
    gochan.sleep(seconds)
    ch.send(msg)


def main() -> None:
    c1, c2 = gochan.Chan[str](), gochan.Chan[str]()
    gochan.go(after_sleep, 1, c1, "one")
    gochan.go(after_sleep, 2, c2, "two")
    for _ in range(2):
        match gochan.select(c1.recv, c2.recv):
            case 0, msg1:
                print("received", msg1, "at t =", gochan.monotonic())
            case 1, msg2:
                print("received", msg2, "at t =", gochan.monotonic())

    # Both ready: a uniformly random pick (reproducible with seed=).
    a, b = gochan.Chan[str](10), gochan.Chan[str](10)
    for _ in range(10):
        a.send("a")
        b.send("b")
    print("picks:", "".join(gochan.select(a.recv, b.recv)[1] for _ in range(10)))


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
