"""Exceptions raised by the runtime, and Go's exact runtime-error messages."""

from __future__ import annotations

from typing import Any

# Go's runtime panic messages, word for word (runtime/chan.go).
SEND_ON_CLOSED = "send on closed channel"
CLOSE_OF_CLOSED = "close of closed channel"
CLOSE_OF_NIL = "close of nil channel"


class Panic(Exception):
    """A Go-style panic: raised by ``panic(v)`` and by runtime errors.

    ``value`` holds what was passed to ``panic``; runtime errors carry Go's
    message as their value, so ``str(p)`` reads exactly like Go's panic text.

    >>> from gochan import Chan, Panic
    >>> ch = Chan(); ch.close()
    >>> try:
    ...     ch.close()
    ... except Panic as p:
    ...     print(p.value)
    close of closed channel
    """

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return str(self.value)


class Deadlock(RuntimeError):
    """Raised in the main task when no task can ever be woken again.

    The message starts with ``all goroutines are asleep - deadlock!`` and
    lists every task with its wait state and stack, like Go's crash report.

    >>> import gochan
    >>> try:
    ...     gochan.run(lambda: gochan.Chan().recv())
    ... except gochan.Deadlock as e:
    ...     print(str(e).splitlines()[0])
    all goroutines are asleep - deadlock!
    """


class Cancelled(BaseException):
    """Raised inside a task that is being cancelled, at its blocking points.

    A ``BaseException`` so that ``except Exception`` does not swallow it.
    Once a task is cancelled, every later blocking call raises again, so
    ``finally`` blocks run but cannot block the shutdown forever.
    """
