"""Channel synchronization: wait for a task to finish by receiving from it.

The Go original (Go by Example, "Channel Synchronization")::

    func worker(done chan bool) {
        fmt.Print("working...")
        time.Sleep(time.Second)
        fmt.Println("done")
        done <- true
    }

    done := make(chan bool, 1)
    go worker(done)
    <-done

What to look at: main blocks on ``done.recv()`` until the worker says it has
finished. Without that receive, ``run`` would return at once and cancel the
worker mid-sleep (Go would simply exit). ``task.join()`` does the same job
in gochan; both are shown. Virtual clock: the second of work is instant.
"""

import gochan


def worker(done: gochan.Chan[bool]) -> None:
    print("working...", end="")
    gochan.sleep(1)
    print("done")
    done.send(True)


def main() -> None:
    done = gochan.Chan[bool](1)
    gochan.go(worker, done)
    done.recv()  # block until the worker has finished
    print("worker finished at t =", gochan.monotonic())

    # The gochan shortcut: go() returns a handle you can join.
    t = gochan.go(worker, gochan.Chan[bool](1))
    t.join()
    print("joined at t =", gochan.monotonic())


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
