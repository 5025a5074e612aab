"""The markdown report: one table per workload plus gochan's ratios.

Pure formatting: it takes per-(workload, system) results in nanoseconds per
operation and never imports pyperf, so the smoke mode can use it too.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from common import FLOOR, NOT_PEERS, Workload

TIMES, DASH = "\u00d7", "\u2013"  # the multiplication sign and the en dash


@dataclass
class Cell:
    """One (workload, system) outcome: values in ns per op, or a note."""

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
    """'gochan W1 = 0.55x best peer (gevent), 1.9x floor' (printed with a
    multiplication sign; below 1 means gochan takes less time per op)."""
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
    return f"gochan {w.key} = " + ", ".join(parts)


def workload_table(w: Workload, cells: list[Cell]) -> str:
    lines = [
        f"### {w.title}: ns per {w.unit} (lower is better)",
        "",
        f"{w.description}.",
        "",
        f"| system | primitive | median ns | min{DASH}max ns | values |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for c in cells:
        name = f"{c.system} (floor)" if c.system == FLOOR else c.system
        if c.ok:
            lo, hi = min(c.values_ns), max(c.values_ns)
            lines.append(
                f"| {name} | {c.label} | {_ns(c.median)} | {_ns(lo)}{DASH}{_ns(hi)} | "
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
        f"Ratios are gochan's median time per op divided by the other's: below 1{TIMES} gochan is "
        "faster. Peers exclude gochan and the floor (bare greenlet / plain Python); "
        '"emulated" peers have no native select and race one task per case.',
        "",
    ]
    for w in workloads:
        out.append(workload_table(w, results[w.key]))
    return "\n".join(out).rstrip() + "\n"
