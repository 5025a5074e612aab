"""gochan benchmark suite: gochan against gevent, trio, asyncio, uvloop,
threading and a bare-greenlet floor, on identical workloads.

    .venv-bench/bin/python bench/run.py            # full run (make bench)
    .venv-bench/bin/python bench/run.py --quick    # a few minutes (make bench-quick)
    .venv/bin/python bench/run.py --smoke          # no pyperf: stdlib peers, tiny N

Each (workload, system) pair is one pyperf benchmark timed with
``Runner.bench_time_func``. pyperf re-runs this script as worker processes
(``--worker --worker-task=K``): every process registers the same benchmarks
in the same order and pyperf runs only task K in a worker, so the selection
options (--quick, --systems, --workloads, --items) are forwarded to the
workers through ``add_cmdline_args``. Only the manager process writes the
results: raw pyperf JSON and a markdown table under bench/results/.

Workloads: W1 ping-pong (w1_pingpong.py), W2 buffered (w2_buffered.py), W5
select (w5_select.py), W8a mutex and W8b waitgroup (w8_sync.py). Peers that
lack a feature are reported as n/a with the reason, never faked.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from common import SMOKE_SYSTEMS, SYSTEMS, Workload, available
from report import Cell, render

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# pyperf settings. Full: several processes for robust medians. Quick: the
# --fast idea (fewer processes) to stay within a few minutes on 2 cores.
FULL = {"processes": 6, "values": 3, "warmups": 1, "min_time": 0.1}
QUICK = {"processes": 3, "values": 3, "warmups": 1, "min_time": 0.1}
FULL_ITEMS, QUICK_ITEMS = 1_000_000, 20_000  # W2 items per loop

# Smoke mode (no pyperf): a plain timing loop, one process, tiny sizes.
SMOKE_LOOPS = {"W1": 2_000, "W2": 1, "W5": 2_000, "W8a": 20_000, "W8b": 20_000}
SMOKE_ITEMS = 5_000
SMOKE_REPEAT = 3


def load_workloads() -> list[Workload]:
    import w1_pingpong
    import w2_buffered
    import w5_select
    import w8_sync

    return [w1_pingpong.WORKLOAD, w2_buffered.WORKLOAD, w5_select.WORKLOAD, *w8_sync.WORKLOADS]


def add_options(parser: argparse.ArgumentParser) -> None:
    """The suite's own options (also added to pyperf's argument parser)."""
    g = parser.add_argument_group("gochan suite")
    g.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer processes ({QUICK['processes']}) and {QUICK_ITEMS:,} W2 items per loop",
    )
    g.add_argument(
        "--smoke",
        action="store_true",
        help="no pyperf: time gochan, greenlet, asyncio and threading once each with tiny "
        "sizes (a check that everything runs, not a measurement); writes no files",
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
        default="W1,W2,W5,W8a,W8b",
        help="comma-separated workloads to run (default: W1,W2,W5,W8a,W8b)",
    )
    g.add_argument(
        "--items",
        type=int,
        metavar="N",
        default=None,
        help=f"W2 items per loop (default {FULL_ITEMS:,}, {QUICK_ITEMS:,} with --quick)",
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
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


# -- smoke mode: stdlib only ------------------------------------------------


def run_smoke(opts: argparse.Namespace) -> int:
    workloads, systems = choose(opts, smoke=True)
    items = opts.items or SMOKE_ITEMS
    results: dict[str, list[Cell]] = {}
    for w in workloads:
        cells = []
        for s in systems:
            impl = w.impls[s]
            if impl.fn is None:
                cells.append(Cell(s, impl.label, note=impl.na))
                continue
            loops = SMOKE_LOOPS[w.key]
            per_op = loops * items if w.sized else loops
            impl.fn(loops, items)  # warm-up
            vals = [impl.fn(loops, items) / per_op * 1e9 for _ in range(SMOKE_REPEAT)]
            cells.append(Cell(s, impl.label, values_ns=vals))
        results[w.key] = cells
    header = [
        "# gochan benchmarks (smoke mode)",
        "",
        f"Smoke mode: plain timing loop, one process, {SMOKE_REPEAT} values after one warm-up, "
        f"W2 {items:,} items; stdlib peers only. A check that the suite runs, not a "
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
    if args.items is not None:
        cmd.extend(["--items", str(args.items)])


def run_pyperf(quick: bool) -> int:
    import pyperf

    settings = QUICK if quick else FULL
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
    items = args.items or (QUICK_ITEMS if quick else FULL_ITEMS)
    runner.metadata["gochan_bench_mode"] = "quick" if quick else "full"
    runner.metadata["gochan_bench_w2_items"] = items

    started = time.monotonic()
    results: dict[str, list[Cell]] = {}
    benches = []
    for w in workloads:
        cells = []
        for s in systems:
            impl = w.impls[s]
            why = available(s)
            if impl.fn is None or why is not None:
                cells.append(Cell(s, impl.label, note=impl.na or why or ""))
                continue
            meta = {"gochan_workload": w.key, "gochan_system": s, "gochan_primitive": impl.label}
            try:
                bench = runner.bench_time_func(
                    w.bench_name(s),
                    impl.fn,
                    items if w.sized else 0,
                    inner_loops=items if w.sized else None,
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
            if bench is None:  # a worker process, and this was not its task
                continue
            benches.append(bench)
            cells.append(Cell(s, impl.label, values_ns=[v * 1e9 for v in bench.get_values()]))
        results[w.key] = cells

    if args.worker:
        return 0

    elapsed = time.monotonic() - started
    mode = "quick" if quick else "full"
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = out_dir / f"{mode}-{stamp}.json"
    if benches:
        pyperf.BenchmarkSuite(benches).dump(str(json_path), replace=True)
        shutil.copyfile(json_path, out_dir / "latest.json")
    header = [
        f"# gochan benchmarks ({mode} run, {time.strftime('%Y-%m-%d %H:%M')})",
        "",
        machine_line() + f"; pyperf {pyperf.__version__}.",
        f"pyperf: {args.processes} worker processes x {args.values} values "
        f"(+{args.warmups} warm-up) per benchmark, min time {args.min_time}s per value; "
        f"W2 moves {items:,} items per loop. "
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
