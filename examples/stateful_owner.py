"""Stateful goroutines: one owner task holds the state; others send it requests.

The Go original (Go by Example, "Stateful Goroutines")::

    type readOp struct { key int; resp chan int }
    type writeOp struct { key, val int; resp chan bool }

    go func() {
        var state = make(map[int]int)
        for {
            select {
            case read := <-reads:   read.resp <- state[read.key]
            case write := <-writes: state[write.key] = write.val; write.resp <- true
            }
        }
    }()

"Share memory by communicating": instead of a ``Mutex`` around the map (see
mutex_counter.py), exactly one task ever touches it, and every other task
asks that owner through channels. Each request carries its own reply
channel. What to look at: the ``match`` on dataclass patterns dispatches
the requests; the owner hands its state back as its return value when told
to quit, so main reads it with ``join()``, and the adds were never lost
although nobody took a lock. Readers and writers pick keys from a seeded
``random.Random`` and pause 1 ms between operations on the virtual clock,
so the run is the same every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import gochan

KEYS = "abcde"
READERS, WRITERS, OPS = 20, 4, 50


@dataclass
class Read:
    key: str
    resp: gochan.Chan[int] = field(default_factory=gochan.Chan)


@dataclass
class Add:
    key: str
    delta: int
    resp: gochan.Chan[bool] = field(default_factory=gochan.Chan)


def owner(
    reads: gochan.Chan[Read], adds: gochan.Chan[Add], quit: gochan.Chan[None]
) -> dict[str, int]:
    state = dict.fromkeys(KEYS, 0)  # only this task ever touches it
    while True:
        match gochan.select(reads.recv, adds.recv, quit.recv):
            case 0, Read(key, resp):
                resp.send(state[key])
            case 1, Add(key, delta, resp):
                state[key] += delta
                resp.send(True)
            case 2, _:
                return state


def main() -> None:
    rng = random.Random(7)
    reads, adds, quit = gochan.Chan[Read](), gochan.Chan[Add](), gochan.Chan[None]()
    state_owner = gochan.go(owner, reads, adds, quit)
    ops = {"read": 0, "add": 0}
    added = dict.fromkeys(KEYS, 0)  # what the writers sent, to check the result

    def reader() -> None:
        for _ in range(OPS):
            req = Read(rng.choice(KEYS))
            reads.send(req)
            req.resp.recv()
            ops["read"] += 1
            gochan.sleep(0.001)

    def writer() -> None:
        for _ in range(OPS):
            req = Add(rng.choice(KEYS), rng.randint(1, 9))
            adds.send(req)
            req.resp.recv()
            added[req.key] += req.delta
            ops["add"] += 1
            gochan.sleep(0.001)

    wg = gochan.WaitGroup()
    for _ in range(READERS):
        wg.go(reader)
    for _ in range(WRITERS):
        wg.go(writer)
    wg.wait()

    quit.close()
    state = state_owner.join()
    print(f"read ops: {ops['read']}, add ops: {ops['add']}, in {gochan.monotonic():.3f} s")
    print("owner's final state:", state)
    print("matches what the writers added:", state == added)


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
