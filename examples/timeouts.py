"""Timeouts: bound an operation with ``select`` and ``after``.

The Go original (Go by Example, "Timeouts")::

    c1 := make(chan string, 1)
    go func() { time.Sleep(2 * time.Second); c1 <- "result 1" }()
    select {
    case res := <-c1:            fmt.Println(res)
    case <-time.After(1 * time.Second): fmt.Println("timeout 1")
    }

What to look at: ``gochan.after(s)`` is a channel that receives once, ``s``
seconds from now (its value is the firing time). The result channels have
room for one value, so a slow task can finish its send after nobody is
listening (with an unbuffered channel it would block forever: Go's classic
goroutine leak). ``task.join(timeout=)`` and ``context.with_timeout`` are
the other two ways gochan spells a timeout; the last part uses the context.
"""

import gochan
from gochan import context


def slow(seconds: float, out: gochan.Chan[str], msg: str) -> None:
    gochan.sleep(seconds)
    out.send(msg)


def main() -> None:
    c1 = gochan.Chan[str](1)
    gochan.go(slow, 2, c1, "result 1")
    match gochan.select(c1.recv, gochan.after(1).recv):
        case 0, res:
            print(res)
        case 1, t:
            print("timeout 1 at t =", t)

    c2 = gochan.Chan[str](1)
    gochan.go(slow, 2, c2, "result 2")
    match gochan.select(c2.recv, gochan.after(3).recv):
        case 0, res:
            print(res, "at t =", gochan.monotonic())
        case 1, t:
            print("timeout 2 at t =", t)

    # A deadline carried by a context: the worker can see it too.
    ctx, cancel = context.with_timeout(context.background(), 0.5)
    try:
        c3 = gochan.Chan[str](1)
        gochan.go(slow, 2, c3, "result 3")
        match gochan.select(c3.recv, ctx.done().recv):
            case 0, res:
                print(res)
            case 1, _:
                print("context:", ctx.err(), "at t =", gochan.monotonic())
    finally:
        cancel()


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
