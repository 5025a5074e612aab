"""A worker pool on gochan, with live progress.

    python examples/demo.py            # about 7 seconds of real time
    python examples/demo.py --fast     # the same run on the virtual clock: instant
    python examples/demo.py --timeout 3  # watch the quit path stop the pool early

The shape is the classic Go worker pool:

    producer --jobs--> worker 1..N --results--> main
                                                 ^ ticker: progress line
                                                 ^ after(timeout): close quit

* The producer sends jobs into a buffered ``jobs`` channel and closes it when
  it has sent them all.
* Each worker receives jobs until ``jobs`` is closed, "works" on each by
  waiting ``job.cost`` seconds, and sends a ``Result`` to ``results``.
* A closer task joins every worker and then closes ``results``, so main's
  loop knows when the last result is in.
* Main selects over three cases: a result, a tick of the progress ticker, and
  the overall deadline. When the deadline fires it closes ``quit``, which
  every producer and worker select also listens on, and switches the
  deadline case off with the nil-channel trick. It keeps draining results
  until ``results`` is closed, so no worker is left blocked.

At the end, main checks that every job id came back exactly once (or, after a
timeout, was processed at most once and every job is accounted for) and
prints a one-line summary. All tasks run on one OS thread and switch only at
channel operations, so the plain counters in ``Stats`` need no lock.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

import gochan
from gochan import Chan, Ticker, after, go, nilchan, select


@dataclass(frozen=True)
class Job:
    id: int
    cost: float  # seconds of simulated work


@dataclass(frozen=True)
class Result:
    job_id: int
    worker: int
    value: int  # job_id squared: shows the worker really handled this job


@dataclass
class Stats:
    produced: int = 0
    in_flight: int = 0
    abandoned: list[int] = field(default_factory=list)  # started, then told to quit


def producer(jobs: Chan[Job], quit: Chan[None], n: int, rng: random.Random, stats: Stats) -> None:
    try:
        for i in range(n):
            job = Job(i, round(rng.uniform(0.3, 1.1), 2))
            match select((jobs.send, job), quit.recv):
                case 0, _:
                    stats.produced += 1
                case 1, _:
                    return
    finally:
        jobs.close()  # workers' loops end once the buffer is drained


def worker(
    wid: int, jobs: Chan[Job], results: Chan[Result], quit: Chan[None], stats: Stats
) -> None:
    while True:
        match select(jobs.recv_ok, quit.recv):
            case 0, (job, True):
                pass
            case _:  # jobs closed and drained, or quit
                return
        stats.in_flight += 1
        match select(after(job.cost).recv, quit.recv):  # the "work"
            case 0, _:
                stats.in_flight -= 1
                # main drains results until it is closed, so this cannot block forever
                results.send(Result(job.id, wid, job.id * job.id))
            case 1, _:
                stats.in_flight -= 1
                stats.abandoned.append(job.id)
                return


def close_when_done(workers: list[gochan.Task], results: Chan[Result]) -> None:
    for w in workers:
        w.join()
    results.close()


def bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def pool(n_jobs: int, n_workers: int, timeout: float, seed: int, tty: bool) -> bool:
    """Run the pool; print progress and a summary. True if the run was correct."""
    stats = Stats()
    jobs: Chan[Job] = Chan(n_workers * 2)
    results: Chan[Result] = Chan()
    quit: Chan[None] = Chan()
    go(producer, jobs, quit, n_jobs, random.Random(seed), stats).name = "producer"
    workers = []
    for wid in range(1, n_workers + 1):
        t = go(worker, wid, jobs, results, quit, stats)
        t.name = f"worker-{wid}"
        workers.append(t)
    go(close_when_done, workers, results).name = "closer"

    start = gochan.monotonic()
    seen: Counter[int] = Counter()
    per_worker: Counter[int] = Counter()
    wrong: list[Result] = []
    ticker = Ticker(0.2)
    deadline = after(timeout).recv
    timed_out = False

    def progress(final: bool = False) -> None:
        elapsed = gochan.monotonic() - start
        done = len(seen)
        rate = done / elapsed if elapsed > 0 else 0.0
        line = (
            f"{elapsed:5.1f}s {bar(done, n_jobs)} {done:3d}/{n_jobs} done"
            f"  {stats.in_flight} in flight  {len(jobs):2d} queued  {rate:4.1f} jobs/s"
        )
        if tty:
            print("\r" + line, end="\n" if final else "", flush=True)
        else:
            print(line)

    while True:
        match select(results.recv_ok, ticker.c.recv, deadline):
            case 0, (r, True):
                seen[r.job_id] += 1
                per_worker[r.worker] += 1
                if r.value != r.job_id * r.job_id:
                    wrong.append(r)
            case 0, (_, False):  # the closer saw every worker return
                break
            case 1, _:
                progress()
            case 2, _:
                timed_out = True
                quit.close()  # producer and workers stop at their next select
                deadline = nilchan.recv  # the nil-channel trick: this case is now off
    ticker.stop()
    progress(final=True)

    elapsed = gochan.monotonic() - start
    done = len(seen)
    dupes = sorted(j for j, c in seen.items() if c > 1)
    abandoned = sorted(stats.abandoned)
    never_started = n_jobs - done - len(abandoned)
    accounted = set(seen) | set(abandoned)
    shares = ", ".join(f"w{w}: {per_worker[w]}" for w in range(1, n_workers + 1))
    print(f"per worker: {shares}")
    if timed_out:
        ok = (
            not dupes
            and not wrong
            and not set(seen) & set(abandoned)
            and accounted <= set(range(n_jobs))
            and never_started >= 0
        )
        print(
            f"summary: stopped by the {timeout:g} s timeout: {done}/{n_jobs} jobs processed "
            f"exactly once, {len(abandoned)} abandoned mid-work, {never_started} never "
            f"started; {len(dupes)} duplicated - {'OK' if ok else 'FAILED'}"
        )
        return ok
    missing = sorted(set(range(n_jobs)) - set(seen))
    ok = not missing and not dupes and not wrong and stats.produced == n_jobs
    rate = done / elapsed if elapsed > 0 else 0.0
    print(
        f"summary: {done}/{n_jobs} jobs processed exactly once by {n_workers} workers in "
        f"{elapsed:.1f} s ({rate:.1f} jobs/s); {len(missing)} missing, "
        f"{len(dupes)} duplicated - {'OK' if ok else 'FAILED'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=60, help="number of jobs (default 60)")
    ap.add_argument("--workers", type=int, default=6, help="number of workers (default 6)")
    ap.add_argument(
        "--timeout", type=float, default=30.0, help="give up after this many seconds (30)"
    )
    ap.add_argument("--seed", type=int, default=1, help="seed for job costs and select (1)")
    ap.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("GOCHAN_DEMO_FAST", "") not in ("", "0"),
        help="run on the virtual clock: same output, no waiting (or GOCHAN_DEMO_FAST=1)",
    )
    args = ap.parse_args(argv)
    if args.jobs < 0 or args.workers < 1 or args.timeout <= 0:
        ap.error("need --jobs >= 0, --workers >= 1 and --timeout > 0")
    clock = "virtual" if args.fast else "real"
    tty = sys.stdout.isatty()
    print(
        f"worker pool: {args.jobs} jobs of 0.3-1.1 s each, {args.workers} workers, "
        f"{clock} clock, seed {args.seed}"
    )
    try:
        ok = gochan.run(
            pool, args.jobs, args.workers, args.timeout, args.seed, tty, clock=clock, seed=args.seed
        )
    except KeyboardInterrupt:  # run() has cancelled every task by the time we get here
        print("\ninterrupted")
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
