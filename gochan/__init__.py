"""gochan: Go's concurrency model for Python.

Green tasks started with ``go()``, buffered and unbuffered channels,
``select``, timers and a Go-style deadlock report, on greenlets, usable from
any OS thread.

>>> import gochan
>>> def main():
...     ch = gochan.Chan[int]()
...     gochan.go(lambda: [ch.send(i) for i in range(3)] and ch.close())
...     return list(ch)
>>> gochan.run(main)
[0, 1, 2]
"""

from __future__ import annotations

from contextlib import suppress as _suppress

from . import context as context
from . import net as net
from . import workqueue as workqueue
from ._runtime.bridge import aselect as aselect
from ._runtime.bridge import await_ as await_
from ._runtime.build import BUILD as build
from ._runtime.chan import Chan as Chan
from ._runtime.dump import dump as dump
from ._runtime.dump import dump_on_signal as dump_on_signal
from ._runtime.errors import Cancelled as Cancelled
from ._runtime.errors import Deadlock as Deadlock
from ._runtime.errors import Panic as Panic
from ._runtime.gosched import gosched as gosched
from ._runtime.hosted import run_async as run_async
from ._runtime.io import wait_readable as wait_readable
from ._runtime.io import wait_writable as wait_writable
from ._runtime.nilchan import nilchan as nilchan
from ._runtime.offload import blocking as blocking
from ._runtime.run import current as current
from ._runtime.run import go as go
from ._runtime.run import num_goroutine as num_goroutine
from ._runtime.run import run as run
from ._runtime.select import default as default
from ._runtime.select import select as select
from ._runtime.task import Task as Task
from ._runtime.timers import Ticker as Ticker
from ._runtime.timers import Timer as Timer
from ._runtime.timers import after as after
from ._runtime.timers import after_func as after_func
from ._runtime.timers import monotonic as monotonic
from ._runtime.timers import sleep as sleep
from ._runtime.timers import tick as tick
from .deferred import defer as defer
from .deferred import func as func
from .deferred import panic as panic
from .deferred import recover as recover
from .errgroup import ErrGroup as ErrGroup
from .supervisor import PanicReport as PanicReport
from .supervisor import Supervisor as Supervisor
from .supervisor import supervise as supervise
from .sync import Cond as Cond
from .sync import Mutex as Mutex
from .sync import Once as Once
from .sync import RWMutex as RWMutex
from .sync import Semaphore as Semaphore
from .sync import WaitGroup as WaitGroup

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "Chan",
    "Cond",
    "Deadlock",
    "ErrGroup",
    "Mutex",
    "Once",
    "Panic",
    "PanicReport",
    "RWMutex",
    "Semaphore",
    "Supervisor",
    "Task",
    "Ticker",
    "Timer",
    "WaitGroup",
    "after",
    "after_func",
    "aselect",
    "await_",
    "blocking",
    "build",
    "context",
    "current",
    "default",
    "defer",
    "dump",
    "dump_on_signal",
    "func",
    "go",
    "gosched",
    "monotonic",
    "net",
    "nilchan",
    "num_goroutine",
    "panic",
    "recover",
    "run",
    "run_async",
    "select",
    "sleep",
    "supervise",
    "tick",
    "wait_readable",
    "wait_writable",
    "workqueue",
]

# One public home per name: show these as gochan.X in reprs and docs.
for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj):
        with _suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj, _suppress

from ._runtime.dump import dump_signal_from_env as _dump_signal_from_env  # noqa: E402

_dump_signal_from_env()  # GOCHAN_DUMP_SIGNAL=SIGQUIT: dump every task on that signal
del _dump_signal_from_env
