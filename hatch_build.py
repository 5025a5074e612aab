"""Opt-in compiled build: ``GOCHAN_COMPILE=1 pip install .`` compiles the
runtime's hot-path modules with mypyc; without it the build is pure Python.

The compiled modules are the same source files, so the ``.py`` files stay in
the package (the fallback, and what tracebacks point at). A wheel carries the
extension modules beside them, plus mypyc's shared runtime library
(``gochan__mypyc.*.so``) at the top level; an editable install
(``pip install -e .``) builds them in place, next to the sources, where the
import system prefers them over the ``.py`` files. ``make clean-compiled``
(or deleting the ``*.so`` files) returns a checkout to pure Python.

Only modules whose compiled form measurably pays off are listed
(docs/performance.md, "Compiled build"): channel operations, select, the
scheduler's park/ready/hub loop, and the records they touch on every call.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED = [
    *("blocking", "chan", "duration", "lock", "scheduler", "select", "sema", "task"),
    *("timers", "timers_core", "waiter", "waitgroup"),
]
# Build requirements of a compiled build only (added by dependencies() below).
BUILD_REQUIRES = ["mypy>=1.10", "setuptools>=68", "types-greenlet", "greenlet>=3.1"]


def _enabled() -> bool:
    return os.environ.get("GOCHAN_COMPILE", "") not in ("", "0")


class CompiledBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        return list(BUILD_REQUIRES) if _enabled() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or not _enabled():
            return
        root = Path(self.root)
        editable = version == "editable"
        out = root if editable else Path(tempfile.mkdtemp(prefix="gochan-mypyc-"))
        built = _compile(root, out)
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
        # Third-party modules the runtime only imports lazily (trio,
        # uvloop) need not be installed in the build environment.
        exts = mypycify(
            ["--ignore-missing-imports", *paths],
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
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    print(f"gochan: compiled {', '.join(COMPILED)} with mypyc", file=sys.stderr)
    return built
