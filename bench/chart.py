"""Draw gochan's ratios per workload from a results JSON (matplotlib PNG).

    .venv-bench/bin/python bench/chart.py                       # latest.json
    .venv-bench/bin/python bench/chart.py RESULTS.json -o docs/performance.png

For each workload: gochan's median divided by the best Python peer's (the
fastest system other than gochan, its backends, the floor and Go), by the
greenlet floor's and by Go's, on a log scale, with issue 7's target for the
best-peer ratio marked (W6's target is against gevent, so W6 shows that).
Below 1 gochan is faster (or smaller, for W6).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import FLOOR, GO, NOT_PEERS, row_name  # noqa: E402

# Issue 7's targets: gochan / best peer (W6: / gevent).
TARGETS = {"W1": 0.5, "W2": 1.0, "W3": 0.5, "W4": 0.8, "W5": 1.0, "W6": 1.0, "W7": 1.0}
ORDER = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8a", "W8b", "W8c"]


def medians(path: Path) -> dict[str, dict[str, float]]:
    """{workload: {system: median}} from a pyperf suite written by run.py."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    out: dict[str, dict[str, float]] = {}
    for bench in suite.get_benchmarks():
        meta = bench.get_metadata()
        w, s = meta.get("gochan_workload"), meta.get("gochan_system")
        if w and s:
            out.setdefault(w, {})[s] = statistics.median(bench.get_values())
    return out


def ratios(
    med: dict[str, dict[str, float]], build: str = "pure"
) -> list[tuple[str, dict[str, float], str]]:
    """Per workload, the ``build`` gochan row's ratios (a run of both builds
    has a "gochan" and a "gochan (compiled)" row)."""
    me_row = row_name("gochan", build)
    rows = []
    for w in [k for k in ORDER if k in med] + sorted(set(med) - set(ORDER)):
        m = med[w]
        if me_row not in m:
            continue
        me = m[me_row]
        r: dict[str, float] = {}
        peers = {s: v for s, v in m.items() if s not in NOT_PEERS}
        best = ""
        if w == "W6" and "gevent" in m:
            r["peer"], best = me / m["gevent"], "gevent"
        elif peers:
            best = min(peers, key=peers.__getitem__)
            r["peer"] = me / peers[best]
        if FLOOR in m:
            r["floor"] = me / m[FLOOR]
        if GO in m:
            r["go"] = me / m[GO]
        rows.append((w, r, best))
    return rows


def draw(rows: list[tuple[str, dict[str, float], str]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        ("peer", "gochan / best Python peer (W6: / gevent)", "#1f77b4"),
        ("floor", "gochan / greenlet floor", "#ff7f0e"),
        ("go", "gochan / Go (GOMAXPROCS=1)", "#7f7f7f"),
    ]
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    width = 0.27
    xs = range(len(rows))
    for k, (key, label, color) in enumerate(series):
        vals = [r.get(key) for _, r, _ in rows]
        pos = [x + (k - 1) * width for x, v in zip(xs, vals, strict=True) if v]
        hs = [v for v in vals if v]
        bars = ax.bar(pos, hs, width, label=label, color=color)
        if key == "peer":
            for b, v in zip(bars, hs, strict=True):
                ax.annotate(
                    f"{v:.2f}\u00d7",
                    (b.get_x() + b.get_width() / 2, v),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    for x, (w, _, _) in zip(xs, rows, strict=True):
        t = TARGETS.get(w)
        if t:
            ax.hlines(t, x - 1.5 * width, x - 0.5 * width, colors="green", linewidth=2.5)
    ax.plot([], [], color="green", linewidth=2.5, label="issue 7 target (best-peer ratio)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    names = [
        f"{w}\n(vs {best})" if w == "W6" else f"{w}\n(best: {best})" if best else w
        for w, _, best in rows
    ]
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("ratio of medians (log scale; below 1 = gochan faster/smaller)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default=str(HERE / "results" / "latest.json"))
    ap.add_argument("-o", "--output", default=str(HERE.parent / "docs" / "performance.png"))
    ap.add_argument("--title", default="gochan's ratios per workload (one run, same machine)")
    ap.add_argument(
        "--build",
        choices=("pure", "compiled"),
        default="pure",
        help="whose ratios: the gochan rows of the pure build (default) or the compiled one",
    )
    args = ap.parse_args()
    rows = ratios(medians(Path(args.results)), args.build)
    if not rows:
        print(f"no gochan ({args.build} build) results in", args.results, file=sys.stderr)
        return 1
    draw(rows, Path(args.output), args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
