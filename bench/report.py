"""The markdown report: one table per workload plus gochan's ratios.

Pure formatting: it takes per-(workload, system) results in nanoseconds per
operation (bytes per task for W6) and never imports pyperf, so the smoke
mode can use it too. A workload's ``shown``/``scale`` pick the printed unit
(W3 in µs, W7 in ms); ratios do not depend on it. When a run measured both
of gochan's builds, each gochan row is there twice ("gochan" is the pure
build, "gochan (compiled)" the compiled one) and every ratio line and target
is given for each build.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from common import FLOOR, GO, NOT_PEERS, Workload, split_row

TIMES, DASH = "\u00d7", "\u2013"  # the multiplication sign and the en dash


@dataclass
class Cell:
    """One (workload, system) outcome: values in ns per op (bytes for W6),
    or a note."""

    system: str
    label: str
    values_ns: list[float] = field(default_factory=list)
    note: str = ""  # why there are no values (n/a reason or error)
    error: bool = False
    extra: dict[str, float] = field(default_factory=dict)  # W9: workers, RSS growth, CPU

    @property
    def ok(self) -> bool:
        return bool(self.values_ns)

    @property
    def median(self) -> float:
        return statistics.median(self.values_ns)

    @property
    def emulated(self) -> bool:
        return self.label.startswith("emulated")


def _ns(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def _ratio(a: float, b: float) -> str:
    r = a / b
    return f"{r:.2f}{TIMES}" if r < 10 else f"{r:.1f}{TIMES}"


def w11_row(system: str) -> str:
    """The row of a W11 cell: "gochan (compiled) 100 64" and "gochan (compiled)
    idle" are both "gochan (compiled)"."""
    if system.endswith(" idle"):
        return system.removesuffix(" idle")
    return system.rsplit(" ", 2)[0]


def gochan_rows(rows: list[str]) -> list[str]:
    """The builtin-backend gochan rows among ``rows``, one per build
    measured, in order ("gochan" alone when there is none, for "no result")."""
    mine = [r for r in dict.fromkeys(rows) if split_row(r)[0] == "gochan"]
    return mine or ["gochan"]


def summary_lines(w: Workload, cells: list[Cell]) -> list[str]:
    """The ratio lines of a workload: one per gochan build measured."""
    if w.key == "W9":
        return [w9_summary(cells)]
    if w.key == "W10":
        return [w10_summary(cells, me) for me in gochan_rows([c.system for c in cells])]
    if w.key == "W11":
        return [w11_summary(cells, me) for me in gochan_rows([w11_row(c.system) for c in cells])]
    return [_summary_line(w, cells, me) for me in gochan_rows([c.system for c in cells])]


def _bold(lines: list[str]) -> list[str]:
    return [x for line in lines for x in (f"**{line}**", "")]


def _summary_line(w: Workload, cells: list[Cell], name: str = "gochan") -> str:
    """'gochan W1 = 0.55x best peer (gevent), 1.9x floor, 12x Go' (printed
    with a multiplication sign; below 1 means gochan takes less time per op,
    or less memory per task for W6); ``name`` is the gochan row (its build)."""
    by = {c.system: c for c in cells}
    me = by.get(name)
    if me is None or not me.ok:
        return f"{name} {w.key}: no result"
    parts = []
    peers = [c for c in cells if c.system not in NOT_PEERS and c.ok]
    if peers:
        best = min(peers, key=lambda c: c.median)
        tag = f"{best.system}, emulated" if best.emulated else best.system
        parts.append(f"{_ratio(me.median, best.median)} best peer ({tag})")
    else:
        parts.append("no peer result")
    floor = by.get(FLOOR)
    if floor is not None and floor.ok:
        parts.append(f"{_ratio(me.median, floor.median)} floor")
    else:
        parts.append("no floor result")
    go = by.get(GO)
    if go is not None and go.ok:
        parts.append(f"{_ratio(me.median, go.median)} Go")
    if w.key == "W6":
        gevent = by.get("gevent")
        if gevent is not None and gevent.ok:
            parts.append(f"{_ratio(me.median, gevent.median)} gevent (the W6 target)")
    return f"{name} {w.key} = " + ", ".join(parts)


def workload_table(w: Workload, cells: list[Cell]) -> str:
    if w.key == "W9":
        return w9_table(w, cells)
    if w.key == "W10":
        return w10_table(w, cells)
    if w.key == "W11":
        return w11_table(w, cells)
    u, k = w.shown, w.scale
    lines = [
        f"### {w.title}: {u} per {w.unit} (lower is better)",
        "",
        f"{w.description}.",
        "",
        f"| system | primitive | median {u} | min{DASH}max {u} | values |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for c in cells:
        name = c.system
        if c.system == FLOOR:
            name = f"{c.system} (floor)"
        elif c.system == GO:
            name = "Go (reference)"
        if c.ok:
            lo, hi = min(c.values_ns), max(c.values_ns)
            lines.append(
                f"| {name} | {c.label} | {_ns(c.median / k)} | {_ns(lo / k)}{DASH}{_ns(hi / k)} | "
                f"{len(c.values_ns)} |"
            )
        else:
            what = "error" if c.error else "n/a"
            lines.append(f"| {name} | {what}: {c.note} | {what} | | |")
    lines += ["", *_bold(summary_lines(w, cells))]
    return "\n".join(lines)


# -- W9: the K8s controller, gochan against the official client's thread pool and kubernetes_asyncio

# The rows of W9's tables: gochan first, then the baselines it is measured against.
W9_GOCHAN = "gochan"
W9_BASELINES = ("threads", "kubernetes_asyncio")
W9_SETUPS = (W9_GOCHAN, *W9_BASELINES)
# Issue 21's targets, at these worker counts: gochan's events/s at least this many
# times each baseline's, and less memory than either.
W9_TARGET_WORKERS = (128, 1024)
W9_TARGET_RATE = {"threads": 2.0, "kubernetes_asyncio": 1.0}


def _w9_rows(cells: list[Cell]) -> dict[int, dict[str, Cell]]:
    """The cells of each worker count, by setup (a cell is named "<setup> <workers>")."""
    rows: dict[int, dict[str, Cell]] = {}
    for c in cells:
        setup = c.system.rsplit(" ", 1)[0]
        if setup in W9_SETUPS and "workers" in c.extra:
            rows.setdefault(int(c.extra["workers"]), {})[setup] = c
    return dict(sorted(rows.items()))


def _rate(c: Cell | None) -> float | None:
    return 1e9 / c.median if c is not None and c.ok else None


def _extra(c: Cell | None, key: str) -> float | None:
    return c.extra.get(key) if c is not None and c.ok else None


def _w9_ratio(row: dict[str, Cell], base: str, key: str | None) -> float | None:
    """gochan's value over ``base``'s: events/s (``key`` None) or an extra (memory)."""
    if key is None:
        g, b = _rate(row.get(W9_GOCHAN)), _rate(row.get(base))
    else:
        g, b = _extra(row.get(W9_GOCHAN), key), _extra(row.get(base), key)
    return g / b if g is not None and b else None


def _of(name: str) -> str:
    """The possessive: "threads'", "kubernetes_asyncio's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _w9_targets(rows: dict[int, dict[str, Cell]]) -> str:
    """'met', or what was missed (or not measured) at the target worker counts."""
    misses = []
    measured = [n for n in W9_TARGET_WORKERS if n in rows]
    if not measured:
        counts = " and ".join(f"{n:,}" for n in W9_TARGET_WORKERS)
        return f"not measured at {counts} workers"
    for n in measured:
        row = rows[n]
        for base, want in W9_TARGET_RATE.items():
            r = _w9_ratio(row, base, None)
            if r is None:
                misses.append(f"no {base} result at {n:,}")
            elif r < want:
                misses.append(f"{_ratio(r, 1)} {_of(base)} events/s at {n:,}")
            for key, what in (("rss", "RSS growth"), ("pool_rss", "pool RSS")):
                m = _w9_ratio(row, base, key)
                if m is not None and m >= 1:
                    misses.append(f"{_ratio(m, 1)} {_of(base)} {what} at {n:,}")
    return "missed: " + ", ".join(misses) if misses else "met"


def w9_summary(cells: list[Cell]) -> str:
    """'gochan W9 = gochan/baseline events/s 3.1x threads, 4.2x kubernetes_asyncio at 128
    workers; ...; gochan/baseline RSS growth ...; targets (...): met' (with a multiplication
    sign), at the target worker counts (every count measured when none of them was)."""
    rows = _w9_rows(cells)
    shown = {n: r for n, r in rows.items() if n in W9_TARGET_WORKERS} or rows

    def clause(key: str | None) -> str:
        parts = []
        for n, row in shown.items():
            r = [(b, _w9_ratio(row, b, key)) for b in W9_BASELINES]
            if any(x is not None for _, x in r):
                each = ", ".join(f"{_ratio(x, 1)} {b}" for b, x in r if x is not None)
                parts.append(f"{each} at {n:,} workers")
        return "; ".join(parts)

    rates, mems = clause(None), clause("rss")
    if not rates:
        return "gochan W9: no result"
    text = f"gochan W9 = gochan/baseline events/s {rates}"
    if mems:
        text += f"; gochan/baseline RSS growth {mems}"
    counts = " and ".join(f"{n:,}" for n in W9_TARGET_WORKERS)
    return (
        text + f"; targets at {counts} workers ({W9_TARGET_RATE['threads']:.0f}{TIMES} threads' "
        f"events/s, {W9_TARGET_RATE['kubernetes_asyncio']:.0f}{TIMES} kubernetes_asyncio's, "
        f"less RSS growth and pool RSS than either): {_w9_targets(rows)}"
    )


def _w9_cell(c: Cell | None, text: str | None) -> str:
    if text is not None:
        return text
    if c is not None and c.note:
        return f"{'error' if c.error else 'n/a'}: {c.note}"
    return "n/a"


def _w9_num(c: Cell | None, key: str, fmt: str = "{:,.0f}") -> str:
    v = _extra(c, key)
    return "" if v is None else fmt.format(v)


def _mib(c: Cell | None, key: str) -> str:
    v = _extra(c, key)
    return "" if v is None else f"{v / 2**20:,.1f} MiB"


def _w9_ratios(row: dict[str, Cell], key: str | None) -> list[str]:
    return ["" if (r := _w9_ratio(row, b, key)) is None else _ratio(r, 1) for b in W9_BASELINES]


def _w9_head(*cols: str) -> list[str]:
    return ["| " + " | ".join(cols) + " |", "|" + " ---: |" * len(cols)]


def w9_table(w: Workload, cells: list[Cell]) -> str:
    rows = _w9_rows(cells)
    vs = [f"gochan/{b}" for b in W9_BASELINES]
    lines = [
        f"### {w.title}: events/s (higher is better) and memory",
        "",
        f"{w.description}.",
        "",
        "Setups: "
        + "; ".join(
            f"`{s}` = {c.label}"
            for s in W9_SETUPS
            if (c := next((r[s] for r in rows.values() if s in r), None)) is not None
        )
        + ".",
        "",
        "End to end: a burst of pod writes made while the workers run, timed until every "
        "resulting watch event is handled (events/s, and the client process's CPU per event).",
        "",
        *_w9_head(
            "workers",
            *(f"{s} events/s" for s in W9_SETUPS),
            *(f"{v} events/s" for v in vs),
            *(f"{s} CPU µs/event" for s in W9_SETUPS),
        ),
    ]
    for n, row in rows.items():
        cols = [f"{n:,}"]
        cols += [_w9_cell(row.get(s), _fmt_rate(_rate(row.get(s)))) for s in W9_SETUPS]
        cols += _w9_ratios(row, None)
        cols += [_w9_num(row.get(s), "cpu_us") for s in W9_SETUPS]
        lines.append("| " + " | ".join(cols) + " |")
    lines += [
        "",
        "Memory: the client's RSS growth from the synced watch to the end-to-end run's peak "
        "(the cache grows by the burst's pods in every setup), and the pool's RSS (the growth "
        "while the workers start and drain a queued burst: their stacks, connections and "
        "requests in flight); the kernel's peak (VmHWM), reset at each phase's start.",
        "",
        *_w9_head(
            "workers",
            *(f"{s} RSS growth" for s in W9_SETUPS),
            *(f"{v} RSS growth" for v in vs),
            *(f"{s} pool RSS" for s in W9_SETUPS),
            *(f"{v} pool RSS" for v in vs),
        ),
    ]
    for n, row in rows.items():
        cols = [f"{n:,}"]
        cols += [_mib(row.get(s), "rss") for s in W9_SETUPS]
        cols += _w9_ratios(row, "rss")
        cols += [_mib(row.get(s), "pool_rss") for s in W9_SETUPS]
        cols += _w9_ratios(row, "pool_rss")
        lines.append("| " + " | ".join(cols) + " |")
    lines += [
        "",
        "The pool alone: the burst is queued before any worker starts, then the workers are "
        "started and drain it (items/s; client CPU per item).",
        "",
        *_w9_head(
            "workers",
            *(f"{s} items/s" for s in W9_SETUPS),
            *(f"{v} items/s" for v in vs),
            *(f"{s} CPU µs/item" for s in W9_SETUPS),
        ),
    ]
    for n, row in rows.items():
        cols = [f"{n:,}"]
        cols += [_w9_num(row.get(s), "drain_rate") for s in W9_SETUPS]
        cols += _w9_ratios(row, "drain_rate")
        cols += [_w9_num(row.get(s), "drain_cpu_us") for s in W9_SETUPS]
        lines.append("| " + " | ".join(cols) + " |")
    decode = [c for c in cells if c.system.startswith("decode")]
    if decode:
        lines += [
            "",
            "Watch decode rate: one watch replays a burst of writes made before it opened "
            "(one request, so one 5 ms latency, in the time), through each of the example's "
            "transports.",
            "",
            "| transport | events/s | client CPU µs per event |",
            "| --- | ---: | ---: |",
        ]
        for c in decode:
            name = c.system.removeprefix("decode ")
            if c.ok:
                cpu = c.extra.get("cpu_us")
                lines.append(
                    f"| {name} ({c.label}) | {1e9 / c.median:,.0f} | "
                    f"{'' if cpu is None else f'{cpu:,.0f}'} |"
                )
            else:
                lines.append(f"| {name} | error: {c.note} | |")
    lines += ["", f"**{w9_summary(cells)}**", ""]
    return "\n".join(lines)


def _fmt_rate(r: float | None) -> str | None:
    return None if r is None else f"{r:,.0f}"


# -- W10: a million parked tasks -------------------------------------------------------

# The systems W10's summary sets gochan against (issue 17 names gevent and asyncio).
W10_PEERS = ("gevent", "asyncio", FLOOR)
# Issue 17's target: N tasks within this many times the time of N / 10.
W10_TARGET = 12


def _scaling(e: dict[str, float], key: str) -> str:
    big, small = e.get(f"big_{key}"), e.get(f"small_{key}")
    return _ratio(big, small) if big is not None and small else ""


def w10_summary(cells: list[Cell], name: str = "gochan") -> str:
    """'gochan W10 = spawn + park at 1,000,000: 0.6x gevent, ...; memory per
    parked task ...; 1,000,000 vs 100,000 tasks: 11.2x the time ...' for the
    gochan row ``name`` (its build)."""
    by = {c.system: c for c in cells if c.ok}
    me = by.get(name)
    if me is None:
        return f"{name} W10: no result"
    e = me.extra
    n = int(e["big_n"])
    times = [f"{_ratio(me.median, by[o].median)} {o}" for o in W10_PEERS if o in by]
    mems = [f"{_ratio(e['big_bytes'], by[o].extra['big_bytes'])} {o}" for o in W10_PEERS if o in by]
    text = f"{name} W10 = spawn + park at {n:,} tasks {', '.join(times) or 'no peer result'}"
    if mems:
        text += f"; memory per parked task {', '.join(mems)}"
    if e.get("small_spawn_park_s"):
        text += (
            f"; {n:,} vs {int(e['small_n']):,} tasks: {_scaling(e, 'spawn_park_s')} the time "
            f"({_scaling(e, 'spawn_park_user_s')} the user CPU time, "
            f"{_scaling(e, 'spawn_park_sys_s')} the system CPU time; target at 1,000,000: "
            f"\u2264 {W10_TARGET}{TIMES}), {_scaling(e, 'bytes')} the memory per task"
        )
    return text


def w10_table(w: Workload, cells: list[Cell]) -> str:
    n = next((int(c.extra["big_n"]) for c in cells if c.ok), 0)
    small = f"{n // 10:,}"
    lines = [
        f"### {w.title}: {w.shown} per {w.unit} at {n:,} tasks (lower is better)",
        "",
        f"{w.description}. Time per task spawned and parked at {n:,} and at {small} (equal "
        f"when the cost is linear); then {n:,} over {small} for the whole time (10{TIMES} is "
        "linear), for the process's user CPU time (the interpreter) and for its system CPU "
        "time (the kernel: page faults on fresh memory, mmap); page faults and RSS per "
        "parked task; the cyclic GC's seconds in spawn + park (its full collections).",
        "",
        f"| system | primitive | spawn + park {w.shown} | at {small} | min{DASH}max | "
        f"time {TIMES} | user {TIMES} | system {TIMES} | page faults per task | "
        f"bytes per parked task | wake + exit {w.shown} | GC s (full) | runs |",
        "| --- | --- |" + " ---: |" * 11,
    ]
    k = w.scale
    for c in cells:
        name = f"{c.system} (floor)" if c.system == FLOOR else c.system
        if not c.ok:
            what = "error" if c.error else "n/a"
            if c.error or c.system in W10_PEERS or split_row(c.system)[0] == "gochan":
                lines.append(f"| {name} | {what}: {c.note} | {what} |" + " |" * 10)
            continue
        e = c.extra
        per = 1e9 / e["big_n"]
        lo, hi = min(c.values_ns), max(c.values_ns)
        at_small = _ns(e["small_spawn_park_s"] * 1e9 / e["small_n"] / k) if "small_n" in e else ""
        lines.append(
            f"| {name} | {c.label} | {_ns(c.median / k)} | {at_small} | "
            f"{_ns(lo / k)}{DASH}{_ns(hi / k)} | {_scaling(e, 'spawn_park_s')} | "
            f"{_scaling(e, 'spawn_park_user_s')} | {_scaling(e, 'spawn_park_sys_s')} | "
            f"{e['big_spawn_park_page_faults'] / e['big_n']:.2f} | {e['big_bytes']:,.0f} | "
            f"{_ns(e['big_wake_s'] * per / k)} | "
            f"{e['big_spawn_park_gc_s']:.2f} ({e['big_gen2']:.0f}) | {len(c.values_ns)} |"
        )
    lines += ["", *_bold(summary_lines(w, cells))]
    return "\n".join(lines)


# -- W11: echo round trips -------------------------------------------------------------

# The peers W11's summary sets gochan against, as the table names them.
W11_PEERS = (("gevent", "gevent"), ("asyncio", "asyncio streams"), ("uvloop", "uvloop streams"))
# The targets for gochan (builtin backend): round trips/s at least this many
# times gevent's and asyncio streams' at every (connections, size); bytes per
# idle connection at most this many times gevent's.
W11_TARGETS = {"gevent": 1.0, "asyncio": 1.5}
W11_MEMORY_TARGET = 1.0


def _w11_grid(cells: list[Cell]) -> tuple[dict[str, dict[Any, Cell]], list[tuple[int, int]]]:
    """{row: {(conns, size) or "idle": cell}} and the (conns, size) columns in order."""
    grid: dict[str, dict[Any, Cell]] = {}
    cols: list[tuple[int, int]] = []
    for c in cells:
        row = w11_row(c.system)
        if c.system.endswith(" idle"):
            grid.setdefault(row, {})["idle"] = c
            continue
        conns, size = c.system.rsplit(" ", 2)[1:]
        key = (int(conns), int(size))
        grid.setdefault(row, {})[key] = c
        if key not in cols:
            cols.append(key)
    return grid, cols


def _size(b: int) -> str:
    return f"{b // 1024} KiB" if b >= 1024 and b % 1024 == 0 else f"{b} B"


def _rates(grid: dict[str, dict[Any, Cell]], row: str, key: Any) -> float | None:
    c = grid.get(row, {}).get(key)
    return 1e9 / c.median if c is not None and c.ok else None


def w11_summary(cells: list[Cell], row: str = "gochan") -> str:
    """'gochan W11 = round trips/s 0.45x/0.50x gevent at 1, ... ; targets: ...'.

    Unlike the time-per-op workloads, these ratios divide gochan's round
    trips per second by the other's: above 1x gochan is faster. Memory is
    gochan's bytes per idle connection over gevent's: below 1x is smaller.
    ``row`` is the gochan row (its build)."""
    grid, cols = _w11_grid(cells)
    if not any(_rates(grid, row, k) for k in cols):
        return f"{row} W11: no result"
    conns = sorted({c for c, _ in cols})
    sizes = sorted({s for _, s in cols})
    clauses, verdicts = [], []
    for peer, name in W11_PEERS:
        parts, ratios = [], []
        for n in conns:
            rs = []
            for size in sizes:
                me, other = _rates(grid, row, (n, size)), _rates(grid, peer, (n, size))
                if me and other:
                    rs.append(_ratio(me, other))
                    ratios.append(me / other)
                else:
                    rs.append("n/a")
            if any(r != "n/a" for r in rs):
                parts.append(f"{'/'.join(rs)} at {n:,}")
        if parts:
            clauses.append(f"{name} " + ", ".join(parts))
        target = W11_TARGETS.get(peer)
        if target is not None:
            want = f"\u2265 {target:g}{TIMES} {name} at every concurrency"
            if not ratios:
                verdicts.append(f"{want}: no result")
            else:
                worst = min(ratios)
                verdict = "met" if worst >= target else "missed"
                verdicts.append(f"{want}: {verdict} (lowest {worst:.2f}{TIMES})")
    text = (
        f"{row} W11 = round trips/s over {' / '.join(_size(s) for s in sizes)} messages, "
        "gochan's over the other's (above 1"
        + TIMES
        + " gochan is faster): "
        + "; ".join(clauses)
        + " connections"
    )
    me_idle, g_idle = grid.get(row, {}).get("idle"), grid.get("gevent", {}).get("idle")
    mem = ""
    if me_idle is not None and me_idle.ok and g_idle is not None and g_idle.ok:
        r = me_idle.median / g_idle.median
        mem = f"; memory per idle connection {_ratio(me_idle.median, g_idle.median)} gevent's"
        verdict = "met" if r <= W11_MEMORY_TARGET else "missed"
        verdicts.append(
            f"\u2264 {W11_MEMORY_TARGET:g}{TIMES} gevent's memory per idle connection: {verdict}"
        )
    else:
        verdicts.append("memory per idle connection against gevent's: no result")
    return text + mem + ". Targets (builtin backend): " + "; ".join(verdicts)


def w11_table(w: Workload, cells: list[Cell]) -> str:
    grid, cols = _w11_grid(cells)
    idle_n = next((int(c.extra["conns"]) for c in cells if c.system.endswith(" idle")), 0)
    head = [f"{n:,} \u00d7 {_size(s)}" for n, s in cols]
    notes: dict[str, int] = {}

    def na(c: Cell | None) -> str:
        if c is None:
            return "n/a"
        what = "error" if c.error else "n/a"
        if not c.note:
            return what
        k = notes.setdefault(c.note, len(notes) + 1)
        return f"{what} [{k}]"

    def name(row: str) -> str:
        return "Go (reference)" if row == GO else row

    lines = [
        f"### {w.title}: round trips per second (higher is better) and bytes per idle connection",
        "",
        f"{w.description}. Columns: connections \u00d7 message size. Round trips per second over "
        "all connections (median of the runs):",
        "",
        "| system | " + " | ".join(head) + f" | bytes per idle connection ({idle_n:,}) |",
        "| --- |" + " ---: |" * (len(head) + 1),
    ]
    for row, by in grid.items():
        vals = []
        for key in cols:
            r = _rates(grid, row, key)
            vals.append(f"{r:,.0f}" if r is not None else na(by.get(key)))
        idle = by.get("idle")
        vals.append(f"{idle.median:,.0f}" if idle is not None and idle.ok else na(idle))
        lines.append(f"| {name(row)} | " + " | ".join(vals) + " |")
    lines += [
        "",
        "CPU time per round trip (the process's user + system CPU, client and server "
        "together, in \u00b5s; a shared machine moves it less than the wall-clock rate):",
        "",
        "| system | " + " | ".join(head) + " |",
        "| --- |" + " ---: |" * len(head),
    ]
    for row, by in grid.items():
        vals = []
        for key in cols:
            c = by.get(key)
            if c is not None and c.ok and "cpu_ns" in c.extra:
                vals.append(f"{c.extra['cpu_ns'] / 1e3:,.1f}")
            else:
                vals.append(na(c))
        lines.append(f"| {name(row)} | " + " | ".join(vals) + " |")
    if notes:
        lines += ["", *(f"[{k}] {note}" + "  " for note, k in notes.items())]
        lines[-1] = lines[-1].rstrip()
    lines += ["", "How each system is written:", ""]
    for row, by in grid.items():
        label = next((c.label for c in by.values()), "")
        lines.append(f"- {name(row)}: {label}")
    lines += ["", *_bold(summary_lines(w, cells))]
    return "\n".join(lines)


def render(header: list[str], workloads: list[Workload], results: dict[str, list[Cell]]) -> str:
    out = [*header, ""]
    summaries = [line for w in workloads for line in summary_lines(w, results[w.key])]
    out += ["## Summary", "", *(f"- {s}" for s in summaries), ""]
    out += [
        f"Ratios are gochan's (builtin backend) median time per op, or bytes per task for W6, "
        f"divided by the other's: below 1{TIMES} gochan is faster (smaller). Peers are the "
        "Python systems other than gochan and the floor (bare greenlet / plain Python); Go is "
        'the compiled reference. "emulated" peers have no native select and race one task '
        "per case. gochan[asyncio], gochan[uvloop] and gochan[trio] are the same gochan code "
        'on its other backends. A gochan row marked "(compiled)" is gochan\'s compiled build '
        "(mypyc), run by the compiled build's interpreter; an unmarked one is the pure-Python "
        "build. Each build measured has its own ratio lines.",
        "",
    ]
    for w in workloads:
        out.append(workload_table(w, results[w.key]))
    return "\n".join(out).rstrip() + "\n"
