"""dump(): a goroutine dump of every task on every thread, as Go prints one.

Safe to call from any thread, including while the scheduler it describes
is deadlocked or running: it only reads.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from collections.abc import Callable
from types import FrameType

from greenlet import getcurrent

from . import waitreason as wr
from .scheduler import Scheduler, all_schedulers
from .task import Task

# gochan's own frames (runtime, sync, context, ...) are hidden from stacks:
# a dump shows where user code blocked, not how gochan implements it.
_GOCHAN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
MAX_FRAMES = 40

# Extra sections appended to every dump by higher layers (the supervision
# tree, for one). Each returns its text, or "" when it has nothing to show.
_sections: list[Callable[[], str]] = []


def add_dump_section(fn: Callable[[], str]) -> None:
    """Append ``fn()``'s text to every dump (once per ``fn``)."""
    if fn not in _sections:
        _sections.append(fn)


def _run_code() -> object:
    from .run import run

    return run.__code__


def _top_frame(t: Task, s: Scheduler) -> FrameType | None:
    g = t.greenlet
    if g is None or g.dead:
        return None
    frame: FrameType | None = g.gr_frame
    if frame is None and g.parent is not None and not g:  # not started yet
        return None
    if frame is None:  # running right now, on its own thread
        if g is getcurrent():
            return sys._getframe(2)
        return sys._current_frames().get(s.thread_id)
    return frame


def _stack(t: Task, s: Scheduler) -> list[str]:
    """The task's user-level stack, innermost last, gochan internals hidden."""
    frame = _top_frame(t, s)
    frames: list[tuple[FrameType, int]] = []
    run_code = _run_code()
    while frame is not None and len(frames) < MAX_FRAMES:
        if frame.f_code is run_code:
            break  # below run() is the caller's world, not this task's
        if not frame.f_code.co_filename.startswith(_GOCHAN_DIR):
            frames.append((frame, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    summary = traceback.StackSummary.extract(frames, lookup_lines=True)
    return summary.format()


def _secs(x: float) -> str:
    """A duration for people: ``0.1s``, ``60.0s``, ``forever``."""
    if x == math.inf:
        return "forever"
    return f"{x:.3g}s" if abs(x) < 0.001 else f"{round(x, 3)!r}s"


def _waiting(t: Task, s: Scheduler, state: str) -> str | None:
    """The line under a parked task's header: what it waits for."""
    on, rec = t.waiting_on, t._waiting
    if state == wr.SLEEP:  # waiting_on is the duration, the record its timer
        when = getattr(rec, "when", None)
        line = f"  sleeping {_secs(on)}" if isinstance(on, (int, float)) else "  sleeping"
        if isinstance(when, float) and when != math.inf:
            left = max(0.0, when - s.clock.now())
            line += f", wakes at t={round(when, 3)!r} (in {_secs(left)})"
        return line
    if on is None:
        return None
    line = f"  waiting on {on!r}"
    timer = getattr(rec, "timer", None) if state == wr.TASK_JOIN else None
    when = getattr(timer, "when", None)
    if isinstance(when, float):
        line += f", times out at t={round(when, 3)!r}"
    return line


def format_task(t: Task, s: Scheduler) -> str:
    state = t.state
    head = f"goroutine {t.id} {t.name!r} [{state}]:"
    lines = [head]
    if state not in (wr.RUNNING, wr.RUNNABLE):
        line = _waiting(t, s, state)
        if line is not None:
            lines.append(line)
    lines.extend(line.rstrip("\n") for line in _stack(t, s))
    if t.creator:
        lines.append(f"  created by goroutine {t.creator}")
    return "\n".join(lines)


def format_dump() -> str:
    """Every task of every scheduler, grouped by thread when there are several."""
    scheds = all_schedulers()
    many = len(scheds) > 1
    out: list[str] = []
    for s in scheds:
        if many:
            out.append(f"=== thread {s.thread.name!r} (ident {s.thread_id}) ===")
        for t in list(s.tasks.values()):
            out.append(format_task(t, s))
            out.append("")
    for section in list(_sections):
        text = section()
        if text:
            out.append(text.rstrip("\n"))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def dump() -> str:
    """A Go-style goroutine dump: every task with id, name, state, what it
    waits on and its stack. Safe from any thread.

    >>> import gochan
    >>> def main():
    ...     gochan.go(gochan.Chan().recv)
    ...     gochan.gosched()
    ...     print(gochan.dump().splitlines()[0])
    >>> gochan.run(main)
    goroutine ... 'main' [running]:
    """
    return format_dump()
