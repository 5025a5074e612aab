"""Timers: one event in the future, which you can stop or reset.

The Go original (Go by Example, "Timers")::

    timer1 := time.NewTimer(2 * time.Second)
    <-timer1.C
    fmt.Println("Timer 1 fired")

    timer2 := time.NewTimer(time.Second)
    go func() { <-timer2.C; fmt.Println("Timer 2 fired") }()
    if timer2.Stop() { fmt.Println("Timer 2 stopped") }
    time.Sleep(2 * time.Second)

What to look at: ``Timer(s).c`` receives the firing time once; ``stop()``
returns ``True`` if it stopped the timer before its value was delivered,
and then the value never comes (so "Timer 2 fired" is never printed).
``reset()`` re-arms a timer; gochan follows Go 1.23's rules, where a stop
or reset never leaves a stale value in the channel. ``after_func`` runs a
function in its own task when the timer fires. All on the virtual clock.
"""

import gochan


def main() -> None:
    timer1 = gochan.Timer(2)
    fired = timer1.c.recv()
    print("Timer 1 fired at t =", fired)

    timer2 = gochan.Timer(1)

    def wait_for_timer2() -> None:
        timer2.c.recv()
        print("Timer 2 fired")  # never printed: the timer is stopped first

    gochan.go(wait_for_timer2)
    if timer2.stop():
        print("Timer 2 stopped")
    gochan.sleep(2)  # time enough for timer2 to fire, had it not been stopped

    # reset: push a deadline back (a watchdog that is fed twice).
    watchdog = gochan.Timer(1)  # due at t = 5.0
    for _ in range(2):
        gochan.sleep(0.6)
        pending = watchdog.reset(1)
        print(f"fed the watchdog at t = {gochan.monotonic():.1f}; it was pending: {pending}")
    print(f"watchdog fired at t = {watchdog.c.recv():.1f}")

    gochan.after_func(0.5, lambda: print(f"after_func ran at t = {gochan.monotonic():.1f}"))
    gochan.sleep(1)


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
