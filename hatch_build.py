"""The compiled build: a wheel of gochan compiles the runtime's hot-path
modules (``COMPILED``) with mypyc whenever this machine can.

Which build a wheel gets:

* ``pip install .``, ``pip wheel .``, ``python -m build`` (and so installing
  the sdist): **compiled when possible**. Possible means CPython, a C
  compiler (``$CC``, else the one Python was built with,
  ``sysconfig.get_config_var("CC")``; on Windows setuptools finds MSVC
  itself) and the Python headers (``Python.h``). When it is not possible, or
  when mypyc or the C compiler fails, the wheel is pure Python and the build
  prints one line to stderr saying why and how to get the compiled build. A
  fallback is never silent: the line always names its cause. (pip shows a
  build's output only with ``-v``; ``python -m gochan`` tells afterwards.)
* ``GOCHAN_PURE=1``: pure Python, nothing compiled.
* ``GOCHAN_COMPILE=1``: compiled or fail; no fallback. ``make
  test-compiled`` and release builds use it, so a toolchain problem can
  never ship or test a pure build under a compiled name.
* ``pip install -e .`` (editable): pure, unless ``GOCHAN_COMPILE=1``. An
  editable build compiles in place, next to the sources, where the import
  system prefers the ``.so`` files over the ``.py`` files: edits to the
  sources would silently stop taking effect. ``make clean-compiled`` (or
  deleting the ``*.so`` files) returns such a checkout to pure Python.

mypy and black ship mypyc wheels too, but opt in per build (mypy's
``MYPY_USE_MYPYC=1``, black's ``HATCH_BUILD_HOOKS_ENABLE=1`` set in their
cibuildwheel config), so building their sdists gives pure Python. gochan
compiles by default because the compiled build is the one its performance
targets are met with (docs/performance.md), and keeps their rule that a
build asked to compile (``GOCHAN_COMPILE=1``, set in our cibuildwheel
config) fails rather than falls back.

The compiled modules are the same source files, so the ``.py`` files stay in
the package (what tracebacks point at). A compiled wheel carries the
extension modules beside them, plus mypyc's shared runtime library
(``gochan__mypyc.*.so``) at the top level.

Only modules whose compiled form measurably pays off are listed
(docs/performance.md, "Compiled build"): channel operations, select, the
scheduler's park/ready/hub loop, the records they touch on every call, and
io (PollDesc: gochan.net's socket waits, W11).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# A plain list literal: .ci/check_wheels.py reads it (ast.literal_eval) to
# check that a compiled wheel's install has every one of them compiled.
COMPILED = [
    "chan",
    "deadlock",
    "duration",
    "fdwait",
    "gosched",
    "greenlets",
    "idle",
    "io",
    "lock",
    "nilchan",
    "scheduler",
    "select",
    "sema",
    "task",
    "threads",
    "timers",
    "waiter",
    "waitgroup",
]
# Build requirements of a compiled build only: dependencies() below adds
# them to the isolated build environment whenever a compiled build may
# happen, and only then (a pure build needs nothing beyond hatchling).
# mypy is pinned, as black pins it: the compiled build is what make
# test-compiled tested, and a new mypy release cannot break (or silently
# change) the compile of a released sdist. Move the pin on purpose, with a
# make test-compiled run.
BUILD_REQUIRES = ["mypy==2.4.1", "setuptools>=68", "types-greenlet", "greenlet>=3.1"]

# A compiled wheel records the mypyc that compiled it in this file (read
# by gochan/_runtime/build.py: ``python -m gochan``, dumps, bench reports).
COMPILED_WITH = "gochan/_runtime/compiled_with.txt"

# The compile's own mypy settings, not pyproject's [tool.mypy] (make lint's
# --strict check, which assumes every backend installed): a compile must
# type-check the same whatever the building Python has installed. The
# optional backends' libraries are skipped even when present, so they are
# Any in every build (mypy would otherwise check gochan against whichever
# trio or uvloop it finds, and strict mode refuses subclassing an Any).
MYPY_CONFIG = """\
[mypy]
ignore_missing_imports = True
[mypy-trio,trio.*,uvloop,uvloop.*]
follow_imports = skip
"""

# What to do about a missing toolchain (the end of its fallback line or error).
INSTALL_TOOLCHAIN = (
    "install a C compiler and the Python headers (e.g. apt install gcc python3-dev) and build again"
)

# "require": compile or fail (GOCHAN_COMPILE=1). "attempt": compile if this
# machine can, else fall back to pure and say why. "pure": compile nothing.
Mode = Literal["require", "attempt", "pure"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _mode(editable: bool) -> Mode:
    compile_, pure = _flag("GOCHAN_COMPILE"), _flag("GOCHAN_PURE")
    if compile_ and pure:
        raise RuntimeError(
            "gochan: GOCHAN_COMPILE=1 (compiled or fail) and GOCHAN_PURE=1 (pure Python) "
            "contradict each other: unset one of them"
        )
    if compile_:
        return "require"
    if pure or editable:
        return "pure"
    return "attempt"


def _missing_toolchain() -> str | None:
    """Why this machine cannot build C extensions for this Python, or None
    if it looks as if it can (the compile itself has the last word)."""
    if sys.implementation.name != "cpython":
        return f"mypyc compiles for CPython only, this is {platform.python_implementation()}"
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        return f"the Python headers are missing (no Python.h in {include})"
    if os.name == "nt":
        # No CC there: setuptools looks MSVC up itself when it compiles, and
        # a missing one fails the compile, which falls back (or fails) below.
        return None
    # setuptools compiles with $CC when it is set, else with the compiler
    # CPython was built with (e.g. "gcc -pthread"); its first word must run.
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC")
    origin = "$CC" if os.environ.get("CC") else "sysconfig's CC"
    if not cc or not cc.strip():
        return "no C compiler is configured (CC is unset and sysconfig has none)"
    exe = shlex.split(cc)[0]
    if shutil.which(exe) is None:
        return f"no C compiler ({exe!r}, from {origin}, is not on PATH)"
    return None


def _say(line: str) -> None:
    print(f"gochan: {line}", file=sys.stderr, flush=True)


def _building_editable() -> bool:
    """Whether hatchling is answering PEP 660's get_requires_for_build_editable.

    hatchling asks a hook for its dependencies without saying for which kind
    of build, and an editable build stays pure unless GOCHAN_COMPILE=1: this
    spares it installing mypy into the build environment for nothing. Should
    hatchling ever call it differently, the answer is False and an editable
    build gets requirements it does not use: slower, never wrong.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "get_requires_for_build_editable":
            return True
        frame = frame.f_back
    return False


class CompiledBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        mode = _mode(editable=_building_editable())
        # Checked here too, with the same answer initialize() will get (same
        # interpreter, same environment): a machine without a compiler does
        # not download mypy for a compile that cannot happen.
        if mode == "require" or (mode == "attempt" and _missing_toolchain() is None):
            return list(BUILD_REQUIRES)
        return []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        editable = version == "editable"
        mode = _mode(editable)
        if mode == "pure":
            if _flag("GOCHAN_PURE"):
                _say("GOCHAN_PURE=1: building the pure-Python wheel")
            return
        missing = _missing_toolchain()
        if missing is not None:
            if mode == "require":
                raise RuntimeError(
                    f"gochan: GOCHAN_COMPILE=1 asks for the compiled build, but {missing}: "
                    f"{INSTALL_TOOLCHAIN}, or unset GOCHAN_COMPILE to allow the pure-Python build"
                )
            _say(
                f"building the pure-Python wheel: {missing}; for the compiled build "
                f"{INSTALL_TOOLCHAIN} (GOCHAN_PURE=1 asks for pure Python without this line)"
            )
            return
        root = Path(self.root)
        out = root if editable else Path(tempfile.mkdtemp(prefix="gochan-mypyc-"))
        try:
            built = _compile(root, out)
        except (Exception, SystemExit) as e:  # mypyc reports its errors with sys.exit
            if not editable:
                shutil.rmtree(out, ignore_errors=True)
            if mode == "require":
                raise RuntimeError(
                    f"gochan: GOCHAN_COMPILE=1 asks for the compiled build, but {_failure(e)}"
                ) from e
            _say(
                f"building the pure-Python wheel: {_failure(e)}; for the compiled build fix "
                "that and build again (GOCHAN_COMPILE=1 makes this an error)"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:
            for so in built:
                build_data["force_include"][str(out / so)] = so
            self._tmp = out

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# The modules of BUILD_REQUIRES that _compile imports.
_REQUIRED_MODULES = ("mypy", "mypyc", "setuptools")


def _failure(e: BaseException) -> str:
    """The cause of a failed compile, in a few words (the compiler's or
    mypyc's own messages are printed above it)."""
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in _REQUIRED_MODULES:
        return (
            f"{e.name} is not installed in the build environment "
            f"(without build isolation, install {' '.join(BUILD_REQUIRES)} first)"
        )
    if isinstance(e, SystemExit):
        return f"mypyc failed (exit status {e.code}; its errors are above)"
    # A compiler's failure names its whole command line: keep both ends.
    what = f"{type(e).__name__}: {e}".splitlines()[0].rstrip(".")
    if len(what) > 160:
        what = f"{what[:90]} ... {what[-60:]}"
    return f"the mypyc compile failed ({what}; the compiler's output is above)"


def _compile(root: Path, out: Path) -> list[str]:
    """mypyc-compile COMPILED into ``out`` (laid out as ``build_ext --inplace``
    would); returns the built files relative to ``out``."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    work = Path(tempfile.mkdtemp(prefix="gochan-mypyc-work-"))
    cwd = os.getcwd()
    os.chdir(root)  # mypyc names modules by their path from here
    try:
        paths = [f"gochan/_runtime/{m}.py" for m in COMPILED]
        config = work / "mypy.ini"
        config.write_text(MYPY_CONFIG)
        exts = mypycify(
            # the cache too stays out of the source tree
            ["--config-file", str(config), "--cache-dir", str(work / "mypy_cache"), *paths],
            opt_level="3",
            group_name="gochan",
            target_dir=str(work / "c"),
        )
        dist = Distribution({"name": "gochan", "ext_modules": exts})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = str(out)
        cmd.build_temp = str(work / "temp")
        dist.run_command("build_ext")
        built = [str(Path(p).relative_to(out)) for p in cmd.get_outputs()]
        from mypy.version import __version__ as mypyc_version

        (out / COMPILED_WITH).write_text(f"mypyc {mypyc_version}\n")
        built.append(COMPILED_WITH)
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    _say(f"compiled {', '.join(COMPILED)} with mypyc")
    return built
