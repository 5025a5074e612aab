"""Tutorial: default selection, from the Tour of Go.

The Go original (A Tour of Go, "Default Selection")::

    tick := time.Tick(100 * time.Millisecond)
    boom := time.After(500 * time.Millisecond)
    for {
        select {
        case <-tick:
            fmt.Println("tick.")
        case <-boom:
            fmt.Println("BOOM!")
            return
        default:
            fmt.Println("    .")
            time.Sleep(50 * time.Millisecond)
        }
    }

What to look at: when neither ``tick`` nor ``boom`` is ready, ``default``
runs, prints a dot and naps. The times here are the Tour's multiplied by
ten (1 s, 5 s, 0.5 s): gochan durations are float seconds, and in binary
floating point 0.1 + 0.1 + 0.1 is not 0.3, so deadlines that coincide in
Go's integer nanoseconds could land a hair apart and fire in a surprising
order; whole and half seconds add up exactly. On the virtual clock the
pattern is then exact: two dots per second, a tick every second, and at
5 s both the tick and the boom are due: ``select`` picks at random among
ready cases, and ``seed=`` fixes the pick. In real code, a loop that polls
with ``default`` and sleeps is usually better written as a blocking
``select``; ``default`` is for "do something else if nothing is ready
*now*".
"""

import gochan


def main() -> None:
    tick = gochan.tick(1)
    boom = gochan.after(5)
    while True:
        match gochan.select(tick.recv, boom.recv, gochan.default):
            case 0, _:
                print(f"{gochan.monotonic():.1f} tick.")
            case 1, _:
                print(f"{gochan.monotonic():.1f} BOOM!")
                return
            case 2, _:
                print(f"{gochan.monotonic():.1f}     .")
                gochan.sleep(0.5)


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
