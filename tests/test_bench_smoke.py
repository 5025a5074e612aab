"""The benchmark suite runs: ``bench/run.py --smoke`` and ``--help``.

This checks only that the suite works end to end and prints its table, in
the plain development environment (no pyperf, gevent, trio or uvloop: the
smoke mode covers gochan, the bare-greenlet floor, asyncio and threading
with a plain timing loop). It asserts nothing about speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


def test_help_lists_the_suite_options() -> None:
    p = _run("--help")
    assert p.returncode == 0, p.stderr
    for opt in ("--quick", "--smoke", "--systems", "--workloads"):
        assert opt in p.stdout


def test_smoke_mode_prints_a_table_for_every_workload() -> None:
    p = _run("--smoke")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for title in ("W1 ping-pong", "W2 buffered", "W5 select", "W8a mutex", "W8b waitgroup"):
        assert f"### {title}" in out
    for key in ("W1", "W2", "W5", "W8a", "W8b"):
        assert f"gochan {key} = " in out, f"no ratio line for {key}:\n{out}"
    for system in ("gochan", "greenlet (floor)", "asyncio", "threading"):
        assert f"| {system} |" in out
    # threading has no select: reported as n/a with its reason, not faked.
    assert "| threading | n/a: " in out
