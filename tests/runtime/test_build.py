"""Which build is running: ``gochan.build`` and ``python -m gochan``.

``make test`` runs the suite on the pure build and again on the compiled one
(``make test-compiled``), each telling this file which build it must be
(``GOCHAN_EXPECT_BUILD``): a stale ``.so`` in a checkout, or a compiled
install that fell back to Python, fails here instead of testing the wrong
code in silence.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import gochan
from gochan._runtime import chan
from gochan._runtime.backends.catalog import BACKENDS, installed
from gochan._runtime.build import COMPILED_WITH, describe


def test_build_is_the_one_expected() -> None:
    assert gochan.build in ("compiled", "pure")
    want = os.environ.get("GOCHAN_EXPECT_BUILD")
    if want is not None:
        assert gochan.build == want, (gochan.build, chan.__file__)
    assert chan.__file__ is not None
    assert chan.__file__.endswith(".py") == (gochan.build == "pure")


def test_describe_names_version_build_and_python() -> None:
    line = describe()
    if gochan.build == "compiled":  # and the mypyc that compiled it
        assert re.fullmatch(r"mypyc \d+\.\d+\S*", COMPILED_WITH or ""), COMPILED_WITH
        assert line.startswith(f"gochan {gochan.__version__} (compiled build, {COMPILED_WITH}), ")
    else:
        assert COMPILED_WITH is None
        assert line.startswith(f"gochan {gochan.__version__} ({gochan.build} build), ")
    assert line.endswith(".".join(map(str, sys.version_info[:3])))


def test_python_m_gochan() -> None:
    # -P: the installed gochan, as this process has (not a checkout's sources in the cwd)
    r = subprocess.run(
        [sys.executable, "-P", "-m", "gochan"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = r.stdout.splitlines()
    assert lines[0] == describe()
    assert lines[1] == f"python: {sys.executable}"
    backends = lines[2].removeprefix("backends: ").split(", ")
    assert backends[0] == "builtin (default)"
    assert [b.split()[0] for b in backends] == [b for b in BACKENDS if installed(b)]
    assert r.stderr == ""


def test_dump_ends_with_the_build_line() -> None:
    def main() -> str:
        gochan.go(gochan.Chan[int]().recv)
        gochan.gosched()
        return gochan.dump()

    text = gochan.run(main)
    assert text.endswith(f"\n\n{describe()}\n")
    assert f"({gochan.build} build" in text.splitlines()[-1]


def test_a_deadlock_report_ends_with_the_build_line() -> None:
    def main() -> None:
        gochan.Chan[int]().recv()

    try:
        gochan.run(main)
    except gochan.Deadlock as e:
        report = str(e)
    else:
        raise AssertionError("no deadlock reported")
    assert report.startswith("all goroutines are asleep - deadlock!\n")
    assert report.rstrip("\n").endswith(f"\n\n{describe()}")
    assert f"({gochan.build} build" in report
