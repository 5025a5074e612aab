"""Pipelines and cancellation: stop every stage when the consumer gives up.

The Go original (Sameer Ajmani, "Go Concurrency Patterns: Pipelines and
cancellation", the Go blog, 2014)::

    func sq(done <-chan struct{}, in <-chan int) <-chan int {
        out := make(chan int)
        go func() {
            defer close(out)
            for n := range in {
                select {
                case out <- n * n:
                case <-done:
                    return
                }
            }
        }()
        return out
    }

    done := make(chan struct{})
    defer close(done)      // tells every stage to stop when main returns
    out := merge(done, sq(done, in), sq(done, in))
    fmt.Println(<-out)     // only one value; the stages must not leak

Part 1 is that pipeline: ``gen`` -> two ``sq`` (fan-out) -> ``merge``
(fan-in). Main takes one value and closes ``done``; every stage selects on
``done`` next to each send, so they all return, and ``num_goroutine()``
shows nothing leaked. Part 2 is the blog's ``MD5All`` with bounded
parallelism: a walker feeds paths to a fixed number of digesters, here with
a ``context`` instead of a bare done channel. A read error cancels the
context; the walker and the digesters see ``ctx.done()`` and stop, and the
error comes back to the caller. Reads take virtual time (by size), so the
timings and the "at most 3 at once" count are exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import gochan
from gochan import context

# Part 1: explicit cancellation with a done channel.


def gen(done: gochan.Chan[None], *nums: int) -> gochan.Chan[int]:
    out = gochan.Chan[int]()

    def run() -> None:
        try:
            for n in nums:
                if gochan.select((out.send, n), done.recv)[0] == 1:
                    return
        finally:
            out.close()  # Go's defer close(out)

    gochan.go(run)
    return out


def sq(done: gochan.Chan[None], inp: gochan.Chan[int]) -> gochan.Chan[int]:
    out = gochan.Chan[int]()

    def run() -> None:
        try:
            for n in inp:
                if gochan.select((out.send, n * n), done.recv)[0] == 1:
                    return
        finally:
            out.close()

    gochan.go(run)
    return out


def close_after(wg: gochan.WaitGroup, ch: gochan.Chan[Any]) -> None:
    wg.wait()  # every sender has returned: nobody can send on ch any more
    ch.close()


def merge(done: gochan.Chan[None], *cs: gochan.Chan[int]) -> gochan.Chan[int]:
    out, wg = gochan.Chan[int](), gochan.WaitGroup()

    def output(c: gochan.Chan[int]) -> None:
        for n in c:
            if gochan.select((out.send, n), done.recv)[0] == 1:
                return

    for c in cs:
        wg.go(output, c)
    gochan.go(close_after, wg, out)
    return out


def part1() -> None:
    done = gochan.Chan[None]()
    inp = gen(done, 2, 3, 4, 5)
    out = merge(done, sq(done, inp), sq(done, inp))
    print("first value:", out.recv())
    print("tasks alive before close(done):", gochan.num_goroutine())
    done.close()  # broadcast: every stage's select sees it
    gochan.sleep(0.1)  # give them a moment to return
    print("tasks alive after close(done): ", gochan.num_goroutine())


# Part 2: bounded parallelism, cancelled through a context.

FILES = {f"src/file{i:02}.go": f"package file{i}\n".encode() * (i + 1) for i in range(12)}


@dataclass
class Result:
    path: str
    digest: str


class Disk:
    def __init__(self, unreadable: set[str]) -> None:
        self.unreadable = unreadable
        self.reading = self.max_reading = 0

    def read(self, path: str) -> bytes:
        self.reading += 1
        self.max_reading = max(self.max_reading, self.reading)
        try:
            gochan.sleep(len(FILES[path]) / 1000)  # 1 ms per byte
            if path in self.unreadable:
                raise PermissionError(f"permission denied: {path}")
            return FILES[path]
        finally:
            self.reading -= 1


def walk_files(ctx: context.Context) -> gochan.Chan[str]:
    paths = gochan.Chan[str]()

    def walk() -> None:
        try:
            for path in sorted(FILES):
                if gochan.select((paths.send, path), ctx.done().recv)[0] == 1:
                    print(f"  walker stopped before {path}: {ctx.err()}")
                    return
        finally:
            paths.close()

    gochan.go(walk)
    return paths


def md5_all(disk: Disk, n_digesters: int) -> dict[str, str]:
    ctx, cancel = context.with_cancel(context.background())
    try:
        paths = walk_files(ctx)
        results: gochan.Chan[Result | Exception] = gochan.Chan()
        wg = gochan.WaitGroup()

        def digester() -> None:
            for path in paths:
                try:
                    r: Result | Exception = Result(path, hashlib.md5(disk.read(path)).hexdigest())
                except OSError as e:
                    r = e
                if gochan.select((results.send, r), ctx.done().recv)[0] == 1:
                    return

        for _ in range(n_digesters):
            wg.go(digester)
        gochan.go(close_after, wg, results)

        sums = {}
        for r in results:
            if isinstance(r, Exception):
                raise r  # the finally below cancels everyone else
            sums[r.path] = r.digest
        return sums
    finally:
        cancel()  # Go's defer cancel()


def part2() -> None:
    disk = Disk(unreadable=set())
    start = gochan.monotonic()
    sums = md5_all(disk, n_digesters=3)
    for path, digest in sorted(sums.items())[:3]:
        print(f"  {digest}  {path}")
    print(
        f"  ... {len(sums)} files in {gochan.monotonic() - start:.3f} s, "
        f"at most {disk.max_reading} reads at once"
    )

    disk = Disk(unreadable={"src/file04.go"})
    try:
        md5_all(disk, n_digesters=3)
    except PermissionError as e:
        print("  md5_all failed:", e)
    gochan.sleep(1)
    print("  tasks alive after the failure:", gochan.num_goroutine())


def main() -> None:
    print("part 1: a pipeline stopped by closing done")
    part1()
    print("part 2: bounded parallelism, cancelled by a context")
    part2()


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
