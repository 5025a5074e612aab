"""Smoke test of an installed gochan: run against every wheel we build.

``make wheels`` runs it in a fresh venv per wheel (.ci/check_wheels.py), and
cibuildwheel runs it after each wheel it builds (pyproject.toml's
``[tool.cibuildwheel] test-command``). It uses a few tasks, channels
(buffered and not), a WaitGroup, ``select`` with a timer case and a
``default`` case, and a ``Timer``, on the real clock (short waits), and
prints one known line::

    python wheel_smoke.py [compiled|pure]

With an argument it also checks that the build running is that one
(``gochan.build``), and exits non-zero if not. Run it from outside a gochan
checkout, so that the installed gochan is the one imported.
"""

from __future__ import annotations

import sys

import gochan
from gochan.sync import WaitGroup

EXPECTED = "sum of squares 285 from 3 workers; select: default then timer; after: fired"


def worker(jobs: gochan.Chan[int], results: gochan.Chan[int], wg: WaitGroup) -> None:
    for n in jobs:
        results.send(n * n)
    wg.done()


def main() -> str:
    jobs, results = gochan.Chan[int](4), gochan.Chan[int]()
    wg = WaitGroup()
    for _ in range(3):
        wg.add(1)
        gochan.go(worker, jobs, results, wg)

    def feed() -> None:
        for n in range(10):
            jobs.send(n)
        jobs.close()

    def close_when_done() -> None:
        wg.wait()
        results.close()

    gochan.go(feed)
    gochan.go(close_when_done)
    # A hang fails the test after 30 s instead of blocking CI until its limit.
    deadline = gochan.after(30)
    total = 0
    while True:
        i, got = gochan.select(results.recv_ok, deadline.recv)
        if i == 1:
            raise SystemExit("wheel smoke test: timed out waiting for the workers")
        n, ok = got
        if not ok:
            break
        total += n

    # A Timer that has not fired yet: select takes the default case, then
    # the timer's channel once it has fired.
    timer = gochan.Timer(0.05)
    first, _ = gochan.select(timer.c.recv, gochan.default)
    second, _ = gochan.select(timer.c.recv, deadline.recv)
    order = {(1, 0): "default then timer"}.get((first, second), f"cases {first}, {second}")
    fired = "fired" if gochan.select(gochan.after(0.01).recv, deadline.recv)[0] == 0 else "late"
    return f"sum of squares {total} from 3 workers; select: {order}; after: {fired}"


if __name__ == "__main__":
    line = gochan.run(main)
    print(line)
    if line != EXPECTED:
        sys.exit(f"wheel smoke test: expected {EXPECTED!r}")
    if len(sys.argv) > 1 and gochan.build != sys.argv[1]:
        sys.exit(f"wheel smoke test: {gochan.build} build, expected {sys.argv[1]}")
