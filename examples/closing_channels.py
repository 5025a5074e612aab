"""Closing channels: tell the receivers that no more values will come.

The Go original (Go by Example, "Closing Channels")::

    go func() {
        for {
            j, more := <-jobs
            if more { fmt.Println("received job", j) } else {
                fmt.Println("received all jobs"); done <- true; return
            }
        }
    }()
    for j := 1; j <= 3; j++ { jobs <- j; fmt.Println("sent job", j) }
    close(jobs)
    <-done
    _, ok := <-jobs

What to look at: ``recv_ok()`` is Go's ``v, ok := <-ch``; ``ok`` turns
``False`` once the channel is closed *and drained*, and the value is then
``None`` (gochan's zero value). Receiving from a closed channel never
blocks; sending to one, or closing it twice, raises ``gochan.Panic`` with
Go's message.
"""

import gochan


def worker(jobs: gochan.Chan[int], done: gochan.Chan[bool]) -> None:
    while True:
        j, more = jobs.recv_ok()
        if more:
            print("received job", j)
        else:
            print("received all jobs")
            done.send(True)
            return


def main() -> None:
    jobs, done = gochan.Chan[int](5), gochan.Chan[bool]()
    gochan.go(worker, jobs, done)
    for j in range(1, 4):
        jobs.send(j)
        print("sent job", j)
    jobs.close()
    print("sent all jobs")
    done.recv()

    print("received more jobs:", jobs.recv_ok())
    try:
        jobs.send(4)
    except gochan.Panic as p:
        print("Panic:", p)
    try:
        jobs.close()
    except gochan.Panic as p:
        print("Panic:", p)


if __name__ == "__main__":
    gochan.run(main)
