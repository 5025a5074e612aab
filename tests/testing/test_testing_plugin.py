"""The pytest plugin gochan.testing: leak check, virtual_clock, seeds,
backend parametrisation, and the helpers verify_none and wait_all_blocked.

Plugin behaviour is tested on generated test files run by pytester in a
subprocess (``-p gochan.testing``), so that each run has a fresh interpreter;
the helpers are also tested directly.
"""

from __future__ import annotations

import re
import threading

import pytest

import gochan
from gochan import Chan, go
from gochan._runtime.threads import peek_scheduler
from gochan.testing import (
    VirtualClockFixture,
    snapshot,
    verify_none,
    wait_all_blocked,
)

pytest_plugins = ["pytester"]

# Leaked threads are reported after a grace period; keep it short here.
CONFTEST = """
import gochan.testing
gochan.testing.LEAK_GRACE = 0.5
"""


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("GOCHAN_BACKEND", raising=False)
    # Only the plugin under test (and pytest's own): faster, and isolated
    # from whatever else is installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers --strict-config\nfilterwarnings = error\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "gochan.testing", "-p", "no:cacheprovider", *args, timeout=120
    )


def out(result: pytest.RunResult) -> str:
    return result.stdout.str()


# -- the leak check ---------------------------------------------------------------

LEAKY = """
import threading
import gochan
import pytest


def stuck(ch):
    ch.recv()


def test_leaks_a_task():
    t = gochan.go(stuck, gochan.Chan())
    t.name = "stuck-worker"
    gochan.gosched()


@pytest.mark.gochan_allow_leaks
def test_allowed_to_leak():
    gochan.go(stuck, gochan.Chan())
    gochan.gosched()


def test_next_test_starts_clean():
    from gochan._runtime.threads import peek_scheduler
    assert peek_scheduler() is None
    assert gochan.num_goroutine() == 1


def test_runnable_task_gets_to_finish():
    done = []
    gochan.go(done.append, 1)  # never ran: the check lets it run first


def test_clean():
    ch = gochan.Chan()
    gochan.go(ch.send, 1)
    assert ch.recv() == 1
"""


def test_a_leaked_task_fails_the_test_naming_it_and_where_it_blocks(
    tester: pytest.Pytester,
) -> None:
    tester.makepyfile(test_leaky=LEAKY)
    result = run(tester, "-v")
    result.assert_outcomes(passed=5, errors=1)
    text = out(result)
    assert re.search(r"test_leaks_a_task ERROR", text)
    assert "ERROR at teardown of test_leaks_a_task" in text
    assert "gochan leak check: 1 goroutine and 0 threads still running" in text
    assert "left by test_leaky.py::test_leaks_a_task" in text
    assert "@pytest.mark.gochan_allow_leaks" in text
    report = text[text.index("gochan leak check") :]
    assert re.search(r"goroutine \d+ 'stuck-worker' \[chan receive\]:", report)
    assert "waiting on <Chan cap=0" in report
    assert re.search(r'File ".*test_leaky.py", line 7, in stuck\n +ch\.recv\(\)', report)
    for name in ("allowed_to_leak", "next_test_starts_clean", "runnable_task", "test_clean"):
        assert re.search(rf"{name}\w* PASSED", text), name
    assert "ERROR at teardown of test_allowed_to_leak" not in text


LEAKY_THREADS = """
import threading
import time
import gochan

release = threading.Event()


def test_leaks_a_plain_thread():
    gochan.go(gochan.sleep, 0)  # uses gochan: checked by default
    threading.Thread(target=release.wait, name="plain-waiter", daemon=True).start()


def test_leaks_a_gochan_thread():
    started = threading.Event()

    def body():
        ch = gochan.Chan()
        gochan.go(ch.recv).name = "inner-task"
        started.set()
        ch.recv()

    threading.Thread(target=body, name="gochan-thread", daemon=True).start()
    started.wait()


def test_thread_that_ends_in_time():
    gochan.go(gochan.sleep, 0)
    threading.Thread(target=time.sleep, args=(0.01,)).start()


def test_without_gochan_is_not_checked_by_default():
    threading.Thread(target=release.wait, name="unchecked", daemon=True).start()
"""


def test_leaked_threads_are_reported_with_their_stacks_and_tasks(
    tester: pytest.Pytester,
) -> None:
    tester.makepyfile(test_threads=LEAKY_THREADS)
    result = run(tester, "-v")
    result.assert_outcomes(passed=4, errors=2)
    text = out(result)
    plain = text[text.index("ERROR at teardown of test_leaks_a_plain_thread") :]
    assert "1 thread still running" in plain
    assert re.search(r"=== leaked thread 'plain-waiter' \(ident \d+, daemon\) ===", plain)
    assert "in wait" in plain  # its Python stack: blocked in Event.wait
    gthread = text[text.index("ERROR at teardown of test_leaks_a_gochan_thread") :]
    assert "2 goroutines and 1 thread still running" in gthread
    assert "=== leaked thread 'gochan-thread'" in gthread
    assert re.search(r"goroutine \d+ 'main' \[chan receive\]:", gthread)
    assert re.search(r"goroutine \d+ 'inner-task' \[chan receive\]:", gthread)
    assert "ERROR at teardown of test_thread_that_ends_in_time" not in text


def test_leak_check_modes(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_threads=LEAKY_THREADS)
    result = run(tester, "--gochan-leak-check=all")
    result.assert_outcomes(passed=4, errors=3)  # the test without gochan too
    assert "ERROR at teardown of test_without_gochan_is_not_checked_by_default" in out(result)
    result = run(tester, "--gochan-leak-check=off")
    result.assert_outcomes(passed=4)
    tester.makeini("[pytest]\ngochan_leak_check = sometimes\n")
    result = run(tester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "gochan_leak_check = 'sometimes'" in result.stderr.str()


WIDER_FIXTURES = """
import threading
import gochan
import pytest


@pytest.fixture(scope="module")
def server():
    stop = threading.Event()
    th = threading.Thread(target=stop.wait, name="module-server")
    th.start()
    yield th
    stop.set()
    th.join()


@pytest.fixture
def function_task():
    ch = gochan.Chan()
    t = gochan.go(ch.recv)  # stopped in teardown: not a leak
    yield t
    ch.close()


def test_one(server, function_task):
    gochan.gosched()
    assert server.is_alive()


def test_two(server):
    gochan.go(gochan.sleep, 0)
    assert server.is_alive()
"""


def test_what_fixtures_start_and_stop_is_not_a_leak(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_fixtures=WIDER_FIXTURES)
    run(tester, "--gochan-leak-check=all").assert_outcomes(passed=2)


CRASH_LATE = """
import gochan


def test_task_raises_after_the_test_body():
    def boom():
        raise ValueError("raised too late")

    gochan.go(boom)  # runs only once the test returned
"""


def test_an_exception_raised_after_the_test_is_reported(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_crash=CRASH_LATE)
    result = run(tester)
    result.assert_outcomes(passed=1, errors=1)
    text = out(result)
    assert "gochan leak check: a task raised after the test's last blocking call" in text
    assert "ValueError: raised too late" in text


# -- virtual_clock and the seed -----------------------------------------------------

VIRTUAL = """
import gochan


def test_implicit_mode_runs_on_the_virtual_clock(virtual_clock):
    gochan.sleep(3600)
    assert virtual_clock.now() == 3600.0
    assert gochan.monotonic() == 3600.0


def test_run_helper(virtual_clock):
    def main():
        gochan.go(gochan.sleep, 5)
        timer = gochan.after(30)
        return timer.recv()

    assert virtual_clock.run(main) == 30.0
    assert virtual_clock.now() == 30.0
    assert virtual_clock.run(gochan.monotonic) == 30.0  # one clock per test


def test_a_fresh_clock_per_test(virtual_clock):
    assert virtual_clock.now() == 0.0


def test_seed_is_the_session_seed(virtual_clock, gochan_seed):
    assert virtual_clock.seed == gochan_seed == 1234
"""


def test_virtual_clock_fixture(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_virtual=VIRTUAL)
    run(tester, "--gochan-seed", "1234").assert_outcomes(passed=4)


SEEDED = """
import gochan


def trace():
    chans = [gochan.Chan[int](1) for _ in range(4)]
    picks = []
    for _ in range(30):
        for i, c in enumerate(chans):
            if not len(c):
                c.send(i)
        picks.append(gochan.select(*(c.recv for c in chans))[0])
    return picks


def test_trace(virtual_clock):
    print("TRACE", virtual_clock.run(trace))


def test_fails(gochan_seed):
    assert gochan_seed < 0
"""


def _trace(result: pytest.RunResult) -> str:
    m = re.search(r"TRACE \[.*?\]", out(result))
    assert m is not None, out(result)
    return m[0]


def test_seed_option_makes_runs_reproducible_and_is_reported(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_seeded=SEEDED)
    seven = run(tester, "-s", "--gochan-seed", "7")
    seven.assert_outcomes(passed=1, failed=1)
    text = out(seven)
    assert "gochan: seed 7 (replay: --gochan-seed 7)" in text  # the header
    failure = text[text.index("_ test_fails _") :]
    assert "seed 7: replay with --gochan-seed 7" in failure
    assert _trace(seven) != _trace(run(tester, "-s", "--gochan-seed", "8"))
    # Without the option the seed is random, and printed: replaying it
    # gives the same run.
    first = run(tester, "-s")
    m = re.search(r"gochan: seed (\d+), random \(replay: --gochan-seed \1\)", out(first))
    assert m is not None, out(first)
    replay = run(tester, "-s", "--gochan-seed", m[1])
    assert _trace(first) == _trace(replay)
    assert f"seed {m[1]}: replay with --gochan-seed {m[1]}" in out(first)


# -- backends -------------------------------------------------------------------------

BACKENDS = """
import os
import gochan
import pytest


def test_env(gochan_backend):
    assert os.environ["GOCHAN_BACKEND"] == gochan_backend
    ch = gochan.Chan()
    gochan.go(ch.send, gochan_backend)   # implicit mode uses it too
    assert ch.recv() == gochan_backend
    assert gochan.run(lambda: 42) == 42


@pytest.mark.gochan_backends("builtin", "trio")
def test_restricted(gochan_backend):
    assert gochan_backend in ("builtin", "trio")


def test_without_the_fixture():
    assert "GOCHAN_BACKEND" not in os.environ
"""


def test_backend_parametrisation_ids_and_env_var(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_backends=BACKENDS)
    result = run(tester, "-v")
    result.assert_outcomes(passed=7)
    text = out(result)
    for name in ("builtin", "asyncio", "uvloop", "trio"):
        assert f"test_env[{name}] PASSED" in text
    assert "test_restricted[builtin] PASSED" in text
    assert "test_restricted[trio] PASSED" in text
    assert "test_restricted[asyncio]" not in text
    assert "backends builtin,asyncio,uvloop,trio" in text

    result = run(tester, "-v", "--gochan-backends=asyncio,trio")
    result.assert_outcomes(passed=4)
    assert "test_env[asyncio] PASSED" in out(result)
    assert "test_env[builtin]" not in out(result)

    tester.makeini("[pytest]\ngochan_backends = builtin\n")
    run(tester, "-v").assert_outcomes(passed=3)

    result = run(tester, "--gochan-backends=builtin,tokio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown backend(s) tokio" in result.stderr.str()


def test_a_backend_whose_dependency_is_missing_is_skipped(tester: pytest.Pytester) -> None:
    tester.makeconftest(CONFTEST + "import sys\nsys.modules['trio'] = None\n")
    tester.makepyfile(test_backends=BACKENDS)
    result = run(tester, "-v", "-rs")
    result.assert_outcomes(passed=5, skipped=2)
    text = out(result)
    assert "test_env[trio] SKIPPED" in text
    assert 'the trio backend needs trio: pip install "gochan[trio]"' in text


# -- the helpers, without pytest ---------------------------------------------------------


def test_verify_none_names_leaked_tasks_and_passes_when_clean() -> None:
    before = snapshot()

    def main() -> None:
        ch = Chan[int]()
        go(ch.recv).name = "leaky"
        with pytest.raises(AssertionError) as info:
            verify_none(before)
        text = str(info.value)
        assert text.startswith("gochan leak check: 1 goroutine and 0 threads still running\n")
        assert re.search(r"goroutine \d+ 'leaky' \[chan receive\]:", text)
        ch.close()
        verify_none(before)  # the receiver ran to its end first

    gochan.run(main)
    verify_none(before)


def test_verify_none_reports_threads_until_they_end() -> None:
    before = snapshot()
    release = threading.Event()
    th = threading.Thread(target=release.wait, name="lingering")
    th.start()
    try:
        with pytest.raises(AssertionError, match="=== leaked thread 'lingering'"):
            verify_none(before, grace=0)
    finally:
        release.set()
        th.join()
    verify_none(before)


def test_wait_all_blocked_reaches_quiescence() -> None:
    def main() -> list[int]:
        seen: list[int] = []
        stage1, stage2 = Chan[int](), Chan[int]()

        def double() -> None:
            for v in stage1:
                stage2.send(v * 2)

        go(double)
        go(lambda: seen.extend(stage2))
        for v in range(3):
            stage1.send(v)
        wait_all_blocked()
        snapshot_seen = list(seen)
        stage1.close()
        wait_all_blocked()
        stage2.close()
        return snapshot_seen

    assert gochan.run(main) == [0, 2, 4]


def test_wait_all_blocked_times_out_with_a_dump() -> None:
    def main() -> None:
        stop = False

        def spin() -> None:
            while not stop:
                gochan.gosched()

        go(spin).name = "spinner"
        go(Chan[int]().recv).name = "parked"
        with pytest.raises(TimeoutError) as info:
            wait_all_blocked(rounds=50)
        text = str(info.value)
        assert re.match(
            r"wait_all_blocked: tasks still not blocked after 50 rounds: \d+ \('spin", text
        )
        assert re.search(r"goroutine \d+ 'spinner' \[runnable\]:", text)
        assert re.search(r"goroutine \d+ 'parked' \[chan receive\]:", text)
        with pytest.raises(TimeoutError, match=r"after 0\.01s"):
            wait_all_blocked(timeout=0.01)
        stop = True
        wait_all_blocked()

    gochan.run(main)


def test_wait_all_blocked_in_implicit_mode_and_with_sleepers() -> None:
    got: list[int] = []
    ch = Chan[int]()
    go(lambda: got.append(ch.recv()))
    go(gochan.sleep, 60)  # parked on a timer: counts as blocked
    ch.send(1)
    wait_all_blocked()
    assert got == [1]
    assert gochan.num_goroutine() == 2  # the sleeper
    s = peek_scheduler()
    assert s is not None
    for t in list(s.tasks.values()):
        if t is not s.main:
            t.cancel()
    wait_all_blocked()
    assert gochan.num_goroutine() == 1


def test_virtual_clock_fixture_object_without_pytest() -> None:
    vc = VirtualClockFixture(seed=3)
    assert vc.run(lambda: gochan.sleep(2) or gochan.monotonic()) == 2.0
    with vc:
        gochan.sleep(5)
        go(Chan[int]().recv)  # cancelled when the block ends
        assert vc.now() == 7.0
    assert peek_scheduler() is None
    assert vc.now() == 7.0
    assert "now=7.0 seed=3" in repr(vc)
