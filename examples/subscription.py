"""Subscription: a loop that fetches, buffers and delivers, with the nil-channel trick.

The Go original (Sameer Ajmani, "Advanced Go Concurrency Patterns", 2013)::

    for {
        var startFetch <-chan time.Time
        if fetchDone == nil && len(pending) < maxPending {
            startFetch = time.After(fetchDelay) // enable the fetch case
        }
        var first Item
        var updates chan Item                   // nil: the send case is off
        if len(pending) > 0 {
            first = pending[0]
            updates = s.updates                 // enable the send case
        }
        select {
        case <-startFetch:             // start a Fetch in its own goroutine
        case result := <-fetchDone:    // append new items to pending
        case errc := <-s.closing:      errc <- err; close(s.updates); return
        case updates <- first:         pending = pending[1:]
        }
    }

What to look at: the ``select`` in ``Sub.loop`` always has the same four
cases, and a case is switched off by giving it ``nilchan``, which is never
ready: no send while nothing is pending, no new fetch while one is running
or the buffer is full. Fetches run in their own task, so a slow fetch never
blocks delivery or ``close()``. ``close()`` is a request-response on the
``closing`` channel: the loop answers with its last error and stops. The
fetcher is fake (seeded latencies, some duplicate items that the loop drops,
one failing fetch) and everything runs on the virtual clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import gochan
from gochan import nilchan

MAX_PENDING = 10
ERROR_BACKOFF = 2.0  # Go's example waits 10 s after a failed fetch
rng = random.Random(2013)


@dataclass(frozen=True)
class Item:
    channel: str
    title: str


@dataclass
class FetchResult:
    items: list[Item]
    next: float  # when to fetch again, on gochan.monotonic()
    err: Exception | None


class FakeFetcher:
    """Each fetch returns the last three posts: one or two new, the rest seen before."""

    def __init__(self, domain: str, fail_on: int | None = None) -> None:
        self.domain, self.fail_on = domain, fail_on
        self.posts: list[Item] = []
        self.calls = 0

    def fetch(self) -> tuple[list[Item], float]:
        self.calls += 1
        gochan.sleep(rng.randrange(50, 300) / 1000)  # the network
        if self.calls == self.fail_on:
            raise ConnectionError(f"{self.domain}: fetch {self.calls} timed out")
        for _ in range(rng.randint(1, 2)):
            self.posts.append(Item(self.domain, f"post {len(self.posts) + 1}"))
        return self.posts[-3:], gochan.monotonic() + rng.randrange(500, 1500) / 1000


class Sub:
    def __init__(self, fetcher: FakeFetcher) -> None:
        self.fetcher = fetcher
        self.updates = gochan.Chan[Item]()
        self.closing = gochan.Chan[gochan.Chan[Exception | None]]()
        gochan.go(self.loop)

    def close(self) -> Exception | None:
        errc = gochan.Chan[Exception | None]()
        self.closing.send(errc)  # ask the loop to stop...
        return errc.recv()  # ...and wait for its answer

    def _fetch(self, done: gochan.Chan[FetchResult]) -> None:
        try:
            items, next_at = self.fetcher.fetch()
            done.send(FetchResult(items, next_at, None))
        except ConnectionError as e:
            done.send(FetchResult([], 0.0, e))

    def loop(self) -> None:
        pending: list[Item] = []
        seen: set[Item] = set()
        next_at = 0.0
        err: Exception | None = None  # the last fetch's error, for close()
        fetch_done: gochan.Chan[FetchResult] = nilchan  # not nilchan: a fetch is running
        while True:
            start_fetch: gochan.Chan[float] = nilchan
            if fetch_done is nilchan and len(pending) < MAX_PENDING:
                start_fetch = gochan.after(next_at - gochan.monotonic())
            updates, first = nilchan, None
            if pending:
                updates, first = self.updates, pending[0]

            match gochan.select(
                start_fetch.recv, fetch_done.recv, self.closing.recv, (updates.send, first)
            ):
                case 0, _:
                    fetch_done = gochan.Chan[FetchResult](1)
                    gochan.go(self._fetch, fetch_done)
                case 1, FetchResult(items, next_at, err):
                    fetch_done = nilchan
                    if err is not None:
                        next_at = gochan.monotonic() + ERROR_BACKOFF
                        print(f"{gochan.monotonic():5.2f}  ({err}; retry in {ERROR_BACKOFF} s)")
                        continue
                    for item in items:
                        if item not in seen:  # drop duplicates
                            pending.append(item)
                            seen.add(item)
                case 2, errc:
                    errc.send(err)
                    self.updates.close()
                    return
                case 3, _:
                    pending.pop(0)


class Merged:
    """Merge(subs...): one Updates channel; Close closes them all."""

    def __init__(self, *subs: Sub) -> None:
        self.subs = subs
        self.updates = gochan.Chan[Item]()
        self.quit = gochan.Chan[None]()
        self.wg = gochan.WaitGroup()
        for s in subs:
            self.wg.go(self._forward, s)

    def _forward(self, s: Sub) -> None:
        for item in s.updates:  # ends when s is closed
            if gochan.select((self.updates.send, item), self.quit.recv)[0] == 1:
                return

    def close(self) -> Exception | None:
        self.quit.close()
        errs = [s.close() for s in self.subs]
        self.wg.wait()
        self.updates.close()
        return next((e for e in errs if e is not None), None)


def main() -> None:
    merged = Merged(
        Sub(FakeFetcher("blog.golang.org")),
        Sub(FakeFetcher("googleblog.blogspot.com", fail_on=3)),
        Sub(FakeFetcher("googledevelopers.blogspot.com")),
    )
    gochan.after_func(4, lambda: print(f"{gochan.monotonic():5.2f}  closed: {merged.close()}"))
    received = []
    for item in merged.updates:
        received.append(item)
        print(f"{gochan.monotonic():5.2f}  {item.channel:30} {item.title}")
    dups = len(received) - len(set(received))
    print(f"{len(received)} updates, {dups} duplicates; tasks left: {gochan.num_goroutine()}")


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
