"""``python -m gochan``: which gochan this is, its build, and the backends usable here.

$ python -m gochan
gochan 0.1.0 (pure build), CPython 3.11.7
python: /usr/bin/python3.11
backends: builtin (default), asyncio, uvloop 0.21.0, trio 0.27.0
"""

from __future__ import annotations

import importlib.metadata
import sys

from gochan._runtime.backends.catalog import BACKENDS, EXTRAS, installed
from gochan._runtime.build import describe


def _backend(name: str) -> str:
    lib = EXTRAS.get(name)
    if lib is None:
        return name
    try:
        return f"{name} {importlib.metadata.version(lib)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def main() -> None:
    """Print the report (see the module docstring)."""
    usable = [_backend(b) for b in BACKENDS if installed(b)]
    usable[0] += " (default)"  # builtin: always installed, always first
    missing = [f"{b} (pip install 'gochan[{EXTRAS[b]}]')" for b in BACKENDS if not installed(b)]
    print(describe())
    print(f"python: {sys.executable}")
    print("backends: " + ", ".join(usable))
    if missing:
        print("not installed: " + ", ".join(missing))


if __name__ == "__main__":
    main()
