"""WaitGroups: wait for a group of tasks to finish.

The Go original (Go by Example, "WaitGroups")::

    var wg sync.WaitGroup
    for i := 1; i <= 5; i++ {
        wg.Add(1)
        go func() { defer wg.Done(); worker(i) }()
    }
    wg.Wait()

What to look at: ``wg.add(1)`` comes *before* ``go``, never inside the task,
or ``wait()`` could find the counter at zero before the task has started.
``try``/``finally`` is Go's ``defer wg.Done()``. ``wg.go(fn, *args)``
(Go 1.25's ``WaitGroup.Go``) does the counting for you; the second round
uses it. Workers sleep for different times, so they finish in a different
order than they started.
"""

import gochan


def worker(wid: int) -> None:
    print(f"worker {wid} starting")
    gochan.sleep(1 + (wid * 3) % 5 / 10)  # 1.3 s, 1.1 s, 1.4 s, ...
    print(f"worker {wid} done at t = {gochan.monotonic():.1f}")


def counted(wg: gochan.WaitGroup, wid: int) -> None:
    try:  # Go's defer wg.Done()
        worker(wid)
    finally:
        wg.done()


def main() -> None:
    wg = gochan.WaitGroup()
    for i in range(1, 6):
        wg.add(1)  # before go(), not inside the task
        gochan.go(counted, wg, i)
    wg.wait()
    print(f"all done at t = {gochan.monotonic():.1f}")

    wg2 = gochan.WaitGroup()
    for i in range(6, 9):
        wg2.go(worker, i)
    wg2.wait()
    print(f"second round done at t = {gochan.monotonic():.1f}")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
