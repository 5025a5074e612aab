"""``make demo``'s K8s-watch worker pool, in its fast mode, as a subprocess.

The demo runs the embedded apiserver, a load of pod creates/updates/deletes,
the controller and a schedule of faults, then checks convergence against the
apiserver's own state and prints a summary. This test runs it the way
``make demo`` does (``python -m examples.k8s_watch.demo``), with ``--fast``,
and reads the summary.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUMMARY = re.compile(
    r"^summary: OK: converged (\d+\.\d) s after the load stopped: (\d+)/(\d+) pods reconciled "
    r"at their last version, (\d+) deleted pods cleaned up \(0 ConfigMaps left behind\), "
    r"0 keys reconciled twice at once$"
)
PROGRESS = re.compile(r"^\s*(\d+\.\d)s (load|settle|done)\s+events/s=\s*(\d+) depth=(\d+)")


def test_fast_demo_converges_through_every_fault() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.k8s_watch.demo", "--fast", "--seed", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    out = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out[0].startswith("K8s-watch demo (fast)"), out[0]
    m = SUMMARY.match(out[-1])
    assert m, out[-1]
    reconciled, pods, deleted = int(m[2]), int(m[3]), int(m[4])
    assert reconciled == pods > 100 and deleted > 100
    # Live progress: one line per tick, through the load, the settling and the end.
    ticks = [PROGRESS.match(line) for line in out]
    phases = [t[2] for t in ticks if t]
    assert phases.count("load") >= 5 and phases[-1] == "done"
    # Every fault of the schedule was injected, and the apiserver saw them.
    faults = next(line for line in out if line.startswith("faults:"))
    for name in (
        "torn watch stream",
        "ERROR 410 Expired",
        "409 conflicts",
        "stall after headers",
        "burst of",
        "429",
        "apiserver restart",
        "500s",
    ):
        assert name in faults, faults
    for injected in ("'watch_tear': 1", "'watch_expire'", "'conflict': 25", "'restart': 1"):
        assert injected in faults, faults
    reflector = next(line for line in out if line.startswith("reflector:"))
    relists = int(re.search(r"(\d+) relists", reflector)[1])  # type: ignore[index]
    dead = int(re.search(r"(\d+) dead streams", reflector)[1])  # type: ignore[index]
    # The 410 and the 429 fault each force a relist; the restart does too when a
    # write came between the reflector's last event and the restart.
    assert relists >= 2 and dead >= 1, reflector
    assert proc.stderr == "", proc.stderr[-3000:]
