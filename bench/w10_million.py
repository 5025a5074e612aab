"""W10 a million tasks: W3's spawn and W6's parked memory at 1,000,000 tasks.

W3 times tasks that end at once and W6 weighs 100,000 parked ones; this one
parks a million and asks whether the cost per task stays what it was at a
tenth of that (issue 17: 1,000,000 parked gochan tasks once took 14x the
time of 100,000, and the target is at most 12x, with no more memory per
task). Not a pyperf timing loop: one run is one burst, far too big to
repeat in a process, so ``run.py`` starts this file in a fresh interpreter
for each (system, size, repeat),

    python bench/w10_million.py SYSTEM N

which imports the system, starts its runtime and creates the one object all
tasks will wait on, then

1. **spawn + park** (timed): starts N tasks that each bump a counter and
   park, and yields until all N have parked;
2. **memory** (not timed): ``gc.collect()``, RSS (``/proc/self/statm``)
   minus the RSS before step 1 (also taken after a collection), per task;
3. **wake + exit** (timed): wakes them all at once and waits until every
   task has ended;

and prints one JSON line: wall and CPU seconds of each timed phase (CPU is
user + system, the figure that the load of other processes moves least,
also given apart: user time is the interpreter's work, system time the
kernel's, mostly page faults on fresh memory), its page faults, bytes per
parked task, and the cyclic GC's collections and seconds
(``gc.callbacks``) per phase. It then leaves with ``os._exit``: tearing a
million objects down is no part of the measurement.

Each system parks its tasks the way its own users would wait for one
broadcast: gochan tasks receive from a channel that is then closed (Go's
``close(done)``), gevent greenlets and asyncio tasks wait on an ``Event``
that is then set; each starts and joins them with its own group (gochan
``WaitGroup.go``/``wait``, gevent ``spawn``/``joinall``, an asyncio
``TaskGroup``). The floor is bare greenlets that each run a Python function
which switches back to the main greenlet (the W6 floor's greenlets run no
Python code at all, so they get no frame stack, which no real task can do
without). Every run also has a reference run at N / 10 in a fresh process,
so each row says how the cost per task moved between the two sizes.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Impl, Workload, build_seen, python_for, split_row  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")
# Systems measured (the others are n/a: W6 has them at 100,000).
SYSTEMS = ("gochan", "greenlet", "gevent", "asyncio")
REPEAT = {"full": 3, "quick": 1, "smoke": 1}
# The largest a run may need (gevent's ~8 KB per parked task, with room):
# a run is skipped, and says so, unless the machine has this much available.
BYTES_NEEDED_PER_TASK = 12_000


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class Probe:
    """Wall and CPU time of each phase, RSS after a collection, and the
    cyclic GC's work (collections per generation, seconds) meanwhile."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.out: dict[str, Any] = {"n": n}
        self._gc_n = [0, 0, 0]
        self._gc_s = self._gc_cpu_s = 0.0
        self._gc_t0 = self._gc_c0 = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_t0, self._gc_c0 = time.perf_counter(), time.process_time()
        else:
            self._gc_n[info["generation"]] += 1
            self._gc_s += time.perf_counter() - self._gc_t0
            self._gc_cpu_s += time.process_time() - self._gc_c0

    def _mark(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._ru = resource.getrusage(resource.RUSAGE_SELF)
        self._gc0 = (list(self._gc_n), self._gc_s, self._gc_cpu_s)

    def _phase(self, name: str) -> None:
        self.out[f"{name}_s"] = time.perf_counter() - self._wall
        self.out[f"{name}_cpu_s"] = time.process_time() - self._cpu
        ru, ru0 = resource.getrusage(resource.RUSAGE_SELF), self._ru
        self.out[f"{name}_user_s"] = ru.ru_utime - ru0.ru_utime  # the interpreter's work
        self.out[f"{name}_sys_s"] = ru.ru_stime - ru0.ru_stime  # the kernel's: mmap, page faults
        self.out[f"{name}_page_faults"] = ru.ru_minflt - ru0.ru_minflt
        n0, gc_s0, gc_cpu_s0 = self._gc0
        self.out[f"{name}_gc_collections"] = [b - a for a, b in zip(n0, self._gc_n, strict=True)]
        self.out[f"{name}_gc_s"] = self._gc_s - gc_s0
        self.out[f"{name}_gc_cpu_s"] = self._gc_cpu_s - gc_cpu_s0

    def start(self) -> None:
        """Before the first spawn."""
        gc.collect()
        self._rss0 = rss()
        self._mark()

    def parked(self) -> None:
        """Every task has parked: end of the spawn + park phase."""
        self._phase("spawn_park")
        gc.collect()
        self.out["bytes_per_task"] = (rss() - self._rss0) / self.n
        self._mark()

    def done(self) -> None:
        """Every task has ended: print and leave (a gochan row also says
        which build it imported, for run.py's check)."""
        self._phase("wake")
        if (build := build_seen()) is not None:
            self.out["gochan_build"] = build
        print(json.dumps(self.out), flush=True)
        os._exit(0)


def gochan_w10(n: int, probe: Probe) -> None:
    import gochan

    def main() -> None:
        done = gochan.Chan[None]()
        wg = gochan.WaitGroup()
        started = 0

        def parked() -> None:
            nonlocal started
            started += 1
            done.recv()

        probe.start()
        start = wg.go
        for _ in range(n):
            start(parked)
        while started < n:
            gochan.gosched()
        probe.parked()
        done.close()
        wg.wait()
        probe.done()

    gochan.run(main)


def greenlet_w10(n: int, probe: Probe) -> None:
    """The floor: no scheduler, no channel, no task object; each greenlet
    runs a Python function that switches straight back to main."""
    from greenlet import getcurrent, greenlet

    back = getcurrent().switch

    def parked() -> None:
        back()

    probe.start()
    gs = [greenlet(parked) for _ in range(n)]
    for g in gs:
        g.switch()
    probe.parked()
    for g in gs:
        g.switch()
    probe.done()


def gevent_w10(n: int, probe: Probe) -> None:
    import gevent
    from gevent.event import Event

    ev = Event()
    started = 0

    def parked() -> None:
        nonlocal started
        started += 1
        ev.wait()

    gevent.sleep(0)  # start the hub before the baseline
    probe.start()
    spawn = gevent.spawn
    gs = [spawn(parked) for _ in range(n)]
    while started < n:
        gevent.sleep(0)
    probe.parked()
    ev.set()
    gevent.joinall(gs)
    probe.done()


def asyncio_w10(n: int, probe: Probe) -> None:
    import asyncio

    async def main() -> None:
        ev = asyncio.Event()
        started = 0

        async def parked() -> None:
            nonlocal started
            started += 1
            await ev.wait()

        probe.start()
        async with asyncio.TaskGroup() as tg:
            create = tg.create_task
            for _ in range(n):
                create(parked())
            while started < n:
                await asyncio.sleep(0)
            probe.parked()
            ev.set()
        probe.done()

    asyncio.run(main())


RUNNERS: dict[str, Callable[[int, Probe], None]] = {
    "gochan": gochan_w10,
    "greenlet": greenlet_w10,
    "gevent": gevent_w10,
    "asyncio": asyncio_w10,
}


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return sys.maxsize


def run_one(system: str, n: int, timeout: float = 1800) -> dict[str, Any]:
    """One fresh process: {phase times, bytes_per_task, ...} or {"error": why}.
    ``system`` is a row: "gochan (compiled)" runs in the compiled build's
    interpreter (common.python_for)."""
    need = n * BYTES_NEEDED_PER_TASK
    if available_bytes() < need:
        return {"error": f"skipped: needs about {need / 2**30:.1f} GiB free memory"}
    cmd = [python_for(system), str(Path(__file__).resolve()), split_row(system)[0], str(n)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"exit {p.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(
    systems: list[str], n: int, repeat: int, progress: Callable[[str], None] = print
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{system: {"big": [run, ...], "small": [run, ...]}}: ``repeat`` runs at
    ``n`` and at ``n // 10`` per system, the systems interleaved in each
    round (the load on a shared machine drifts; interleaving spreads it)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {s: {"big": [], "small": []} for s in systems}
    for r in range(repeat):
        for size, count in (("small", n // 10), ("big", n)):
            for s in systems[r % len(systems) :] + systems[: r % len(systems)]:
                run = run_one(s, count)
                out[s][size].append(run)
                what = run.get("error") or (
                    f"spawn + park {run['spawn_park_s']:.2f} s "
                    f"(user {run['spawn_park_user_s']:.2f}, system {run['spawn_park_sys_s']:.2f}), "
                    f"{run['bytes_per_task']:,.0f} bytes per task"
                )
                progress(f"W10 {s} {count:,} tasks ({r + 1}/{repeat}): {what}")
    return out


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def summarize(runs: list[dict[str, Any]], prefix: str) -> dict[str, float]:
    """The medians of a size's runs, keyed ``{prefix}_...`` (a Cell's extra)."""
    keys = (
        *("spawn_park_s", "spawn_park_cpu_s", "spawn_park_user_s", "spawn_park_sys_s"),
        *("spawn_park_page_faults", "bytes_per_task", "wake_s", "spawn_park_gc_s"),
    )
    out = {f"{prefix}_{k}": _median([r[k] for r in runs]) for k in keys}
    out[f"{prefix}_gen2"] = _median([r["spawn_park_gc_collections"][2] for r in runs])
    out[f"{prefix}_n"] = runs[0]["n"]
    out[f"{prefix}_bytes"] = out[f"{prefix}_bytes_per_task"]
    return out


_NA = "not run at a million (W6 has it at 100,000 parked tasks)"

WORKLOAD = Workload(
    key="W10",
    name="million",
    title="W10 a million tasks",
    unit="task",
    description="W3 + W6 at scale: spawn N tasks that each park on one broadcast (then wake "
    "them all), each run in a fresh process; spawn + park time and RSS per parked task at N, "
    "and how both moved from N / 10",
    sized=True,
    sizes=(1_000_000, 100_000, 5_000),
    shown="\u00b5s",
    scale=1e3,
    external=True,
    impls={
        "gochan": Impl("WaitGroup.go(f) x n, f does done.recv(); close(done), wg.wait()"),
        "gochan[asyncio]": Impl.missing("spawning and parking never reach the backend"),
        "gochan[uvloop]": Impl.missing("spawning and parking never reach the backend"),
        "gochan[trio]": Impl.missing("spawning and parking never reach the backend"),
        "greenlet": Impl("greenlet(f) x n, f switches back to main (a Python frame each)"),
        "gevent": Impl("gevent.spawn(f) x n, f does Event.wait(); set(), joinall"),
        "trio": Impl.missing(_NA),
        "anyio": Impl.missing(_NA),
        "asyncio": Impl("TaskGroup.create_task(f()) x n, f awaits Event.wait(); set()"),
        "uvloop": Impl.missing(_NA),
        "threading": Impl.missing("a million OS threads: not on this machine"),
        "aiochan": Impl.missing(_NA),
        "goless": Impl.missing(_NA),
        "pygolang": Impl.missing("a million OS threads (pygolang's go() starts one each)"),
        "go": Impl.missing("not measured at a million (the Go program's W6 is at 100,000)"),
    },
)


if __name__ == "__main__":
    system, count = sys.argv[1], int(sys.argv[2])
    RUNNERS[system](count, Probe(count))
    sys.exit("the runner returned without printing a result")
