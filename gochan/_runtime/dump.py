"""dump(): a goroutine dump of every task on every thread, as Go prints one.

Safe to call from any thread, including while the scheduler it describes
is deadlocked or running: it only reads.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from greenlet import getcurrent

from . import threads as _threads
from . import waitreason as wr
from .build import describe
from .task import Task
from .threads import all_schedulers

if TYPE_CHECKING:
    from .scheduler import Scheduler

# gochan's own frames (runtime, sync, context, ...) are hidden from stacks:
# a dump shows where user code blocked, not how gochan implements it.
_GOCHAN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
MAX_FRAMES = 40
# run() (run.py, beside this module: the same path prefix): a main task's
# stack ends at its frame; below it is the caller's world. (Named, not
# imported: run.py sits far above this module.)
_RUN_PY = os.path.join(os.path.dirname(__file__), "run.py")

# Extra sections appended to every dump by higher layers (the supervision
# tree, for one). Each returns its text, or "" when it has nothing to show.
_sections: list[Callable[[], str]] = []


def add_dump_section(fn: Callable[[], str]) -> None:
    """Append ``fn()``'s text to every dump (once per ``fn``)."""
    if fn not in _sections:
        _sections.append(fn)


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
    while frame is not None and len(frames) < MAX_FRAMES:
        code = frame.f_code
        if code.co_name == "run" and code.co_filename == _RUN_PY:
            break  # below run() is the caller's world, not this task's
        if not code.co_filename.startswith(_GOCHAN_DIR):
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


def format_dump(in_handler: bool = False) -> str:
    """Every task of every scheduler, grouped by thread when there are several,
    then the line that says which gochan ran (version, build, Python).

    ``in_handler``: called from a signal handler, which runs on the main
    thread between two bytecodes of whatever it was doing, possibly while
    that code holds the scheduler registry's lock: take no lock then (a
    copy of a dict is atomic under the GIL anyway).
    """
    scheds = list(_threads.schedulers.values()) if in_handler else all_schedulers()
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
    # Last, what produced it: a report pasted into a bug says which build
    # (compiled or pure) and which Python ran.
    out.append(describe())
    return "\n".join(out) + "\n"


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


# Signal number -> (the handler dump_on_signal replaced, the file to write to).
_on_signal: dict[int, tuple[Any, TextIO | None]] = {}


def _default_signal() -> int:
    sig = getattr(signal, "SIGQUIT", None) or getattr(signal, "SIGBREAK", None)
    if sig is None:  # pragma: no cover - every CPython platform has one
        raise ValueError("this platform has neither SIGQUIT nor SIGBREAK: pass a signal")
    return int(sig)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _write(text: str, file: TextIO | None) -> None:
    if file is not None:
        file.write(text)
        file.flush()
        return
    data = text.encode("utf-8", "backslashreplace")
    while data:  # straight to fd 2: sys.stderr may be in the middle of a write
        n = os.write(2, data)
        data = data[n:]


def _dump_handler(signum: int, frame: Any) -> None:
    prev, file = _on_signal.get(signum, (None, None))
    name = _signal_name(signum)
    try:
        text = f"{name}: gochan goroutine dump (pid {os.getpid()}; the program goes on)\n\n"
        text += format_dump(in_handler=True) + "\n"
    except Exception as e:  # a dump must never break the program it describes
        text = f"{name}: gochan could not make a goroutine dump: {type(e).__name__}: {e}\n"
    with contextlib.suppress(Exception):  # nowhere left to say it
        _write(text, file)
    if callable(prev) and prev is not _dump_handler:
        prev(signum, frame)


def dump_on_signal(sig: int | None = None, *, file: TextIO | None = None) -> Any:
    """Print a goroutine dump to stderr whenever the process receives signal
    ``sig``, and carry on: Go's SIGQUIT dump, without the exit.

    ``sig`` defaults to ``SIGQUIT`` (``Ctrl-\\`` in a terminal, or ``kill -QUIT
    <pid>``; ``SIGBREAK`` on Windows). The dump is ``dump()``'s text (every
    task of every thread), under a header naming the signal; it is written
    to file descriptor 2, or to ``file`` if given. A Python handler that was
    installed for ``sig`` before still runs after the dump. Call it from the
    main thread (Python runs signal handlers there). Returns the handler it
    replaced, for ``signal.signal(sig, previous)`` to restore.

    Setting the environment variable ``GOCHAN_DUMP_SIGNAL`` (``SIGQUIT``,
    ``SIGUSR1``, ...) does this when gochan is imported.

    >>> import signal, gochan
    >>> previous = gochan.dump_on_signal(signal.SIGUSR1)
    >>> _ = signal.signal(signal.SIGUSR1, previous)   # undo
    """
    signum = _default_signal() if sig is None else int(sig)
    if threading.current_thread() is not threading.main_thread():
        raise ValueError(
            "dump_on_signal() must be called from the main thread: Python runs signal "
            "handlers there, and only the main thread may install them"
        )
    prev = signal.signal(signum, _dump_handler)
    if prev is _dump_handler:  # already installed: keep what it replaced first
        prev = _on_signal[signum][0]
    _on_signal[signum] = (prev, file)
    return prev


def parse_signal(value: str) -> int:
    """A signal from its name (``SIGQUIT``, ``quit``) or number (``3``)."""
    v = value.strip()
    if v.isdigit():
        return int(v)
    name = v.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if sig is None:
        raise ValueError(
            f"GOCHAN_DUMP_SIGNAL={value!r} is not a signal on this platform: use a name "
            "such as SIGQUIT or SIGUSR1 (or its number), or unset it"
        )
    return int(sig)


def dump_signal_from_env() -> None:
    """At import: honour ``GOCHAN_DUMP_SIGNAL``."""
    value = os.environ.get("GOCHAN_DUMP_SIGNAL", "").strip()
    if not value:
        return
    sig = parse_signal(value)
    if threading.current_thread() is not threading.main_thread():
        warnings.warn(
            f"GOCHAN_DUMP_SIGNAL={value!r} is ignored: gochan was first imported in thread "
            f"{threading.current_thread().name!r}, and only the main thread can install a "
            "signal handler; call gochan.dump_on_signal() from the main thread instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    dump_on_signal(sig)
