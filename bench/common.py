"""Shared pieces of the benchmark suite: the system list, the Impl and
Workload records, and helpers that every workload module uses.

Every workload function has the signature ``fn(loops, n) -> seconds``: it
does its own setup, times only the steady-state loop with
``time.perf_counter`` and tears down afterwards, so event-loop creation,
thread start-up and task spawning are not counted. ``loops`` is pyperf's
calibrated loop count; ``n`` is the per-loop item count for sized workloads
(W2, W3, W4) and is ignored by the others. Nothing here imports pyperf or a
peer at module level: a worker process imports only the system it measures.

Two workloads are not timed by pyperf in this process: W6 (memory, measured
in a fresh subprocess per system by w6_memory.py) and every Go row (timed by
the Go programs under go/ with their own loops); run.py collects both.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import random
import shutil
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

# Measured systems, in table order. "greenlet" is the floor for gochan's
# design (bare greenlet switches, no scheduler); "gochan" and the floor are
# never counted as peers.
SYSTEMS: tuple[str, ...] = (
    "gochan",
    "gochan[asyncio]",
    "gochan[uvloop]",
    "gochan[trio]",
    "greenlet",
    "gevent",
    "trio",
    "anyio",
    "asyncio",
    "uvloop",
    "threading",
    "aiochan",
    "goless",
    "pygolang",
    "go",
)
FLOOR = "greenlet"
# gochan on its other backends: same code, run(main, backend=...).
GOCHAN_BACKENDS: dict[str, str] = {
    "gochan": "builtin",
    "gochan[asyncio]": "asyncio",
    "gochan[uvloop]": "uvloop",
    "gochan[trio]": "trio",
}
GO = "go"  # the reference: compiled Go, not a Python peer

# gochan's two builds of the same source (issue 18): pure Python, and the
# runtime's hot modules compiled with mypyc. One run can measure both: a
# gochan row of the compiled build is "<system> (compiled)" (its processes
# run the compiled build's interpreter), an unmarked gochan row is the pure
# build. Every other row (peers, floor, Go) is measured once.
BUILDS: tuple[str, ...] = ("pure", "compiled")
_SUFFIX = {"pure": "", "compiled": " (compiled)"}
NOT_PEERS = frozenset({*(s + x for s in GOCHAN_BACKENDS for x in _SUFFIX.values()), FLOOR, GO})

# The third-party module each system needs (stdlib systems need none).
REQUIRES: dict[str, tuple[str, ...]] = {
    "gochan": ("gochan",),
    "gochan[asyncio]": ("gochan",),
    "gochan[uvloop]": ("gochan", "uvloop"),
    "gochan[trio]": ("gochan", "trio"),
    "greenlet": ("greenlet",),
    "gevent": ("gevent",),
    "trio": ("trio",),
    "anyio": ("anyio",),
    "uvloop": ("uvloop",),
    "aiochan": ("aiochan",),
    "goless": ("goless", "gevent"),
    "pygolang": ("golang",),
}
# How each peer gets installed, for the "not installable" note.
INSTALL_HINT: dict[str, str] = {
    "pygolang": "pip install 'Cython<3' setuptools-dso && pip install --no-build-isolation "
    "pygolang (make bench does this)",
    "go": "apt-get install golang-go (make bench tries this)",
}

# Systems the stdlib-only smoke mode runs (the main .venv has no peers).
SMOKE_SYSTEMS: tuple[str, ...] = ("gochan", "greenlet", "asyncio", "threading")

TimeFn = Callable[[int, int], float]


@dataclass(frozen=True)
class Impl:
    """One system's implementation of a workload, or why it has none."""

    label: str  # the primitive used, as printed in the table
    fn: TimeFn | None = None
    na: str = ""  # reason when fn is None

    @staticmethod
    def missing(reason: str) -> Impl:
        return Impl(label="n/a", fn=None, na=reason)


@dataclass(frozen=True)
class Workload:
    key: str  # "W1"
    name: str  # "pingpong": the pyperf benchmark is "W1-pingpong/<system>"
    title: str
    unit: str  # what one reported value is: "round trip", "item", "select"
    description: str
    impls: dict[str, Impl]
    sized: bool = False  # True: fn(loops, n) moves loops * n items
    # Per-loop sizes of a sized workload: full run, --quick, --smoke.
    sizes: tuple[int, int, int] = (0, 0, 0)
    # How values are shown: pyperf and the JSON hold seconds (bytes for
    # W6); the table divides ns by ``scale`` and prints ``shown``.
    shown: str = "ns"
    scale: float = 1.0
    external: bool = False  # W6: not a pyperf time, run by run.py itself
    # Workloads whose one loop is already a big batch (sized ones, W7) skip
    # pyperf's loop calibration: ``fixed_loops`` loops per value in a full
    # run and ``quick_loops`` with --quick (0: calibrate as usual).
    fixed_loops: int = 0
    quick_loops: int = 0

    def bench_name(self, system: str) -> str:
        return f"{self.key}-{self.name}/{system}"


def row_name(system: str, build: str | None) -> str:
    """The row of ``system`` for a gochan ``build``: "gochan", "gochan (compiled)"."""
    return system + _SUFFIX[build] if build and system in GOCHAN_BACKENDS else system


def split_row(name: str) -> tuple[str, str | None]:
    """(system, build) of a row name; build is None for a row that is not gochan's."""
    for build, suffix in _SUFFIX.items():
        if suffix and name.endswith(suffix) and name[: -len(suffix)] in GOCHAN_BACKENDS:
            return name[: -len(suffix)], build
    return name, ("pure" if name in GOCHAN_BACKENDS else None)


@dataclass
class Interpreter:
    """The Python that runs one build's gochan rows, as its probe found it."""

    build: str
    python: str
    describe: str = ""  # gochan._runtime.build.describe() there
    executable: str = ""  # its sys.executable (``python`` may be a wrapper script)
    missing: dict[str, str] = field(default_factory=dict)  # gochan system: why not installed
    error: str = ""  # the probe failed, or found another build: every row of it fails


# build -> the interpreter of its rows, filled in by run.py's manager; a
# build not in it runs in this process's interpreter (sys.executable).
INTERPRETERS: dict[str, Interpreter] = {}


def python_for(name: str) -> str:
    """The interpreter a fresh process for row ``name`` runs: its build's for
    a gochan row, this one for every other row."""
    _, build = split_row(name)
    interp = INTERPRETERS.get(build) if build else None
    return interp.python if interp is not None else sys.executable


def build_seen() -> str | None:
    """The build of the gochan this process imported (None: it imported none).
    Fresh processes print it with their result, after measuring, so the
    manager can check that a row measured the build it is named for."""
    gochan = sys.modules.get("gochan")
    return getattr(gochan, "build", None) if gochan is not None else None


def available(name: str) -> str | None:
    """None if row ``name`` can run here, else why not (checked without
    importing it, so the manager process stays light; a row of another
    build's interpreter, by what that interpreter's probe found)."""
    system, build = split_row(name)
    interp = INTERPRETERS.get(build) if build else None
    if interp is not None and interp.error:
        return interp.error
    if interp is not None and interp.python != sys.executable:
        return interp.missing.get(system)
    if system == GO:
        if shutil.which("go") is None:
            return "not installable here: no Go toolchain (`go`) on PATH; " + INSTALL_HINT[GO]
        return None
    for mod in REQUIRES.get(system, ()):
        if importlib.util.find_spec(mod) is None:
            hint = INSTALL_HINT.get(system, f"pip install {mod}")
            return f"not installed: {mod} is missing from this environment ({hint})"
    return None


def gochan_rows(fn: Callable[..., float], label: str) -> dict[str, Any]:
    """The same gochan function on every backend: {system: Impl}."""
    return {
        system: Impl(label, functools.partial(fn, backend=backend))
        for system, backend in GOCHAN_BACKENDS.items()
    }


# A fixed pseudo-random case sequence for W5, cycled with a mask so the
# random number generator never runs inside the timed loop.
SEQ_MASK = 4095
_SEQ_RNG = random.Random(20240601)
SELECT_SEQ: list[int] = [_SEQ_RNG.randrange(4) for _ in range(SEQ_MASK + 1)]
assert len(set(SELECT_SEQ)) == 4


def run_async(system: str, coro: Callable[..., Coroutine[Any, Any, float]], *args: Any) -> float:
    """Run ``coro(*args)`` on a fresh asyncio (or uvloop) event loop."""
    if system == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro(*args))
    with asyncio.Runner() as runner:
        return runner.run(coro(*args))
