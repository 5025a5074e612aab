"""Model test: random supervision trees whose children fail at random times.

Hypothesis draws a tree (supervisors with random strategies, restart budgets
and backoff; leaves with random policies and scripts of "live this long,
then panic / return / block") and a few pokes from outside (add a child,
cancel a leaf, stop a nested supervisor), runs it on the virtual clock and
checks, at checkpoints and at the end:

* no orphans: a leaf task never outlives the activation of the supervisor
  that started it (that supervisor's task), not even for a moment: it has
  ended before that task ends;
* the restart budget holds: within one activation of a supervisor, no
  window of ``period`` seconds holds more than ``max_restarts`` restarts;
* every "give up" comes exactly when the budget is spent;
* when the root stops or gives up, no task but main is left.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gochan
from gochan import PanicReport, Supervisor, Task
from gochan.supervisor import TooManyRestarts

LIFETIMES = (0.0, 0.5, 1.0, 2.0, 5.0)
OUTCOMES = ("panic", "panic", "return", "block")


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.CRITICAL + 1, logger="gochan.supervisor")
    yield


@dataclass
class LeafSpec:
    policy: str
    script: list[tuple[float, str]]


@dataclass
class SupSpec:
    strategy: str
    max_restarts: int
    period: float
    backoff: float
    jitter: float
    children: list[Any] = field(default_factory=list)  # LeafSpec | SupSpec
    policy: str = "permanent"  # as a child of its parent


leaves = st.builds(
    LeafSpec,
    policy=st.sampled_from(["permanent", "transient", "temporary"]),
    script=st.lists(
        st.tuples(st.sampled_from(LIFETIMES), st.sampled_from(OUTCOMES)), min_size=1, max_size=4
    ),
)


def sup_specs(depth: int) -> st.SearchStrategy[SupSpec]:
    child = leaves if depth == 0 else st.one_of(leaves, leaves, sup_specs(depth - 1))
    return st.builds(
        SupSpec,
        strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
        max_restarts=st.integers(0, 4),
        period=st.sampled_from([1.0, 3.0, 10.0]),
        backoff=st.sampled_from([0.0, 0.1, 0.5]),
        jitter=st.sampled_from([0.0, 0.3]),
        children=st.lists(child, min_size=1, max_size=3),
        policy=st.sampled_from(["permanent", "transient", "temporary"]),
    )


class World:
    """What the run observed."""

    def __init__(self) -> None:
        self.live: dict[Task, Task] = {}  # leaf task -> task of its supervisor's activation
        self.restarts: dict[int, list[float]] = {}  # supervisor task id -> restart times
        self.budget: dict[int, tuple[int, float]] = {}  # supervisor task id -> (max, period)
        self.problems: list[str] = []

    def on_report(self, sup: Supervisor, r: PanicReport) -> None:
        me = gochan.current()  # the callback runs in the supervisor's own task
        self.budget[me.id] = (sup.max_restarts, sup.period)
        times = self.restarts.setdefault(me.id, [])
        recent = [t for t in times if r.time - t < sup.period]
        if r.action == "restart":
            times.append(r.time)
            if len(recent) + 1 > sup.max_restarts:
                self.problems.append(f"{r.supervisor}: restart beyond the budget at {r.time}")
        elif r.action == "give up" and len(recent) != sup.max_restarts:
            self.problems.append(f"{r.supervisor}: gave up with {len(recent)} recent restarts")

    def check_orphans(self, when: str) -> None:
        for leaf, owner in self.live.items():
            if owner.done():
                self.problems.append(f"{when}: orphan {leaf!r} outlived its supervisor")


def build(spec: SupSpec, name: str, world: World, sups: list[Supervisor]) -> Supervisor:
    sup = Supervisor(
        name,
        strategy=spec.strategy,  # type: ignore[arg-type]
        max_restarts=spec.max_restarts,
        period=spec.period,
        backoff=spec.backoff,
        backoff_max=2.0,
        jitter=spec.jitter,
        report_buffer=4,
    )
    sup.on_report = lambda r: world.on_report(sup, r)
    sups.append(sup)
    for i, c in enumerate(spec.children):
        if isinstance(c, SupSpec):
            sup.add(build(c, f"{name}.{i}", world, sups), restart=c.policy)  # type: ignore[arg-type]
        else:
            sup.add(leaf_fn(c, sup, world), name=f"leaf{i}", restart=c.policy)  # type: ignore[arg-type]
    return sup


def leaf_fn(spec: LeafSpec, sup: Supervisor, world: World) -> Any:
    runs = 0

    def leaf() -> None:
        nonlocal runs
        lifetime, outcome = spec.script[min(runs, len(spec.script) - 1)]
        runs += 1
        me, owner = gochan.current(), sup.task
        assert owner is not None
        world.live[me] = owner
        try:
            gochan.sleep(lifetime)
            if outcome == "panic":
                gochan.panic(f"leaf failed after {lifetime} s")
            if outcome == "block":
                gochan.Chan[int]().recv()
        finally:
            del world.live[me]
            if owner.done():
                world.problems.append(f"{me!r} ended after its supervisor's task")

    return leaf


actions = st.lists(
    st.tuples(
        st.sampled_from([1.0, 2.5, 4.0, 7.5]),
        st.sampled_from(["add", "cancel", "stop"]),
        st.integers(0, 50),
        leaves,
    ),
    max_size=3,
)


def act(kind: str, pick: int, leaf: LeafSpec, sups: list[Supervisor], world: World) -> None:
    """Poke the running tree from outside, as a program might."""
    running = [s for s in sups if s.task is not None]
    event(f"poke: {kind}")
    if kind == "add" and running:
        s = running[pick % len(running)]
        s.add(leaf_fn(leaf, s, world), name="late", restart=leaf.policy)  # type: ignore[arg-type]
    elif kind == "cancel" and world.live:
        list(world.live)[pick % len(world.live)].cancel()
    elif kind == "stop":
        nested = [s for s in running if s is not sups[0]]
        if nested:
            nested[pick % len(nested)].stop()


@settings(
    max_examples=int(os.environ.get("GOCHAN_MODEL_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    spec=sup_specs(depth=2),
    horizon=st.sampled_from([3.0, 10.0, 30.0]),
    seed=st.integers(0, 99),
    pokes=actions,
)
def test_random_trees_leave_no_orphans_and_keep_their_restart_budget(
    spec: SupSpec, horizon: float, seed: int, pokes: list[tuple[float, str, int, LeafSpec]]
) -> None:
    world = World()
    outcome: list[str] = []

    def main() -> None:
        sups: list[Supervisor] = []
        root = build(spec, "root", world, sups)
        root.start()
        try:
            t = 0.0
            while t < horizon:
                gochan.sleep(0.5)
                t += 0.5
                for when, kind, pick, leaf in pokes:
                    if when == t:
                        act(kind, pick, leaf, sups, world)
                world.check_orphans(f"t={t}")
            root.stop()
            outcome.append("stopped")
        finally:
            # Stopped, or interrupted by the root's TooManyRestarts (fatal):
            # either way the root has already stopped every descendant.
            world.check_orphans("end")
            if world.live:
                world.problems.append(f"leaves still alive at the end: {list(world.live)}")
            if gochan.num_goroutine() != 1:
                world.problems.append(f"{gochan.num_goroutine() - 1} tasks left besides main")

    try:
        gochan.run(main, clock="virtual", seed=seed)
    except TooManyRestarts as e:
        assert e.supervisor == "root"
        outcome.append("gave up")
    event(f"root {outcome[-1]}")
    assert outcome in (["stopped"], ["gave up"])
    assert not world.problems, world.problems
