"""Exceptions raised by the runtime, and Go's exact runtime-error messages."""

from __future__ import annotations

from types import AsyncGeneratorType, CoroutineType, GeneratorType
from typing import Any, Final

# Go's runtime panic messages, word for word (runtime/chan.go).
SEND_ON_CLOSED = "send on closed channel"
CLOSE_OF_CLOSED = "close of closed channel"
CLOSE_OF_NIL = "close of nil channel"
# Cancelled's message when none is given.
CANCELLED = "task cancelled"


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
    ``finally`` blocks run but cannot block the shutdown forever. Its
    message is ``task cancelled`` unless one is given.

    >>> import gochan
    >>> str(gochan.Cancelled()), str(gochan.Cancelled("shutting down"))
    ('task cancelled', 'shutting down')
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (CANCELLED,)))


# What a function returns when calling it did not run its body.
NOT_RUN: Final = (CoroutineType, GeneratorType, AsyncGeneratorType)


def plural(n: int, word: str) -> str:
    """``1 writer``, ``2 writers``: a count with its noun."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def body_never_ran(what: str, result: object) -> TypeError:
    """The error for a function that gochan ran as a task (or as run()'s
    main) but that returned a coroutine, generator or async generator: its
    body never ran. Closes a coroutine or generator, so that Python does
    not also warn that it was never awaited."""
    if isinstance(result, CoroutineType):
        result.close()
        return TypeError(
            f"{what} returned a coroutine, so its body never ran: gochan runs plain "
            "functions, not async ones. From a task, run async code with "
            "gochan.await_(coro) on an async backend (gochan.run(main, backend='asyncio')); "
            "from async code, start green tasks with await gochan.run_async(main)"
        )
    if isinstance(result, GeneratorType):
        result.close()
        return TypeError(
            f"{what} returned a generator, so its body never ran: a function with yield "
            "runs only when something iterates it. Make it a plain function (no yield), "
            "or wrap it in one that iterates it, e.g. lambda: list(gen())"
        )
    return TypeError(
        f"{what} returned an async generator, so its body never ran: an async generator "
        "runs only under async for, in a coroutine. Make it a plain "
        "function, or consume it in a coroutine passed to gochan.await_() on an async backend"
    )


def not_callable(what: str, fn: object, hint: str, need: str = "a callable") -> TypeError:
    """The error for ``what`` (``"go()"``, ...) given ``fn``, which is not
    callable. A coroutine object gets its own advice (and is closed: it
    cannot run now, and Python would warn that it was never awaited)."""
    if isinstance(fn, CoroutineType):
        fn.close()
        return TypeError(
            f"{what} needs {need}, got {fn!r}: a coroutine object is async code, which "
            "gochan does not run as a task. Pass a plain function; to use async code from "
            "a task, call gochan.await_(coro) there on an async backend "
            "(gochan.run(main, backend='asyncio')), and from an async program start green "
            "tasks with await gochan.run_async(main)"
        )
    return TypeError(f"{what} needs {need}, got {fn!r}{hint}")
