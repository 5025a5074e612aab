"""The suite's hang watchdog (tests/conftest.py).

* Its thread is invisible where gochan looks for threads that could still
  wake a task, so a deadlock is still reported while it is armed.
* It ends a hang that pytest-timeout cannot end: the timeout's exception
  raised inside an event loop callback, which swallows it (issue 17). The
  process exits after dumping every thread's stack to the real stderr.
* It leaves pytest-timeout's normal operation alone: a test that times out
  in Python fails as before, and the session goes on.
* It follows each test's timeout (marker, ini value; none for timeout 0) and
  is cancelled after each test.

The last three run the real conftest.py in a pytester subprocess.
"""

from __future__ import annotations

import _thread
import faulthandler
import threading
from pathlib import Path

import pytest

import gochan
from gochan import Chan, Deadlock

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()


def test_watchdog_thread_does_not_veto_a_deadlock_report(gochan_backend: str) -> None:
    faulthandler.cancel_dump_traceback_later()  # conftest's, if armed
    before = threading.enumerate(), _thread._count()
    faulthandler.dump_traceback_later(3600, exit=True)  # a C thread waits on a lock
    try:
        assert (threading.enumerate(), _thread._count()) == before
        with pytest.raises(Deadlock, match="all goroutines are asleep"):
            gochan.run(Chan[int]().recv)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # pytest-timeout alone
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers --strict-config\n"
        "timeout = 60\ntimeout_method = signal\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "pytest_timeout", "-p", "no:cacheprovider", *args, timeout=120
    )


SPIN = """
import asyncio
import threading

import pytest


@pytest.mark.timeout(2)
def test_hangs_where_the_timeout_cannot_end_it():
    loop = asyncio.new_event_loop()

    def step():
        loop.call_soon(step)  # the next step, queued before this one blocks
        # pytest-timeout's exception is raised here, in a loop callback, where
        # asyncio catches it and logs it; the loop goes on to the next step.
        threading.Event().wait()

    loop.call_soon(step)
    loop.run_forever()


def test_never_reached():
    pass
"""


def test_watchdog_ends_a_hang_that_pytest_timeout_cannot(tester: pytest.Pytester) -> None:
    tester.makeconftest(CONFTEST)
    tester.makepyfile(test_spin=SPIN)
    # Uncaptured, and without pytest's log capture, asyncio's log of the
    # exception it caught reaches stderr.
    result = run(tester, "-s", "-p", "no:logging", "-o", "watchdog_margin=1")
    assert result.ret == 1
    out, err = result.stdout.str(), result.stderr.str()
    assert "Exception in callback" in err  # pytest-timeout fired, in vain:
    assert "Failed: Timeout (>2.0s) from pytest-timeout" in err  # asyncio logged it
    assert "passed" not in out and "failed" not in out  # the session was ended
    assert "Timeout (0:00:03)!" in err  # faulthandler's: 2 s timeout + 1 s margin
    assert "in step" in err and "in test_hangs_where_the_timeout_cannot_end_it" in err


PYTHON_LEVEL_HANG = """
import threading

import pytest


@pytest.mark.timeout(1)
def test_hangs_in_python():
    threading.Event().wait()


def test_runs_next():
    pass
"""


def test_pytest_timeout_still_ends_a_python_level_hang(tester: pytest.Pytester) -> None:
    tester.makeconftest(CONFTEST)
    tester.makepyfile(test_hang=PYTHON_LEVEL_HANG)
    result = run(tester)  # the default margin: far beyond this run
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>1.0s) from pytest-timeout*"])
    assert "Timeout (0:" not in result.stderr.str()


RECORDING = """
import faulthandler

import pytest

calls = []
faulthandler.dump_traceback_later = lambda timeout, **kw: calls.append(("arm", timeout, kw))
faulthandler.cancel_dump_traceback_later = lambda: calls.append(("cancel",))


@pytest.mark.timeout(5)
def test_marked():
    assert calls[-1][:2] == ("arm", 5 + 2)


@pytest.mark.timeout(0)
def test_without_a_timeout():
    pass


def test_ini_timeout():
    assert calls[-1][:2] == ("arm", 7 + 2)


def test_zz_the_calls():
    arm_kw = calls[0][2]
    assert arm_kw["exit"] is True and isinstance(arm_kw["file"], int)
    assert [c[:2] for c in calls] == [("arm", 7), ("cancel",), ("arm", 9), ("cancel",), ("arm", 9)]
"""


def test_watchdog_follows_each_tests_timeout_and_is_cancelled_after_it(
    tester: pytest.Pytester,
) -> None:
    tester.makeconftest(CONFTEST)
    tester.makepyfile(test_recording=RECORDING)
    result = run(tester, "-o", "watchdog_margin=2", "-o", "timeout=7")
    result.assert_outcomes(passed=4)
