"""The benchmark suite runs: ``bench/run.py --smoke`` and ``--help``.

This checks only that the suite works end to end and prints its table, in
the plain development environment (no pyperf, gevent, trio or uvloop: the
smoke mode covers gochan, the bare-greenlet floor, asyncio and threading
with a plain timing loop, and W6 memory in tiny subprocesses). It asserts
nothing about speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_go_reference_is_asked_only_for_what_it_implements() -> None:
    """``make bench`` runs every workload; the Go program must be given only
    the ones bench/go/main.go knows (W9 has no Go counterpart: asking for it
    failed the whole Go run, so every Go row said n/a). The workloads with a
    Go row are exactly the Go program's table (plus W6, its own mode)."""
    import re

    main_go = (RUN.parent / "go" / "main.go").read_text()
    table = re.search(r"map\[string\]func[^{]*\{(.*?)\}", main_go, re.S)
    assert table is not None, "the workload table of bench/go/main.go moved"
    implemented = set(re.findall(r'"(W\w+)":', table.group(1))) | {"W6"}
    assert 'key == "W6"' in main_go
    sys.path.insert(0, str(RUN.parent))
    try:
        import run  # bench/run.py

        keys = run.go_keys(run.load_workloads())
    finally:
        sys.path.remove(str(RUN.parent))
    assert set(keys) == implemented
    assert "W9" not in keys


def test_help_lists_the_suite_options() -> None:
    p = _run("--help")
    assert p.returncode == 0, p.stderr
    for opt in (
        *("--quick", "--smoke", "--systems", "--workloads"),
        *("--items", "--tasks", "--jobs", "--parked"),
    ):
        assert opt in p.stdout


def test_smoke_mode_prints_a_table_for_every_workload() -> None:
    p = _run("--smoke")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    titles = (
        "W1 ping-pong",
        "W2 buffered",
        "W3 spawn",
        "W4 fan-out/in",
        "W5 select",
        "W6 memory",
        "W7 timers",
        "W8a mutex",
        "W8b waitgroup",
        "W8c context cancel fan-out",
        "W10 a million tasks",
        "W11 echo",
    )
    for title in titles:
        assert f"### {title}" in out
    # The build measured (pure or compiled) heads the report: every gochan row is that build.
    from gochan._runtime.build import describe

    assert f"\n{describe()}; " in out
    for key in ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8a", "W8b", "W8c", "W10", "W11"):
        assert f"gochan {key} = " in out, f"no ratio line for {key}:\n{out}"
    # Each workload prints its own unit; W6 is memory, not time.
    assert "### W3 spawn: \u00b5s per task" in out
    assert "### W6 memory: bytes per parked task" in out
    assert "### W7 timers: ms per round" in out
    # W10 runs in fresh processes at N and N / 10 (5,000 and 500 in smoke mode):
    # spawn + park time, memory per parked task, and how both scaled.
    assert "### W10 a million tasks: \u00b5s per task at 5,000 tasks" in out
    assert "5,000 vs 500 tasks:" in out and "the memory per task" in out
    for system in ("gochan", "greenlet (floor)", "asyncio", "threading"):
        assert f"| {system} |" in out
    # threading has no select: reported as n/a with its reason, not faked.
    assert "| threading | n/a: " in out


def test_smoke_mode_honours_each_size_option() -> None:
    p = _run(
        *("--smoke", "--workloads", "W2,W3,W4,W10"),
        *("--items", "300", "--tasks", "200", "--jobs", "400", "--parked", "2000"),
    )
    assert p.returncode == 0, p.stderr
    assert "sizes W2 300, W3 200, W4 400, W10 2,000;" in p.stdout
    assert "2,000 vs 200 tasks:" in p.stdout


def test_smoke_mode_runs_w9_the_k8s_controller_green_vs_threads() -> None:
    # W9 runs its own processes (the apiserver, one client per setup); in
    # smoke mode 1 and 16 workers with a few dozen events each, drained by
    # the pool alone and then end to end.
    p = _run("--smoke", "--workloads", "W9")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "### W9 k8s controller: events/s" in out
    for workers in ("| 1 |", "| 16 |"):
        assert workers in out, out
    for transport in ("| stdlib (builtin", "| httpx (", "| official (builtin"):
        assert transport in out, out
    assert "gochan W9 = green/threads events/s" in out
    assert "The pool alone:" in out and "green-sock/threads pool RSS" in out, out
    assert "error:" not in out, out


def test_w9_measure_runs_chosen_setups_interleaved_and_names_the_build() -> None:
    w9 = RUN.parent / "w9_k8s.py"
    bad = subprocess.run(
        [sys.executable, str(w9), "measure", "--setups", "green-sock,nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown setup(s) nope" in bad.stderr, bad.stderr
    p = subprocess.run(
        [
            *(sys.executable, str(w9), "measure", "--mode", "smoke", "--workers", "1"),
            *("--setups", "green-sock,threads", "--no-decode"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(result["runs"]) == {"green-sock-1", "threads-1"}
    assert result["decode"] == {} and result["errors"] == {}
    import gochan._runtime.chan as chan  # the build this interpreter imports

    assert result["gochan_build"] == ("pure" if chan.__file__.endswith(".py") else "compiled")
    # Interleaved: green, threads, green, threads... (one each in smoke mode).
    order = [line.split(",")[0] for line in p.stderr.splitlines() if line.startswith("W9 ")]
    assert order == ["W9 green-sock", "W9 threads"], p.stderr


def test_smoke_mode_runs_w11_echo_round_trips_and_idle_memory() -> None:
    # W11 runs a fresh process per (system, connections, size): in smoke mode
    # 1 and 8 connections, 64 B and 4 KiB, then 20 idle connections each.
    p = _run("--smoke", "--workloads", "W11")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "### W11 echo: round trips per second" in out, out
    head = "| system | 1 \u00d7 64 B | 1 \u00d7 4 KiB | 8 \u00d7 64 B | 8 \u00d7 4 KiB |"
    assert head + " bytes per idle connection (20) |" in out, out
    for system in ("gochan", "asyncio", "threading"):
        assert f"| {system} | " in out and f"- {system}: " in out, out
    assert "CPU time per round trip" in out
    assert "gochan W11 = round trips/s over 64 B / 4 KiB messages" in out
    assert "asyncio streams " in out and "Targets (builtin backend):" in out
    assert "error" not in out, out


def test_w11_says_why_a_concurrency_cannot_run() -> None:
    """10,000 connections need 20,000 descriptors in one process, and a
    thread per connection stops at 1,000: such cells are n/a with the reason."""
    sys.path.insert(0, str(RUN.parent))
    try:
        import w11_echo
    finally:
        sys.path.remove(str(RUN.parent))
    real = w11_echo.fd_hard_limit
    try:
        w11_echo.fd_hard_limit = lambda: 20_000  # type: ignore[assignment]
        why = w11_echo.why_not("gochan", 10_000)
        assert why is not None and "20,064 file descriptors" in why and "20,000" in why
        assert w11_echo.why_not("gochan", 1000) is None
        w11_echo.fd_hard_limit = lambda: 1 << 20  # type: ignore[assignment]
        assert w11_echo.why_not("gochan", 10_000) is None
        why = w11_echo.why_not("threading", 10_000)
        assert why is not None and "thread per connection" in why
        assert w11_echo.why_not("threading", 1000) is None
    finally:
        w11_echo.fd_hard_limit = real  # type: ignore[assignment]
    # uvloop brings both of its rows (streams and protocols); Go its own program.
    assert w11_echo.rows_for(["uvloop", "go"]) == ["uvloop", "uvloop-protocol", "go"]
