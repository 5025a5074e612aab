"""Model test for the context tree: random trees, random cancels, time passing.

Hypothesis builds a tree from ``background()`` with ``with_cancel`` /
``with_cancel_cause``, ``with_value``, ``with_timeout`` /
``with_timeout_cause`` (on the virtual clock) and ``without_cancel``, and
interleaves cancels (with and without a cause) and ``sleep``s that let
deadlines fire. A plain-Python model predicts every node's state; after each
step the real tree must match it:

* ``err()`` is None exactly for nodes the model says are alive, else an
  instance of the right class (``Canceled`` vs ``DeadlineExceeded``): the
  first event to reach a node wins, later ones change nothing;
* ``cause()`` is the very cause object of that first event (or, when none
  was given, an error of the same class as ``err()``);
* ``done()`` is closed exactly for cancelled nodes (checked on a rotating
  subset, so that some done channels are first made after the cancel);
* ``deadline()`` is the earliest deadline on the way up (``without_cancel``
  cuts the chain);
* structure: a cancelled node has only cancelled descendants (short of a
  ``without_cancel``); a live cancellable node lists exactly its live
  cancellable children (cancelled ones removed themselves); the scheduler's
  timer heap has exactly one armed entry per live node with its own timer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import gochan
from gochan import default, select
from gochan._runtime.threads import get_scheduler
from gochan.context import (
    Canceled,
    Context,
    DeadlineExceeded,
    background,
    cause,
    with_cancel,
    with_cancel_cause,
    with_timeout,
    with_timeout_cause,
    with_value,
    without_cancel,
)

SAME = object()  # model: no cause was given, so cause() is like err(): same class
CANCELLABLE = ("cancel", "timeout")


@dataclass(eq=False)
class Node:
    ctx: Context
    kind: str  # root, cancel, timeout, value, without
    parent: Node | None
    cancel: Callable[..., None] | None = None
    takes_cause: bool = False
    own_deadline: float | None = None  # what deadline() reports for cancellable nodes
    timer_at: float | None = None  # when its own timer fires (None: it has none)
    timer_cause: BaseException | None = None
    err: type | None = None  # model state, cancellable nodes only
    why: Any = None  # expected cause(): an object, or SAME
    children: list[Node] = field(default_factory=list)


def state(n: Node) -> tuple[type | None, Any]:
    """Expected (err type, cause) of any node."""
    while n.kind == "value":
        assert n.parent is not None
        n = n.parent
    if n.kind in CANCELLABLE:
        return n.err, n.why
    return None, None  # background, without_cancel


def expected_deadline(n: Node) -> float | None:
    while n.kind == "value":
        assert n.parent is not None
        n = n.parent
    return n.own_deadline if n.kind in CANCELLABLE else None


def cancel_parent(n: Node) -> Node | None:
    """The nearest cancellable node above ``n`` that links it (through value nodes)."""
    p = n.parent
    while p is not None and p.kind == "value":
        p = p.parent
    return p if p is not None and p.kind in CANCELLABLE else None


def model_cancel(n: Node, err: type, why: Any) -> None:
    """Cancel cancellable node ``n`` and everything below it not yet cancelled."""
    if n.err is not None:
        return  # the first event wins
    n.err, n.why = err, why

    def push(child: Node) -> None:
        if child.kind == "value":
            for c in child.children:
                push(c)
        elif child.kind in CANCELLABLE:
            model_cancel(child, err, why)  # stops at nodes cancelled earlier
        # without_cancel: the chain is cut

    for c in n.children:
        push(c)


class Tree:
    def __init__(self) -> None:
        self.nodes = [Node(background(), "root", None)]
        self.step = 0

    def add(self, n: Node) -> None:
        assert n.parent is not None
        n.parent.children.append(n)
        self.nodes.append(n)

    def pick(self, i: int) -> Node:
        return self.nodes[i % len(self.nodes)]

    # -- operations -------------------------------------------------------

    def op_cancel_ctx(self, p: Node, use_cause: bool) -> None:
        ctx, cancel = with_cancel_cause(p.ctx) if use_cause else with_cancel(p.ctx)
        n = Node(ctx, "cancel", p, cancel, use_cause, own_deadline=expected_deadline(p))
        err, why = state(p)
        if err is not None:  # born cancelled, like its parent
            n.err, n.why = err, why
        self.add(n)

    def op_value(self, p: Node) -> None:
        self.add(Node(with_value(p.ctx, object(), "v"), "value", p))

    def op_without(self, p: Node) -> None:
        self.add(Node(without_cancel(p.ctx), "without", p))

    def op_timeout(self, p: Node, dt: int, use_cause: bool) -> None:
        now = gochan.monotonic()
        t = now + dt
        why = RuntimeError(f"timeout cause {len(self.nodes)}") if use_cause else None
        if use_cause:
            ctx, cancel = with_timeout_cause(p.ctx, dt, why)
        else:
            ctx, cancel = with_timeout(p.ctx, dt)
        n = Node(ctx, "timeout", p, cancel)
        pd = expected_deadline(p)
        err, pwhy = state(p)
        if pd is not None and pd <= t:  # the parent's deadline comes first: no own timer
            n.own_deadline = pd
            if err is not None:
                n.err, n.why = err, pwhy
        else:
            n.own_deadline = t
            if err is not None:
                n.err, n.why = err, pwhy
            elif t <= now:
                n.err, n.why = DeadlineExceeded, why if why is not None else SAME
            else:
                n.timer_at, n.timer_cause = t, why
        self.add(n)

    def op_cancel(self, n: Node, use_cause: bool) -> None:
        if n.cancel is None:
            return  # not a cancellable node: nothing to do
        why: Any = None
        if n.takes_cause:
            why = RuntimeError(f"cancel cause {self.step}") if use_cause else None
            n.cancel(why)
        else:
            n.cancel()
        model_cancel(n, Canceled, why if why is not None else SAME)

    def op_advance(self, dt: int) -> None:
        target = gochan.monotonic() + dt
        while True:  # the model fires due timers in deadline order
            due = [
                n
                for n in self.nodes
                if n.timer_at is not None and n.err is None and n.timer_at <= target
            ]
            if not due:
                break
            first = min(due, key=lambda n: n.timer_at)  # type: ignore[arg-type,return-value]
            why = first.timer_cause
            model_cancel(first, DeadlineExceeded, why if why is not None else SAME)
        gochan.sleep(dt)  # and the real tree lets them fire
        assert gochan.monotonic() == target

    # -- checks -------------------------------------------------------------

    def check(self, all_done: bool = False) -> None:
        self.step += 1
        for i, n in enumerate(self.nodes):
            err_type, why = state(n)
            got = n.ctx.err()
            where = f"node {i} ({n.kind}) {n.ctx!r}"
            if err_type is None:
                assert got is None, where
                assert cause(n.ctx) is None, where
            else:
                assert type(got) is err_type, where
                if why is SAME:
                    assert type(cause(n.ctx)) is err_type, where
                else:
                    assert cause(n.ctx) is why, where
            if all_done or (i + self.step) % 3 == 0:
                ready, _ = select(n.ctx.done().recv, default)
                assert (ready == 0) == (err_type is not None), where
            assert n.ctx.deadline() == expected_deadline(n), where
        self.check_structure()

    def check_structure(self) -> None:
        for n in self.nodes:
            for c in n.children:  # a cancelled node has no live child
                if n.ctx.err() is not None and c.kind != "without":
                    assert c.ctx.err() is not None, (n.ctx, c.ctx)
        live_timers = {id(e) for _, _, e in get_scheduler().timers.heap if e.fn is not None}
        armed = set()
        for n in self.nodes:
            if n.kind not in CANCELLABLE:
                continue
            real: Any = n.ctx
            if n.err is not None:
                assert real._children is None  # dropped on cancel
                assert real._timer is None  # released
                continue
            linked = {
                c.ctx
                for c in self.nodes
                if c.kind in CANCELLABLE and c.err is None and cancel_parent(c) is n
            }
            assert real._children == linked, n.ctx
            if n.timer_at is not None:
                assert real._timer is not None
                armed.add(id(real._timer[1]))
            else:
                assert real._timer is None
        assert live_timers == armed


index = st.integers(0, 63)
ops = st.one_of(
    st.tuples(st.just("cancel_ctx"), index, st.booleans()),
    st.tuples(st.just("value"), index),
    st.tuples(st.just("timeout"), index, st.sampled_from([0, 1, 2, 3, 5, 8]), st.booleans()),
    st.tuples(st.just("without"), index),
    st.tuples(st.just("cancel"), index, st.booleans()),
    st.tuples(st.just("cancel"), index, st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([1, 2, 3])),
)


def play(program: list[tuple[Any, ...]]) -> Tree:
    tree = Tree()
    tree.check()
    for op in program:
        name, *args = op
        if name == "advance":
            tree.op_advance(*args)
        elif name == "cancel":
            tree.op_cancel(tree.pick(args[0]), args[1])
        else:
            getattr(tree, f"op_{name}")(tree.pick(args[0]), *args[1:])
        tree.check()
    tree.op_advance(10)  # every deadline has passed now
    tree.check(all_done=True)
    return tree


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, min_size=1, max_size=30))
def test_context_tree_matches_the_model(program: list[tuple[Any, ...]]) -> None:
    gochan.run(play, program, clock="virtual")


def test_model_sanity_example() -> None:
    """One fixed program, readable: a cause set on a parent, then a deadline below a
    without_cancel that the parent's cancel does not reach."""
    program = [
        ("cancel_ctx", 0, True),  # 1: with_cancel_cause(background)
        ("value", 1),  # 2
        ("timeout", 2, 5, True),  # 3: own timer at +5 with a cause
        ("without", 3),  # 4
        ("timeout", 4, 2, False),  # 5: below the without: fires on its own at +2
        ("cancel", 1, True),  # cancels 1, 2, 3 with the cause; not 4 and 5
        ("advance", 3),  # 5 fires: DeadlineExceeded
    ]
    tree = gochan.run(play, program, clock="virtual")
    ctxs = [n.ctx for n in tree.nodes]
    why = cause(ctxs[1])
    assert isinstance(why, RuntimeError) and str(why).startswith("cancel cause")
    for c in ctxs[1:4]:
        assert isinstance(c.err(), Canceled) and cause(c) is why
    assert ctxs[4].err() is None
    assert type(ctxs[5].err()) is type(cause(ctxs[5])) is DeadlineExceeded
