"""Tickers: a value every period, until stopped.

The Go original (Go by Example, "Tickers")::

    ticker := time.NewTicker(500 * time.Millisecond)
    done := make(chan bool)
    go func() {
        for {
            select {
            case <-done: return
            case t := <-ticker.C: fmt.Println("Tick at", t)
            }
        }
    }()
    time.Sleep(1600 * time.Millisecond)
    ticker.Stop()
    done <- true
    fmt.Println("Ticker stopped")

What to look at: ``Ticker(0.5).c`` receives ``monotonic()`` every half
second; ``stop()`` does not close the channel (as in Go), so the loop needs
its own ``done`` case. Like Go's, a ticker drops ticks for a slow reader
instead of queueing them: the last part reads slower than it ticks.
"""

import gochan


def main() -> None:
    ticker = gochan.Ticker(0.5)
    done = gochan.Chan[bool]()

    def loop() -> None:
        while True:
            match gochan.select(done.recv, ticker.c.recv):
                case 0, _:
                    return
                case 1, t:
                    print("Tick at", t)

    gochan.go(loop)
    gochan.sleep(1.6)
    ticker.stop()
    done.send(True)
    print("Ticker stopped at t =", gochan.monotonic())

    # A reader slower than its ticker gets one late tick, never a backlog.
    start = gochan.monotonic()
    slow = gochan.Ticker(1)
    for _ in range(3):
        t = slow.c.recv()
        print(f"tick from {t - start:.1f}, read at {gochan.monotonic() - start:.1f}")
        gochan.sleep(2.5)  # slower than the ticker
    slow.stop()


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
