"""gochan.testing without pytest: the helpers import and work where pytest
cannot be imported, and the plugin's fixtures and hooks (gochan.testing._plugin)
are re-exported from gochan.testing wherever it can.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gochan
import gochan.testing
from gochan.testing import _plugin

pytest_plugins = ["pytester"]

# Where this gochan comes from: the subprocess must import the same one.
SOURCE = str(Path(gochan.__file__).resolve().parents[1])

# pytest, its internals and its plugin machinery cannot be imported at all.
NO_PYTEST = """
import importlib.abc, sys

class NoPytest(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("pytest", "_pytest", "pluggy"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, NoPytest())
"""

WITHOUT_PYTEST = """
import threading

import gochan
import gochan.testing
from gochan.testing import (
    LEAK_GRACE, ROUNDS, Snapshot, VirtualClockFixture, snapshot, verify_none, wait_all_blocked,
)

# The helpers.
vc = VirtualClockFixture(seed=1)
vc.run(gochan.sleep, 90)
with vc:
    gochan.sleep(10)
print("virtual clock", vc.now())

def main():
    results = gochan.Chan[int](10)
    for i in range(3):
        gochan.go(results.send, i * i)
    wait_all_blocked()
    return len(results)
print("wait_all_blocked", gochan.run(main))

before = snapshot()
done = threading.Event()
th = threading.Thread(target=done.wait)
th.start()
try:
    verify_none(before, grace=0)
except AssertionError as e:
    print(str(e).splitlines()[0])
done.set()
th.join()
verify_none(before)
print("verify_none clean")

# Nothing of pytest was loaded, nor the plugin.
import sys
print("pytest loaded:", sorted(m for m in sys.modules if m.partition(".")[0] in
      ("pytest", "_pytest", "pluggy")))
print("plugin loaded:", "gochan.testing._plugin" in sys.modules,
      hasattr(gochan.testing, "virtual_clock"))
try:
    import gochan.testing._plugin
except ModuleNotFoundError as e:
    print("the plugin needs", e.name)
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SOURCE + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_the_helpers_import_and_work_without_pytest() -> None:
    result = run_python(NO_PYTEST + WITHOUT_PYTEST)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "virtual clock 100.0",
        "wait_all_blocked 3",
        "gochan leak check: 0 goroutines and 1 thread still running",
        "verify_none clean",
        "pytest loaded: []",
        "plugin loaded: False False",
        "the plugin needs pytest",
    ]


def test_the_blocker_blocks() -> None:
    """The check above means something: the same blocker stops pytest."""
    result = run_python(NO_PYTEST + "import pytest\n")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'pytest' (blocked)" in result.stderr


def test_gochan_testing_re_exports_every_fixture_and_hook_of_the_plugin() -> None:
    """``-p gochan.testing`` may import gochan.testing itself as the plugin
    (no installed entry point, or a pytest that does not look entry points
    up by name): it must then be the whole plugin."""
    names = [
        n
        for n in vars(_plugin)
        if n.startswith("pytest_") or n in ("gochan_seed", "gochan_backend", "virtual_clock")
    ]
    assert len(names) == 13  # 10 hooks, 3 fixtures
    for name in names:
        assert getattr(gochan.testing, name) is getattr(_plugin, name), name


def test_the_plugin_module_on_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gochan.testing._plugin, which the pytest11 entry point registers, is
    the plugin by itself: options, markers, fixtures and the leak check."""
    monkeypatch.delenv("GOCHAN_BACKEND", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\naddopts = --strict-markers --strict-config\n")
    pytester.makepyfile(
        """
        import gochan
        import pytest

        def test_virtual_clock(virtual_clock, gochan_seed):
            gochan.sleep(5)
            assert virtual_clock.now() == 5.0 and virtual_clock.seed == gochan_seed

        @pytest.mark.gochan_allow_leaks
        def test_allowed():
            gochan.go(gochan.Chan().recv)
            gochan.gosched()

        def test_leaks():
            gochan.go(gochan.Chan().recv)
            gochan.gosched()
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "gochan.testing._plugin", "-p", "no:cacheprovider", "--gochan-seed", "7", timeout=120
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["gochan: seed 7 (replay: --gochan-seed 7)*", "*gochan leak check: 1 goroutine*"]
    )
