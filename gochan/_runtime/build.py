"""Which build of gochan is running: the runtime compiled with mypyc, or pure Python.

The compiled build is the same source: the runtime's hot-path modules
(``hatch_build.COMPILED``) are compiled to C extension modules that the
import system prefers over the ``.py`` files beside them. Which one a
process got is decided at import, module by module; ``BUILD`` says which
one it got, and ``describe()`` says it in one line (``python -m gochan``).
"""

from __future__ import annotations

import importlib.machinery
import os
import platform
import sys
from types import ModuleType
from typing import Final

from . import chan, gosched, select, task, threads, waiter

# The modules a compiled build always compiles (a subset of hatch_build's
# list, enough to tell): all compiled, or none.
_PROBES: Final[tuple[ModuleType, ...]] = (chan, gosched, select, task, threads, waiter)


def _compiled(m: ModuleType) -> bool:
    return (m.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def _which() -> str:
    n = sum(_compiled(m) for m in _PROBES)
    if n == len(_PROBES):
        return "compiled"
    if n == 0:
        return "pure"
    return "mixed"  # a broken install: some .so files missing or stale


BUILD: Final[str] = _which()
"""``"compiled"`` (mypyc), ``"pure"`` (Python), or ``"mixed"`` (a broken
install, some runtime modules compiled and some not)."""


def _compiled_with() -> str | None:
    # Written by hatch_build.py beside the compiled modules ("mypyc 2.4.1").
    path = os.path.join(os.path.dirname(__file__), "compiled_with.txt")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


COMPILED_WITH: Final[str | None] = _compiled_with() if BUILD != "pure" else None
"""The compiler of a compiled build, e.g. ``"mypyc 2.4.1"``; None for the
pure build (or a compiled one made before builds recorded it)."""


def describe() -> str:
    """One line: gochan's version, its build, and the Python running it.

    >>> describe()  # doctest: +ELLIPSIS
    'gochan 0.1.0 (... build...), CPython 3...'
    """
    from gochan import __version__

    impl = platform.python_implementation()
    py = ".".join(map(str, sys.version_info[:3]))
    build = f"{BUILD} build, {COMPILED_WITH}" if COMPILED_WITH else f"{BUILD} build"
    return f"gochan {__version__} ({build}), {impl} {py}"
