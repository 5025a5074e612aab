"""Writing a gochan backend of your own (docs/backends.md, "Adding a backend").

A backend is what a scheduler does when no task can run: wait for the next
timer, a wakeup from another thread, a ready file descriptor, work on an
event loop. ``Backend`` is the whole protocol; pass an instance to
``gochan.run(main, backend=MyBackend())``. The helpers here do the parts
every backend without an event loop needs:

* ``fd_wait(task, fd, write, timeout, watch, stale, deadlines)``: all of
  ``wait_fd`` for a backend that can watch an fd and ``fire()`` a record
  when it is ready;
* ``no_loop(aw)``: the error ``await_`` raises on a backend without a loop.

tests/runtime/test_backend_conformance.py defines a complete backend on
``selectors`` in about a hundred lines, and the checks every backend passes.
"""

from __future__ import annotations

from ._runtime.backends import Backend, no_loop
from ._runtime.fdwait import fd_wait, timeout_error

__all__ = ["Backend", "fd_wait", "no_loop", "timeout_error"]
