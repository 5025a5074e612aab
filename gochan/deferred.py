"""defer, panic and recover: Go's deferred calls for plain Python functions.

Where the state lives
---------------------
A ``@func`` function's defer list is a local variable of its wrapper's
frame, and nothing else. ``defer()`` finds it by walking up from its
caller's frame to the nearest wrapper frame (recognised by its code object),
and ``recover()`` finds the unwinding state the same way, one frame up from
the deferred call that calls it. There is no per-task, per-greenlet or
per-thread table: green tasks interleave freely, task greenlets are reused,
and nothing is left behind when a call ends, because a frame's locals die
with the frame. The price is a dictionary view of one frame's locals per
``defer()`` and ``recover()`` call; a ``@func`` call that defers nothing
pays only for an empty list and a ``try``.

Why frames and not a stack of "current defer frames"
----------------------------------------------------
Go binds each ``defer`` statement to the function it is written in, and
``recover`` works only when called *directly* by a deferred function. Both
rules are about who calls whom, which is exactly what the frame chain
records: ``defer()`` accepts only a caller whose parent frame is the
wrapper of that very function (so a nested helper or lambda cannot defer
onto its enclosing ``@func`` function by accident), and ``recover()`` only a
caller whose parent frame is the loop running the deferred calls (so
``defer(recover)``, where ``recover`` is the deferred call itself, does not
recover, as in Go).

Unwinding
---------
``_run`` calls the deferred calls, last first. A deferred call that raises
replaces the current panic; the remaining calls then run *inside* the
``except`` block that caught it (by recursion), so Python's implicit
chaining links each replacement to the panic it replaced (``__context__``),
and a panic that nobody replaced or recovered is re-raised with a bare
``raise``, keeping its traceback intact.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, NoReturn, ParamSpec, TypeVar, overload

from ._runtime.errors import Panic, not_callable

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_Deferred = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

# Go 1.21's message for panic(nil); recover() must not return None for it.
PANIC_NIL = "panic called with nil argument"
# How many frames defer() walks up looking for the wrapper: the function's
# own frame plus Python-level decorators between @func and the function.
_MAX_HOPS = 8


def _make_wrapper(fn: Callable[..., Any], codes: tuple[CodeType, ...]) -> Callable[..., Any]:
    # Every wrapper shares this code object: that is how defer() and
    # recover() recognise a wrapper frame. Its locals ``defers`` and
    # ``codes`` (a free variable) are read by name through ``f_locals``.
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest leaves this frame out of its reports
        defers: list[_Deferred] = []
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if defers and _unwind(defers, exc, codes):
                return None
            raise
        if defers and _unwind(defers, None, codes):
            return None
        return result

    return wrapper


_WRAPPER_CODE = _make_wrapper(print, ()).__code__


class _Unwinding:
    """What ``recover()`` sees: the exception being unwound (None once it
    is recovered, or when the function returned normally)."""

    __slots__ = ("exc", "raised", "recovered")

    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc
        self.recovered = False
        self.raised: list[int] | None = None  # which deferred calls raised


def _run(st: _Unwinding, defers: list[_Deferred], top: int) -> None:
    """Run ``defers[:top]``, last first (see the module docstring)."""
    i = top
    while i:
        i -= 1
        fn, args, kwargs = defers[i]
        try:
            fn(*args, **kwargs)
        except BaseException as e:
            if st.raised is None:
                st.raised = []
            st.raised.append(i)
            st.exc = e  # replaces the current panic, as in Go
            _run(st, defers, i)  # the rest run while `e` is being handled
            if st.exc is e:  # neither recovered nor replaced again
                raise
            return  # a later deferred call recovered `e`


_RUN_CODE = _run.__code__


def _unwind(
    defers: list[_Deferred], exc: BaseException | None, codes: tuple[CodeType, ...]
) -> bool:
    """Run ``defers`` while ``exc`` (None: a normal return) unwinds.

    True if a deferred call recovered a panic (the function then returns
    None); False if there was nothing to recover (the caller re-raises
    ``exc``, if any). Raises a panic raised by a deferred call.
    """
    st = _Unwinding(exc)
    try:
        _run(st, defers, len(defers))
    except Exception as final:
        _note(final, st, defers, codes)
        raise
    if st.exc is not None:
        if isinstance(st.exc, Exception):
            _note(st.exc, st, defers, codes)
        return False
    return st.recovered


def _note(
    exc: BaseException, st: _Unwinding, defers: list[_Deferred], codes: tuple[CodeType, ...]
) -> None:
    """Say on the traceback which deferred calls ran (and which raised)."""
    raised = st.raised or ()
    names = [
        _callable_name(d[0]) + (" (raised)" if i in raised else "")
        for i, d in reversed(list(enumerate(defers)))
    ]
    exc.add_note(
        f"gochan: {codes[-1].co_qualname}() ran its deferred calls, last deferred first: "
        + ", ".join(names)
    )


def _callable_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None)
    return f"{name}()" if isinstance(name, str) else repr(fn)


def _owns(codes: tuple[CodeType, ...], code: CodeType) -> bool:
    """Is ``code`` one of the functions a wrapper calls (the decorated
    function, or a function it wraps)?"""
    if code is codes[-1]:
        return True
    return any(c is code for c in codes)


@overload
def func(fn: staticmethod[P, R]) -> staticmethod[P, R | None]: ...
@overload
def func(fn: classmethod[T, P, R]) -> classmethod[T, P, R | None]: ...
@overload
def func(fn: Callable[P, R]) -> Callable[P, R | None]: ...
def func(fn: Any) -> Any:
    """Give a function a defer frame, so that it can call ``defer()``.

    The deferred calls run when the function exits, last deferred first,
    whether it returns, raises or is cancelled. A deferred call may call
    ``recover()`` to stop a panic; the function then returns ``None``.
    Works on functions and methods (either order with ``staticmethod`` and
    ``classmethod``), keeps the function's name, docstring and signature
    (``functools.wraps``), and may sit on top of other decorators. Generator
    and ``async`` functions are rejected with ``TypeError``: their bodies
    run after the call has returned.

    >>> import gochan
    >>> @gochan.func
    ... def greet():
    ...     gochan.defer(print, "world")
    ...     print("hello")
    >>> greet()
    hello
    world
    """
    if isinstance(fn, staticmethod):
        return staticmethod(func(fn.__func__))
    if isinstance(fn, classmethod):
        return classmethod(func(fn.__func__))
    if not callable(fn):
        raise TypeError(f"@func decorates functions and methods, got {fn!r}")
    chain = _unwrap_chain(fn)
    for inner in chain:
        kind = _unsupported_kind(inner)
        if not kind:
            continue
        raise TypeError(
            f"@func cannot decorate {kind} {_callable_name(inner)}: its body runs after the "
            "call has returned, so its deferred calls would run at the wrong time; "
            "use try/finally or contextlib.ExitStack inside it instead"
        )
    codes = tuple(
        c for c in (getattr(f, "__code__", None) for f in chain) if isinstance(c, CodeType)
    )
    if not codes:
        raise TypeError(
            f"@func decorates Python functions and methods, got {fn!r} (it has no __code__); "
            "wrap it in a def"
        )
    return functools.update_wrapper(_make_wrapper(fn, codes), fn)


def _unwrap_chain(fn: Any) -> list[Any]:
    """``fn`` and the functions it wraps (``__wrapped__``, as set by
    ``functools.wraps``), outermost first."""
    chain = [fn]
    while len(chain) < 100:
        try:
            nxt = chain[-1].__wrapped__
        except Exception:  # no such attribute, or a proxy that raises
            break
        if any(nxt is f for f in chain):
            break
        chain.append(nxt)
    return chain


def _unsupported_kind(fn: Any) -> str:
    if inspect.isgeneratorfunction(fn):
        return "generator function"
    if inspect.iscoroutinefunction(fn):
        return "async function"
    if inspect.isasyncgenfunction(fn):
        return "async generator function"
    return ""


def defer(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Call ``fn(*args, **kwargs)`` when the calling ``@func`` function exits.

    The arguments are evaluated now, the call happens later; deferred calls
    run last first. ``defer`` must be called directly in the body of a
    ``@func`` function (Go ties each defer to the function it is written
    in): anywhere else, including a nested function or lambda inside one,
    it raises ``RuntimeError``.

    >>> import gochan
    >>> @gochan.func
    ... def count():
    ...     for i in range(3):
    ...         gochan.defer(print, i)
    >>> count()
    2
    1
    0
    """
    if not callable(fn):
        raise not_callable("defer()", fn, "; write defer(f, arg) rather than defer(f(arg))")
    caller = sys._getframe(1)
    w = caller.f_back
    if w is not None and w.f_code is _WRAPPER_CODE:  # the common case, in short
        loc = w.f_locals
        if caller.f_code is loc["codes"][-1]:
            loc["defers"].append((fn, args, kwargs))
            return
    hops = _MAX_HOPS
    while w is not None and hops:
        if w.f_code is _WRAPPER_CODE:
            loc = w.f_locals
            codes: tuple[CodeType, ...] = loc["codes"]
            f = caller
            while f is not w:
                if not _owns(codes, f.f_code):
                    raise _misplaced(caller, codes)
                f = f.f_back  # type: ignore[assignment]
            loc["defers"].append((fn, args, kwargs))
            return
        w = w.f_back
        hops -= 1
    where = caller.f_code.co_qualname
    where = "module-level code" if where == "<module>" else f"{where}()"
    raise RuntimeError(
        f"defer() called outside a @gochan.func function (in {where}); decorate the "
        "function that calls defer() with @gochan.func to give it a defer frame"
    )


def _misplaced(caller: FrameType, codes: tuple[CodeType, ...]) -> RuntimeError:
    here, owner = caller.f_code.co_qualname, codes[-1].co_qualname
    return RuntimeError(
        f"defer() called in {here}(), not directly in the body of the @gochan.func function "
        f"{owner}(): a deferred call belongs to the function that defers it, so decorate "
        f"{here}() with @gochan.func too, or call defer() in {owner}() itself"
    )


def panic(v: object) -> NoReturn:
    """Raise ``v`` if it is an exception, else ``Panic(v)``; Go's ``panic``.

    ``panic(None)`` raises ``Panic("panic called with nil argument")``, as
    Go 1.21 does, so that ``recover()`` never returns ``None`` for a panic.

    >>> import gochan
    >>> try:
    ...     gochan.panic("out of cheese")
    ... except gochan.Panic as p:
    ...     print(repr(p.value))
    'out of cheese'
    """
    if isinstance(v, BaseException):
        raise v
    raise Panic(PANIC_NIL if v is None else v)


def recover() -> Any:
    """Stop the panic that is unwinding the current ``@func`` function.

    Only a deferred call of that function, calling ``recover()`` directly,
    can stop it; the function then returns ``None``. The result is the
    panic's value (``Panic.value``, or the exception itself for any other
    ``Exception``). Anywhere else, when nothing is unwinding, and for
    a ``BaseException`` that is not an ``Exception`` (cancellation,
    ``KeyboardInterrupt``), it returns ``None`` and stops nothing. Inside
    the deferred call, ``sys.exception()`` is the exception itself, with its
    ``__traceback__``.

    >>> import gochan
    >>> @gochan.func
    ... def safe_div(a, b):
    ...     gochan.defer(lambda: print("recovered:", gochan.recover()))
    ...     return a / b
    >>> safe_div(1, 0) is None
    recovered: division by zero
    True
    """
    f = sys._getframe(1)
    code = f.f_code
    if code is _RUN_CODE:  # defer(recover): not called *by* a deferred function
        return None
    up = f.f_back
    if up is not None and up.f_code is _WRAPPER_CODE:
        # f may be the body of a @func function that is itself the deferred
        # call: look past its own wrapper.
        if not _owns(up.f_locals["codes"], code):
            return None
        up = up.f_back
    if up is None or up.f_code is not _RUN_CODE:
        return None
    st: _Unwinding = up.f_locals["st"]
    exc = st.exc
    if not isinstance(exc, Exception):
        return None
    st.exc = None
    st.recovered = True
    return exc.value if isinstance(exc, Panic) else exc


__all__ = ["defer", "func", "panic", "recover"]
