"""The backends by name: which there are, which are installed here, and
``make_backend``, the one place that names the concrete backend modules
(``run()`` and implicit mode build a scheduler's backend through it)."""

from __future__ import annotations

import importlib.util

from . import Backend

BACKENDS = ("builtin", "asyncio", "uvloop", "trio")
# The backends that need a library of their own, and the pip extra for it.
EXTRAS = {"uvloop": "uvloop", "trio": "trio"}


def make_backend(name: str | Backend) -> Backend:
    """Instantiate the backend called ``name``, with an actionable error
    (a Backend instance is used as it is)."""
    if not isinstance(name, str):
        return name
    if name == "builtin":
        from .builtin import BuiltinBackend

        return BuiltinBackend()
    if name == "asyncio":
        from .aio import asyncio_backend

        return asyncio_backend()
    if name == "uvloop":
        from .aio import uvloop_backend

        return uvloop_backend()
    if name == "trio":
        from .trio import trio_backend

        return trio_backend()
    raise unknown_backend(name, "GOCHAN_BACKEND")


def installed(name: str) -> bool:
    """True if backend ``name`` can be used here (its library is installed)."""
    lib = EXTRAS.get(name)
    if lib is None:
        return name in BACKENDS
    try:
        return importlib.util.find_spec(lib) is not None
    except (ImportError, ValueError):  # a broken or half-imported package
        return False


def unknown_backend(name: str, source: str) -> ValueError:
    """The error for an unknown backend name taken from ``source``
    (``"backend="`` or ``"GOCHAN_BACKEND"``): it lists the backends usable
    here, and how to install the others."""
    usable = [b for b in BACKENDS if installed(b)]
    missing = [b for b in BACKENDS if b not in usable]
    msg = f"unknown gochan backend {name!r} (from {source}); usable here: {', '.join(usable)}"
    if missing:
        how = ", ".join(f"{b} (pip install 'gochan[{EXTRAS[b]}]')" for b in missing)
        msg += f"; not installed: {how}"
    if source == "GOCHAN_BACKEND":
        msg += ". Set GOCHAN_BACKEND to one of these, or unset it for builtin"
    else:
        msg += ". Pass one of these, or leave backend= out for $GOCHAN_BACKEND (default builtin)"
    return ValueError(msg)
