"""The pytest plugin of :mod:`gochan.testing`: options, markers, fixtures, hooks.

pytest loads it through the ``pytest11`` entry point, under the name
``gochan.testing`` (so ``-p gochan.testing`` and ``-p no:gochan.testing``
name it). ``gochan.testing`` re-exports its fixtures and hooks when pytest is
importable, and is the home of everything that works without pytest: the
leak check as a function (``verify_none``, ``snapshot``), the virtual clock
(``VirtualClockFixture``) and ``wait_all_blocked``. This module adds what
needs pytest: ``--gochan-seed``, ``--gochan-backends``,
``--gochan-leak-check`` and their ini values, the ``gochan_allow_leaks`` and
``gochan_backends`` markers, the ``gochan_seed``, ``gochan_backend`` and
``virtual_clock`` fixtures, and the leak check after every test.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .. import testing as _testing
from .._runtime.backends.catalog import BACKENDS
from .._runtime.dump import format_task
from .._runtime.offload import POOL
from .._runtime.threads import peek_scheduler
from . import (
    LEAK_MODES,
    Snapshot,
    VirtualClockFixture,
    _calling_task,
    _check,
    _created,
    _find,
    _format,
    _Leaks,
    _retire,
    _settle,
    snapshot,
)

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureDef, SubRequest

_EXTRAS = {"uvloop": "uvloop", "trio": "trio"}


def _missing_dependency(backend: str) -> str | None:
    """Why ``backend`` cannot run here, or None if it can."""
    extra = _EXTRAS.get(backend)
    if extra is None:
        return None
    if backend == "uvloop" and sys.platform == "win32":
        return "uvloop does not support Windows"
    try:
        importlib.import_module(extra)
    except ImportError:
        return f'the {backend} backend needs {extra}: pip install "gochan[{extra}]"'
    return None


def _parse_backends(text: str) -> list[str]:
    names = [n.strip() for n in text.replace(" ", ",").split(",") if n.strip()]
    if names == ["all"]:
        return list(BACKENDS)
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        raise pytest.UsageError(
            f"--gochan-backends: unknown backend(s) {', '.join(bad) or '(none given)'}; "
            f"choose from {','.join(BACKENDS)} (or 'all')"
        )
    return list(dict.fromkeys(names))


@dataclass
class _Settings:
    seed: int
    seed_given: bool
    backends: list[str]
    leak_check: str
    # Tasks, schedulers and threads started by live fixtures of a wider
    # scope than function: not leaks of the test that set them up.
    owned: dict[int, Snapshot] = field(default_factory=dict)


_SETTINGS = pytest.StashKey[_Settings]()
_BEFORE = pytest.StashKey[Snapshot]()
_SEED_FIXTURES = ("gochan_seed", "virtual_clock")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Hook: ``--gochan-seed``, ``--gochan-backends``, ``--gochan-leak-check``."""
    group = parser.getgroup("gochan", "gochan (green tasks, channels)")
    group.addoption(
        "--gochan-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed for gochan runs started by the plugin (gochan_seed, virtual_clock); "
        "random by default, printed in the header",
    )
    group.addoption(
        "--gochan-backends",
        default=None,
        metavar="LIST",
        help="backends the gochan_backend fixture runs each test on, comma-separated "
        f"(default {','.join(BACKENDS)}, or the gochan_backends ini value)",
    )
    group.addoption(
        "--gochan-leak-check",
        choices=LEAK_MODES,
        default=None,
        help="which tests the leak check covers: all, gochan (those that used gochan; "
        "the default) or off",
    )
    parser.addini("gochan_backends", "default for --gochan-backends", default=",".join(BACKENDS))
    parser.addini("gochan_leak_check", "default for --gochan-leak-check", default="gochan")


def pytest_configure(config: pytest.Config) -> None:
    """Hook: register the markers, settle the seed, backends and leak mode."""
    config.addinivalue_line(
        "markers",
        "gochan_allow_leaks: the gochan leak check does not fail this test "
        "(its leftover tasks are still cancelled)",
    )
    config.addinivalue_line(
        "markers",
        "gochan_backends(*names): run this test's gochan_backend parameters only on these",
    )
    seed = config.getoption("gochan_seed")
    worker = getattr(config, "workerinput", None)  # pytest-xdist: the controller's seed
    if seed is None and worker is not None and "gochan_seed" in worker:
        seed = int(worker["gochan_seed"])
    given = seed is not None
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    backends = _parse_backends(
        config.getoption("gochan_backends") or str(config.getini("gochan_backends"))
    )
    mode = config.getoption("gochan_leak_check") or str(config.getini("gochan_leak_check"))
    if mode not in LEAK_MODES:
        raise pytest.UsageError(
            f"gochan_leak_check = {mode!r}: choose from {', '.join(LEAK_MODES)}"
        )
    config.stash[_SETTINGS] = _Settings(seed, given, backends, mode)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker uses the controller's seed."""
    node.workerinput["gochan_seed"] = node.config.stash[_SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    """Hook: the header line, e.g. ``gochan: seed 7 (replay: --gochan-seed 7), ...``."""
    st = config.stash[_SETTINGS]
    how = "" if st.seed_given else ", random"
    return (
        f"gochan: seed {st.seed}{how} (replay: --gochan-seed {st.seed}), "
        f"backends {','.join(st.backends)}, leak check {st.leak_check}"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Hook: one call per backend for tests that use ``gochan_backend``."""
    if "gochan_backend" not in metafunc.fixturenames:
        return
    names = metafunc.config.stash[_SETTINGS].backends
    marker = metafunc.definition.get_closest_marker("gochan_backends")
    if marker is not None:
        wanted = _parse_backends(",".join(marker.args))
        names = [n for n in names if n in wanted]
    params = []
    for name in names:
        why = _missing_dependency(name)
        marks = [pytest.mark.skip(reason=why)] if why else []
        params.append(pytest.param(name, marks=marks, id=name))
    metafunc.parametrize("gochan_backend", params, indirect=True)


@pytest.fixture
def gochan_seed(request: pytest.FixtureRequest) -> int:
    """The session's seed (``--gochan-seed N``, else random and printed in
    the header): pass it as ``gochan.run(main, seed=gochan_seed)``; a
    failing test that used it names it in its report.

    Example::

        def test_race(gochan_seed):
            assert gochan.run(main, seed=gochan_seed) == expected
    """
    return request.config.stash[_SETTINGS].seed


@pytest.fixture
def gochan_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The backend this run of the test uses: the test runs once per backend
    of ``--gochan-backends`` (ids ``[builtin]``, ``[asyncio]``, ...), with
    ``GOCHAN_BACKEND`` set, so ``gochan.run(main)`` and implicit mode use
    it. A backend whose dependency is missing is skipped, naming the extra.

    Example::

        def test_pipeline(gochan_backend):
            assert gochan.run(main) == [0, 1, 4]   # on each backend in turn
    """
    name = getattr(request, "param", None)
    if name is None:  # requested dynamically: nothing to parametrize
        name = os.environ.get("GOCHAN_BACKEND") or "builtin"
    monkeypatch.setenv("GOCHAN_BACKEND", str(name))
    return str(name)


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest, gochan_seed: int) -> VirtualClockFixture:
    """A :class:`VirtualClockFixture`: ``virtual_clock.run(main)`` runs
    ``main`` on a virtual clock with the session seed, and the test's own
    thread (implicit mode) runs on that clock too; ``virtual_clock.now()``.

    Example::

        def test_timeout(virtual_clock):
            assert virtual_clock.run(main) == "timed out"
            assert virtual_clock.now() == 30.0   # no wall time spent
    """
    if "gochan_backend" in request.fixturenames:
        request.getfixturevalue("gochan_backend")  # set GOCHAN_BACKEND first
    vc = VirtualClockFixture(seed=gochan_seed)
    vc.install()
    # No uninstall on teardown: the leak check inspects the scheduler first,
    # then shuts it down.
    return vc


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: FixtureDef[Any], request: SubRequest
) -> Generator[None, object, object]:
    """Remember what fixtures wider than a function start: it belongs to them."""
    if fixturedef.scope == "function":
        return (yield)
    before = snapshot()
    try:
        return (yield)
    finally:
        request.config.stash[_SETTINGS].owned[id(fixturedef)] = snapshot() - before


def pytest_fixture_post_finalizer(fixturedef: FixtureDef[Any], request: SubRequest) -> None:
    """Hook: a wide fixture is gone; what it started is on its own again."""
    request.config.stash[_SETTINGS].owned.pop(id(fixturedef), None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Hook: note what is alive before the test and its fixtures start."""
    item.stash[_BEFORE] = snapshot()
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Hook: the leak check, once every fixture of the test is torn down."""
    try:
        result = yield
    except BaseException as e:
        message = _after_test(item)
        if message:
            e.add_note(message)
        raise
    message = _after_test(item)
    if message:
        pytest.fail(message, pytrace=False)
    return result


def _after_test(item: pytest.Item) -> str:
    """The leak check: return the failure message ("" if none). In every
    case, shut down the implicit-mode scheduler the test created."""
    before = item.stash.get(_BEFORE, None)
    if before is None:  # setup never ran
        return ""
    st = item.config.stash[_SETTINGS]
    ignore = before
    for owned in st.owned.values():
        ignore = ignore | owned
    own = peek_scheduler()
    fresh = own is not None and own not in ignore.schedulers
    checked = st.leak_check == "all" or (
        st.leak_check == "gochan" and (before.created is None or before.created != _created())
    )
    if item.get_closest_marker("gochan_allow_leaks") is not None:
        checked = False
    me = _calling_task()
    errors: list[BaseException] = []
    first = _Leaks(own)
    if checked:
        _settle(me, errors)
        first = _find(ignore, me)
        # Format this thread's leaks now: shutting down ends them.
        first.texts = {t.id: format_task(t, s) for s, t in first.tasks if s is own}
    POOL.shutdown()  # blocking()'s idle workers would linger for seconds
    if fresh:
        assert own is not None
        errors.extend(_retire(own))
    if not checked:
        return ""
    leaks = first
    if first.foreign():  # other threads may still be ending: look again
        later = _check(ignore, me, _testing.LEAK_GRACE)
        leaks.tasks = [(s, t) for s, t in first.tasks if s is own]
        leaks.tasks += [(s, t) for s, t in later.tasks if s is not own]
        leaks.threads = later.threads
    leaks.errors = errors
    return _format(leaks, _hint(item)) if leaks else ""


def _hint(item: pytest.Item) -> str:
    return (
        f"(left by {item.nodeid}; mark it @pytest.mark.gochan_allow_leaks to allow this, "
        "or stop them before it returns)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Hook: a failing test that used the seed says how to replay it."""
    report = yield
    if report.failed and any(n in _SEED_FIXTURES for n in getattr(item, "fixturenames", ())):
        seed = item.config.stash[_SETTINGS].seed
        report.sections.append(("gochan", f"seed {seed}: replay with --gochan-seed {seed}"))
    return report
