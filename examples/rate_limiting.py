"""Rate limiting: a ticker paces requests; a buffered channel allows bursts.

The Go original (Go by Example, "Rate Limiting")::

    limiter := time.Tick(200 * time.Millisecond)
    for req := range requests { <-limiter; fmt.Println("request", req, time.Now()) }

    burstyLimiter := make(chan time.Time, 3)
    for i := 0; i < 3; i++ { burstyLimiter <- time.Now() }
    go func() {
        for t := range time.Tick(200 * time.Millisecond) { burstyLimiter <- t }
    }()
    for req := range burstyRequests { <-burstyLimiter; fmt.Println("request", req, time.Now()) }

What to look at: the steady limiter serves one request per tick, at 0.2,
0.4, ... 1.0 s. The bursty limiter is a token bucket built from a channel:
three tokens are in the buffer at the start, so the first three requests go
at once, and after that the refill task adds one token per tick. Tickers
are stopped at the end (a ``tick`` could not be). Virtual clock: the times
are exact.
"""

import gochan


def main() -> None:
    requests = gochan.Chan[int](5)
    for i in range(1, 6):
        requests.send(i)
    requests.close()

    start = gochan.monotonic()
    limiter = gochan.Ticker(0.2)
    for req in requests:
        limiter.c.recv()
        print(f"steady request {req} at {gochan.monotonic() - start:.1f}")
    limiter.stop()

    bursty = gochan.Chan[float](3)
    for _ in range(3):
        bursty.send(gochan.monotonic())  # the burst allowance: three tokens

    refill = gochan.Ticker(0.2)

    def refill_tokens() -> None:
        for t in refill.c:
            bursty.send(t)

    gochan.go(refill_tokens)

    bursty_requests = gochan.Chan[int](5)
    for i in range(1, 6):
        bursty_requests.send(i)
    bursty_requests.close()

    start = gochan.monotonic()
    for req in bursty_requests:
        bursty.recv()
        print(f"bursty request {req} at {gochan.monotonic() - start:.1f}")
    refill.stop()  # the refill task stays blocked; run() cancels it at the end


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
