"""The markdown report: one table per workload plus gochan's ratios.

Pure formatting: it takes per-(workload, system) results in nanoseconds per
operation (bytes per task for W6) and never imports pyperf, so the smoke
mode can use it too. A workload's ``shown``/``scale`` pick the printed unit
(W3 in µs, W7 in ms); ratios do not depend on it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from common import FLOOR, GO, NOT_PEERS, Workload

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


def summary_line(w: Workload, cells: list[Cell]) -> str:
    if w.key == "W9":
        return w9_summary(cells)
    if w.key == "W10":
        return w10_summary(cells)
    return _summary_line(w, cells)


def _summary_line(w: Workload, cells: list[Cell]) -> str:
    """'gochan W1 = 0.55x best peer (gevent), 1.9x floor, 12x Go' (printed
    with a multiplication sign; below 1 means gochan takes less time per op,
    or less memory per task for W6)."""
    by = {c.system: c for c in cells}
    me = by.get("gochan")
    if me is None or not me.ok:
        return f"gochan {w.key}: no result"
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
    return f"gochan {w.key} = " + ", ".join(parts)


def workload_table(w: Workload, cells: list[Cell]) -> str:
    if w.key == "W9":
        return w9_table(w, cells)
    if w.key == "W10":
        return w10_table(w, cells)
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
    lines += ["", f"**{summary_line(w, cells)}**", ""]
    return "\n".join(lines)


# -- W9: the K8s controller, green workers vs a thread pool ------------------------------


def _w9_rows(cells: list[Cell]) -> dict[int, dict[str, Cell]]:
    rows: dict[int, dict[str, Cell]] = {}
    for c in cells:
        if c.system.startswith(("green", "threads")):
            setup = c.system.split()[0]
            rows.setdefault(int(c.extra.get("workers", 0)), {})[setup] = c
    return dict(sorted(rows.items()))


def _rate(c: Cell | None) -> float | None:
    return 1e9 / c.median if c is not None and c.ok else None


# The green setups, each against the threads row: (setup, how the table names it).
W9_GREEN = (("green", "green (httpx)"), ("green-sock", "green (green transport)"))


def w9_summary(cells: list[Cell]) -> str:
    """'gochan W9 = green/threads events/s 0.4x at 128 workers, ...; memory ...'.

    ``green`` is the httpx setup; ``green-sock`` (the green transport) gets
    its own clause when it has results.
    """
    clauses, any_result = [], False
    for setup, _ in W9_GREEN:
        parts, mem = [], []
        for n, row in _w9_rows(cells).items():
            g, t = _rate(row.get(setup)), _rate(row.get("threads"))
            if g and t:
                parts.append(f"{_ratio(g, t)} at {n}")
            gm = row[setup].extra.get("rss") if setup in row else None
            tm = row["threads"].extra.get("rss") if "threads" in row else None
            if gm is not None and tm:
                mem.append(f"{_ratio(gm, tm)} at {n}")
        if not parts:
            continue
        any_result = True
        text = f"{setup}/threads events/s " + ", ".join(parts) + " workers"
        if mem:
            text += f"; {setup}/threads memory " + ", ".join(mem)
        clauses.append(text)
    if not any_result:
        return "gochan W9: no result"
    return (
        "gochan W9 = "
        + "; ".join(clauses)
        + f" (target: {2:.0f}{TIMES} events/s at 128+ with a fraction of the memory)"
    )


def w9_table(w: Workload, cells: list[Cell]) -> str:
    head = ["workers"]
    head += [f"{name} events/s" for _, name in W9_GREEN]
    head += ["threads events/s"]
    head += [f"{setup}/threads" for setup, _ in W9_GREEN]
    head += [f"{name} RSS growth" for _, name in W9_GREEN]
    head += ["threads RSS growth"]
    head += [f"{setup}/threads memory" for setup, _ in W9_GREEN]
    lines = [
        f"### {w.title}: events/s (higher is better) and memory",
        "",
        f"{w.description}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " ---: |" * len(head),
    ]

    def show(c: Cell | None, r: float | None) -> str:
        if r is not None:
            return f"{r:,.0f}"
        return f"error: {c.note}" if c is not None and c.note else "n/a"

    def mb(c: Cell | None) -> str:
        if c is None or "rss" not in c.extra:
            return ""
        return f"{c.extra['rss'] / 2**20:,.1f} MiB"

    for n, row in _w9_rows(cells).items():
        t = row.get("threads")
        tr = _rate(t)
        tm = t.extra.get("rss") if t is not None else None
        greens = [row.get(setup) for setup, _ in W9_GREEN]
        rates = [_rate(g) for g in greens]
        ratios = [_ratio(gr, tr) if gr and tr else "" for gr in rates]
        mems = []
        for g in greens:
            gm = g.extra.get("rss") if g is not None else None
            mems.append(_ratio(gm, tm) if gm is not None and tm else "")
        cols = [f"{n:,}"]
        cols += [show(g, r) for g, r in zip(greens, rates, strict=True)]
        cols += [show(t, tr), *ratios, *(mb(g) for g in greens), mb(t), *mems]
        lines.append("| " + " | ".join(cols) + " |")
    lines += _w9_drain_table(cells)
    decode = [c for c in cells if c.system.startswith("decode")]
    if decode:
        lines += [
            "",
            "Watch decode rate: one watch replays a burst of writes made before it opened "
            "(one request, so one 5 ms latency, in the time), through each transport.",
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


def _w9_drain_table(cells: list[Cell]) -> list[str]:
    """The pool alone: a burst queued before any worker runs, then drained."""
    rows = [
        (n, row)
        for n, row in _w9_rows(cells).items()
        if "drain_rate" in row.get("threads", Cell("", "")).extra
    ]
    if not rows:
        return []
    head = ["workers"]
    for setup, name in (*W9_GREEN, ("threads", "threads")):
        head += [f"{name} items/s", f"{setup} client CPU µs/item", f"{setup} pool RSS"]
    head += [f"{setup}/threads items/s" for setup, _ in W9_GREEN]
    head += [f"{setup}/threads pool RSS" for setup, _ in W9_GREEN]
    lines = [
        "",
        "The pool alone: the burst is queued before any worker starts, then the "
        "workers are started and drain it (items/s; client CPU per item; RSS the "
        "pool adds while it starts and drains).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " ---: |" * len(head),
    ]
    for n, row in rows:
        t = row["threads"].extra
        cols = [f"{n:,}"]
        ratios, mems = [], []
        for setup, _ in (*W9_GREEN, ("threads", "")):
            e = row[setup].extra if setup in row else {}
            if "drain_rate" not in e:
                cols += ["n/a", "", ""]
                if setup != "threads":
                    ratios.append("")
                    mems.append("")
                continue
            cols += [
                f"{e['drain_rate']:,.0f}",
                f"{e['drain_cpu_us']:,.0f}",
                f"{e['pool_rss'] / 2**20:,.1f} MiB",
            ]
            if setup != "threads":
                ratios.append(_ratio(e["drain_rate"], t["drain_rate"]))
                mems.append(_ratio(e["pool_rss"], t["pool_rss"]) if t["pool_rss"] else "")
        lines.append("| " + " | ".join(cols + ratios + mems) + " |")
    return lines


# -- W10: a million parked tasks -------------------------------------------------------

# The systems W10's summary sets gochan against (issue 17 names gevent and asyncio).
W10_PEERS = ("gevent", "asyncio", FLOOR)
# Issue 17's target: N tasks within this many times the time of N / 10.
W10_TARGET = 12


def _scaling(e: dict[str, float], key: str) -> str:
    big, small = e.get(f"big_{key}"), e.get(f"small_{key}")
    return _ratio(big, small) if big is not None and small else ""


def w10_summary(cells: list[Cell]) -> str:
    """'gochan W10 = spawn + park at 1,000,000: 0.6x gevent, ...; memory per
    parked task ...; 1,000,000 vs 100,000 tasks: 11.2x the time ...'."""
    by = {c.system: c for c in cells if c.ok}
    me = by.get("gochan")
    if me is None:
        return "gochan W10: no result"
    e = me.extra
    n = int(e["big_n"])
    times = [f"{_ratio(me.median, by[o].median)} {o}" for o in W10_PEERS if o in by]
    mems = [f"{_ratio(e['big_bytes'], by[o].extra['big_bytes'])} {o}" for o in W10_PEERS if o in by]
    text = f"gochan W10 = spawn + park at {n:,} tasks {', '.join(times) or 'no peer result'}"
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
            if c.error or c.system in W10_PEERS or c.system == "gochan":
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
    lines += ["", f"**{w10_summary(cells)}**", ""]
    return "\n".join(lines)


def render(header: list[str], workloads: list[Workload], results: dict[str, list[Cell]]) -> str:
    out = [*header, ""]
    summaries = [summary_line(w, results[w.key]) for w in workloads]
    out += ["## Summary", "", *(f"- {s}" for s in summaries), ""]
    out += [
        f"Ratios are gochan's (builtin backend) median time per op, or bytes per task for W6, "
        f"divided by the other's: below 1{TIMES} gochan is faster (smaller). Peers are the "
        "Python systems other than gochan and the floor (bare greenlet / plain Python); Go is "
        'the compiled reference. "emulated" peers have no native select and race one task '
        "per case. gochan[asyncio], gochan[uvloop] and gochan[trio] are the same gochan code "
        "on its other backends.",
        "",
    ]
    for w in workloads:
        out.append(workload_table(w, results[w.key]))
    return "\n".join(out).rstrip() + "\n"
