"""wait_readable / wait_writable: park a green task until a file descriptor
is ready, on any backend (Go's netpoller, reduced to its core).

On the builtin backend the scheduler's own selector watches the fd (see
backends/builtin.py); on asyncio and uvloop the loop's ``add_reader`` /
``add_writer`` do, on trio ``trio.lowlevel.wait_readable`` / ``wait_writable``.
A task waiting for I/O is pending work: never a deadlock.
"""

from __future__ import annotations

from typing import Protocol

from . import waitreason as wr
from .backends.builtin import BuiltinBackend
from .scheduler import current_task, ready
from .task import Task
from .waiter import LOCK


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class _IOWait:
    """The wait record of a task waiting for an fd."""

    __slots__ = ("fd", "fired", "task")

    def __init__(self, task: Task, fd: int) -> None:
        self.task = task
        self.fd = fd
        self.fired = False

    def __repr__(self) -> str:
        return f"<fd {self.fd}>"

    def fire(self) -> None:
        """The fd is ready (owner thread, from the backend's wait)."""
        with LOCK:
            if self.fired:
                return
            self.fired = True
        ready(self.task)

    def withdraw(self) -> bool:  # LOCK held; the backend drops it lazily
        if self.fired:
            return False
        self.fired = True
        return True


def _fd(f: int | _HasFileno) -> int:
    if isinstance(f, int):
        fd = f
    else:
        fileno = getattr(f, "fileno", None)
        if fileno is None:
            raise TypeError(f"expected a file descriptor or an object with fileno(), got {f!r}")
        fd = fileno()
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd} (is the file closed?)")
    return fd


def _wait(f: int | _HasFileno, write: bool) -> None:
    fd = _fd(f)
    cur = current_task()
    if cur._throw is not None or cur._cancelled:
        raise cur._take_pending()
    s = cur.sched
    b = s.backend
    if isinstance(b, BuiltinBackend):
        rec = _IOWait(cur, fd)
        b.watch(fd, write, rec)
        s.pending += 1
        try:
            s.park(wr.IO_WAIT, rec, rec)
        finally:
            s.pending -= 1
        return
    from .bridge import await_

    if getattr(b, "name", "") == "trio":
        import trio

        waiter = trio.lowlevel.wait_writable if write else trio.lowlevel.wait_readable
        await_(waiter(fd))
        return
    await_(_asyncio_wait(fd, write))


async def _asyncio_wait(fd: int, write: bool) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if write:
        loop.add_writer(fd, on_ready)
    else:
        loop.add_reader(fd, on_ready)
    try:
        await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def wait_readable(f: int | _HasFileno) -> None:
    """Park this green task until ``f`` (an fd or anything with
    ``fileno()``) is readable; the thread's other tasks run meanwhile.

    >>> import gochan, socket
    >>> def main():
    ...     a, b = socket.socketpair()
    ...     gochan.go(b.send, b"ping")
    ...     gochan.wait_readable(a)      # parks until the other task sends
    ...     data = a.recv(4)
    ...     a.close(); b.close()
    ...     return data
    >>> gochan.run(main)
    b'ping'
    """
    _wait(f, False)


def wait_writable(f: int | _HasFileno) -> None:
    """Park this green task until ``f`` is writable (see ``wait_readable``)."""
    _wait(f, True)
