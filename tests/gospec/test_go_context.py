"""Port of Go's src/context tests (context_test.go and x_test.go), on gochan.

Every test runs on the virtual clock unless it involves another OS thread, so
"wait 50 ms for the deadline" is exact: a deadline fires at its instant, and
a timer that should never fire is simply one far in the future that the
clock only reaches once every task is blocked for good. Where Go sleeps and
hopes that cancellation has propagated, these tests wait on ``done()``
(a Deadlock would turn a lost cancellation into a clean failure).

Go's ``otherContext`` (a struct embedding a Context) becomes ``Other``: a
``Context`` subclass that forwards every method to the context it wraps.
gochan cannot see through such a wrapper to the cancellable node inside it
(Go can, by asking ``Value(&cancelCtxKey)``), so a child of a wrapper is
linked by a watcher task instead of synchronously; the two places where that
changes what Go's tests observe are marked xfail (see the reasons).

Not ported: TestAllocs (allocation counts have no Python analogue) and the
``String()`` formats (gochan's reprs are its own; only their shape is
checked). Go's afterfunc_test.go (custom contexts with an ``AfterFunc``
method) has no counterpart: gochan has no such protocol.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import gochan
from gochan import Chan, Task, WaitGroup, default, go, gosched, nilchan, run, select
from gochan.context import (
    Canceled,
    Context,
    DeadlineExceeded,
    after_func,
    background,
    cause,
    todo,
    with_cancel,
    with_cancel_cause,
    with_deadline,
    with_deadline_cause,
    with_timeout,
    with_timeout_cause,
    with_value,
    without_cancel,
)

HOUR = 3600.0
LONG = 1000 * HOUR  # "very long": the virtual clock reaches it only if we are stuck
SAFETY = 60.0  # seconds; joins of OS threads, a safety net only


def vrun(main: Callable[[], Any]) -> Any:
    return run(main, clock="virtual")


def is_done(ctx: Context) -> bool:
    """``select { case <-ctx.Done(): ... default: }`` without blocking."""
    i, _ = select(ctx.done().recv, default)
    return i == 0


def internal(ctx: Context) -> Any:
    """gochan's cancellable node behind ``ctx`` (Go's ``ctx.(*cancelCtx)``)."""
    from gochan.context import _CancelCtx

    assert isinstance(ctx, _CancelCtx), ctx
    return ctx


def cancel_ancestor(ctx: Context) -> Any:
    """Go's ``parentCancelCtx``: the nearest cancellable node at or above ``ctx``."""
    from gochan.context import _cancel_ancestor

    return _cancel_ancestor(ctx)


def live_timers() -> list[Any]:
    """Armed entries of this scheduler's timer heap (cancelled ones have ``fn = None``)."""
    from gochan._runtime.threads import get_scheduler

    return [e for _, _, e in get_scheduler().timers.heap if e.fn is not None]


class Other(Context):
    """A context type gochan does not know (Go's ``otherContext``): forwards
    everything to ``inner``; ``own_done`` replaces its done channel."""

    def __init__(self, inner: Context, own_done: Chan[None] | None = None) -> None:
        self.inner = inner
        self.own_done = own_done

    def done(self) -> Chan[None]:
        return self.own_done if self.own_done is not None else self.inner.done()

    def err(self) -> Exception | None:
        return self.inner.err()

    def value(self, key: Any) -> Any:
        return self.inner.value(key)

    def deadline(self) -> float | None:
        return self.inner.deadline()


class FreshDone(Other):
    """Go's ``myDoneCtx``: a done channel nobody ever closes, a new one per call."""

    def done(self) -> Chan[None]:
        return Chan[None]()


# ---------------------------------------------------------------------------
# Empty contexts
# ---------------------------------------------------------------------------


# Go: TestBackground, TestTODO
@pytest.mark.parametrize(
    "make, text", [(background, "context.background()"), (todo, "context.todo()")]
)
def test_background_and_todo(make: Callable[[], Context], text: str) -> None:
    def main() -> None:
        c = make()
        assert isinstance(c, Context)
        assert make() is c
        assert c.done() is nilchan
        assert not is_done(c)
        assert c.err() is None and cause(c) is None
        assert c.deadline() is None and c.value("anything") is None
        assert repr(c) == text

    vrun(main)
    assert background() is not todo()


# ---------------------------------------------------------------------------
# with_cancel and the tree
# ---------------------------------------------------------------------------


# Go: TestWithCancel
def test_with_cancel() -> None:
    def main() -> None:
        c1, cancel = with_cancel(background())
        assert repr(c1).startswith("context.background().") and "with_cancel" in repr(c1)
        o = Other(c1)
        c2, _ = with_cancel(o)
        for c in (c1, o, c2):
            assert c.done() is not nilchan
            assert c.err() is None
            assert not is_done(c)
        cancel()
        for c in (c1, o):  # synchronous for gochan's own contexts
            assert is_done(c)
            assert isinstance(c.err(), Canceled)
        c2.done().recv()  # below a foreign type: carried over by a watcher task
        assert isinstance(c2.err(), Canceled)

    vrun(main)


# Go: the contract TestWithCancel relies on: cancel is idempotent, err() before/after,
# the first reason wins, cancellation travels down only
def test_cancel_is_idempotent_and_never_travels_up() -> None:
    def main() -> None:
        parent, cancel_parent = with_cancel(background())
        child, cancel_child = with_timeout(parent, 5)
        grandchild, cancel_grandchild = with_cancel_cause(child)
        assert child.err() is None and grandchild.err() is None
        cancel_child()
        err = child.err()
        assert type(err) is Canceled and str(err) == "context canceled"
        assert type(grandchild.err()) is Canceled  # the child's cancel reached its own child
        assert parent.err() is None and not is_done(parent)  # but never its parent
        cancel_child()
        cancel_child()
        cancel_grandchild(RuntimeError("too late"))
        gochan.sleep(10)  # the child's deadline passes too
        cancel_parent()
        assert isinstance(parent.err(), Canceled)
        for c in (child, grandchild):  # the first reason stays, whatever comes later
            assert type(c.err()) is Canceled and type(cause(c)) is Canceled

    vrun(main)


# Go: TestParentFinishesChild
def test_parent_finishes_child() -> None:
    def main() -> None:
        # parent -> cancel_child; parent -> value_child -> timer_child
        parent, cancel = with_cancel(background())
        cancel_child, _ = with_cancel(parent)
        value_child = with_value(parent, "key", "value")
        timer_child, _ = with_timeout(value_child, 10_000 * HOUR)
        for c in (parent, cancel_child, value_child, timer_child):
            assert not is_done(c)
        pc = internal(parent)
        assert pc._children == {cancel_child, timer_child}
        assert cancel_ancestor(internal(cancel_child)._parent) is pc
        assert cancel_ancestor(internal(timer_child)._parent) is pc  # through the value node
        cancel()
        assert not pc._children  # cleared
        for c in (parent, cancel_child, value_child, timer_child):
            assert is_done(c), c
            assert isinstance(c.err(), Canceled), c
        # Children made from a cancelled parent are born cancelled.
        late_value = with_value(parent, "key", "value")
        late_cancel, _ = with_cancel(parent)
        for c in (late_value, late_cancel):
            assert is_done(c) and isinstance(c.err(), Canceled)

    vrun(main)


# Go: TestChildFinishesFirst
def test_child_finishes_first() -> None:
    def main() -> None:
        cancelable, stop = with_cancel(background())
        for parent in (background(), cancelable):
            child, cancel = with_cancel(parent)
            assert not is_done(parent) and not is_done(child)
            cc = internal(child)
            linked = cancel_ancestor(cc._parent)
            if parent is background():
                assert linked is None
            else:
                assert linked is parent and internal(parent)._children == {cc}
            cancel()
            if linked is not None:
                assert internal(parent)._children == set()  # the child removed itself
            assert is_done(child) and isinstance(child.err(), Canceled)
            assert not is_done(parent) and parent.err() is None
        stop()

    vrun(main)


# Go: TestCancelRemoves
def test_cancel_removes() -> None:
    def main() -> None:
        for make in (with_cancel, lambda p: with_timeout(p, HOUR)):
            ctx, _ = with_cancel(background())
            assert len(internal(ctx)._children) == 0
            _, cancel = make(ctx)
            assert len(internal(ctx)._children) == 1
            cancel()
            assert len(internal(ctx)._children) == 0

    vrun(main)


# Go: TestWithCancelCanceledParent
def test_with_cancel_canceled_parent() -> None:
    def main() -> None:
        parent, pcancel = with_cancel_cause(background())
        why = RuntimeError("Because!")
        pcancel(why)
        c, _ = with_cancel(parent)
        assert is_done(c)
        assert isinstance(c.err(), Canceled)
        assert cause(c) is why

    vrun(main)


# Go: TestWithCancelSimultaneouslyCanceledParent (from a task, and from an OS thread)
@pytest.mark.parametrize("canceller", ["task", "thread"])
def test_with_cancel_simultaneously_canceled_parent(canceller: str) -> None:
    def main() -> None:
        for _ in range(100):
            parent, pcancel = with_cancel_cause(background())
            why = RuntimeError("Because!")
            th = None
            if canceller == "task":
                go(pcancel, why)
            else:
                th = threading.Thread(target=pcancel, args=(why,))
                th.start()
            c, _ = with_cancel(parent)
            c.done().recv()
            assert isinstance(c.err(), Canceled)
            assert cause(c) is why
            if th is not None:
                th.join(SAFETY)
                assert not th.is_alive()

    run(main)


# Go: TestSimultaneousCancels (cancels from tasks, and from OS threads)
@pytest.mark.parametrize("canceller", ["tasks", "threads"])
def test_simultaneous_cancels(canceller: str) -> None:
    rng = random.Random(7)

    def main() -> None:
        root, cancel = with_cancel(background())
        cancels: dict[Context, Callable[[], None]] = {root: cancel}
        queue = [root]
        while queue and len(cancels) < 100:  # a tree, four children per node
            parent = queue.pop(0)
            for _ in range(4):
                ctx, c = with_cancel(parent)
                cancels[ctx] = c
                queue.append(ctx)
        order = list(cancels.values())
        rng.shuffle(order)
        wg = WaitGroup()
        threads = []
        if canceller == "tasks":
            for c in order:
                wg.go(c)
        else:
            for k in range(4):  # four threads share the cancel functions
                wg.add(1)

                def share(part: list[Callable[[], None]] = order[k::4]) -> None:
                    for c in part:
                        c()
                    wg.done()

                threads.append(threading.Thread(target=share))
            for th in threads:
                th.start()
        ctxs = list(cancels)
        rng.shuffle(ctxs)
        for ctx in ctxs:  # wait on every context, in a random order
            i, _ = select(ctx.done().recv, gochan.after(LONG).recv)
            assert i == 0, "a context was never cancelled"
        wg.wait()  # and for every cancel function to return
        for th in threads:
            th.join(SAFETY)
            assert not th.is_alive()
        assert all(isinstance(ctx.err(), Canceled) for ctx in ctxs)

    run(main)


# Go: TestInterlockedCancels
def test_interlocked_cancels() -> None:
    def main() -> None:
        parent, cancel_parent = with_cancel(background())
        child, cancel_child = with_cancel(parent)

        def child_canceller() -> None:
            parent.done().recv()
            cancel_child()

        go(child_canceller)
        cancel_parent()
        i, _ = select(child.done().recv, gochan.after(LONG).recv)
        assert i == 0
        assert isinstance(child.err(), Canceled)

    vrun(main)


# Go: TestLayersCancel, TestLayersTimeout
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("by_timeout", [False, True], ids=["cancel", "timeout"])
def test_layers(seed: int, by_timeout: bool) -> None:
    rng = random.Random(seed)

    class Val:
        pass

    def main() -> None:
        vals: list[Val] = []
        cancels: list[Callable[[], None]] = []
        timers = 0
        ctx = background()
        i = 0
        while i < 30 or not (timers and cancels and vals):
            i += 1
            kind = rng.randrange(3)
            if kind == 0:
                v = Val()
                ctx = with_value(ctx, v, v)
                vals.append(v)
            elif kind == 1:
                ctx, c = with_cancel(ctx)
                cancels.append(c)
            else:
                ctx, c = with_timeout(ctx, 0.2 if by_timeout else LONG)
                cancels.append(c)
                timers += 1

        def check_values() -> None:
            for v in vals:
                assert ctx.value(v) is v

        assert not is_done(ctx)
        assert repr(ctx).startswith("context.background().")
        check_values()
        if by_timeout:
            t0 = gochan.monotonic()
            which, _ = select(ctx.done().recv, gochan.after(LONG).recv)
            assert which == 0, "ctx should have timed out"
            assert isinstance(ctx.err(), DeadlineExceeded)
            assert gochan.monotonic() == t0 + 0.2
        else:
            rng.choice(cancels)()
            assert is_done(ctx)
            assert isinstance(ctx.err(), Canceled)
        check_values()

    vrun(main)


# ---------------------------------------------------------------------------
# Deadlines and timeouts (virtual clock)
# ---------------------------------------------------------------------------


def expect_deadline(c: Context, at: float) -> None:
    """Go's testDeadline: ``c`` times out, with DeadlineExceeded, exactly at ``at``."""
    i, _ = select(c.done().recv, gochan.after(LONG).recv)
    assert i == 0, "context should have timed out"
    assert isinstance(c.err(), DeadlineExceeded)
    assert gochan.monotonic() == at


# Go: TestDeadline
def test_deadline() -> None:
    def main() -> None:
        now = gochan.monotonic()
        c, _ = with_deadline(background(), now + 0.05)
        assert repr(c).startswith("context.background().") and "with_deadline" in repr(c)
        assert c.deadline() == now + 0.05
        expect_deadline(c, now + 0.05)

        now = gochan.monotonic()
        c, _ = with_deadline(background(), now + 0.05)
        expect_deadline(Other(c), now + 0.05)

        now = gochan.monotonic()
        c, _ = with_deadline(background(), now + 0.05)
        c2, _ = with_deadline(Other(c), now + 4)
        assert c2.deadline() == now + 0.05  # the parent's earlier deadline wins
        expect_deadline(c2, now + 0.05)

        now = gochan.monotonic()
        c, _ = with_deadline(background(), now - 0.001)  # in the past
        assert is_done(c)
        expect_deadline(c, now)

        c, _ = with_deadline(background(), now)  # now
        assert is_done(c)
        expect_deadline(c, now)

    vrun(main)


# Go: TestTimeout
def test_timeout() -> None:
    def main() -> None:
        now = gochan.monotonic()
        c, _ = with_timeout(background(), 0.05)
        assert "with_deadline" in repr(c)
        assert c.deadline() == now + 0.05
        expect_deadline(c, now + 0.05)

        now = gochan.monotonic()
        c, _ = with_timeout(background(), 0.05)
        expect_deadline(Other(c), now + 0.05)

        now = gochan.monotonic()
        c, _ = with_timeout(background(), 0.05)
        c2, _ = with_timeout(Other(c), 3)
        assert c2.deadline() == now + 0.05
        expect_deadline(c2, now + 0.05)

    vrun(main)


# Go: TestDeadline's "earlier parent deadline wins", through a value node and with a
# later child deadline; and a child's own earlier deadline
def test_earlier_deadline_wins() -> None:
    def main() -> None:
        now = gochan.monotonic()
        parent, _ = with_timeout(background(), 5)
        later, _ = with_timeout(with_value(parent, "k", 1), 50)
        earlier, _ = with_timeout(parent, 2)
        assert parent.deadline() == now + 5
        assert later.deadline() == now + 5
        assert earlier.deadline() == now + 2
        assert with_value(earlier, "k", 2).deadline() == now + 2
        expect_deadline(earlier, now + 2)
        assert parent.err() is None and later.err() is None
        expect_deadline(later, now + 5)
        assert isinstance(parent.err(), DeadlineExceeded)

    vrun(main)


# Go: TestCanceledTimeout
def test_canceled_timeout() -> None:
    def main() -> None:
        c, _ = with_timeout(background(), 1)
        c2, cancel = with_timeout(Other(c), LONG)
        cancel()
        assert is_done(c2)
        assert isinstance(c2.err(), Canceled)
        assert c.err() is None

    vrun(main)


# Go: TestDeadlineExceededSupportsTimeout
def test_deadline_exceeded_is_a_timeout() -> None:
    assert isinstance(DeadlineExceeded(), TimeoutError)
    assert str(DeadlineExceeded()) == "context deadline exceeded"
    assert not isinstance(Canceled(), TimeoutError)
    assert str(Canceled()) == "context canceled"

    def main() -> None:
        c, _ = with_timeout(background(), 1)
        c.done().recv()
        err = c.err()
        assert err is not None
        with pytest.raises(TimeoutError):
            raise err

    vrun(main)


# Go: "timers of cancelled contexts are released" (cancelCtx.cancel stops timerCtx.timer)
def test_timers_of_cancelled_contexts_are_released() -> None:
    def main() -> None:
        assert live_timers() == []
        _, cancel = with_timeout(background(), HOUR)
        assert len(live_timers()) == 1
        cancel()
        assert live_timers() == []

        parent, cancel_parent = with_cancel(background())
        kids = [with_timeout(parent, HOUR * (k + 1)) for k in range(3)]
        grandkid, _ = with_timeout(with_value(kids[2][0], "k", 1), HOUR / 2)
        assert len(live_timers()) == 4
        kids[0][1]()
        assert len(live_timers()) == 3
        cancel_parent()  # a parent's cancel stops every descendant's timer
        assert live_timers() == []
        assert isinstance(grandkid.err(), Canceled)

        # Born under a cancelled parent, or behind an earlier parent deadline: no timer.
        with_timeout(parent, HOUR)
        assert live_timers() == []
        early, cancel_early = with_timeout(background(), 1)
        with_timeout(early, HOUR)
        with_deadline(early, gochan.monotonic() + 1)
        assert len(live_timers()) == 1
        cancel_early()
        assert live_timers() == []

        # An expired timer is gone too, and so are the children's.
        fires, _ = with_timeout(background(), 1)
        with_timeout(fires, 0.5)
        fires.done().recv()
        assert live_timers() == []

    vrun(main)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Key1:
    n: int


@dataclass(frozen=True)
class Key2:
    n: int


K1, K2, K3 = Key1(1), Key2(1), Key2(3)  # K2: same number as K1, another type


# Go: TestValues
def test_values() -> None:
    def check(c: Context, v1: str | None, v2: str | None, v3: str | None) -> None:
        assert (c.value(K1), c.value(K2), c.value(K3)) == (v1, v2, v3), c

    c0 = background()
    check(c0, None, None, None)
    c1 = with_value(background(), K1, "c1k1")
    check(c1, "c1k1", None, None)
    assert repr(c1).startswith("context.background().with_value(") and "c1k1" in repr(c1)
    c2 = with_value(c1, K2, "c2k2")
    check(c2, "c1k1", "c2k2", None)
    c3 = with_value(c2, K3, "c3k3")
    check(c3, "c1k1", "c2k2", "c3k3")
    c4 = with_value(c3, K1, None)  # shadows K1 with None
    check(c4, None, "c2k2", "c3k3")

    o0 = Other(background())
    check(o0, None, None, None)
    o1 = Other(with_value(background(), K1, "c1k1"))
    check(o1, "c1k1", None, None)
    o2 = with_value(o1, K2, "o2k2")
    check(o2, "c1k1", "o2k2", None)
    o3 = Other(c4)
    check(o3, None, "c2k2", "c3k3")
    o4 = with_value(o3, K3, None)
    check(o4, None, "c2k2", None)


# Go: TestValues, through cancellable and deadline nodes
def test_values_are_found_through_cancel_contexts() -> None:
    def main() -> None:
        c = with_value(background(), K1, "outer")
        c, cancel = with_cancel(c)
        c, _ = with_timeout(c, HOUR)
        c = with_value(c, K2, "inner")
        c, _ = with_cancel_cause(c)
        assert (c.value(K1), c.value(K2), c.value(K3)) == ("outer", "inner", None)
        cancel()
        assert (c.value(K1), c.value(K2)) == ("outer", "inner")  # values outlive cancellation

    vrun(main)


# Go: TestWithValueChecksKey
def test_with_value_checks_key() -> None:
    with pytest.raises(TypeError):
        with_value(background(), bytearray(b"foo"), "bar")  # unhashable: not comparable in Go
    with pytest.raises(TypeError, match="None"):
        with_value(background(), None, "bar")


# Go: TestInvalidDerivedFail
def test_invalid_derived_fail() -> None:
    def main() -> None:
        bad: Any = None
        for make in (
            lambda: with_cancel(bad),
            lambda: with_cancel_cause(bad),
            lambda: with_deadline(bad, gochan.monotonic() + 1),
            lambda: with_timeout(bad, 1),
            lambda: with_value(bad, "foo", "bar"),
            lambda: without_cancel(bad),
        ):
            with pytest.raises(TypeError):
                make()

    vrun(main)


# ---------------------------------------------------------------------------
# Causes
# ---------------------------------------------------------------------------


class Causes:
    def __init__(self) -> None:
        self.parent = RuntimeError("parentCause")
        self.child = RuntimeError("childCause")
        self.too_slow = RuntimeError("tooSlow")
        self.finished_early = RuntimeError("finishedEarly")


def _cancelled(ctx_cancel: tuple[Context, Callable[..., None]], *why: Any) -> Context:
    ctx, cancel = ctx_cancel
    cancel(*why)
    return ctx


def _parent_then_child(k: Causes, child_first: bool, parent_cause: bool, child_cause: bool) -> Any:
    p, pcancel = with_cancel_cause(background()) if parent_cause else with_cancel(background())
    c, ccancel = with_cancel_cause(p) if child_cause else with_cancel(p)
    steps = [
        lambda: pcancel(k.parent) if parent_cause else pcancel(),
        lambda: ccancel(k.child) if child_cause else ccancel(),
    ]
    if child_first:
        steps.reverse()
    for s in steps:
        s()
    return c


def _stacked(k: Causes, timeout: float) -> Context:
    ctx, cancel = with_cancel_cause(background())
    ctx, _ = with_timeout_cause(ctx, timeout, k.too_slow)
    cancel(k.finished_early)
    return ctx


CAUSE_CASES: list[tuple[str, Callable[[Causes], Context], type | None, Any]] = [
    # name, how to build, err() type, cause(): an attribute of Causes, or an err() type
    ("background", lambda k: background(), None, None),
    ("todo", lambda k: todo(), None, None),
    ("with_cancel", lambda k: _cancelled(with_cancel(background())), Canceled, Canceled),
    (
        "with_cancel_cause",
        lambda k: _cancelled(with_cancel_cause(background()), k.parent),
        Canceled,
        "parent",
    ),
    (
        "with_cancel_cause None",
        lambda k: _cancelled(with_cancel_cause(background()), None),
        Canceled,
        Canceled,
    ),
    (
        "parent cause before child",
        lambda k: _parent_then_child(k, False, True, True),
        Canceled,
        "parent",
    ),
    (
        "parent cause after child",
        lambda k: _parent_then_child(k, True, True, True),
        Canceled,
        "child",
    ),
    (
        "parent cause before nil",
        lambda k: _parent_then_child(k, False, True, False),
        Canceled,
        "parent",
    ),
    (
        "parent cause after nil",
        lambda k: _parent_then_child(k, True, True, False),
        Canceled,
        Canceled,
    ),
    (
        "child cause after nil",
        lambda k: _parent_then_child(k, False, False, True),
        Canceled,
        Canceled,
    ),
    (
        "child cause before nil",
        lambda k: _parent_then_child(k, True, False, True),
        Canceled,
        "child",
    ),
    (
        "with_timeout",
        lambda k: _cancelled(with_timeout(background(), 0)),
        DeadlineExceeded,
        DeadlineExceeded,
    ),
    (
        "with_timeout canceled",
        lambda k: _cancelled(with_timeout(background(), LONG)),
        Canceled,
        Canceled,
    ),
    (
        "with_timeout_cause",
        lambda k: _cancelled(with_timeout_cause(background(), 0, k.too_slow)),
        DeadlineExceeded,
        "too_slow",
    ),
    (
        "with_timeout_cause canceled",
        lambda k: _cancelled(with_timeout_cause(background(), LONG, k.too_slow)),
        Canceled,
        Canceled,
    ),
    (
        "with_deadline_cause",
        lambda k: _cancelled(with_deadline_cause(background(), gochan.monotonic(), k.too_slow)),
        DeadlineExceeded,
        "too_slow",
    ),
    ("with_timeout_cause stacked", lambda k: _stacked(k, 0), DeadlineExceeded, "too_slow"),
    (
        "with_timeout_cause stacked canceled",
        lambda k: _stacked(k, LONG),
        Canceled,
        "finished_early",
    ),
    ("without_cancel", lambda k: without_cancel(background()), None, None),
    (
        "without_cancel canceled",
        lambda k: without_cancel(_cancelled(with_cancel_cause(background()), k.finished_early)),
        None,
        None,
    ),
    (
        "without_cancel timeout",
        lambda k: without_cancel(_cancelled(with_timeout_cause(background(), 0, k.too_slow))),
        None,
        None,
    ),
]


# Go: TestCause
@pytest.mark.parametrize(
    "build, err_type, want", [c[1:] for c in CAUSE_CASES], ids=[c[0] for c in CAUSE_CASES]
)
def test_cause(build: Callable[[Causes], Context], err_type: type | None, want: Any) -> None:
    def main() -> None:
        k = Causes()
        ctx = build(k)
        err = ctx.err()
        if err_type is None:
            assert err is None
        else:
            assert type(err) is err_type
        got = cause(ctx)
        if want is None:
            assert got is None
        elif isinstance(want, str):
            assert got is getattr(k, want)
        else:
            assert type(got) is want

    vrun(main)


# Go: TestCause's deadline rows, with the deadline firing later on its timer; and a cause
# set on a parent reaching every descendant
def test_causes_propagate_down_the_tree() -> None:
    def main() -> None:
        why = RuntimeError("too slow")
        now = gochan.monotonic()
        ctx, _ = with_deadline_cause(background(), now + 5, why)
        child, _ = with_cancel(with_value(ctx, "k", 1))
        timer_child, _ = with_timeout(child, HOUR)  # later than the parent's: inherits it
        assert cause(ctx) is None
        gochan.sleep(6)
        for c in (ctx, child, timer_child):
            assert isinstance(c.err(), DeadlineExceeded)
            assert cause(c) is why

        parent_why = RuntimeError("shutting down")
        parent, pcancel = with_cancel_cause(background())
        kids = [
            with_cancel(parent)[0],
            with_timeout(parent, HOUR)[0],
            with_timeout_cause(parent, HOUR, RuntimeError("unused"))[0],
            with_value(parent, "k", 1),
            with_cancel_cause(with_value(parent, "k", 2))[0],
        ]
        pcancel(parent_why)
        for c in kids:
            assert isinstance(c.err(), Canceled)
            assert cause(c) is parent_why, c
        assert cause(with_cancel(parent)[0]) is parent_why  # born cancelled, same cause

    vrun(main)


# Go: TestCauseRace
def test_cause_race() -> None:
    def main() -> None:
        why = RuntimeError("TestCauseRace")
        ctx, cancel = with_cancel_cause(background())
        th = threading.Thread(target=cancel, args=(why,))
        th.start()
        while (got := cause(ctx)) is None:  # poll cause(), not done(), as Go does
            gosched()
        assert got is why
        th.join(SAFETY)
        assert not th.is_alive()

    run(main)


# ---------------------------------------------------------------------------
# without_cancel
# ---------------------------------------------------------------------------


# Go: TestWithoutCancel
def test_without_cancel() -> None:
    def main() -> None:
        ctx = without_cancel(with_value(background(), "key", "value"))
        assert ctx.deadline() is None
        assert ctx.done() is nilchan
        assert ctx.err() is None
        assert ctx.value("key") == "value"

        # Cut off from a parent's cancel and deadline; its own children stay alive too.
        parent, cancel = with_timeout(with_value(background(), "key", "v2"), 5)
        detached = without_cancel(parent)
        assert detached.deadline() is None
        child, cancel_child = with_cancel(detached)
        assert internal(parent)._children == set()  # not linked under the parent
        cancel()
        assert parent.err() is not None
        assert detached.err() is None and not is_done(detached) and cause(detached) is None
        assert child.err() is None and not is_done(child)
        assert detached.value("key") == child.value("key") == "v2"
        cancel_child()
        assert isinstance(child.err(), Canceled)

    vrun(main)


# ---------------------------------------------------------------------------
# Context types of the user's own
# ---------------------------------------------------------------------------


# Go: TestCustomContextPropagation
def test_custom_context_propagation() -> None:
    def main() -> None:
        why = RuntimeError("TestCustomContextPropagation")
        own_done = Chan[None]()
        ctx1, cancel1 = with_cancel_cause(background())
        ctx2 = Other(ctx1, own_done)
        ctx3, cancel3 = with_cancel(ctx2)
        cancel1(why)
        own_done.close()
        ctx3.done().recv()  # the part that works: the child is cancelled
        assert isinstance(ctx3.err(), Canceled)
        assert cause(ctx3) is why
        cancel3()

    vrun(main)


class CustomCause(Context):
    """Go's customCauseContext: its own lock, done channel and error, and an
    optional child cancel function it calls itself."""

    def __init__(self) -> None:
        self.mu = threading.Lock()
        self.done_ch = Chan[None]()
        self.error: Exception | None = None
        self.cancel_child: Callable[[], None] | None = None

    def done(self) -> Chan[None]:
        with self.mu:
            return self.done_ch

    def err(self) -> Exception | None:
        with self.mu:
            return self.error

    def cancel(self) -> None:
        with self.mu:
            self.error = Canceled()
            self.done_ch.close()
            child = self.cancel_child
        if child is not None:
            child()


# Go: TestCustomContextCause
def test_custom_context_cause() -> None:
    def main() -> None:
        ccc = CustomCause()
        ccc.cancel()
        assert isinstance(ccc.err(), Canceled) and isinstance(cause(ccc), Canceled)

        # A cause given to a child's cancel stays the child's, and the parent is untouched.
        ccc = CustomCause()
        ctx, cause_fn = with_cancel_cause(ccc)
        why = RuntimeError("TestCustomContextCause")
        cause_fn(why)
        assert isinstance(ctx.err(), Canceled) and cause(ctx) is why
        assert ccc.err() is None and cause(ccc) is None
        ccc.cancel()  # cancelling the parent later changes nothing for the child
        gosched()
        assert isinstance(ctx.err(), Canceled) and cause(ctx) is why
        assert isinstance(ccc.err(), Canceled) and isinstance(cause(ccc), Canceled)

        # A custom parent that cancels its child itself.
        ccc = CustomCause()
        ctx, cancel_fn = with_cancel(ccc)
        ccc.cancel_child = cancel_fn
        ccc.cancel()
        assert isinstance(ctx.err(), Canceled) and isinstance(cause(ctx), Canceled)
        assert isinstance(ccc.err(), Canceled) and isinstance(cause(ccc), Canceled)

    vrun(main)


# Go: TestCustomContextGoroutines (gochan counts live tasks; a watcher ends with its child)
def test_custom_context_goroutines() -> None:
    def main() -> None:
        g = gochan.num_goroutine()

        def settled() -> int:
            gochan.sleep(0.001)  # every runnable task (a finishing watcher) has run
            return gochan.num_goroutine()

        _, cancel0 = with_cancel(FreshDone(background()))
        assert gochan.num_goroutine() == g + 1  # a foreign done channel: one watcher
        cancel0()
        assert settled() == g  # which ends once the child is cancelled

        _, cancel0 = with_timeout(FreshDone(background()), HOUR)
        assert gochan.num_goroutine() == g + 1
        cancel0()
        assert settled() == g

        # A custom type that can never be cancelled (done() is nilchan) costs nothing.
        _, cancel_n = with_cancel(Other(background()))
        assert gochan.num_goroutine() == g

        ctx1, cancel1 = with_cancel(background())
        ctx3, cancel3 = with_cancel(with_value(ctx1, "k", 1))
        _, cancel3b = with_cancel(FreshDone(ctx1))
        assert gochan.num_goroutine() == g + 1  # ctx1 provides no done(): it must not be used
        ctx4, cancel4 = with_timeout(ctx3, HOUR)
        ctx5, cancel5 = with_cancel(ctx4)
        cancel5()
        _, cancel6 = with_timeout(ctx5, HOUR)
        cancel6()
        cancel1()
        _, cancel7 = with_cancel(ctx5)
        assert gochan.num_goroutine() == g + 1  # none of gochan's own needed a task
        for c in (cancel_n, cancel3, cancel3b, cancel4, cancel7):
            c()
        assert settled() == g

    vrun(main)


# Go: TestWithCancel and TestCustomContextGoroutines, for a wrapper around a gochan context
def test_child_of_a_wrapper_is_cancelled_synchronously_without_a_task() -> None:
    def main() -> None:
        g = gochan.num_goroutine()
        c1, cancel = with_cancel(background())
        c2, cancel2 = with_cancel(Other(c1))
        tasks_needed = gochan.num_goroutine() - g
        cancel()
        synchronous = c2.err() is not None
        cancel2()
        assert (synchronous, tasks_needed) == (True, 0)

    vrun(main)


# ---------------------------------------------------------------------------
# after_func (Go 1.21)
# ---------------------------------------------------------------------------


# Go: TestAfterFuncCalledAfterCancel
def test_after_func_called_after_cancel() -> None:
    def main() -> None:
        ctx, cancel = with_cancel(background())
        donec = Chan[None]()
        stop = after_func(ctx, donec.close)
        i, _ = select(donec.recv, gochan.after(0.001).recv)
        assert i == 1, "after_func called before the context is done"
        cancel()
        i, _ = select(donec.recv, gochan.after(LONG).recv)
        assert i == 0, "after_func not called after the context is cancelled"
        assert stop() is False

    vrun(main)


# Go: TestAfterFuncCalledAfterTimeout
def test_after_func_called_after_timeout() -> None:
    def main() -> None:
        ctx, cancel = with_timeout(background(), 0.001)
        donec = Chan[None]()
        after_func(ctx, donec.close)
        i, _ = select(donec.recv, gochan.after(LONG).recv)
        assert i == 0
        cancel()

    vrun(main)


# Go: TestAfterFuncCalledImmediately
def test_after_func_called_immediately() -> None:
    def main() -> None:
        ctx, cancel = with_cancel(background())
        cancel()
        donec = Chan[None]()
        stop = after_func(ctx, donec.close)
        i, _ = select(donec.recv, gochan.after(LONG).recv)
        assert i == 0, "after_func not called for an already-cancelled context"
        assert stop() is False

    vrun(main)


# Go: TestAfterFuncNotCalledAfterStop
def test_after_func_not_called_after_stop() -> None:
    def main() -> None:
        ctx, cancel = with_cancel(background())
        donec = Chan[None]()
        stop = after_func(ctx, donec.close)
        assert stop() is True
        cancel()
        i, _ = select(donec.recv, gochan.after(0.001).recv)
        assert i == 1, "after_func called after stop()"
        assert stop() is False

    vrun(main)


# Go: TestAfterFuncCalledAsynchronously (cancel does not wait for f, which may block)
def test_after_func_called_asynchronously() -> None:
    def main() -> None:
        ctx, cancel = with_cancel(background())
        donec = Chan[None]()  # unbuffered: f blocks until we receive
        stop = after_func(ctx, lambda: donec.send(None))
        cancel()  # returns although f cannot finish yet
        i, _ = select(donec.recv, gochan.after(LONG).recv)
        assert i == 0
        stop()

    vrun(main)


# Go: AfterFunc's contract: f runs once, in its own goroutine, whatever cancels ctx
def test_after_func_runs_once_in_its_own_task() -> None:
    def main() -> None:
        parent, cancel_parent = with_cancel(background())
        ctx, cancel = with_cancel(with_value(parent, "k", 1))
        ran = Chan[Task](4)
        after_func(ctx, lambda: ran.send(gochan.current()))
        after_func(with_value(ctx, "k", 2), lambda: ran.send(gochan.current()))
        cancel_parent()  # reaches ctx through the tree
        cancel()
        cancel_parent()
        first, second = ran.recv(), ran.recv()
        me = gochan.current()
        assert first is not me and second is not me and first is not second
        gochan.sleep(1)  # everything that could run has run
        assert len(ran) == 0  # once each

    vrun(main)


# Go: AfterFunc on a context of the user's own type (a watcher takes over)
def test_after_func_on_a_custom_context() -> None:
    def main() -> None:
        ccc = CustomCause()
        donec = Chan[None]()
        stop = after_func(ccc, donec.close)
        ccc.cancel()
        i, _ = select(donec.recv, gochan.after(LONG).recv)
        assert i == 0
        assert stop() is False

    vrun(main)


# Go: TestAfterFuncNotCalledAfterStop, on a context of the user's own type
def test_after_func_not_called_after_stop_on_a_custom_context() -> None:
    def main() -> int:
        ran = []
        for _ in range(32):  # each round runs f with probability 1/2 under the bug
            ccc = CustomCause()
            stop = after_func(ccc, lambda: ran.append(1))
            assert stop() is True
            ccc.cancel()
            gochan.sleep(1)  # the watcher has run and decided by now
        return len(ran)

    assert run(main, clock="virtual", seed=1) == 0


# Go: AfterFunc(ctx, f)'s stop() "returns true if the call stopped f from being run"; on a
# context that is never cancelled (Background, WithoutCancel) Go's stop() returns true
def test_after_func_stop_on_a_never_cancelled_context() -> None:
    def main() -> None:
        stops = [after_func(c, lambda: None) for c in (background(), without_cancel(background()))]
        assert [s() for s in stops] == [True, True]

    vrun(main)


# ---------------------------------------------------------------------------
# Other OS threads and select
# ---------------------------------------------------------------------------


# Go: contexts are safe for simultaneous use by multiple goroutines (threads here)
def test_cancellation_from_another_os_thread() -> None:
    def main() -> None:
        parent, cancel = with_cancel(background())
        child, _ = with_timeout(parent, HOUR)  # real clock: never fires during the test
        leaf = with_value(child, "k", 1)
        assert len(live_timers()) == 1
        th = threading.Thread(target=cancel)
        go(th.start)  # runs once main has parked below
        leaf.done().recv()
        th.join(SAFETY)
        assert not th.is_alive()
        for c in (parent, child, leaf):
            assert isinstance(c.err(), Canceled)
        assert live_timers() == []  # released by the other thread's cancel

    run(main)


def test_thread_waiting_on_done_is_woken_by_a_green_cancel() -> None:
    ctx, cancel = with_cancel(background())
    seen: list[Any] = []
    scheds: list[Any] = []
    published = threading.Event()

    def waiter() -> None:
        from gochan._runtime.threads import get_scheduler

        scheds.append(get_scheduler())  # this thread's own scheduler
        published.set()
        i, v = select(ctx.done().recv_ok, Chan[int]().recv)
        seen.append((i, v, ctx.err()))

    th = threading.Thread(target=waiter)

    def main() -> None:
        th.start()
        assert published.wait(SAFETY)
        give_up = time.monotonic() + SAFETY  # a safety net, not a timing assumption
        while scheds[0].main.state != "select":  # until the thread has parked in select
            assert time.monotonic() < give_up, "the thread never parked"
            threading.Event().wait(0.001)
        cancel()

    try:
        run(main)
    finally:
        th.join(SAFETY)
    assert not th.is_alive()
    assert len(seen) == 1 and seen[0][:2] == (0, (None, False))
    assert isinstance(seen[0][2], Canceled)


# Go: `select { case <-ctx.Done(): ... case job := <-jobs: ... }`, the idiom contexts exist for
def test_done_in_select() -> None:
    def main() -> None:
        t0 = gochan.monotonic()
        ctx, cancel = with_timeout(background(), 10)
        jobs, out = Chan[int](), Chan[Any](16)

        def worker() -> None:
            while True:
                i, v = select(ctx.done().recv, jobs.recv)
                if i == 0:
                    out.send(("stopped", gochan.monotonic(), ctx.err()))
                    return
                out.send(v)

        go(worker)
        for n in range(3):
            jobs.send(n)
        assert [out.recv() for _ in range(3)] == [0, 1, 2]
        tag, at, err = out.recv()
        assert (tag, at) == ("stopped", t0 + 10)  # the deadline ended it, on the virtual clock
        assert isinstance(err, DeadlineExceeded)
        for _ in range(3):  # a closed done channel stays ready
            assert select(ctx.done().recv_ok, jobs.recv) == (0, (None, False))
        cancel()

    vrun(main)
