"""The bridge between green tasks and coroutines on a loop backend, beyond
channels (whose async face is chan_async.py):

* ``await_(awaitable)``: a green task hands an awaitable to the event loop
  and parks until it completes. The backend runs it (``Backend.await_``);
  the wait record counts as pending work (never a deadlock) and can be
  withdrawn: cancelling the green task cancels the awaitable.
* ``aselect(...)``: ``select`` for a coroutine, the cases queued with the
  coroutine's parker (chan_async.py) as select.py queues a green task's.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, TypeVar

from . import waitreason as wr
from .chan_async import current_parker, poke
from .select import _Cases, select_start
from .threads import current_task

T = TypeVar("T")


# -- green task -> loop: await_ ----------------------------------------------


def await_(aw: Awaitable[T]) -> T:
    """Run ``aw`` on the event loop and park this green task until it is done.

    Returns its result or raises its exception. Only under an async
    backend (``run(main, backend="asyncio")``, ``"uvloop"``, ``"trio"``);
    the other green tasks keep running meanwhile. If this task is cancelled
    while waiting, the awaitable is cancelled too; if the awaitable is
    cancelled on the loop, this raises ``gochan.Cancelled``.

    >>> import asyncio, gochan
    >>> async def fetch(x):
    ...     await asyncio.sleep(0.01)
    ...     return x * 2
    >>> def main():
    ...     return gochan.await_(fetch(21))
    >>> gochan.run(main, backend="asyncio")
    42
    """
    if not inspect.isawaitable(aw):
        hint = ""
        if inspect.iscoroutinefunction(aw) or inspect.isasyncgenfunction(aw):
            hint = "; call the async function and pass what it returns: await_(f(arg))"
        raise TypeError(
            f"await_() needs an awaitable (a coroutine, Task or Future), got {aw!r}{hint}"
        )
    return wait_on_loop(aw, wr.AWAIT, aw)


def wait_on_loop(aw: Awaitable[T], reason: str, waiting_on: object) -> T:
    """``await_(aw)``, parked as ``reason`` on ``waiting_on`` (what dump()
    shows: an I/O wait that runs on the loop still reads as one). The
    backend runs it (``Backend.await_``; without a loop it raises)."""
    try:
        cur = current_task()
    except BaseException:
        if asyncio.iscoroutine(aw):
            aw.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    result: T = cur.sched.backend.await_(cur, aw, reason, waiting_on)
    return result


async def aselect(*cases: Any) -> tuple[int, Any]:
    """``await gochan.aselect(...)``: ``select`` for coroutines, same cases
    and rules (``ch.recv``, ``ch.recv_ok``, ``(ch.send, v)``, ``default``).

    >>> import gochan
    >>> async def pick(a, b):
    ...     return await gochan.aselect(a.recv, b.recv)
    >>> def main():
    ...     a, b = gochan.Chan[int](), gochan.Chan[str](1)
    ...     b.send("from b")
    ...     return gochan.await_(pick(a, b))
    >>> gochan.run(main, backend="asyncio")
    (1, 'from b')
    """
    parker = current_parker()
    r = select_start(cases, parker)
    if type(r) is tuple:
        poke()  # the case taken may have readied a green task
        return r
    assert type(r) is _Cases
    await parker.wait(r.group)
    return r.outcome()
