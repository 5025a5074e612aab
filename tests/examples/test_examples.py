"""The example programs run and prove what they claim.

examples/demo.py runs with ``--fast`` (the virtual clock), so a run that takes
about 7 seconds of real time finishes in a fraction of a second with the same
output. One run goes through a subprocess exactly as ``make demo`` starts it;
the variations run in-process through ``demo.main(argv)``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO = EXAMPLES / "demo.py"
PROGRESS = re.compile(r"^\s*(\d+\.\d)s \[[#.]+\]\s+(\d+)/(\d+) done\s+(\d+) in flight")
SUMMARY_OK = re.compile(
    r"^summary: (\d+)/(\d+) jobs processed exactly once by (\d+) workers in "
    r"(\d+\.\d) s \((\d+\.\d) jobs/s\); 0 missing, 0 duplicated - OK$"
)
SUMMARY_TIMEOUT = re.compile(
    r"^summary: stopped by the (\S+) s timeout: (\d+)/(\d+) jobs processed exactly once, "
    r"(\d+) abandoned mid-work, (\d+) never started; 0 duplicated - OK$"
)


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gochan_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def test_demo_runs_like_make_demo_but_fast() -> None:
    env = {**os.environ, "GOCHAN_DEMO_FAST": "1"}
    proc = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("worker pool: 60 jobs") and "virtual clock" in lines[0]
    m = SUMMARY_OK.match(lines[-1])
    assert m, lines[-1]
    done, total, workers, seconds = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    assert (done, total, workers) == (60, 60, 6)
    # The real-clock run (make demo) takes as long as this virtual one: 5-10 s.
    assert 5.0 <= seconds <= 10.0
    # A progress line every 0.2 s of (virtual) time, with done counts never going back.
    ticks = [PROGRESS.match(line) for line in lines]
    progress = [(float(t[1]), int(t[2])) for t in ticks if t]
    assert len(progress) >= seconds / 0.2 - 1
    assert [d for _, d in progress] == sorted(d for _, d in progress)
    assert progress[-1][1] == 60
    assert proc.stderr == ""


def test_fast_flag_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--fast"]) == 0
    first = capsys.readouterr().out
    assert demo.main(["--fast"]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    "jobs, workers, seed",
    [(60, 6, 1), (200, 20, 7), (5, 12, 3), (1, 1, 0), (0, 3, 1)],
    ids=lambda v: str(v),
)
def test_every_job_processed_exactly_once(
    jobs: int, workers: int, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--fast", "--jobs", str(jobs), "--workers", str(workers), "--seed", str(seed)]
    assert demo.main(argv) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    m = SUMMARY_OK.match(last)
    assert m, last
    assert (int(m[1]), int(m[2]), int(m[3])) == (jobs, jobs, workers)


def test_timeout_stops_the_pool_and_accounts_for_every_job(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main(["--fast", "--timeout", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    m = SUMMARY_TIMEOUT.match(out[-1])
    assert m, out[-1]
    done, total, abandoned, never = int(m[2]), int(m[3]), int(m[4]), int(m[5])
    assert total == 60 and 0 < done < total
    assert done + abandoned + never == total
    assert abandoned <= 6  # at most one job in flight per worker


def test_bad_arguments_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        demo.main(["--workers", "0"])
    assert ei.value.code == 2
    assert "--workers >= 1" in capsys.readouterr().err
