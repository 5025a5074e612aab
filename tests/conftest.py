"""Shared test setup.

Leak checks come from gochan's own pytest plugin (gochan.testing, loaded
through its pytest11 entry point, with ``gochan_leak_check = "all"`` in
pyproject.toml): every test must leave the process as it found it, with no
green task alive on any scheduler and no OS thread it started still running
(a live foreign thread rightly suppresses deadlock reports in later tests).
The plugin also shuts down blocking()'s idle pool workers and drops the
test thread's implicit scheduler after each test.

The hang watchdog (below) backs up pytest-timeout. Its signal method (see
pyproject.toml) raises the timeout from a Python signal handler, which
cannot end a spin that never gets back to it: a loop spinning inside
uvloop's ``run_forever`` (C), or a handler that runs inside an event loop
callback, whose ``Handle._run`` catches the exception and logs it (issue
17: the test then spun at 100% CPU until CI gave up). So every test that
has a timeout also arms faulthandler's watchdog, ``watchdog_margin``
seconds later: if the test is still running then, every thread's stack is
dumped to stderr and the process exits with status 1. The watchdog is a C
thread: neither ``threading.enumerate()`` nor ``_thread._count()`` sees it,
so unlike pytest-timeout's thread method it never vetoes a deadlock report
(tests/test_watchdog.py checks that, and the rest). It is armed and
cancelled through pytest-timeout's own timer hooks, so it follows
``@pytest.mark.timeout``, ``--timeout`` and the ini value; when pytest-timeout
ends a test normally, the watchdog is cancelled with its timer.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Callable, Generator
from typing import Any

import pytest

pytest_plugins: list[str] = []

# Seconds between pytest-timeout's timeout and the watchdog's: room for the
# normal path (pytest-timeout dumps the stacks, fails the test, its teardown
# runs), which the watchdog must never cut short.
WATCHDOG_MARGIN = 30.0

_watchdog_fd: list[int] = []  # a dup of the real stderr, for the dump


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "watchdog_margin",
        "seconds after a test's pytest-timeout timeout at which the hang watchdog "
        "dumps every thread's stack and exits (tests/conftest.py)",
        default=str(WATCHDOG_MARGIN),
    )


def pytest_configure(config: pytest.Config) -> None:
    # fd 2 is the capture's temporary file while a test runs: keep the real one.
    _watchdog_fd.append(os.dup(2))


def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.cancel_dump_traceback_later()
    while _watchdog_fd:
        os.close(_watchdog_fd.pop())


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Generator[None, Any, Any]:
    """pytest-timeout arms its timer for ``item``: arm the watchdog too."""
    margin = float(str(item.config.getini("watchdog_margin")))
    faulthandler.dump_traceback_later(
        float(settings.timeout) + margin, exit=True, file=_watchdog_fd[-1]
    )
    return (yield)


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> Generator[None, Any, Any]:
    """pytest-timeout cancels its timer (the test is over, or it failed and
    pytest may enter pdb): cancel the watchdog with it."""
    faulthandler.cancel_dump_traceback_later()
    return (yield)


# Every dump and deadlock report ends with the line that says which gochan
# ran (gochan._runtime.build.describe(): version, build, Python). The docs
# and the examples' expected outputs show this one; the tests that compare
# against them put it in place of the real one (which differs by Python
# version and build).
DOCS_BUILD_LINE = "gochan 0.1.0 (pure build), CPython 3.11.7"


@pytest.fixture
def as_documented() -> Callable[[str], str]:
    """``text`` with this process's build line replaced by the one the docs
    and expected outputs show (``DOCS_BUILD_LINE``)."""
    from gochan._runtime.build import describe

    line = describe()
    return lambda text: text.replace(line, DOCS_BUILD_LINE)


def pytest_enter_pdb() -> None:
    """A debugger session (``breakpoint()``) may take as long as it likes."""
    faulthandler.cancel_dump_traceback_later()
