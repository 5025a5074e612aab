"""Mutexes: protect shared state that several tasks update.

The Go original (Go by Example, "Mutexes")::

    type Container struct {
        mu       sync.Mutex
        counters map[string]int
    }
    func (c *Container) inc(name string) {
        c.mu.Lock()
        defer c.mu.Unlock()
        c.counters[name]++
    }
    // three goroutines: inc("a") 1000 times, inc("a") 1000 times, inc("b") 1000 times

What to look at: gochan tasks are cooperative, so ``counters[name] += 1``
alone can never be interrupted: a switch happens only where a task blocks
or yields. A race needs a blocking call *inside* the read-modify-write, like
the ``gosched()`` below (in real code: a channel operation, a ``sleep``, an
I/O call). The racy version loses updates, and loses the same ones every
run; the version that holds the ``Mutex`` across the update does not.
``with mu:`` is Go's ``Lock`` plus ``defer Unlock``; the other checker, the
one-owner task, is in stateful_owner.py.
"""

import gochan

N = 1000


class Container:
    def __init__(self) -> None:
        self.mu = gochan.Mutex()
        self.counters = {"a": 0, "b": 0}

    def inc_racy(self, name: str) -> None:
        n = self.counters[name]
        gochan.gosched()  # any blocking call here lets another task in
        self.counters[name] = n + 1

    def inc(self, name: str) -> None:
        with self.mu:
            n = self.counters[name]
            gochan.gosched()  # others run, but cannot get past the lock
            self.counters[name] = n + 1


def run(inc_name: str) -> dict[str, int]:
    c = Container()
    inc = getattr(c, inc_name)
    wg = gochan.WaitGroup()

    def do_increment(name: str, n: int) -> None:
        for _ in range(n):
            inc(name)

    wg.go(do_increment, "a", N)
    wg.go(do_increment, "a", N)
    wg.go(do_increment, "b", N)
    wg.wait()
    return c.counters


def main() -> None:
    print(f"want    {{'a': {2 * N}, 'b': {N}}}")
    print("racy   ", run("inc_racy"))
    print("mutex  ", run("inc"))


if __name__ == "__main__":
    gochan.run(main)
