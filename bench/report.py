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
