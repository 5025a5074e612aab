"""ErrGroup: a group of tasks working on parts of one job;
golang.org/x/sync/errgroup.

The first task to raise cancels the group's context (``.ctx``) so the
others can stop early, and ``wait()`` re-raises that first exception once
every task has finished.

Why the first exception and not an ``ExceptionGroup``: it keeps Go's
meaning (``Wait`` returns the first error) and lets callers write a plain
``except SomeError``; with an ``ExceptionGroup`` every caller would need
``except*``. The later exceptions are not lost: each is named in a note on
the raised one, and all of them, in order, are in ``group.errors``.

>>> import gochan
>>> def main():
...     g = gochan.ErrGroup()
...     def fetch(url):
...         if "bad" in url:
...             raise ValueError(f"cannot fetch {url}")
...         g.ctx.done().recv()        # stops when a sibling fails
...     for url in ["a", "bad", "c"]:
...         g.go(fetch, url)
...     try:
...         g.wait()
...     except ValueError as e:
...         return str(e), g.ctx.err()
>>> gochan.run(main)
('cannot fetch bad', Canceled('context canceled'))
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import context
from ._runtime.errors import Panic, not_callable, plural
from ._runtime.run import go
from ._runtime.task import Task
from ._runtime.waiter import LOCK
from .sync import Semaphore, WaitGroup

__all__ = ["ErrGroup"]


class ErrGroup:
    """Tasks that share one fate: the first exception cancels ``ctx`` and
    is re-raised by ``wait()``.

    ``ErrGroup(ctx)`` derives ``.ctx`` from ``ctx`` (``background()`` if
    None); it is cancelled, with the first exception as its cause, when a
    task raises, and in any case when ``wait()`` returns. ``with
    ErrGroup() as g:`` waits at the end of the block.
    """

    __slots__ = ("_active", "_cancel", "_sem", "_wg", "ctx", "errors")

    def __init__(self, ctx: context.Context | None = None) -> None:
        parent = context.background() if ctx is None else ctx
        self.ctx, self._cancel = context.with_cancel_cause(parent)
        self._wg = WaitGroup()
        self._sem: Semaphore | None = None
        self._active = 0
        #: Every exception raised by a task of the group, first one first.
        self.errors: list[Exception] = []

    def __repr__(self) -> str:
        return f"<gochan.ErrGroup {self._active} active, {plural(len(self.errors), 'error')}>"

    def set_limit(self, n: int) -> None:
        """Allow at most ``n`` active tasks (negative: no limit); ``go``
        then waits for a free slot. Panics if tasks are active."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"set_limit() needs an int, got {n!r}")
        if self._active:
            raise Panic(
                f"errgroup: modify limit while {self._active} goroutines in the group "
                "are still active"
            )
        self._sem = None if n < 0 else Semaphore(n)

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` in a new task of the group, first
        waiting for a free slot if ``set_limit`` is in force."""
        if not callable(fn):
            raise not_callable("ErrGroup.go()", fn, "; write g.go(f, arg) rather than g.go(f(arg))")
        if self._sem is not None:
            if self._sem.size == 0:
                raise ValueError("ErrGroup.go() with set_limit(0) could never start a task")
            self._sem.acquire()
        return self._start(fn, args, kwargs)

    def try_go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        """Start ``fn`` like ``go`` only if a slot is free now; True if started."""
        if not callable(fn):
            raise not_callable(
                "ErrGroup.try_go()", fn, "; write g.try_go(f, arg) rather than g.try_go(f(arg))"
            )
        if self._sem is not None and not self._sem.try_acquire():
            return False
        self._start(fn, args, kwargs)
        return True

    def _start(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Task:
        self._wg.add(1)
        with LOCK:
            self._active += 1
        try:
            t = go(self._member, fn, args, kwargs)
        except BaseException:
            self._finished()
            raise
        t.name = getattr(fn, "__qualname__", None) or repr(fn)
        return t

    def _member(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as e:  # an error of the group, not of the program
            with LOCK:
                self.errors.append(e)
                first = len(self.errors) == 1
            if first:
                self._cancel(e)
        finally:
            self._finished()

    def _finished(self) -> None:
        with LOCK:
            self._active -= 1
        if self._sem is not None:
            self._sem.release()
        self._wg.done()

    def wait(self) -> None:
        """Wait for every task of the group; cancel ``ctx``; re-raise the
        first exception a task raised (the others named in its notes)."""
        self._wg.wait()
        self._cancel(None)
        if self.errors:
            first = self.errors[0]
            for other in self.errors[1:]:
                if other is first:
                    continue
                note = f"errgroup: another task also raised {type(other).__name__}: {other}"
                if note not in getattr(first, "__notes__", ()):
                    first.add_note(note)
            raise first

    def __enter__(self) -> ErrGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:  # the body failed: stop the tasks, then let it propagate
            self._cancel(exc)
            self._wg.wait()
            return
        self.wait()
