"""gochan benchmark suite: gochan (every backend) against gevent, trio, anyio,
asyncio, uvloop, threading, aiochan, goless, pygolang, a bare-greenlet floor
and Go, on identical workloads.

    .venv-bench/bin/python bench/run.py            # full run (make bench)
    .venv-bench/bin/python bench/run.py --quick    # a few minutes (make bench-quick)
    .venv/bin/python bench/run.py --smoke          # no pyperf: stdlib peers, tiny N

Each (workload, system) pair is one pyperf benchmark timed with
``Runner.bench_time_func``. pyperf re-runs this script as worker processes
(``--worker --worker-task=K``): every process registers the same benchmarks
in the same order and pyperf runs only task K in a worker, so the selection
options (--quick, --systems, --workloads, --items, --tasks, --jobs) are
forwarded to the workers through ``add_cmdline_args``. Only the manager
process writes the results: raw pyperf JSON and a markdown table under
bench/results/.

Two kinds of rows are not pyperf worker runs. W6 (memory) is measured by the
manager, one fresh ``w6_memory.py`` process per (system, repeat). Go rows
come from the Go program in go/ (built with ``go build``, run once with
GOMAXPROCS=1, timing itself). Both are stored in the same JSON as pyperf
benchmarks (unit "byte" for W6) so ``pyperf compare_to`` covers them too.

Both of gochan's builds in one run (issue 18): ``--builds pure,compiled``
(the default when this interpreter's gochan is pure and ``--compiled-python``,
by default ``.venv-compiled/bin/python``, exists) measures every gochan row
twice, the pure build here and the compiled one in that interpreter's
processes; the peers, the floor and Go once. A compiled row is named
"gochan (compiled)" (an unmarked gochan row is the pure build). Its pyperf
benchmark follows the pure one's, with pyperf's ``--python`` set to the
compiled interpreter for it alone (the workers register the same benchmarks
in the same order whichever Python runs them); W6, W10 and W11 start that
row's fresh processes with it, in their usual interleaved order. Each
interpreter is probed first (its ``describe()`` heads the report), and
every row checks what it measured: a pyperf worker of a gochan row refuses
to run (exit status 3) unless it imported the build its row is named for,
and W6, W10 and W11's processes print the build they imported beside their
result; a mismatch is an error in that cell, never a mislabelled number.
W9 runs on this interpreter's build only.

Workloads: W1 ping-pong, W2 buffered, W3 spawn, W4 fan-out/in, W5 select,
W6 memory, W7 timers, W8a mutex, W8b waitgroup, W8c context cancel fan-out,
W9 the K8s pool, W10 a million parked tasks, W11 echo round trips over
loopback TCP (w*.py). W10 and W11, like W6, run in fresh processes started
by the manager (w10_million.py, w11_echo.py; W10 at 1,000,000 tasks only in
a full run, 100,000 with --quick). Peers that lack a feature are reported as n/a with
the reason, never faked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
from common import (
    BUILDS,
    GO,
    GOCHAN_BACKENDS,
    SMOKE_SYSTEMS,
    SYSTEMS,
    Impl,
    Interpreter,
    Workload,
    available,
    python_for,
    row_name,
    split_row,
)
from report import Cell, render, w11_row

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# The compiled build's venv (make .venv-compiled/bench: gochan compiled with
# mypyc, plus the bench peers).
COMPILED_PYTHON = HERE.parent / ".venv-compiled" / "bin" / "python"
# A pyperf worker of a gochan row exits with this status when the gochan it
# imported is not the build its row is named for.
BUILD_MISMATCH_EXIT = 3

# pyperf settings. Full: several processes for robust medians. Quick: the
# --fast idea (fewer processes) to stay within a few minutes on 2 cores.
FULL = {"processes": 4, "values": 3, "warmups": 1, "min_time": 0.1}
QUICK = {"processes": 1, "values": 3, "warmups": 1, "min_time": 0.05}
# Workloads with a fixed loop count (one loop = a big batch: W2, W3, W4 at
# full size, W7) take seconds per value on the slow peers (trio moves W2's
# 1,000,000 items in ~15 s), so a full run gives them one process of 3
# values each (their sizes already average over 10^5..10^6 operations).
FULL_BATCH = {"processes": 1, "values": 3, "warmups": 1}
# W6: fresh processes per system; Go: timed runs per workload.
W6_REPEAT = {"full": 3, "quick": 1}
GO_VALUES = {"full": 9, "quick": 3}
GO_MIN_TIME = {"full": "200ms", "quick": "50ms"}
# Per-loop sizes of the sized workloads live on each Workload
# (``sizes``: full, quick, smoke); these options override them.
SIZE_OPTIONS = {"W2": "items", "W3": "tasks", "W4": "jobs", "W10": "parked"}

# Smoke mode (no pyperf): a plain timing loop, one process, tiny sizes.
SMOKE_LOOPS = {
    "W1": 2_000,
    "W2": 1,
    "W3": 1,
    "W4": 1,
    "W5": 2_000,
    "W7": 1,
    "W8a": 20_000,
    "W8b": 20_000,
    "W8c": 2,
}
SMOKE_REPEAT = 3
ALL_WORKLOADS = "W1,W2,W3,W4,W5,W6,W7,W8a,W8b,W8c,W9,W10,W11"


def load_workloads() -> list[Workload]:
    import w1_pingpong
    import w2_buffered
    import w3_spawn
    import w4_fanout
    import w5_select
    import w6_memory
    import w7_timers
    import w8_sync
    import w8c_context
    import w9_k8s
    import w10_million
    import w11_echo

    return [
        w1_pingpong.WORKLOAD,
        w2_buffered.WORKLOAD,
        w3_spawn.WORKLOAD,
        w4_fanout.WORKLOAD,
        w5_select.WORKLOAD,
        w6_memory.WORKLOAD,
        w7_timers.WORKLOAD,
        *w8_sync.WORKLOADS,
        w8c_context.WORKLOAD,
        w9_k8s.WORKLOAD,
        w10_million.WORKLOAD,
        w11_echo.WORKLOAD,
    ]


def impl_of(w: Workload, system: str) -> Impl:
    return w.impls.get(system) or Impl.missing(f"not written for {w.key}")


def size_of(w: Workload, opts: argparse.Namespace, mode: str) -> int:
    """Per-loop size of a sized workload in ``mode`` (full, quick, smoke)."""
    opt = SIZE_OPTIONS.get(w.key)
    given = getattr(opts, opt) if opt else None
    if given is not None:
        return int(given)
    full, quick, smoke = w.sizes
    return {"full": full, "quick": quick, "smoke": smoke}[mode]


def add_options(parser: argparse.ArgumentParser) -> None:
    """The suite's own options (also added to pyperf's argument parser)."""
    g = parser.add_argument_group("gochan suite")
    g.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer processes ({QUICK['processes']}), smaller sizes (W2 20,000 items, W3 "
        "10,000 tasks, W4 10,000 jobs per loop), one W6 process per system",
    )
    g.add_argument(
        "--smoke",
        action="store_true",
        help="no pyperf: time gochan, greenlet, asyncio and threading once each with tiny "
        "sizes (a check that everything runs, not a measurement; no Go); writes no files",
    )
    g.add_argument(
        "--systems",
        metavar="LIST",
        default=",".join(SYSTEMS),
        help=f"comma-separated systems to run (default: all of {','.join(SYSTEMS)})",
    )
    g.add_argument(
        "--workloads",
        metavar="LIST",
        default=ALL_WORKLOADS,
        help=f"comma-separated workloads to run (default: {ALL_WORKLOADS})",
    )
    g.add_argument(
        "--items",
        type=int,
        metavar="N",
        default=None,
        help="W2 items per loop (default 1,000,000; 20,000 with --quick)",
    )
    g.add_argument(
        "--tasks",
        type=int,
        metavar="N",
        default=None,
        help="W3 tasks per loop (default 100,000; 10,000 with --quick)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        default=None,
        help="W4 jobs per loop (default 200,000; 10,000 with --quick)",
    )
    g.add_argument(
        "--parked",
        type=int,
        metavar="N",
        default=None,
        help="W10 parked tasks per run (default 1,000,000; 100,000 with --quick); each "
        "system also runs at N / 10",
    )
    g.add_argument(
        "--builds",
        metavar="LIST",
        default="auto",
        help="gochan builds to measure, each gochan row once per build: pure, compiled, or "
        "pure,compiled (the peers are measured once, in this interpreter). The build of this "
        "interpreter's gochan runs here; the other one in --compiled-python's processes. "
        "Default auto: this interpreter's build, plus the compiled one when this one is pure "
        "and --compiled-python exists (with --smoke: this interpreter's build only)",
    )
    g.add_argument(
        "--compiled-python",
        metavar="PATH",
        default=str(COMPILED_PYTHON),
        help="the interpreter whose gochan is the compiled build (default: the checkout's "
        ".venv-compiled/bin/python, which `make .venv-compiled/bench` builds)",
    )
    # Internal: the manager tells its workers which rows it found unavailable
    # (a worker of another interpreter must register the same benchmarks);
    # --probe prints this interpreter's gochan build as JSON; --as-build makes
    # a smoke run of the other build's in-process rows, printed as JSON.
    g.add_argument("--skip-rows", default="", help=argparse.SUPPRESS)
    g.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    g.add_argument("--as-build", default="", help=argparse.SUPPRESS)
    g.add_argument(
        "--results-dir",
        metavar="DIR",
        default=str(RESULTS),
        help="where the JSON and latest.md go (default: bench/results)",
    )


def _split(value: str, known: list[str], what: str) -> list[str]:
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in wanted if v not in known]
    if bad:
        sys.exit(f"unknown {what}: {', '.join(bad)} (known: {', '.join(known)})")
    return wanted


def choose(opts: argparse.Namespace, smoke: bool = False) -> tuple[list[Workload], list[str]]:
    workloads = load_workloads()
    keys = _split(opts.workloads, [w.key for w in workloads], "workload")
    systems = _split(opts.systems, list(SYSTEMS), "system")
    if smoke:
        systems = [s for s in systems if s in SMOKE_SYSTEMS]
    return [w for w in workloads if w.key in keys], systems


def machine_line() -> str:
    """This interpreter's gochan build (gochan's version, pure or compiled,
    the Python: it runs every row but another build's gochan rows), then
    the machine."""
    from gochan._runtime.build import describe

    return f"{describe()}; {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


# -- gochan's builds: which ones, and the interpreter of each ------------------------


def rows_of(system: str, builds: list[str]) -> list[str]:
    """The rows of ``system``: one per build for a gochan system, else one."""
    if system in GOCHAN_BACKENDS:
        return [row_name(system, b) for b in builds]
    return [system]


def probe() -> dict[str, Any]:
    """This interpreter's gochan: its build, describe(), and which gochan
    systems cannot run here (``run.py --probe`` prints it)."""
    from gochan._runtime.build import BUILD, describe

    missing = {s: why for s in GOCHAN_BACKENDS if (why := available(s))}
    return {"build": BUILD, "describe": describe(), "python": sys.executable, "missing": missing}


def probe_interpreter(build: str, python: str) -> Interpreter:
    """Ask ``python`` which gochan it imports; an Interpreter whose error says
    what is wrong when it cannot run ``build``'s rows."""
    interp = Interpreter(build, python)
    try:
        p = subprocess.run(
            [python, str(HERE / "run.py"), "--probe"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        found = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception as e:
        tail = ""
        if "p" in locals():
            tail = (p.stderr.strip().splitlines() or [""])[-1]
        interp.error = f"build check failed: {python} could not be probed: {e} {tail}".strip()
        return interp
    interp.describe, interp.missing = found["describe"], found["missing"]
    interp.executable = found["python"]
    if found["build"] != build:
        interp.error = (
            f"build check failed: {python} imports gochan's {found['build']} build, not the "
            f"{build} one ({found['describe']})"
        )
    return interp


def resolve_builds(opts: argparse.Namespace, smoke: bool = False) -> tuple[list[str], list[str]]:
    """The builds to measure (in BUILDS order) and notes on builds left out.
    Fills common.INTERPRETERS: this interpreter for its own build, the
    probed --compiled-python for the compiled one."""
    from gochan._runtime.build import BUILD, describe

    if BUILD not in BUILDS:
        sys.exit(f"this interpreter's gochan is a {BUILD} build (a broken install): {describe()}")
    common.INTERPRETERS[BUILD] = Interpreter(BUILD, sys.executable, describe())
    notes: list[str] = []
    compiled = opts.compiled_python
    if opts.builds == "auto":
        builds = [BUILD]
        if BUILD == "pure" and not smoke:
            if not Path(compiled).exists():
                notes.append(
                    f"compiled build not measured: no interpreter at {compiled} "
                    "(`make .venv-compiled/bench` builds it; or --compiled-python PATH)"
                )
            else:
                interp = probe_interpreter("compiled", compiled)
                if interp.error:
                    notes.append(f"compiled build not measured: {interp.error}")
                else:
                    common.INTERPRETERS["compiled"] = interp
                    builds.append("compiled")
        return builds, notes
    builds = _split(opts.builds, list(BUILDS), "build")
    for b in builds:
        if b == BUILD:
            continue
        if b == "pure":
            sys.exit(
                "the pure build's rows need a pure interpreter running run.py (it measures the "
                "peers too): run .venv-bench/bin/python bench/run.py --builds pure,compiled"
            )
        if not Path(compiled).exists():
            sys.exit(
                f"--builds {opts.builds}: no compiled interpreter at {compiled} "
                "(`make .venv-compiled/bench` builds it; or --compiled-python PATH)"
            )
        interp = probe_interpreter(b, compiled)
        if interp.error:  # every row of this build will be an error that says why
            print(f"ERROR: {interp.error}", file=sys.stderr)
        common.INTERPRETERS[b] = interp
    return [b for b in BUILDS if b in builds], notes


def builds_line(builds: list[str], notes: list[str]) -> str:
    """Which builds were measured, by which interpreters (the report's header)."""
    parts = []
    for b in builds:
        interp = common.INTERPRETERS[b]
        rows = f"`{row_name('gochan', b)}`, `{row_name('gochan[asyncio]', b)}`, ..."
        here = ", which runs every other row too" if interp.python == sys.executable else ""
        what = interp.error or interp.describe
        where = interp.python
        if interp.executable and interp.executable != where:
            where += f" ({interp.executable})"
        parts.append(f"{b} (rows {rows}): {what}, in {where}{here}")
    text = f"gochan builds measured: {'; '.join(parts)}."
    if len(builds) > 1:
        text += f" W9 runs on the {builds_home()} build only."
    for n in notes:
        text += f" {n[0].upper()}{n[1:]}."
    return text


def builds_home() -> str:
    """The build of this interpreter's gochan."""
    return next(b for b, i in common.INTERPRETERS.items() if i.python == sys.executable)


def is_build_error(name: str, why: str) -> bool:
    """True if ``why`` is row ``name``'s build's interpreter failing its check."""
    _, build = split_row(name)
    interp = common.INTERPRETERS.get(build) if build else None
    return interp is not None and bool(why) and why == interp.error


def na_cell(name: str, label: str, why: str) -> Cell:
    """A row that does not run: n/a with the reason, or an error when its
    build's interpreter failed its build check."""
    return Cell(name, label, note=why, error=is_build_error(name, why))


def build_problem(name: str, result: dict[str, Any]) -> str | None:
    """Why a fresh process's result cannot be row ``name``'s: it imported
    another gochan build than the row is named for (None: it is that build)."""
    _, build = split_row(name)
    if build is None:
        return None
    seen = result.get("gochan_build")
    if seen == build:
        return None
    return (
        f"build check failed: the process ({python_for(name)}) imported gochan's "
        f"{seen or 'unknown'} build, not the {build} one"
    )


# -- rows not run by pyperf: W6 memory and Go ----------------------------------


def run_w6(name: str, n: int, repeat: int) -> Cell:
    """Bytes per parked task, one fresh process per value (row ``name``'s
    interpreter: a gochan build's row runs in that build's)."""
    import w6_memory

    system = split_row(name)[0]
    impl = impl_of(w6_memory.WORKLOAD, system)
    if system not in w6_memory.PARKERS:
        return Cell(name, impl.label, note=impl.na or "no W6 implementation")
    values = []
    for _ in range(repeat):
        cmd = [python_for(name), str(HERE / "w6_memory.py"), system, str(n)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            out = json.loads(p.stdout.strip().splitlines()[-1])
            values.append(float(out["bytes_per_task"]))
        except Exception as e:  # a crash, a timeout or no output: shown in the table
            tail = (p.stderr.strip().splitlines() or [""])[-1] if "p" in locals() else ""
            return Cell(name, impl.label, note=f"W6 process failed: {e} {tail}", error=True)
        if why := build_problem(name, out):
            return Cell(name, impl.label, note=why, error=True)
    return Cell(name, impl.label, values_ns=values)


def run_go(keys: list[str], mode: str, sizes: dict[str, int]) -> dict[str, Any]:
    """Build and run the Go reference once for every workload in ``keys``.

    Returns {key: [ns per op, ...] or [bytes per goroutine, ...]}, or
    {"error": reason} when Go is missing or fails.
    """
    why = available(GO)
    if why is not None:
        return {"error": why}
    env = dict(os.environ, GOMAXPROCS="1", GOFLAGS="-mod=mod", GO111MODULE="on")
    env.setdefault("HOME", tempfile.gettempdir())
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "gochan-bench-gocache"))
    binary = Path(tempfile.gettempdir()) / "gochan-bench-go"
    try:
        subprocess.run(
            ["go", "build", "-o", str(binary), "."],
            cwd=HERE / "go",
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as e:
        return {"error": f"go build failed: {e.stderr.strip()[-300:]}"}
    except Exception as e:
        return {"error": f"go build failed: {e}"}
    out: dict[str, Any] = {}
    timed = [k for k in keys if k != "W6"]
    args = [
        str(binary),
        "-values",
        str(GO_VALUES[mode]),
        "-mintime",
        GO_MIN_TIME[mode],
        "-tasks",
        str(sizes.get("W3", 100_000)),
        "-tasks6",
        str(sizes.get("W6", 100_000)),
    ]
    runs = []
    if timed:
        runs.append([*args, "-w", ",".join(timed)])
    if "W6" in keys:  # one fresh process per value, like the Python rows
        runs += [[*args, "-w", "W6"]] * W6_REPEAT[mode]
    for cmd in runs:
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except Exception as e:
            return {"error": f"the Go program failed: {e}"}
        if p.returncode != 0:
            return {"error": f"the Go program failed: {p.stderr.strip()[-300:]}"}
        for line in p.stdout.splitlines():
            r = json.loads(line)
            vals = r.get("ns_per_op") or [r["bytes_per_task"]]
            out.setdefault(r["key"], []).extend(vals)
    return out


# Workloads whose Go row comes from their own Go program (go/echo for W11),
# which their module builds and runs; the main Go program never sees them.
OWN_GO = frozenset({"W11"})


def go_keys(workloads: list[Workload]) -> list[str]:
    """The workloads with a Go row: only those go to the Go program (W9, the
    K8s pool, has none, and an unknown key fails the whole Go run)."""
    return [w.key for w in workloads if not impl_of(w, GO).na and w.key not in OWN_GO]


def go_cell(w: Workload, go: dict[str, Any]) -> Cell:
    impl = impl_of(w, GO)
    if impl.na or impl.label == "n/a":
        return Cell(GO, impl.label, note=impl.na)
    if "error" in go:
        return Cell(GO, impl.label, note=go["error"])
    if w.key not in go:
        return Cell(GO, impl.label, note="no Go result", error=True)
    return Cell(GO, impl.label, values_ns=go[w.key])


# -- W9: the K8s controller, run by the manager in its own processes -------------


def run_w9(mode: str) -> list[Cell]:
    """W9's rows: one Cell per (setup, workers) in ns per event (a setup whose
    package is missing: n/a, saying so), then the decode rates."""
    import w9_k8s

    try:
        out = w9_k8s.measure(mode, progress=lambda t: print(t, flush=True))
    except Exception as e:  # the server process failed: shown in the table
        return [Cell(w9_k8s.GOCHAN, "W9", note=f"W9 failed: {e}", error=True)]
    return w9_cells(out)


def w9_cells(out: dict[str, Any]) -> list[Cell]:
    """The cells of a `w9_k8s.measure` result (its JSON, as ``w9_k8s.py measure`` prints it)."""
    import w9_k8s

    cells = []
    for n in out["workers"]:
        for setup in out["setups"]:
            key = f"{setup}-{n}"
            runs = out["runs"].get(key) or []
            label = w9_k8s.SETUP_LABELS[setup]
            cell = Cell(f"{setup} {n}", label, extra={"workers": n})
            if runs:
                cell.values_ns = [r["seconds"] / r["events"] * 1e9 for r in runs]
                cell.extra["rss"] = w9_k8s.growth(runs)
                cell.extra.update(w9_k8s.drain_stats(runs))
            elif setup in out["missing"]:
                cell.note = out["missing"][setup]
            else:
                cell.note, cell.error = out["errors"].get(key, "no result"), True
            cells.append(cell)
    for t, runs in out["decode"].items():
        backend = runs[0]["backend"] if runs else ""
        cell = Cell(f"decode {t}", f"{backend} backend")
        if runs:
            cell.values_ns = [r["seconds"] / r["events"] * 1e9 for r in runs]
            cell.extra["cpu_us"] = sorted(r["cpu_us_per_event"] for r in runs)[len(runs) // 2]
        else:
            cell.note, cell.error = out["errors"].get(f"decode-{t}", "no result"), True
        cells.append(cell)
    return cells


# -- W10: a million parked tasks, each run in a fresh process ---------------------


def run_w10(mode: str, n: int, systems: list[str], builds: list[str]) -> list[Cell]:
    """W10's rows: per system (and gochan build), spawn + park ns per task at
    ``n`` (the values), with memory, wake time, CPU and the N / 10 reference
    in extra."""
    import w10_million

    w = w10_million.WORKLOAD
    names = [name for s in systems for name in rows_of(s, builds)]
    measured = [r for r in names if split_row(r)[0] in w10_million.SYSTEMS and not available(r)]
    runs = w10_million.measure(
        measured, n, w10_million.REPEAT[mode], progress=lambda t: print(t, flush=True)
    )
    cells = []
    for s in names:
        impl = impl_of(w, split_row(s)[0])
        if s not in runs:
            cells.append(na_cell(s, impl.label, impl.na or available(s) or "not measured"))
            continue
        done = [r for r in runs[s]["big"] + runs[s]["small"] if "error" not in r]
        if wrong := next((p for r in done if (p := build_problem(s, r))), None):
            cells.append(Cell(s, impl.label, note=wrong, error=True))
            continue
        big = [r for r in runs[s]["big"] if "error" not in r]
        small = [r for r in runs[s]["small"] if "error" not in r]
        if not big:
            why = next((r["error"] for r in runs[s]["big"]), "no result")
            cells.append(Cell(s, impl.label, note=why, error=True))
            continue
        cell = Cell(s, impl.label, values_ns=[r["spawn_park_s"] / n * 1e9 for r in big])
        cell.extra.update(w10_million.summarize(big, "big"))
        if small:
            cell.extra.update(w10_million.summarize(small, "small"))
        cells.append(cell)
    return cells


# -- W11: echo round trips, each (system, C, size) in a fresh process ------------------


def run_w11(mode: str, systems: list[str], builds: list[str]) -> list[Cell]:
    """W11's rows: a Cell per (row, conns, size) in ns per round trip (CPU ns
    per round trip in extra), then a Cell per row for bytes per idle
    connection; n/a cells carry the reason. A gochan row per build."""
    import w11_echo

    rows = [name for row in w11_echo.rows_for(systems) for name in rows_of(row, builds)]
    out = w11_echo.measure(rows, mode, progress=lambda t: print(t, flush=True))
    cells = []
    for row in rows:
        label = w11_echo.LABELS[split_row(row)[0]]
        for conns in w11_echo.CONNS[mode]:
            for size in w11_echo.SIZES:
                cell = Cell(f"{row} {conns} {size}", label, extra={"conns": conns, "size": size})
                runs = out["rate"].get((row, conns, size), [])
                good = [r for r in runs if "error" not in r and r["count"]]
                if wrong := next((p for r in good if (p := build_problem(row, r))), None):
                    cell.note, cell.error = wrong, True
                elif good:
                    cell.values_ns = [r["seconds"] / r["count"] * 1e9 for r in good]
                    cpu = sorted(r["cpu_s"] / r["count"] * 1e9 for r in good)
                    cell.extra["cpu_ns"] = cpu[len(cpu) // 2]
                elif runs:
                    cell.note, cell.error = runs[0].get("error", "no round trips"), True
                else:
                    cell.note = out["na"].get(row) or out["na"].get((row, conns), "not measured")
                    cell.error = is_build_error(row, cell.note)
                cells.append(cell)
        cell = Cell(f"{row} idle", label, extra={"conns": out["idle_conns"]})
        runs = out["idle"].get(row, [])
        good = [r for r in runs if "error" not in r]
        if wrong := next((p for r in good if (p := build_problem(row, r))), None):
            cell.note, cell.error = wrong, True
        elif good:
            cell.values_ns = [r["bytes_per_conn"] for r in good]
        elif runs:
            cell.note, cell.error = runs[0]["error"], True
        else:
            cell.note = out["na"].get(row) or out["na"].get((row, "idle"), "not measured")
            cell.error = is_build_error(row, cell.note)
        cells.append(cell)
    return cells


# -- smoke mode: stdlib only ------------------------------------------------


IN_PROCESS_SMOKE = frozenset(SMOKE_LOOPS)  # the workloads smoke mode times in this process


def smoke_cells(w: Workload, systems: list[str], n: int, build: str) -> list[Cell]:
    """Smoke mode's timing loop for an in-process workload, in this process,
    whose gochan rows are named for ``build`` (checked against what it imports)."""
    cells = []
    for s in systems:
        impl = impl_of(w, s)
        name = row_name(s, build)
        if impl.fn is None:
            cells.append(Cell(name, impl.label, note=impl.na))
            continue
        if s in GOCHAN_BACKENDS:
            import gochan

            if gochan.build != build:
                why = (
                    f"build check failed: {sys.executable} imports gochan's {gochan.build} "
                    f"build, not the {build} one"
                )
                cells.append(Cell(name, impl.label, note=why, error=True))
                continue
        loops = SMOKE_LOOPS[w.key]
        per_op = loops * n if w.sized else loops
        impl.fn(loops, n)  # warm-up
        vals = [impl.fn(loops, n) / per_op * 1e9 for _ in range(SMOKE_REPEAT)]
        cells.append(Cell(name, impl.label, values_ns=vals))
    return cells


def run_smoke_as_build(opts: argparse.Namespace) -> int:
    """``--smoke --as-build B``: the in-process workloads' gochan rows of build
    B, run in this interpreter (B's), printed as one JSON line for the smoke
    run that started this process."""
    workloads, systems = choose(opts, smoke=True)
    systems = [s for s in systems if s in GOCHAN_BACKENDS]
    out = {}
    for w in workloads:
        if w.key in IN_PROCESS_SMOKE:
            n = size_of(w, opts, "smoke") if w.sized else 0
            cells = smoke_cells(w, systems, n, opts.as_build)
            out[w.key] = [dataclasses.asdict(c) for c in cells]
    print(json.dumps(out))
    return 0


def smoke_other_build(opts: argparse.Namespace, build: str, keys: list[str]) -> dict[str, Any]:
    """The in-process workloads' gochan rows of ``build``, timed by a smoke run
    in that build's interpreter: {workload: [Cell, ...]} or {"error": why}."""
    cmd = [
        *(python_for(row_name("gochan", build)), str(HERE / "run.py"), "--smoke"),
        *("--as-build", build, "--workloads", ",".join(keys), "--systems", opts.systems),
    ]
    for opt in SIZE_OPTIONS.values():
        if getattr(opts, opt) is not None:
            cmd += [f"--{opt}", str(getattr(opts, opt))]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        found = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception as e:
        tail = (p.stderr.strip().splitlines() or [""])[-1] if "p" in locals() else ""
        return {"error": f"the {build} build's smoke process failed: {e} {tail}".strip()}
    return {k: [Cell(**c) for c in cells] for k, cells in found.items()}


def run_smoke(opts: argparse.Namespace) -> int:
    if opts.as_build:
        return run_smoke_as_build(opts)
    workloads, systems = choose(opts, smoke=True)
    builds, notes = resolve_builds(opts, smoke=True)
    home = builds_home()
    keys = [w.key for w in workloads if w.key in IN_PROCESS_SMOKE]
    others = {b: smoke_other_build(opts, b, keys) for b in builds if b != home}
    results: dict[str, list[Cell]] = {}
    for w in workloads:
        if w.key == "W9":
            results[w.key] = run_w9("smoke")
            continue
        if w.key == "W10":
            results[w.key] = run_w10("smoke", size_of(w, opts, "smoke"), systems, builds)
            continue
        if w.key == "W11":
            results[w.key] = run_w11("smoke", systems, builds)
            continue
        n = size_of(w, opts, "smoke") if w.sized else 0
        if w.external:  # W6: fresh processes, each row in its build's interpreter
            cells = []
            for s in systems:
                impl = impl_of(w, s)
                for name in rows_of(s, builds):
                    why = impl.na or available(name)
                    cells.append(na_cell(name, impl.label, why) if why else run_w6(name, n, 1))
            results[w.key] = cells
            continue
        mine = [s for s in systems if s not in GOCHAN_BACKENDS or home in builds]
        here = {c.system: c for c in smoke_cells(w, mine, n, home)}
        cells = []
        for s in systems:
            for name in rows_of(s, builds):
                b = split_row(name)[1] or home
                if b == home:
                    cells.append(here[name])
                    continue
                other = others[b]
                if why := impl_of(w, s).na or available(name):
                    cells.append(na_cell(name, impl_of(w, s).label, why))
                elif "error" in other:
                    cells.append(Cell(name, impl_of(w, s).label, note=other["error"], error=True))
                else:
                    cells.append(next(c for c in other[w.key] if c.system == name))
        results[w.key] = cells
    sizes = ", ".join(f"{w.key} {size_of(w, opts, 'smoke'):,}" for w in workloads if w.sized)
    header = [
        "# gochan benchmarks (smoke mode)",
        "",
        f"Smoke mode: plain timing loop, one process, {SMOKE_REPEAT} values after one warm-up, "
        f"sizes {sizes}; stdlib peers only. A check that the suite runs, not a "
        "measurement: use `make bench-quick` or `make bench` for numbers.",
        "",
        machine_line(),
        "",
        builds_line(builds, notes),
    ]
    print(render(header, workloads, results), end="")
    return 0


# -- pyperf mode --------------------------------------------------------------


def _forward(cmd: list[str], args: Any) -> None:
    """pyperf's add_cmdline_args hook: give each worker our selection."""
    if args.quick:
        cmd.append("--quick")
    cmd.extend(["--systems", args.systems, "--workloads", args.workloads])
    for opt in SIZE_OPTIONS.values():
        if getattr(args, opt) is not None:
            cmd.extend([f"--{opt}", str(getattr(args, opt))])
    # The builds the manager resolved, and the rows it found unavailable: a
    # worker (maybe of another interpreter) registers exactly its benchmarks.
    cmd.extend(["--builds", args.builds, "--skip-rows", args.skip_rows])


def check_worker_build(name: str, build: str) -> str:
    """In the worker that runs row ``name``: the build of the gochan it
    imports, or exit with BUILD_MISMATCH_EXIT if that is not ``build``."""
    import gochan

    if gochan.build != build:
        from gochan._runtime.build import describe

        print(
            f"ERROR: build check failed: the {name!r} row is the {build} build, but "
            f"{sys.executable} imports {describe()} from {gochan.__file__}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(BUILD_MISMATCH_EXIT)
    return str(gochan.build)


def batch_settings(args: Any, w: Workload, quick: bool) -> dict[str, Any]:
    """Give a fixed-loop workload its loop count (no calibration) and, in a
    full run, FULL_BATCH's process counts; return what to restore after.
    Every process (manager and workers) applies the same change, and the
    manager passes --loops to the workers, so they agree."""
    keep = ("loops", "processes", "values", "warmups")
    saved = {k: getattr(args, k) for k in keep}
    loops = w.quick_loops if quick else w.fixed_loops
    if loops and not saved["loops"]:
        args.loops = loops
        if not quick:
            vars(args).update(FULL_BATCH)
    return saved


def _external_bench(pyperf: Any, name: str, values: list[float], meta: dict[str, Any]) -> Any:
    """A pyperf Benchmark for values pyperf did not measure (W6 bytes, Go
    seconds), so that the JSON and ``compare_to`` cover every row."""
    runs = [
        pyperf.Run([v], warmups=None, metadata={"name": name, **meta}, collect_metadata=False)
        for v in values
    ]
    return pyperf.Benchmark(runs)


def run_pyperf(quick: bool) -> int:
    import pyperf

    settings = QUICK if quick else FULL
    mode = "quick" if quick else "full"
    runner = pyperf.Runner(
        processes=settings["processes"],
        values=settings["values"],
        warmups=settings["warmups"],
        min_time=settings["min_time"],
        add_cmdline_args=_forward,
    )
    add_options(runner.argparser)
    runner.argparser.description = __doc__.split("\n\n")[0]
    args = runner.parse_args()
    workloads, systems = choose(args)
    sizes = {w.key: size_of(w, args, mode) for w in workloads if w.sized}
    if args.worker:
        builds, notes = _split(args.builds, list(BUILDS), "build"), []
        skip = dict.fromkeys(args.skip_rows.split(","), "skipped")
    else:
        builds, notes = resolve_builds(args)
        args.builds = ",".join(builds)
        names = [name for s in systems for name in rows_of(s, builds)]
        skip = {name: why for name in names if (why := available(name)) is not None}
        args.skip_rows = ",".join(skip)
        print(builds_line(builds, notes), flush=True)
    runner.metadata["gochan_bench_mode"] = mode
    for key, n in sizes.items():
        runner.metadata[f"gochan_bench_{key}_size"] = n

    started = time.monotonic()
    results: dict[str, list[Cell]] = {}
    benches = []
    for w in workloads:
        cells = []
        n = sizes.get(w.key, 0)
        if w.key in ("W9", "W10", "W11"):  # the manager runs them below, in their own processes
            results[w.key] = cells
            continue
        # Each gochan system once per build, the compiled row right after the
        # pure one; pyperf runs a row's workers with its build's interpreter.
        for s, name in [(sy, name) for sy in systems for name in rows_of(sy, builds)]:
            impl = impl_of(w, s)
            why = skip.get(name)
            if s == GO or w.external:
                cells.append(Cell(name, impl.label))  # filled in below by the manager
                continue
            if impl.fn is None or why is not None:
                cells.append(na_cell(name, impl.label, impl.na or why or ""))
                continue
            meta = {"gochan_workload": w.key, "gochan_system": name, "gochan_primitive": impl.label}
            build = split_row(name)[1]
            if build is not None and args.worker and runner._worker_task == args.worker_task:
                meta["gochan_build"] = check_worker_build(name, build)  # this worker's task
            saved = batch_settings(runner.args, w, quick)
            saved["python"] = runner.args.python
            runner.args.python = python_for(name)
            try:
                bench = runner.bench_time_func(
                    w.bench_name(name),
                    impl.fn,
                    n,
                    inner_loops=n if w.sized else None,
                    metadata=meta,
                )
            except Exception as e:
                if args.worker:
                    raise  # the traceback goes to stderr; the manager reports it
                # A worker crashed: report it in the table and keep going.
                # pyperf counts a task only when it succeeds; count this one
                # too, or every later worker would run the wrong task.
                runner._worker_task += 1
                print(f"ERROR: {w.bench_name(name)}: {e}", file=sys.stderr)
                note = f"worker failed: {e}"
                if build is not None and f"exit code {BUILD_MISMATCH_EXIT}" in str(e):
                    note = (
                        f"build check failed: the worker ({python_for(name)}) did not import "
                        f"gochan's {build} build (its message is above, on stderr)"
                    )
                cells.append(Cell(name, impl.label, note=note, error=True))
                continue
            finally:
                vars(runner.args).update(saved)
            if bench is None:  # a worker process, and this was not its task
                continue
            seen = bench.get_metadata().get("gochan_build")
            if build is not None and seen != build:  # a worker that did not check
                why = f"build check failed: the workers reported gochan's {seen} build"
                cells.append(Cell(name, impl.label, note=f"{why}, not the {build} one", error=True))
                continue
            benches.append(bench)
            vals = [v * 1e9 for v in bench.get_values()]
            cells.append(Cell(name, impl.label, values_ns=vals))
        results[w.key] = cells

    if args.worker:
        return 0

    # The manager alone: W6 in fresh processes, then the Go reference.
    go: dict[str, Any] = {}
    if GO in systems:
        print("Go reference ...", flush=True)
        go = run_go(go_keys(workloads), mode, sizes)
    for w in workloads:
        if w.key == "W9":
            results[w.key] = run_w9(mode)
            for c in results[w.key]:
                if c.ok:
                    meta = {"unit": "second", "gochan_workload": "W9", "gochan_system": c.system}
                    vals = [v * 1e-9 for v in c.values_ns]
                    benches.append(_external_bench(pyperf, f"W9-k8s/{c.system}", vals, meta))
                    if "rss" in c.extra:
                        meta = {**meta, "unit": "byte"}
                        name = f"W9-k8s/{c.system} rss"
                        benches.append(_external_bench(pyperf, name, [c.extra["rss"]], meta))
            continue
        if w.key == "W10":
            results[w.key] = run_w10(mode, sizes["W10"], systems, builds)
            for c in results[w.key]:
                if not c.ok:
                    continue
                meta = {"unit": "second", "gochan_workload": "W10", "gochan_system": c.system}
                if (build := split_row(c.system)[1]) is not None:
                    meta["gochan_build"] = build
                name = w.bench_name(c.system)
                vals = [v * 1e-9 for v in c.values_ns]
                benches.append(_external_bench(pyperf, name, vals, meta))
                meta = {**meta, "unit": "byte"}
                mem = [c.extra["big_bytes"]]
                benches.append(_external_bench(pyperf, f"{name} bytes per task", mem, meta))
                if "small_n" in c.extra:  # the reference size, seconds per task
                    small = c.extra["small_n"]
                    per = [c.extra["small_spawn_park_s"] / small]
                    meta = {**meta, "unit": "second"}
                    benches.append(_external_bench(pyperf, f"{name} at {small:.0f}", per, meta))
            continue
        if w.key == "W11":
            results[w.key] = run_w11(mode, systems, builds)
            for c in results[w.key]:
                if not c.ok:
                    continue
                idle = c.system.endswith(" idle")
                meta = {
                    "unit": "byte" if idle else "second",
                    "gochan_workload": "W11",
                    "gochan_system": c.system,
                }
                if (build := split_row(w11_row(c.system))[1]) is not None:
                    meta["gochan_build"] = build
                name = f"W11-echo/{c.system}" + (" bytes per connection" if idle else "")
                vals = c.values_ns if idle else [v * 1e-9 for v in c.values_ns]
                benches.append(_external_bench(pyperf, name, vals, meta))
            continue
        for i, c in enumerate(results[w.key]):
            if c.ok or c.note:
                continue
            impl = impl_of(w, split_row(c.system)[0])
            if c.system == GO:
                cell = go_cell(w, go)
            else:
                why = available(c.system)
                if impl.na or why:
                    results[w.key][i] = na_cell(c.system, impl.label, impl.na or why or "")
                    continue
                print(f"{w.bench_name(c.system)}: {W6_REPEAT[mode]} fresh process(es)", flush=True)
                cell = run_w6(c.system, sizes["W6"], W6_REPEAT[mode])
            results[w.key][i] = cell
            if cell.ok:
                unit = "byte" if w.external else "second"
                scale = 1.0 if w.external else 1e-9
                meta = {
                    "unit": unit,
                    "gochan_workload": w.key,
                    "gochan_system": c.system,
                    "gochan_primitive": impl.label,
                }
                if (build := split_row(c.system)[1]) is not None:
                    meta["gochan_build"] = build
                vals = [v * scale for v in cell.values_ns]
                benches.append(_external_bench(pyperf, w.bench_name(c.system), vals, meta))

    elapsed = time.monotonic() - started
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = out_dir / f"{mode}-{stamp}.json"
    if benches:
        pyperf.BenchmarkSuite(benches).dump(str(json_path), replace=True)
        shutil.copyfile(json_path, out_dir / "latest.json")
    size_text = ", ".join(f"{k} {v:,}" for k, v in sizes.items())
    header = [
        f"# gochan benchmarks ({mode} run, {time.strftime('%Y-%m-%d %H:%M')})",
        "",
        machine_line() + f"; pyperf {pyperf.__version__}; {go_version()}.",
        builds_line(builds, notes),
        f"pyperf: {args.processes} worker process(es) x {args.values} values "
        f"(+{args.warmups} warm-up) per benchmark, min time {args.min_time}s per value; "
        f"per-loop sizes {size_text}; {batch_text(workloads, quick)}; "
        f"W6: {W6_REPEAT[mode]} fresh process(es) per system; "
        f"W10: {w10_repeat(mode)} fresh process(es) per system and size; "
        f"{w11_text(mode)}; "
        f"Go: {GO_VALUES[mode]} timed runs of at least {GO_MIN_TIME[mode]} each, GOMAXPROCS=1. "
        f"Total wall time {elapsed:.0f}s.",
        f"Raw pyperf JSON: `{os.path.relpath(json_path) if benches else 'none'}` (also "
        "`latest.json` beside it); inspect with `python -m pyperf stats FILE` or `compare_to`.",
    ]
    text = render(header, workloads, results)
    print()
    print(text, end="")
    (out_dir / "latest.md").write_text(text)
    print(f"\nwrote {out_dir / 'latest.md'} and {json_path}")
    return 0


def w11_text(mode: str) -> str:
    import w11_echo

    return (
        f"W11: {w11_echo.REPEAT[mode]} fresh process(es) per (system, connections, size), "
        f"{w11_echo.SECONDS[mode]:g} s timed each, idle memory at "
        f"{w11_echo.IDLE_CONNS[mode]:,} connections"
    )


def w10_repeat(mode: str) -> int:
    import w10_million

    return w10_million.REPEAT[mode]


def batch_text(workloads: list[Workload], quick: bool) -> str:
    fixed = [
        f"{w.key} {w.quick_loops if quick else w.fixed_loops}"
        for w in workloads
        if (w.quick_loops if quick else w.fixed_loops)
    ]
    if not fixed:
        return "every loop count calibrated"
    text = "fixed loops per value (not calibrated): " + ", ".join(fixed)
    if not quick:
        b = FULL_BATCH
        text += (
            f", with {b['processes']} processes x {b['values']} values (+{b['warmups']} warm-up)"
        )
    return text


def go_version() -> str:
    if shutil.which("go") is None:
        return "no Go toolchain"
    try:
        p = subprocess.run(["go", "version"], capture_output=True, text=True, timeout=30)
        return p.stdout.strip().removeprefix("go version ") or "Go (version unknown)"
    except Exception:
        return "Go (version unknown)"


def main() -> int:
    pre = argparse.ArgumentParser(add_help=False)
    add_options(pre)
    opts, _ = pre.parse_known_args()
    if opts.probe:
        print(json.dumps(probe()))
        return 0
    if opts.smoke:
        return run_smoke(opts)
    try:
        import pyperf  # noqa: F401
    except ImportError:
        full = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        add_options(full)
        if {"-h", "--help"} & set(sys.argv[1:]):
            full.print_help()
            print("\n(pyperf is not installed here, so its own options are not shown.)")
            return 0
        print(
            "pyperf is not installed in this environment: run `make bench` or "
            "`make bench-quick` (they build .venv-bench), or use --smoke.",
            file=sys.stderr,
        )
        return 2
    return run_pyperf(opts.quick)


if __name__ == "__main__":
    sys.exit(main())
