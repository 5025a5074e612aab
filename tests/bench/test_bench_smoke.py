"""The benchmark suite runs: ``bench/run.py --smoke`` and ``--help``.

This checks only that the suite works end to end and prints its table, in
the plain development environment (no pyperf, gevent, trio or uvloop: the
smoke mode covers gochan, the bare-greenlet floor, asyncio and threading
with a plain timing loop, and W6 memory in tiny subprocesses). It asserts
nothing about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _bench_modules() -> None:
    if str(RUN.parent) not in sys.path:
        sys.path.insert(0, str(RUN.parent))


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
        *("--builds", "--compiled-python"),
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


def _w9() -> Any:
    _bench_modules()
    import w9_k8s

    return w9_k8s


def test_smoke_mode_runs_w9_gochan_against_the_thread_pool_and_kubernetes_asyncio() -> None:
    # W9 runs its own processes (the apiserver, one client per setup); in
    # smoke mode 1 and 16 workers with a few dozen events each, drained by
    # the pool alone and then end to end.
    w9 = _w9()
    p = _run("--smoke", "--workloads", "W9")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "### W9 k8s controller: events/s" in out
    head = "| workers | gochan events/s | threads events/s | kubernetes_asyncio events/s | "
    assert head + "gochan/threads events/s | gochan/kubernetes_asyncio events/s |" in out, out
    for workers in ("1", "16"):
        row = next(x for x in out.splitlines() if x.startswith(f"| {workers} | "))
        cols = [c.strip() for c in row.strip("|").split("|")]
        assert all(c.replace(",", "").isdigit() for c in cols[1:3]), row  # gochan, threads
        if w9.missing("kubernetes_asyncio") is None:
            assert cols[3].replace(",", "").isdigit(), row
            assert cols[4].endswith("\u00d7") and cols[5].endswith("\u00d7"), row
        else:  # not installed here: said so, not an error
            assert cols[3] == "n/a: " + w9.missing("kubernetes_asyncio"), row
    for transport in w9.decode_transports():
        assert f"| {transport} (" in out, out
    assert "gochan W9 = gochan/baseline events/s " in out, out
    assert "not measured at 128 and 1,024 workers" in out, out
    assert "The pool alone:" in out and "gochan/threads pool RSS" in out, out
    assert "error:" not in out, out


def test_w9_measure_runs_chosen_setups_interleaved_and_names_the_build() -> None:
    w9 = RUN.parent / "w9_k8s.py"
    bad = subprocess.run(
        [sys.executable, str(w9), "measure", "--setups", "gochan,nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown setup(s) nope" in bad.stderr, bad.stderr
    p = subprocess.run(
        [
            *(sys.executable, str(w9), "measure", "--mode", "smoke", "--workers", "1"),
            *("--setups", "gochan,threads", "--no-decode"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(result["runs"]) == {"gochan-1", "threads-1"}
    assert result["decode"] == {} and result["errors"] == {}
    for runs in result["runs"].values():
        (run,) = runs
        # Every event of each burst was handled (a key written twice is reconciled once).
        assert run["events"] == 40 and 0 < run["reconciled"] <= 40, run
        assert run["drain"]["items"] > 0 and run["rss_peak_method"] == "VmHWM", run
    import gochan._runtime.chan as chan  # the build this interpreter imports

    assert result["gochan_build"] == ("pure" if chan.__file__.endswith(".py") else "compiled")
    # Interleaved: gochan, threads, gochan, threads... (one each in smoke mode).
    order = [line.split(",")[0] for line in p.stderr.splitlines() if line.startswith("W9 ")]
    assert order == ["W9 gochan", "W9 threads"], p.stderr


def test_w9_key_queues_follow_client_go_rules() -> None:
    """A queued key is not queued twice; a key in flight is not handed to a
    second worker, and goes back in (once) when it was added meanwhile."""
    import asyncio

    w9 = _w9()
    q = w9.KeyQueue()
    for key in ("a", "b", "a"):
        q.add(key)
    assert q.depth() == 2
    assert q.get() == "a"
    q.add("a")  # in flight: marked dirty, not queued
    assert q.depth() == 1 and q.get() == "b" and q.depth() == 0 and not q.idle()
    q.done("a")  # dirty while in flight: back in the queue
    assert q.depth() == 1 and q.get() == "a"
    q.done("a")
    q.done("b")
    assert q.idle()
    q.shut_down()
    assert q.get() is None

    async def rules() -> None:
        aq = w9.AsyncKeyQueue()
        for key in ("a", "b", "a"):
            aq.add(key)
        assert aq.queue.qsize() == 2
        assert await aq.get() == "a"
        aq.add("a")
        assert aq.queue.qsize() == 1 and await aq.get() == "b" and not aq.idle()
        aq.done("a")
        assert aq.queue.qsize() == 1 and await aq.get() == "a"
        aq.done("a")
        aq.done("b")
        assert aq.idle()

    asyncio.run(rules())


def test_w9_leaves_out_what_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """A baseline whose package is missing is named, not an error; a decode
    transport the example no longer has is left out."""
    w9 = _w9()
    monkeypatch.setitem(w9.REQUIRES, "threads", "no_such_module_w9")
    assert w9.missing("threads") == "not installed: no_such_module_w9 (pip install 'gochan[bench]')"
    assert w9.missing("gochan") is None
    monkeypatch.setattr(w9, "DECODE_TRANSPORTS", ("gone", "green", "never-was"))
    assert w9.decode_transports() == ("green",)


def _w9_cells(rates: dict[str, float], rss: dict[str, float], workers: int) -> list[Any]:
    import report

    return [
        report.Cell(
            f"{setup} {workers}",
            setup,
            values_ns=[1e9 / rate],
            extra={"workers": workers, "rss": rss[setup], "pool_rss": rss[setup]},
        )
        for setup, rate in rates.items()
    ]


def test_w9_summary_says_whether_the_targets_are_met() -> None:
    _bench_modules()
    import report

    mib = 2**20
    met = _w9_cells(
        {"gochan": 6000, "threads": 2000, "kubernetes_asyncio": 3000},
        {"gochan": 10 * mib, "threads": 40 * mib, "kubernetes_asyncio": 20 * mib},
        128,
    )
    met += _w9_cells(
        {"gochan": 9000, "threads": 3000, "kubernetes_asyncio": 4500},
        {"gochan": 20 * mib, "threads": 80 * mib, "kubernetes_asyncio": 40 * mib},
        1024,
    )
    line = report.w9_summary(met)
    assert line.startswith(
        "gochan W9 = gochan/baseline events/s 3.00\u00d7 threads, 2.00\u00d7 kubernetes_asyncio "
        "at 128 workers; 3.00\u00d7 threads, 2.00\u00d7 kubernetes_asyncio at 1,024 workers; "
        "gochan/baseline RSS growth 0.25\u00d7 threads, 0.50\u00d7 kubernetes_asyncio at 128"
    ), line
    assert line.endswith("than either): met"), line
    missed = _w9_cells(
        {"gochan": 3000, "threads": 2000, "kubernetes_asyncio": 3500},
        {"gochan": 30 * mib, "threads": 40 * mib, "kubernetes_asyncio": 20 * mib},
        1024,
    )
    line = report.w9_summary(missed)
    assert line.endswith(
        "missed: 1.50\u00d7 threads' events/s at 1,024, 0.86\u00d7 kubernetes_asyncio's "
        "events/s at 1,024, 1.50\u00d7 kubernetes_asyncio's RSS growth at 1,024, "
        "1.50\u00d7 kubernetes_asyncio's pool RSS at 1,024"
    ), line
    assert "no result at 128" not in line  # 128 was not measured: only 1,024 is judged
    table = report.w9_table(_w9().WORKLOAD, missed)
    assert "| 1,024 | 3,000 | 2,000 | 3,500 | 1.50\u00d7 | 0.86\u00d7 |" in table, table


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


# -- both of gochan's builds in one run (issue 18) -----------------------------------------

# The compiled build's venv, when this checkout has one (make .venv-compiled/bench).
COMPILED = RUN.parents[1] / ".venv-compiled" / "bin" / "python"


def _interpreter(tmp_path: Path, name: str, body: str) -> Path:
    """A stand-in interpreter: a shell script (``body``, then exec ``$@``)."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _liar(tmp_path: Path) -> Path:
    """A "compiled" interpreter whose probe claims the compiled build but which
    runs this (pure) one: only the checks of each row can catch it."""
    probe = json.dumps({"build": "compiled", "describe": "a liar", "python": "liar", "missing": {}})
    return _interpreter(
        tmp_path,
        "liar",
        f'case "$2" in --probe) echo \'{probe}\'; exit 0;; esac\nexec {sys.executable} "$@"',
    )


def test_build_rows_are_named_and_parsed_back() -> None:
    _bench_modules()
    import common
    import report

    assert common.row_name("gochan", "pure") == "gochan"
    assert common.row_name("gochan[trio]", "compiled") == "gochan[trio] (compiled)"
    assert common.row_name("gevent", "compiled") == "gevent"  # a peer has one row
    assert common.split_row("gochan[trio] (compiled)") == ("gochan[trio]", "compiled")
    assert common.split_row("gochan") == ("gochan", "pure")
    assert common.split_row("gevent") == ("gevent", None)
    # Neither build's gochan row is a peer; W11's cells name their row first.
    assert {"gochan (compiled)", "gochan[uvloop] (compiled)", "gochan"} <= common.NOT_PEERS
    assert report.w11_row("gochan (compiled) 100 4096") == "gochan (compiled)"
    assert report.w11_row("gochan (compiled) idle") == "gochan (compiled)"
    assert report.w11_row("uvloop-protocol 1 64") == "uvloop-protocol"
    rows = ["gochan", "gochan (compiled)", "gochan[asyncio] (compiled)", "gevent", "gochan"]
    assert report.gochan_rows(rows) == ["gochan", "gochan (compiled)"]
    assert report.gochan_rows(["gevent"]) == ["gochan"]


def test_auto_measures_the_compiled_build_only_when_its_interpreter_exists(
    tmp_path: Path,
) -> None:
    _bench_modules()
    import argparse

    import common
    import run

    from gochan._runtime.build import BUILD

    missing = str(tmp_path / "no-such-python")
    opts = argparse.Namespace(builds="auto", compiled_python=missing)
    saved = dict(common.INTERPRETERS)
    try:
        builds, notes = run.resolve_builds(opts)
        assert builds == [BUILD]
        if BUILD == "pure":  # the line saying why the compiled build is not measured
            assert notes == [
                f"compiled build not measured: no interpreter at {missing} "
                "(`make .venv-compiled/bench` builds it; or --compiled-python PATH)"
            ]
            line = run.builds_line(builds, notes)
            assert line.startswith("gochan builds measured: pure (rows `gochan`, ")
            assert "Compiled build not measured: no interpreter at" in line
            # Smoke mode measures this interpreter's build unless told otherwise.
            assert run.resolve_builds(opts, smoke=True) == ([BUILD], [])
    finally:
        common.INTERPRETERS.clear()
        common.INTERPRETERS.update(saved)


def test_asking_for_a_build_without_its_interpreter_fails(tmp_path: Path) -> None:
    p = _run(
        *("--smoke", "--workloads", "W1", "--builds", "pure,compiled"),
        *("--compiled-python", str(tmp_path / "none")),
    )
    assert p.returncode != 0
    assert "no compiled interpreter at" in p.stderr, p.stderr
    p = _run("--smoke", "--builds", "pure,fast")
    assert p.returncode != 0 and "unknown build: fast" in p.stderr, p.stderr


def test_an_interpreter_of_the_wrong_build_fails_every_row_of_that_build() -> None:
    """--compiled-python naming a pure interpreter: its probe says so, and
    each "(compiled)" row is an error that says why, not a pure measurement
    under the compiled name."""
    from gochan._runtime.build import BUILD

    if BUILD != "pure":
        pytest.skip("needs a pure-build interpreter running the tests")
    p = _run(
        *("--smoke", "--workloads", "W1,W6", "--systems", "gochan,greenlet"),
        *("--builds", "pure,compiled", "--compiled-python", sys.executable),
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    want = f"build check failed: {sys.executable} imports gochan's pure build, not the compiled one"
    assert f"| gochan (compiled) | error: {want}" in out, out
    assert out.count("| gochan (compiled) | error: ") == 2, out
    assert "- gochan (compiled) W1: no result" in out
    assert "- gochan W1 = " in out and "| gochan | Chan() x2 | " in out


def test_each_row_checks_the_build_it_measured(tmp_path: Path) -> None:
    """An interpreter whose probe claims the compiled build but which imports
    the pure one: the in-process timing (a smoke run in that interpreter),
    W6's, W10's and W11's fresh processes all report the build they imported,
    and every "(compiled)" cell is an error instead of a mislabelled number."""
    from gochan._runtime.build import BUILD

    if BUILD != "pure":
        pytest.skip("needs a pure-build interpreter running the tests")
    liar = _liar(tmp_path)
    p = _run(
        *("--smoke", "--workloads", "W1,W6,W10,W11", "--systems", "gochan,asyncio"),
        *("--builds", "pure,compiled", "--compiled-python", str(liar)),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    rows = "`gochan (compiled)`, `gochan[asyncio] (compiled)`, ..."
    assert f"compiled (rows {rows}): a liar, in {liar} (liar)" in out, out
    claim = "build check failed: {} imports gochan's pure build, not the compiled one"
    assert "| gochan (compiled) | error: " + claim.format(sys.executable) in out, out  # W1
    process = (
        f"build check failed: the process ({liar}) imported gochan's pure build, "
        "not the compiled one"
    )
    assert out.count(f"| gochan (compiled) | error: {process}") == 2, out  # W6, W10
    assert f"[1] {process}" in out, out  # W11's note
    for key in ("W1", "W6", "W10", "W11"):
        assert f"- gochan (compiled) {key}: no result" in out, out
        assert f"- gochan {key} = " in out, out


def test_a_pyperf_worker_of_the_wrong_build_refuses_to_run() -> None:
    """The worker of a gochan row exits with status 3 before measuring when
    the gochan it imports is not the build of its row."""
    _bench_modules()
    import run

    from gochan._runtime.build import BUILD

    other = "compiled" if BUILD == "pure" else "pure"
    assert run.check_worker_build("gochan", BUILD) == BUILD
    with pytest.raises(SystemExit) as e:
        run.check_worker_build("gochan (compiled)", other)
    assert e.value.code == run.BUILD_MISMATCH_EXIT


def _compiled_python() -> str | None:
    if not COMPILED.exists():
        return None
    p = subprocess.run(
        [str(COMPILED), str(RUN), "--probe"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if p.returncode != 0 or json.loads(p.stdout)["build"] != "compiled":
        return None
    return str(COMPILED)


def test_smoke_mode_measures_both_builds_with_a_real_compiled_interpreter(
    tmp_path: Path,
) -> None:
    from gochan._runtime.build import BUILD

    compiled = _compiled_python()
    if compiled is None or BUILD != "pure":  # make test builds it before this runs
        pytest.skip("no compiled build here (make .venv-compiled/bench), or not run by a pure one")
    # Without PYTHONPATH: a checkout on it would shadow the venv's compiled gochan.
    python = _interpreter(tmp_path, "compiled", f'unset PYTHONPATH\nexec {compiled} "$@"')
    p = _run(
        *("--smoke", "--workloads", "W1,W6", "--systems", "gochan,greenlet"),
        *("--builds", "pure,compiled", "--compiled-python", str(python)),
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "error" not in out, out
    assert "(compiled build" in out
    for key in ("W1", "W6"):
        assert f"- gochan {key} = " in out and f"- gochan (compiled) {key} = " in out, out
    assert "| gochan (compiled) | Chan() x2 | " in out, out
