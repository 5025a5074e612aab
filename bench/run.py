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

from common import GO, SMOKE_SYSTEMS, SYSTEMS, Impl, Workload, available
from report import Cell, render

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

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
    """The build measured (gochan's version, pure or compiled, the Python:
    every gochan row is this build), then the machine."""
    from gochan._runtime.build import describe

    return f"{describe()}; {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


# -- rows not run by pyperf: W6 memory and Go ----------------------------------


def run_w6(system: str, n: int, repeat: int) -> Cell:
    """Bytes per parked task, one fresh process per value."""
    import w6_memory

    impl = impl_of(w6_memory.WORKLOAD, system)
    if system not in w6_memory.PARKERS:
        return Cell(system, impl.label, note=impl.na or "no W6 implementation")
    values = []
    for _ in range(repeat):
        cmd = [sys.executable, str(HERE / "w6_memory.py"), system, str(n)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            values.append(float(json.loads(p.stdout.strip().splitlines()[-1])["bytes_per_task"]))
        except Exception as e:  # a crash, a timeout or no output: shown in the table
            tail = (p.stderr.strip().splitlines() or [""])[-1] if "p" in locals() else ""
            return Cell(system, impl.label, note=f"W6 process failed: {e} {tail}", error=True)
    return Cell(system, impl.label, values_ns=values)


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
    """W9's rows: one Cell per (setup, workers) in ns per event, then the decode rates."""
    import w9_k8s

    try:
        out = w9_k8s.measure(mode, progress=lambda t: print(t, flush=True))
    except Exception as e:  # the server process failed: shown in the table
        return [Cell("green", "W9", note=f"W9 failed: {e}", error=True)]
    cells = []
    for n in out["workers"]:
        for setup in w9_k8s.SETUPS:
            key = f"{setup}-{n}"
            runs = out["runs"].get(key) or []
            label = w9_k8s.SETUP_LABELS[setup]
            cell = Cell(f"{setup} {n}", label, extra={"workers": n})
            if runs:
                cell.values_ns = [r["seconds"] / r["events"] * 1e9 for r in runs]
                cell.extra["rss"] = w9_k8s.growth(runs)
                cell.extra.update(w9_k8s.drain_stats(runs))
            else:
                cell.note, cell.error = out["errors"].get(key, "no result"), True
            cells.append(cell)
    for t in w9_k8s.DECODE_TRANSPORTS:
        runs = out["decode"].get(t) or []
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


def run_w10(mode: str, n: int, systems: list[str]) -> list[Cell]:
    """W10's rows: per system, spawn + park ns per task at ``n`` (the
    values), with memory, wake time, CPU and the N / 10 reference in extra."""
    import w10_million

    w = w10_million.WORKLOAD
    measured = [s for s in systems if s in w10_million.SYSTEMS and not available(s)]
    runs = w10_million.measure(
        measured, n, w10_million.REPEAT[mode], progress=lambda t: print(t, flush=True)
    )
    cells = []
    for s in systems:
        impl = impl_of(w, s)
        if s not in runs:
            cells.append(Cell(s, impl.label, note=impl.na or available(s) or "not measured"))
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


def run_w11(mode: str, systems: list[str]) -> list[Cell]:
    """W11's rows: a Cell per (row, conns, size) in ns per round trip (CPU ns
    per round trip in extra), then a Cell per row for bytes per idle
    connection; n/a cells carry the reason."""
    import w11_echo

    rows = w11_echo.rows_for(systems)
    out = w11_echo.measure(rows, mode, progress=lambda t: print(t, flush=True))
    cells = []
    for row in rows:
        label = w11_echo.LABELS[row]
        for conns in w11_echo.CONNS[mode]:
            for size in w11_echo.SIZES:
                cell = Cell(f"{row} {conns} {size}", label, extra={"conns": conns, "size": size})
                runs = out["rate"].get((row, conns, size), [])
                good = [r for r in runs if "error" not in r and r["count"]]
                if good:
                    cell.values_ns = [r["seconds"] / r["count"] * 1e9 for r in good]
                    cpu = sorted(r["cpu_s"] / r["count"] * 1e9 for r in good)
                    cell.extra["cpu_ns"] = cpu[len(cpu) // 2]
                elif runs:
                    cell.note, cell.error = runs[0].get("error", "no round trips"), True
                else:
                    cell.note = out["na"].get(row) or out["na"].get((row, conns), "not measured")
                cells.append(cell)
        cell = Cell(f"{row} idle", label, extra={"conns": out["idle_conns"]})
        runs = out["idle"].get(row, [])
        good = [r for r in runs if "error" not in r]
        if good:
            cell.values_ns = [r["bytes_per_conn"] for r in good]
        elif runs:
            cell.note, cell.error = runs[0]["error"], True
        else:
            cell.note = out["na"].get(row) or out["na"].get((row, "idle"), "not measured")
        cells.append(cell)
    return cells


# -- smoke mode: stdlib only ------------------------------------------------


def run_smoke(opts: argparse.Namespace) -> int:
    workloads, systems = choose(opts, smoke=True)
    results: dict[str, list[Cell]] = {}
    for w in workloads:
        if w.key == "W9":
            results[w.key] = run_w9("smoke")
            continue
        if w.key == "W10":
            results[w.key] = run_w10("smoke", size_of(w, opts, "smoke"), systems)
            continue
        if w.key == "W11":
            results[w.key] = run_w11("smoke", systems)
            continue
        cells = []
        n = size_of(w, opts, "smoke") if w.sized else 0
        for s in systems:
            impl = impl_of(w, s)
            if w.external:
                cells.append(run_w6(s, n, 1) if not impl.na else Cell(s, impl.label, note=impl.na))
                continue
            if impl.fn is None:
                cells.append(Cell(s, impl.label, note=impl.na))
                continue
            loops = SMOKE_LOOPS[w.key]
            per_op = loops * n if w.sized else loops
            impl.fn(loops, n)  # warm-up
            vals = [impl.fn(loops, n) / per_op * 1e9 for _ in range(SMOKE_REPEAT)]
            cells.append(Cell(s, impl.label, values_ns=vals))
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
        for s in systems:
            impl = impl_of(w, s)
            why = available(s)
            if s == GO or w.external:
                cells.append(Cell(s, impl.label))  # filled in below by the manager
                continue
            if impl.fn is None or why is not None:
                cells.append(Cell(s, impl.label, note=impl.na or why or ""))
                continue
            meta = {"gochan_workload": w.key, "gochan_system": s, "gochan_primitive": impl.label}
            saved = batch_settings(runner.args, w, quick)
            try:
                bench = runner.bench_time_func(
                    w.bench_name(s),
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
                print(f"ERROR: {w.bench_name(s)}: {e}", file=sys.stderr)
                cells.append(Cell(s, impl.label, note=f"worker failed: {e}", error=True))
                continue
            finally:
                vars(runner.args).update(saved)
            if bench is None:  # a worker process, and this was not its task
                continue
            benches.append(bench)
            cells.append(Cell(s, impl.label, values_ns=[v * 1e9 for v in bench.get_values()]))
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
            results[w.key] = run_w10(mode, sizes["W10"], systems)
            for c in results[w.key]:
                if not c.ok:
                    continue
                meta = {"unit": "second", "gochan_workload": "W10", "gochan_system": c.system}
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
            results[w.key] = run_w11(mode, systems)
            for c in results[w.key]:
                if not c.ok:
                    continue
                idle = c.system.endswith(" idle")
                meta = {
                    "unit": "byte" if idle else "second",
                    "gochan_workload": "W11",
                    "gochan_system": c.system,
                }
                name = f"W11-echo/{c.system}" + (" bytes per connection" if idle else "")
                vals = c.values_ns if idle else [v * 1e-9 for v in c.values_ns]
                benches.append(_external_bench(pyperf, name, vals, meta))
            continue
        for i, c in enumerate(results[w.key]):
            if c.ok or c.note:
                continue
            impl = impl_of(w, c.system)
            if c.system == GO:
                cell = go_cell(w, go)
            else:
                why = available(c.system)
                if impl.na or why:
                    results[w.key][i] = Cell(c.system, impl.label, note=impl.na or why or "")
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
