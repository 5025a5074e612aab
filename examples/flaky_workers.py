"""Flaky workers under a supervision tree: panics contained, work retried, nothing lost.

    python examples/flaky_workers.py

Twelve jobs wait in a queue. Three workers take them one at a time; the
"network" drops the first attempt at jobs 3 and 8, and the worker holding
the job panics. Next to the workers, a metrics subtree runs an exporter
that can never reach its backend. The tree:

    root (one_for_one)
    ├── worker-1, worker-2, worker-3     permanent
    └── metrics (one_for_one, max 1 restart in 10 s), transient
        └── exporter                     permanent

What happens:

* A worker that panics is restarted by ``root`` after a backoff (0.5 s,
  then 1 s, ...). Its deferred ``put_back`` runs while the panic unwinds
  and puts the unfinished job back in the queue, so another worker retries
  it: every job is done exactly once.
* The exporter panics every time. ``metrics`` restarts it once; the next
  panic is over its budget, so ``metrics`` stops and gives up, which
  escalates: to ``root``, the whole metrics subtree is one child that
  panicked. It is transient, so root restarts it, and that restart counts
  against root's own budget (3 restarts in 5 s). Had root run out too, it
  would give up in turn and the program would stop with the chain of
  causes; here main has all its results first and stops the tree.
* Every panic produces a report, printed here by ``on_report`` callbacks.

Everything runs on gochan's virtual clock (the program takes no real
time) with jitter off, so the output is the same on every run; the test
suite compares all of it (tests/examples/test_example_flaky_workers.py).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import gochan
from gochan import Chan, PanicReport, Supervisor, defer, func, panic

N_JOBS = 12
FLAKY_JOBS = {3, 8}  # the first attempt at these fails


def say(who: str, msg: str) -> None:
    print(f"{gochan.monotonic():4.1f}s {who:12} {msg}")


@dataclass
class Shop:
    jobs: Chan[int] = field(default_factory=lambda: Chan[int](N_JOBS))
    done: Chan[tuple[int, str]] = field(default_factory=lambda: Chan[tuple[int, str]]())
    attempts: Counter[int] = field(default_factory=Counter)


@func
def worker(name: str, shop: Shop) -> None:
    job: int | None = None  # the job in hand, read by put_back when it runs

    def put_back() -> None:
        if job is not None:
            shop.jobs.send(job)
            say(name, f"put job {job} back in the queue")

    defer(put_back)
    for job in shop.jobs:
        shop.attempts[job] += 1
        gochan.sleep(1.0)  # the work
        if job in FLAKY_JOBS and shop.attempts[job] == 1:
            panic(f"connection reset during job {job}")
        shop.done.send((job, name))
        job = None


def exporter() -> None:
    gochan.sleep(1.5)
    raise ConnectionRefusedError("metrics backend is down")


def report(r: PanicReport) -> None:
    print(f"      report: {r}")


def main() -> None:
    # The reports are printed by on_report below; without that, the
    # "gochan.supervisor" logger would print them (to stderr by default).
    logging.getLogger("gochan.supervisor").setLevel(logging.CRITICAL)
    shop = Shop()
    root = Supervisor("root", backoff=0.5, jitter=0, on_report=report)
    for i in (1, 2, 3):
        root.add(worker, f"worker-{i}", shop, name=f"worker-{i}")
    metrics = Supervisor("metrics", max_restarts=1, period=10, backoff=1, jitter=0)
    metrics.on_report = report
    metrics.add(exporter)
    root.add(metrics, restart="transient")

    for j in range(N_JOBS):
        shop.jobs.send(j)
    root.start()

    by_worker: Counter[str] = Counter()
    seen: Counter[int] = Counter()
    for n in range(N_JOBS):
        job, name = shop.done.recv()  # type: ignore[misc]
        by_worker[name] += 1
        seen[job] += 1
        if n == 5:
            tree = gochan.dump().split("supervision trees:\n")[1].split("\n\n")[0]
            print("the tree at this moment (from gochan.dump()):")
            print(re.sub(r"goroutine \d+", "goroutine N", tree))
    say("main", f"all {N_JOBS} jobs done; stopping the tree")
    root.stop()
    retried = sorted(j for j, n in shop.attempts.items() if n > 1)
    print(f"jobs done per worker: {dict(sorted(by_worker.items()))}")
    once = sorted(seen) == list(range(N_JOBS)) and set(seen.values()) == {1}
    print(f"every job done exactly once: {once}; retried after a panic: {retried}")
    print(f"tasks left besides main: {gochan.num_goroutine() - 1}")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
