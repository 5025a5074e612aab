"""Worker pools: N tasks take jobs from one channel and send results to another.

The Go original (Go by Example, "Worker Pools")::

    func worker(id int, jobs <-chan int, results chan<- int) {
        for j := range jobs {
            fmt.Println("worker", id, "started  job", j)
            time.Sleep(time.Second)
            fmt.Println("worker", id, "finished job", j)
            results <- j * 2
        }
    }
    for w := 1; w <= 3; w++ { go worker(w, jobs, results) }
    for j := 1; j <= 5; j++ { jobs <- j }
    close(jobs)
    for a := 1; a <= 5; a++ { <-results }

What to look at: five one-second jobs on three workers take 2 s, not 5
(the virtual clock shows exactly 2.0). ``for j in jobs`` ends each worker
once main closes ``jobs``. The lines come out in the same order every run,
because gochan's scheduler is deterministic; in Go they vary.
"""

import gochan

N_JOBS, N_WORKERS = 5, 3


def worker(wid: int, jobs: gochan.Chan[int], results: gochan.Chan[int]) -> None:
    for j in jobs:
        print(f"t={gochan.monotonic():.0f} worker {wid} started  job {j}")
        gochan.sleep(1)
        print(f"t={gochan.monotonic():.0f} worker {wid} finished job {j}")
        results.send(j * 2)


def main() -> None:
    jobs, results = gochan.Chan[int](N_JOBS), gochan.Chan[int](N_JOBS)
    for w in range(1, N_WORKERS + 1):
        gochan.go(worker, w, jobs, results)
    for j in range(1, N_JOBS + 1):
        jobs.send(j)
    jobs.close()
    total = sum(results.recv() or 0 for _ in range(N_JOBS))
    print(f"all {N_JOBS} results in, sum {total}, at t = {gochan.monotonic()}")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
