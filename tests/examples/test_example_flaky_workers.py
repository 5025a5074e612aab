"""examples/flaky_workers.py runs as a program and prints exactly what it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flaky_workers.py"

EXPECTED = """\
      report: t=1.5 root/metrics/exporter panicked: ConnectionRefusedError: metrics backend is down; restart 1 in 1 s
 2.0s worker-1     put job 3 back in the queue
      report: t=2 root/worker-1 panicked: Panic: connection reset during job 3; restart 1 in 0.5 s
the tree at this moment (from gochan.dump()):
  supervisor 'root' [running] one_for_one, restarts 1/3 in 5 s, goroutine N
    'worker-1' [running] permanent, restarts 1, goroutine N
    'worker-2' [running] permanent, restarts 0, goroutine N
    'worker-3' [running] permanent, restarts 0, goroutine N
    supervisor 'root/metrics' [running] transient, one_for_one, restarts 1/1 in 10 s, goroutine N
      'exporter' [running] permanent, restarts 1, goroutine N
 3.5s worker-1     put job 8 back in the queue
      report: t=3.5 root/worker-1 panicked: Panic: connection reset during job 8; restart 2 in 1 s
      report: t=4 root/metrics/exporter panicked: ConnectionRefusedError: metrics backend is down; too many restarts: giving up
      report: t=4 root/metrics panicked: TooManyRestarts: supervisor 'root/metrics' gave up: child 'exporter' panicked (ConnectionRefusedError: metrics backend is down) after 1 restart(s) within 10 s; restart 1 in 0.5 s
 5.5s main         all 12 jobs done; stopping the tree
jobs done per worker: {'worker-1': 2, 'worker-2': 5, 'worker-3': 5}
every job done exactly once: True; retried after a panic: [3, 8]
tasks left besides main: 0
"""  # noqa: E501


def test_flaky_workers_prints_the_expected_story() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == EXPECTED
