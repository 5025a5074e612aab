"""Go's ``context`` package: cancellation, deadlines and request-scoped values.

A context is a node in a tree rooted at ``background()``. Cancelling a
node (its ``cancel`` function, its deadline passing, or its parent being
cancelled) closes its ``done()`` channel and cancels every descendant;
cancellation never travels up. ``err()`` then tells why: an instance of
``Canceled`` or ``DeadlineExceeded``; ``cause(ctx)`` gives the cause passed
to a ``with_cancel_cause`` cancel function, if any.

>>> import gochan
>>> from gochan import context
>>> def main():
...     ctx, cancel = context.with_timeout(context.background(), 5)
...     gochan.select(ctx.done().recv, gochan.after(10).recv)
...     cancel()
...     return ctx.err()
>>> gochan.run(main, clock="virtual")
DeadlineExceeded('context deadline exceeded')

Every function here is safe to call from any task or OS thread; ``done()``
channels work with ``select`` like any other channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._runtime.chan import Chan
from ._runtime.duration import NEVER, instant
from ._runtime.duration import seconds as duration_seconds
from ._runtime.errors import not_callable
from ._runtime.nilchan import nilchan
from ._runtime.scheduler import Scheduler
from ._runtime.threads import get_scheduler
from ._runtime.timers import TimerEntry, monotonic

__all__ = [
    "CancelFunc",
    "Canceled",
    "Context",
    "DeadlineExceeded",
    "after_func",
    "background",
    "cause",
    "todo",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_deadline_cause",
    "with_timeout",
    "with_timeout_cause",
    "with_value",
    "without_cancel",
]


class Canceled(Exception):
    """``ctx.err()`` of a context cancelled by its cancel function (or an
    ancestor's): Go's ``context.Canceled``."""

    def __init__(self, msg: str = "context canceled") -> None:
        super().__init__(msg)


class DeadlineExceeded(TimeoutError):
    """``ctx.err()`` of a context whose deadline passed: Go's
    ``context.DeadlineExceeded``. A ``TimeoutError``, so ``except
    TimeoutError`` catches it too."""

    def __init__(self, msg: str = "context deadline exceeded") -> None:
        super().__init__(msg)


CancelFunc = Callable[[], None]

# Asked of ctx.value(), finds the cancel node behind any context (Go's
# cancelCtxKey). A private object: no user key can be equal to it.
_CANCEL_KEY = object()

# Guards every cancelCtx's state and the parent/child links. Closing done
# channels, stopping timers and running callbacks happen after it is
# released, so it never nests around channel or timer locks.
_mu = threading.Lock()


class Context:
    """The interface every context offers; Go's ``context.Context``.

    Subclass it to write your own context: override ``done``, ``err``,
    ``value`` and ``deadline`` (a context whose ``done()`` is ``nilchan``
    is never cancelled).
    """

    __slots__ = ()

    def done(self) -> Chan[None]:
        """A channel closed when the context is cancelled; ``nilchan`` if it
        never can be."""
        return nilchan

    def err(self) -> Exception | None:
        """None while not cancelled; then a ``Canceled`` or ``DeadlineExceeded``."""
        return None

    def value(self, key: Any) -> Any:
        """The value bound to ``key`` by ``with_value`` here or above; else None."""
        return None

    def deadline(self) -> float | None:
        """When the context will be cancelled (on ``gochan.monotonic()``), or None."""
        return None


class _Empty(Context):
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"context.{self._name}"


_BACKGROUND = _Empty("background()")
_TODO = _Empty("todo()")


def background() -> Context:
    """The root context: never cancelled, no values, no deadline."""
    return _BACKGROUND


def todo() -> Context:
    """Like ``background()``; marks code that has not been given a context yet."""
    return _TODO


class _Action:
    """Work a cancel must do once ``_mu`` is released."""

    __slots__ = ("chans", "funcs", "timers")

    def __init__(self) -> None:
        self.chans: list[Chan[None]] = []
        self.timers: list[tuple[Scheduler, TimerEntry]] = []
        self.funcs: list[Callable[[], None]] = []

    def run(self) -> None:
        for c in self.chans:
            c.close()
        for s, e in self.timers:
            s.timers.cancel(e)
        for f in self.funcs:
            f()


class _CancelCtx(Context):
    """A cancellable node: Go's ``cancelCtx`` (and ``timerCtx``)."""

    __slots__ = (
        "_callbacks",
        "_cause",
        "_children",
        "_deadline",
        "_done",
        "_err",
        "_parent",
        "_timer",
    )

    def __init__(self, parent: Context, deadline: float | None = None) -> None:
        self._parent = parent
        self._done: Chan[None] | None = None  # made on first done()
        self._err: Exception | None = None
        self._cause: BaseException | None = None
        self._children: set[_CancelCtx] | None = set()
        self._callbacks: dict[object, Callable[[], None]] = {}
        self._deadline = deadline
        self._timer: tuple[Scheduler, TimerEntry] | None = None  # the deadline's

    def __repr__(self) -> str:
        kind = "with_deadline" if self._deadline is not None else "with_cancel"
        state = f" {self._err}" if self._err is not None else ""
        return f"{self._parent!r}.{kind}{state}"

    def done(self) -> Chan[None]:
        d = self._done
        if d is not None:
            return d
        with _mu:
            if self._done is None:
                # Chan(), not Chan[None](): typing's generic-alias call costs
                # ~1.5 µs more per channel, paid by every context's done().
                self._done = Chan()
                if self._err is not None:
                    self._done.close()
            return self._done

    def err(self) -> Exception | None:
        e = self._err
        # A fresh instance per call: callers raise it, and raising one shared
        # object from many tasks would pile tracebacks and notes onto it.
        return None if e is None else type(e)(*e.args)

    def value(self, key: Any) -> Any:
        if key is _CANCEL_KEY:
            return self
        return self._parent.value(key)

    def deadline(self) -> float | None:
        return self._deadline if self._deadline is not None else self._parent.deadline()

    def _cancel_locked(self, err: Exception, why: BaseException | None, act: _Action) -> None:
        """Mark this node and its subtree cancelled (``_mu`` held)."""
        if self._err is not None:
            return
        self._err, self._cause = err, why if why is not None else err
        if self._done is not None:
            act.chans.append(self._done)
        children, self._children = self._children, None
        for child in children or ():
            child._cancel_locked(err, self._cause, act)
        act.funcs.extend(self._callbacks.values())
        self._callbacks.clear()
        timer = self._timer
        if timer is not None:
            self._timer = None
            act.timers.append(timer)

    def _cancel(self, err: Exception, why: BaseException | None) -> None:
        act = _Action()
        parent = _cancel_ancestor(self._parent)  # may call user code: not under _mu
        with _mu:
            self._cancel_locked(err, why, act)
            if parent is not None and parent._children is not None:
                parent._children.discard(self)
        act.run()


def _cancel_ancestor(ctx: Context) -> _CancelCtx | None:
    """The gochan cancel node whose cancellation is ``ctx``'s own (None if
    ``ctx`` can never be cancelled or is cancelled some other way).

    As Go does, this also sees through a user's Context type wrapping one
    of ours: asked for ``_CANCEL_KEY``, every node passes it up to the
    nearest cancel node, which answers with itself; it counts only if its
    ``done()`` is the wrapper's (the wrapper did not replace cancellation).
    """
    if isinstance(ctx, _CancelCtx):
        return ctx
    if isinstance(ctx, (_Empty, _WithoutCancel)):
        return None
    p = ctx.value(_CANCEL_KEY)
    if isinstance(p, _CancelCtx) and (isinstance(ctx, _ValueCtx) or ctx.done() is p.done()):
        return p
    return None


def _attach(child: _CancelCtx) -> None:
    """Link ``child`` under its parent so the parent's cancel reaches it."""
    parent = child._parent
    p = _cancel_ancestor(parent)
    if p is not None:
        act = _Action()
        with _mu:
            if p._err is not None:
                child._cancel_locked(p._err, p._cause, act)
            else:
                assert p._children is not None
                p._children.add(child)
        act.run()
        return
    if isinstance(parent, (_Empty, _WithoutCancel)) or parent.done() is nilchan:
        return
    # A context type of the user's own: watch it from a task, as Go does.
    from ._runtime.select import select

    def watch() -> None:
        i, _ = select(parent.done().recv, child.done().recv)
        if i == 0:
            err = parent.err() or Canceled()
            child._cancel(err, cause(parent))

    get_scheduler().spawn(watch, (), {})


def _new_cancel(parent: Context, deadline: float | None = None) -> _CancelCtx:
    if not isinstance(parent, Context):
        raise TypeError(
            f"a context needs a parent Context, got {parent!r}; "
            "start from gochan.context.background()"
        )
    c = _CancelCtx(parent, deadline)
    _attach(c)
    return c


def with_cancel(parent: Context) -> tuple[Context, CancelFunc]:
    """A child of ``parent`` and the function that cancels it (and its
    descendants). Call the function once the work is done to release
    resources; calling it again does nothing.

    >>> from gochan import context
    >>> ctx, cancel = context.with_cancel(context.background())
    >>> ctx.err() is None
    True
    >>> cancel(); ctx.err()
    Canceled('context canceled')
    """
    c = _new_cancel(parent)
    return c, lambda: c._cancel(Canceled(), None)


def with_cancel_cause(parent: Context) -> tuple[Context, Callable[[BaseException | None], None]]:
    """Like ``with_cancel``, but the cancel function takes a cause, which
    ``cause(ctx)`` reports (``err()`` is still ``Canceled``).

    >>> from gochan import context
    >>> ctx, cancel = context.with_cancel_cause(context.background())
    >>> cancel(ValueError("bad input"))
    >>> ctx.err(), context.cause(ctx)
    (Canceled('context canceled'), ValueError('bad input'))
    """
    c = _new_cancel(parent)
    return c, lambda why=None: c._cancel(Canceled(), why)


def with_deadline(parent: Context, t: float) -> tuple[Context, CancelFunc]:
    """A child cancelled with ``DeadlineExceeded`` at time ``t`` (on
    ``gochan.monotonic()``, the scheduler clock), or earlier by its cancel
    function or its parent. Cancel it when done to release its timer.

    A deadline of ``math.inf``, or more than Go's largest duration (about
    292 years) away, never expires: the child is a plain ``with_cancel``
    one, and its ``deadline()`` is its parent's (None from ``background()``).
    A NaN deadline raises ``ValueError``."""
    return _with_deadline(parent, t, None, "with_deadline()")


def with_deadline_cause(
    parent: Context, t: float, why: BaseException | None
) -> tuple[Context, CancelFunc]:
    """``with_deadline`` whose expiry records ``why`` as the cause."""
    return _with_deadline(parent, t, why, "with_deadline_cause()")


def _with_deadline(
    parent: Context, t: object, why: BaseException | None, what: str
) -> tuple[Context, CancelFunc]:
    at = instant(t, monotonic(), what)
    if at == NEVER:
        return with_cancel(parent)  # a deadline that never comes is none
    cur = parent.deadline() if isinstance(parent, Context) else None
    if cur is not None and cur <= at:
        return with_cancel(parent)  # the parent's deadline comes first anyway
    c = _new_cancel(parent, at)
    cancel: CancelFunc = lambda: c._cancel(Canceled(), None)
    if c._err is not None:
        return c, cancel
    s = get_scheduler()
    if at <= s.clock.now():
        c._cancel(DeadlineExceeded(), why)
        return c, cancel

    def expire() -> None:  # in the scheduler loop, timer lock held
        c._timer = None
        c._cancel(DeadlineExceeded(), why)

    entry = s.timers.add(at, expire)
    with _mu:
        armed = c._err is None
        if armed:
            c._timer = (s, entry)
    if not armed:  # cancelled meanwhile (by the parent)
        s.timers.cancel(entry)
    return c, cancel


def with_timeout(parent: Context, seconds: float) -> tuple[Context, CancelFunc]:
    """``with_deadline(parent, gochan.monotonic() + seconds)``: ``math.inf``
    (or more than Go's largest duration) never times out, NaN raises
    ``ValueError``."""
    return _with_timeout(parent, seconds, None, "with_timeout()")


def with_timeout_cause(
    parent: Context, seconds: float, why: BaseException | None
) -> tuple[Context, CancelFunc]:
    """``with_deadline_cause(parent, gochan.monotonic() + seconds, why)``."""
    return _with_timeout(parent, seconds, why, "with_timeout_cause()")


def _with_timeout(
    parent: Context, seconds: object, why: BaseException | None, what: str
) -> tuple[Context, CancelFunc]:
    d = duration_seconds(seconds, what)
    return _with_deadline(parent, monotonic() + d if d != NEVER else NEVER, why, what)


class _ValueCtx(Context):
    __slots__ = ("_key", "_parent", "_val")

    def __init__(self, parent: Context, key: Any, val: Any) -> None:
        self._parent, self._key, self._val = parent, key, val

    def __repr__(self) -> str:
        return f"{self._parent!r}.with_value({self._key!r}, {self._val!r})"

    def done(self) -> Chan[None]:
        return self._parent.done()

    def err(self) -> Exception | None:
        return self._parent.err()

    def value(self, key: Any) -> Any:
        ctx: Context = self
        while isinstance(ctx, _ValueCtx):  # iterate: value chains get long
            if ctx._key == key:
                return ctx._val
            ctx = ctx._parent
        return ctx.value(key)

    def deadline(self) -> float | None:
        return self._parent.deadline()


def with_value(parent: Context, key: Any, value: Any) -> Context:
    """A child carrying ``value`` under ``key`` (compared with ``==``; use a
    private object or class as the key to avoid clashes, as in Go).

    >>> from gochan import context
    >>> ctx = context.with_value(context.background(), "user", "ada")
    >>> ctx.value("user"), ctx.value("missing")
    ('ada', None)
    """
    if not isinstance(parent, Context):
        raise TypeError(f"with_value() needs a parent Context, got {parent!r}")
    if key is None:
        raise TypeError("with_value() needs a key other than None")
    hash(key)  # unhashable keys are almost always a mistake: fail here, clearly
    return _ValueCtx(parent, key, value)


class _WithoutCancel(Context):
    __slots__ = ("_parent",)

    def __init__(self, parent: Context) -> None:
        self._parent = parent

    def __repr__(self) -> str:
        return f"{self._parent!r}.without_cancel()"

    def value(self, key: Any) -> Any:
        if key is _CANCEL_KEY:
            return None  # cancellation stops here
        return self._parent.value(key)


def without_cancel(parent: Context) -> Context:
    """A context with ``parent``'s values that is never cancelled (Go 1.21)."""
    if not isinstance(parent, Context):
        raise TypeError(f"without_cancel() needs a parent Context, got {parent!r}")
    return _WithoutCancel(parent)


def cause(ctx: Context) -> BaseException | None:
    """Why ``ctx`` was cancelled: the cause given to a ``with_cancel_cause``
    cancel function (or a ``*_cause`` deadline), else ``ctx.err()``."""
    c = _cancel_ancestor(ctx)
    if c is None and not isinstance(ctx, (_Empty, _WithoutCancel)):
        # A wrapper with its own done(): its cause is still the wrapped one's (as Go).
        p = ctx.value(_CANCEL_KEY)
        c = p if isinstance(p, _CancelCtx) else None
    if c is None:
        return ctx.err()
    with _mu:
        why = c._cause
    if why is not None and why is c._err:
        return c.err()  # no cause given: the error itself, fresh as err() gives it
    return why


def _on_done(ctx: Context, fn: Callable[[], None]) -> Callable[[], bool]:
    """Call ``fn()`` synchronously in whatever thread cancels ``ctx`` (at
    once if it is done). ``fn`` must not block. Returns ``stop()``: True
    for the first call made before ``fn`` ran (it then never runs)."""
    state = _Once()
    c = _cancel_ancestor(ctx)
    if c is None:
        if ctx.err() is not None:
            if state.claim():
                fn()
            return state.claim
        if ctx.done() is nilchan:
            return state.claim  # never cancelled: stopping always succeeds once
        # A foreign context: a watcher task calls fn, unless stopped first.
        from ._runtime.select import select

        stopped: Chan[None] = Chan()

        def watch() -> None:
            i, _ = select(ctx.done().recv, stopped.recv)
            if i == 0 and state.claim():
                fn()

        get_scheduler().spawn(watch, (), {})

        def stop_foreign() -> bool:
            if not state.claim():
                return False
            stopped.close()
            return True

        return stop_foreign
    key = object()

    def run_once() -> None:
        if state.claim():
            fn()

    with _mu:
        registered = c._err is None
        if registered:
            c._callbacks[key] = run_once
    if not registered:
        run_once()

    def stop() -> bool:
        with _mu:
            c._callbacks.pop(key, None)
        return state.claim()

    return stop


class _Once:
    """A flag claimed at most once, from any thread."""

    __slots__ = ("_lock", "_taken")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = False

    def claim(self) -> bool:
        with self._lock:
            if self._taken:
                return False
            self._taken = True
            return True


def after_func(ctx: Context, f: Callable[[], Any]) -> Callable[[], bool]:
    """Arrange for ``f()`` to run in its own task once ``ctx`` is done (at
    once if it already is); Go 1.21's ``context.AfterFunc``. The task runs
    on the scheduler of the thread that called ``after_func``. Returns
    ``stop()``, which returns True if it kept ``f`` from being started.

    >>> import gochan
    >>> from gochan import context
    >>> def main():
    ...     ctx, cancel = context.with_cancel(context.background())
    ...     out = gochan.Chan[str](1)
    ...     context.after_func(ctx, lambda: out.send("cleanup ran"))
    ...     cancel()
    ...     return out.recv()
    >>> gochan.run(main)
    'cleanup ran'
    """
    if not callable(f):
        raise not_callable(
            "after_func()",
            f,
            "; pass the function itself (a lambda or functools.partial can bind arguments)",
        )
    s = get_scheduler()

    def start() -> None:
        s.spawn_threadsafe(f, (), {})

    return _on_done(ctx, start)
