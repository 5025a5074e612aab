"""Supervisor and supervise(): restart policies, strategies, restart intensity,
backoff, nesting and escalation, stop(), reports, dump().

Everything runs on the virtual clock, so every time asserted here is exact;
``jitter=0`` unless jitter itself is under test.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gochan
from gochan import Cancelled, Chan, PanicReport, Supervisor, go, panic, run, supervise
from gochan.supervisor import TooManyRestarts


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.CRITICAL + 1, logger="gochan.supervisor")
    yield


def vrun(main: Callable[[], Any], seed: int | None = 1) -> Any:
    return run(main, clock="virtual", seed=seed)


def drain(ch: Chan[PanicReport]) -> list[PanicReport]:
    out = []
    while True:
        i, r = gochan.select(ch.recv, gochan.default)
        if i != 0:
            return out
        out.append(r)


class Recorder:
    """Children that log (time, name, event) and fail on cue."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def log(self, name: str, event: str) -> None:
        self.events.append((gochan.monotonic(), name, event))

    def starts(self, name: str) -> list[float]:
        return [t for t, n, e in self.events if n == name and e == "start"]

    def child(
        self, name: str, *, fail_after: float | None = None, ret_after: float | None = None
    ) -> Callable[[], None]:
        def body() -> None:
            self.log(name, "start")
            try:
                if fail_after is not None:
                    gochan.sleep(fail_after)
                    raise ValueError(f"{name} failed")
                if ret_after is not None:
                    gochan.sleep(ret_after)
                    return
                gochan.sleep(1e9)
            except Cancelled:
                self.log(name, "cancelled")
                raise

        body.__name__ = name
        return body


def sup(name: str = "root", **kw: Any) -> Supervisor:
    kw.setdefault("jitter", 0)
    kw.setdefault("backoff", 1.0)
    return Supervisor(name, **kw)


# -- policies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, restarted", [("permanent", True), ("transient", True), ("temporary", False)]
)
def test_policy_after_a_panic(policy: Any, restarted: bool) -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(max_restarts=10, period=100)
        c = s.add(rec.child("w", fail_after=1), restart=policy)
        s.start()
        gochan.sleep(2.5)
        assert rec.starts("w") == ([0.0, 2.0] if restarted else [0.0])
        assert c.state == ("running" if restarted else "done")
        reports = drain(s.reports)
        assert [r.action for r in reports] == ["restart" if restarted else "drop"]
        s.stop()

    vrun(main)


@pytest.mark.parametrize(
    "policy, restarted", [("permanent", True), ("transient", False), ("temporary", False)]
)
def test_policy_after_a_normal_return(policy: Any, restarted: bool) -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(max_restarts=10, period=100)
        c = s.add(rec.child("w", ret_after=1), restart=policy)
        s.start()
        gochan.sleep(2.5)
        assert rec.starts("w") == ([0.0, 2.0] if restarted else [0.0])
        reports = drain(s.reports)
        if restarted:
            (r,) = reports
            assert r.exception is None and r.traceback == "" and r.action == "restart"
            assert str(r) == "t=1 root/w returned; restart 1 in 1 s"
        else:
            assert reports == [] and c.state == "done" and s.children == []
        s.stop()

    vrun(main)


def test_a_child_cancelled_from_outside_is_removed_not_restarted() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup()
        c = s.add(rec.child("w"))
        s.start()
        gochan.sleep(1)
        assert c.task is not None
        c.task.cancel()
        gochan.sleep(10)
        assert rec.starts("w") == [0.0] and c.state == "done" and s.children == []
        assert drain(s.reports) == []
        s.stop()

    vrun(main)


def test_a_child_cancelled_before_it_ever_ran_is_noticed() -> None:
    def main() -> None:
        s = sup()
        c = s.add(gochan.sleep, 1e9)
        s.start()
        gochan.gosched()  # the supervisor runs and queues the child's task
        assert c.task is not None and c.state == "running"
        c.task.cancel()  # it never runs, so it never reports
        s.add(gochan.sleep, 1e9)  # wakes the supervisor
        gochan.sleep(1)
        assert c.state == "done" and len(s.children) == 1
        s.stop()

    vrun(main)


def test_run_shutdown_cancels_everything_without_restarts() -> None:
    rec = Recorder()
    reports: list[PanicReport] = []

    def main() -> None:
        s = sup(on_report=reports.append)
        for name in ("a", "b"):
            s.add(rec.child(name))
        s.start()
        gochan.sleep(1)
        # main returns: run() cancels the supervisor and its children

    vrun(main)
    assert sorted(n for _, n, e in rec.events if e == "cancelled") == ["a", "b"]
    assert rec.starts("a") == [0.0] and reports == []


def test_a_panic_in_a_child_is_not_fatal() -> None:
    def main() -> str:
        s = sup(max_restarts=5)
        s.add(panic, "boom", restart="temporary")
        s.start()
        gochan.sleep(1)
        s.stop()
        return "main carried on"

    assert vrun(main) == "main carried on"


def test_keyboard_interrupt_in_a_child_is_fatal_and_not_restarted() -> None:
    def main() -> None:
        s = sup()

        def interrupted() -> None:
            raise KeyboardInterrupt

        c = s.add(interrupted)
        s.start()
        try:
            gochan.sleep(5)
        finally:
            assert c.state in ("done", "stopped")

    with pytest.raises(KeyboardInterrupt):
        vrun(main)


# -- strategies ------------------------------------------------------------------------


def test_one_for_one_restarts_only_the_failed_child() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(max_restarts=10, period=100)
        s.add(rec.child("a"))
        s.add(rec.child("b", fail_after=1))
        s.add(rec.child("c"))
        s.start()
        gochan.sleep(2.5)
        assert rec.starts("a") == [0.0] and rec.starts("c") == [0.0]
        assert rec.starts("b") == [0.0, 2.0]
        assert not [e for e in rec.events if e[2] == "cancelled"]
        s.stop()

    vrun(main)


def test_one_for_all_stops_the_others_newest_first_then_restarts_all_in_order() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(strategy="one_for_all", max_restarts=10, period=100)
        for name in ("a", "b", "c", "d"):
            s.add(rec.child(name, fail_after=1.0 if name == "b" else None))
        s.start()
        gochan.sleep(2.5)
        s.stop()

    vrun(main)
    assert rec.events[:12] == [
        (0.0, "a", "start"),
        (0.0, "b", "start"),
        (0.0, "c", "start"),
        (0.0, "d", "start"),
        (1.0, "d", "cancelled"),
        (1.0, "c", "cancelled"),
        (1.0, "a", "cancelled"),
        (2.0, "a", "start"),
        (2.0, "b", "start"),
        (2.0, "c", "start"),
        (2.0, "d", "start"),
        (2.5, "d", "cancelled"),  # stop(): newest first
    ]


def test_rest_for_one_restarts_the_failed_child_and_those_added_after_it() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(strategy="rest_for_one", max_restarts=10, period=100)
        for name in ("a", "b", "c", "d"):
            s.add(rec.child(name, fail_after=1.0 if name == "b" else None))
        s.start()
        gochan.sleep(1.5)
        assert rec.starts("a") == [0.0]
        assert [e for e in rec.events if e[2] == "cancelled"] == [
            (1.0, "d", "cancelled"),
            (1.0, "c", "cancelled"),
        ]
        gochan.sleep(1)
        assert [rec.starts(n) for n in "abcd"] == [[0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]
        s.stop()

    vrun(main)


def test_a_temporary_sibling_stopped_by_the_strategy_is_not_restarted() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(strategy="one_for_all", max_restarts=10, period=100)
        t = s.add(rec.child("temp"), restart="temporary")
        s.add(rec.child("bad", fail_after=1))
        s.start()
        gochan.sleep(2.5)
        assert rec.starts("temp") == [0.0] and t.state == "done"
        assert rec.starts("bad") == [0.0, 2.0]
        s.stop()

    vrun(main)


# -- restart intensity -------------------------------------------------------------


@pytest.mark.parametrize("max_restarts", [0, 1, 3, 7])
def test_intensity_fires_at_exactly_the_configured_count(max_restarts: int) -> None:
    starts: list[float] = []

    def always_fails() -> None:
        starts.append(gochan.monotonic())
        gochan.sleep(1)
        panic("again")

    def main() -> None:
        s = sup(max_restarts=max_restarts, period=1000, backoff=0)
        s.add(always_fails)
        s.start()
        try:
            gochan.sleep(1e6)
        finally:
            reports = drain(s.reports)
            actions = [r.action for r in reports]
            assert actions == ["restart"] * max_restarts + ["give up"]
            assert [r.restarts for r in reports] == list(range(max_restarts + 1))

    with pytest.raises(TooManyRestarts) as ei:
        vrun(main)
    assert starts == [float(i) for i in range(max_restarts + 1)]
    err = ei.value
    assert err.supervisor == "root" and err.child == "always_fails"
    assert isinstance(err.__cause__, gochan.Panic) and err.__cause__.value == "again"
    assert str(err) == (
        "supervisor 'root' gave up: child 'always_fails' panicked (Panic: again) after "
        f"{max_restarts} restart(s) within 1000 s"
    )
    assert "raised in goroutine" in err.__notes__[-1]  # fatal at the top, like a panic


def test_intensity_window_slides() -> None:
    # max 2 restarts within 5 s: failures every 2 s would be a 3rd restart
    # inside the window; failures every 3 s never are.
    def run_with(every: float) -> list[float]:
        starts: list[float] = []

        def child() -> None:
            starts.append(gochan.monotonic())
            gochan.sleep(every)
            panic("x")

        def main() -> None:
            s = sup(max_restarts=2, period=5, backoff=0)
            s.add(child)
            s.start()
            gochan.sleep(20.5)
            s.stop()

        vrun(main)
        return starts

    assert run_with(3.0) == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    with pytest.raises(TooManyRestarts):
        run_with(2.0)


def test_a_restart_of_all_counts_once() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup(strategy="one_for_all", max_restarts=1, period=100, backoff=0)
        s.add(rec.child("a"))
        s.add(rec.child("b", fail_after=1))
        s.start()
        gochan.sleep(1.5)  # one failure: a and b restart, one restart counted
        assert rec.starts("a") == [0.0, 1.0] and rec.starts("b") == [0.0, 1.0]
        s.stop()

    vrun(main)


# -- backoff ---------------------------------------------------------------------------


def test_backoff_delays_follow_the_configured_curve() -> None:
    starts: list[float] = []

    def fails_at_once() -> None:
        starts.append(gochan.monotonic())
        panic("x")

    def main() -> None:
        s = sup(max_restarts=100, period=1000, backoff=0.5, backoff_factor=2, backoff_max=3)
        s.add(fails_at_once)
        s.start()
        gochan.sleep(13)
        delays = [r.delay for r in drain(s.reports)]
        assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
        s.stop()

    vrun(main)
    # 0, +0.5, +1, +2, +3 (capped), +3, ...
    assert starts == [0.0, 0.5, 1.5, 3.5, 6.5, 9.5, 12.5]


def test_backoff_starts_again_once_the_child_has_been_healthy_for_a_period() -> None:
    starts: list[float] = []
    lifetimes = iter([0, 0, 20, 0, 0])

    def child() -> None:
        starts.append(gochan.monotonic())
        gochan.sleep(next(lifetimes, 1e9))
        panic("x")

    def main() -> None:
        s = sup(max_restarts=10, period=10, backoff=1, backoff_factor=2)
        s.add(child)
        s.start()
        gochan.sleep(40)
        s.stop()

    vrun(main)
    # delays 1, 2, then 20 s healthy: the window is empty again, so 1, 2, 4.
    assert starts == [0.0, 1.0, 3.0, 24.0, 26.0, 30.0]


def test_jitter_spreads_delays_reproducibly_with_the_seed() -> None:
    def delays(seed: int) -> list[float]:
        out: list[float] = []

        def main() -> None:
            s = Supervisor("root", max_restarts=100, period=1000, backoff=1, jitter=0.5)
            s.add(panic, "x")
            s.start()
            gochan.sleep(200)
            out.extend(r.delay for r in drain(s.reports) if r.delay is not None)
            s.stop()

        vrun(main, seed=seed)
        return out

    a, b, c = delays(1), delays(1), delays(2)
    assert a == b and a != c
    nominal = [min(10.0, 2.0**i) for i in range(len(a))]
    assert all(0.5 * d <= x <= 1.5 * d for x, d in zip(a, nominal, strict=True))
    assert len(set(a)) == len(a)


def test_a_restart_storm_over_ten_virtual_minutes_runs_in_well_under_a_second() -> None:
    count = 0

    def flaky() -> None:
        nonlocal count
        count += 1
        gochan.sleep(0.25)
        panic("storm")

    def main() -> None:
        s = sup(max_restarts=10_000, period=1, backoff=0.25, backoff_max=0.25)
        s.add(flaky)
        s.add(flaky)
        s.start()
        gochan.sleep(599.9)
        s.stop()

    t0 = time.perf_counter()
    vrun(main)
    elapsed = time.perf_counter() - t0
    assert count == 2 * 1200
    assert elapsed < 5.0, f"{count} restarts took {elapsed:.2f} s of real time"


# -- nesting and escalation ---------------------------------------------------------


def test_escalation_reaches_the_root() -> None:
    def leaf() -> None:
        gochan.sleep(1)
        raise ValueError("leaf fault")

    def main() -> None:
        root = sup("root", max_restarts=1, period=1000, backoff=0)
        mid = sup("mid", max_restarts=1, period=1000, backoff=0)
        mid.add(leaf)
        root.add(mid)
        root.start()
        gochan.sleep(1e6)

    with pytest.raises(TooManyRestarts) as ei:
        vrun(main)
    top = ei.value
    assert top.supervisor == "root" and top.child == "mid"
    mid_err = top.__cause__
    assert isinstance(mid_err, TooManyRestarts) and mid_err.supervisor == "root/mid"
    assert isinstance(mid_err.__cause__, ValueError)
    assert str(mid_err.__cause__) == "leaf fault"
    assert gochan.num_goroutine() == 1


def test_a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() -> None:
    rec = Recorder()

    def main() -> None:
        root = sup("root", max_restarts=5, period=1000, backoff=2)
        mid = sup("mid", max_restarts=1, period=1000, backoff=0)
        mid.add(rec.child("leaf", fail_after=1))
        mid.add(rec.child("sibling"))
        root.add(mid)
        root.start()
        gochan.sleep(4.5)
        # leaf fails at 1 (restart), at 2 (mid gives up, stopping sibling),
        # mid restarts at 4 with both children.
        assert rec.starts("leaf") == [0.0, 1.0, 4.0]
        assert rec.starts("sibling") == [0.0, 4.0]
        (r,) = drain(root.reports)
        assert r.child == "mid" and isinstance(r.exception, TooManyRestarts)
        assert [x.action for x in drain(mid.reports)] == ["restart", "give up"]
        root.stop()

    vrun(main)


def test_stop_cancels_children_newest_first_and_waits_for_the_whole_tree() -> None:
    order: list[str] = []

    def child(name: str) -> None:
        try:
            gochan.sleep(1e9)
        finally:
            order.append(name)

    def main() -> None:
        root = sup("root")
        root.add(child, "a")
        inner = sup("inner")
        inner.add(child, "inner.x")
        inner.add(child, "inner.y")
        root.add(inner)
        root.add(child, "b")
        root.start()
        gochan.sleep(1)
        assert gochan.num_goroutine() == 7
        root.stop()
        assert order == ["b", "inner.y", "inner.x", "a"]
        assert gochan.num_goroutine() == 1
        assert [c.state for c in root.children] == ["stopped"] * 3

    vrun(main)


def test_stopping_a_nested_supervisor_removes_it_from_its_parent() -> None:
    rec = Recorder()

    def main() -> None:
        root = sup("root")
        inner = sup("inner")
        inner.add(rec.child("x"))
        c = root.add(inner)
        root.start()
        gochan.sleep(1)
        inner.stop()
        assert c.state == "done" and root.children == []
        assert [e for e in rec.events if e[2] == "cancelled"] == [(1.0, "x", "cancelled")]
        gochan.sleep(10)
        assert rec.starts("x") == [0.0]
        root.stop()

    vrun(main)


def test_supervisor_tree_rules() -> None:
    a, b = Supervisor("a"), Supervisor("b")
    with pytest.raises(ValueError, match="below itself"):
        a.add(a)
    a.add(b)
    with pytest.raises(ValueError, match="below itself"):
        b.add(a)
    with pytest.raises(ValueError, match="already runs elsewhere"):
        Supervisor("c").add(b)
    with pytest.raises(RuntimeError, match="child of supervisor 'a'"):
        b.start()
    with pytest.raises(TypeError, match="takes no arguments"):
        Supervisor("d").add(Supervisor("e"), 1)


# -- running, adding, stopping -------------------------------------------------------


def test_add_while_running_starts_the_child_at_once() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup()
        s.start()
        gochan.sleep(1)
        c = s.add(rec.child("late"))
        gochan.sleep(0.5)
        assert rec.starts("late") == [1.0] and c.state == "running"
        assert c.task is not None and c.task.name == "root/late"
        s.stop()

    vrun(main)


def test_child_names_are_made_unique() -> None:
    s = Supervisor("root")
    names = [s.add(print).name, s.add(print).name, s.add(print, name="p").name]
    assert names == ["print", "print#2", "p"]


def test_serve_in_the_calling_task_until_another_task_stops_it() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup()
        s.add(rec.child("w"))

        def stopper() -> None:
            gochan.sleep(3)
            s.stop()

        go(stopper)
        s.serve()  # returns once stopped
        assert gochan.monotonic() == 3.0
        assert rec.events == [(0.0, "w", "start"), (3.0, "w", "cancelled")]

    vrun(main)


def test_stop_from_the_report_callback_stops_after_it() -> None:
    rec = Recorder()
    holder: list[Supervisor] = []

    def on_report(r: PanicReport) -> None:
        holder[0].stop()

    def main() -> None:
        s = sup(on_report=on_report)
        holder.append(s)
        s.add(rec.child("bad", fail_after=1))
        s.add(rec.child("good"))
        t = s.start()
        t.join()
        assert gochan.monotonic() == 1.0 and rec.starts("bad") == [0.0]

    vrun(main)


def test_start_twice_and_stop_when_not_running() -> None:
    def main() -> None:
        s = sup()
        s.stop()  # not running: nothing to do
        s.start()
        with pytest.raises(RuntimeError, match="already running"):
            s.start()
        s.stop()
        s.stop()
        t = s.start()  # a stopped supervisor can run again
        s.stop()
        assert t.done()

    vrun(main)


def test_a_supervisor_task_cancelled_before_it_ran_can_start_again() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup()
        s.add(rec.child("w"))
        t = s.start()
        t.cancel()  # before it ever ran: it never serves
        gochan.sleep(1)
        assert t.done() and s.task is None
        s.stop()  # nothing to stop
        s.start()
        gochan.sleep(1)
        assert rec.starts("w") == [1.0]
        s.stop()

    vrun(main)


def test_cancelling_the_supervisor_task_cancels_its_children() -> None:
    rec = Recorder()

    def main() -> None:
        s = sup()
        inner = sup("inner")
        inner.add(rec.child("x"))
        s.add(rec.child("a"))
        s.add(inner)
        t = s.start()
        gochan.sleep(1)
        t.cancel()  # prefer stop(): a cancelled task cannot wait for its children
        with pytest.raises(Cancelled):
            t.join()
        gochan.sleep(1)
        assert sorted(n for _, n, e in rec.events if e == "cancelled") == ["a", "x"]
        assert gochan.num_goroutine() == 1

    vrun(main)


def test_an_exception_in_on_report_fails_the_supervisor() -> None:
    def on_report(r: PanicReport) -> None:
        raise RuntimeError("bug in the callback")

    def main() -> None:
        s = sup(on_report=on_report)
        s.add(panic, "x")
        s.add(gochan.sleep, 1e9)
        s.serve()

    with pytest.raises(RuntimeError, match="bug in the callback"):
        vrun(main)


def test_bad_options_are_rejected() -> None:
    for kw in [
        {"strategy": "one_for_some"},
        {"max_restarts": -1},
        {"period": 0},
        {"backoff": -1},
        {"backoff_factor": 0.5},
        {"backoff": 5, "backoff_max": 1},
        {"jitter": 2},
        {"report_buffer": 0},
    ]:
        with pytest.raises(ValueError):
            Supervisor("x", **kw)
    with pytest.raises(ValueError, match="restart must be one of"):
        Supervisor("x").add(print, restart="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a callable"):
        Supervisor("x").add(42)  # type: ignore[arg-type]


def test_options_of_the_wrong_type_raise_type_error_naming_the_option() -> None:
    # A string, a bool or NaN used to pass, or fail inside a comparison
    # ("'>=' not supported between instances of 'str' and 'int'").
    for kw, message in [
        ({"max_restarts": "3"}, r"max_restarts must be an int >= 0 \(math.inf: never give up\)"),
        ({"max_restarts": True}, "max_restarts must be an int"),
        ({"backoff_factor": "2"}, "backoff_factor must be a number, got '2'"),
        ({"backoff_factor": True}, "backoff_factor must be a number, got True"),
        ({"jitter": "0.1"}, "jitter must be a number, got '0.1'"),
        ({"jitter": True}, "jitter must be a number"),
        ({"report_buffer": "1"}, "report_buffer must be an int >= 1, got '1'"),
        ({"report_buffer": 1.5}, "report_buffer must be an int >= 1"),
    ]:
        with pytest.raises(TypeError, match=message):
            Supervisor("x", **kw)
    for kw in [{"max_restarts": math.nan}, {"backoff_factor": math.nan}, {"jitter": math.nan}]:
        with pytest.raises(ValueError, match=r"NaN|nan"):
            Supervisor("x", **kw)


def test_max_restarts_inf_never_gives_up() -> None:
    def main() -> int:
        s = sup(max_restarts=math.inf, period=math.inf, backoff=1.0, backoff_factor=1)
        c = s.add(panic, "again")  # panics at once, is restarted 1 s later, ...
        s.start()
        gochan.sleep(100.5)
        s.stop()
        return c.restarts

    assert vrun(main) == 101  # panics at t = 0, 1, ..., 100: 101 restarts planned


def test_a_backoff_longer_than_the_default_backoff_max_is_accepted() -> None:
    # backoff_max defaults to 10 s; a longer backoff used to be refused
    # unless backoff_max was raised too.
    assert Supervisor("x", backoff=30).backoff_max == 30.0
    assert Supervisor("x", backoff=math.inf).backoff_max == math.inf
    assert Supervisor("x").backoff_max == 10.0

    def main() -> float:
        s = sup(backoff=math.inf)  # a backoff of "never": no restart until stop()
        c = s.add(panic, "once")
        s.start()
        gochan.sleep(3600)
        assert (c.state, c.restarts) == ("restarting", 1)
        s.stop()
        return gochan.monotonic()

    assert vrun(main) == 3600


# -- reports ------------------------------------------------------------------------------


def test_report_fields() -> None:
    got: list[PanicReport] = []

    def worker() -> None:
        gochan.sleep(2)
        raise KeyError("missing")

    def main() -> None:
        s = sup(on_report=got.append, max_restarts=5)
        c = s.add(worker)
        s.start()
        gochan.sleep(1)
        assert c.task is not None
        tid = c.task.id
        gochan.sleep(1.5)
        (r,) = drain(s.reports)
        assert got == [r]
        assert (r.supervisor, r.child, r.task_name, r.task_id) == (
            "root",
            "worker",
            "root/worker",
            tid,
        )
        assert isinstance(r.exception, KeyError)
        assert (r.restarts, r.time, r.action, r.delay) == (0, 2.0, "restart", 1.0)
        assert 'raise KeyError("missing")' in r.traceback
        assert r.traceback.rstrip().endswith("KeyError: 'missing'")
        assert str(r) == "t=2 root/worker panicked: KeyError: 'missing'; restart 1 in 1 s"
        s.stop()

    vrun(main)


def test_reports_never_block_and_keep_the_latest() -> None:
    def main() -> None:
        s = sup(report_buffer=3, max_restarts=100, period=1000, backoff=0.5, backoff_max=0.5)
        s.add(panic, "x")
        s.start()
        gochan.sleep(4.9)  # 10 panics, at 0, 0.5, ..., 4.5; nobody reads
        assert s.dropped_reports == 7
        assert [r.time for r in drain(s.reports)] == [3.5, 4.0, 4.5]
        s.stop()

    vrun(main)


def test_reports_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gochan.supervisor")

    def main() -> None:
        s = sup(max_restarts=1, backoff=0)
        s.add(panic, "bad")
        s.serve()

    with pytest.raises(TooManyRestarts):
        vrun(main)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "t=0 root/panic panicked: Panic: bad; restart 1 in 0 s"),
        ("ERROR", "t=0 root/panic panicked: Panic: bad; too many restarts: giving up"),
    ]


# -- dump() ---------------------------------------------------------------------------------


def test_dump_shows_the_supervision_tree_while_it_runs() -> None:
    def main() -> None:
        root = sup("root", backoff=2)
        root.add(gochan.sleep, 1e9, name="steady")
        root.add(panic, "x", name="flaky")
        inner = sup("inner", strategy="one_for_all")
        inner.add(gochan.sleep, 1e9, name="w")
        root.add(inner, restart="transient")
        root.start()
        gochan.sleep(0.5)
        section = gochan.dump().split("supervision trees:\n")[-1].split("\n\n")[0]
        ids = {c.name: c.task.id for c in root.children if c.task is not None}
        w = inner.children[0].task
        assert w is not None and root.task is not None
        assert section.splitlines() == [
            f"  supervisor 'root' [running] one_for_one, restarts 1/3 in 5 s, "
            f"goroutine {root.task.id}",
            f"    'steady' [running] permanent, restarts 0, goroutine {ids['steady']}",
            "    'flaky' [restarting in 1.50 s] permanent, restarts 1",
            f"    supervisor 'root/inner' [running] transient, one_for_all, "
            f"restarts 0/3 in 5 s, goroutine {ids['inner']}",
            f"      'w' [running] permanent, restarts 0, goroutine {w.id}",
        ]
        root.stop()
        assert "\nsupervision trees:\n" not in gochan.dump()

    vrun(main)


def test_finished_supervisors_leave_the_registry() -> None:
    from gochan import supervisor as module

    def main() -> None:
        s = sup()
        s.start()
        gochan.gosched()
        assert s in set(module._registry)
        s.stop()
        assert s not in set(module._registry)

    vrun(main)
    gc.collect()
    assert not list(module._registry)


# -- supervise() ------------------------------------------------------------------------


def test_supervise_retries_until_the_function_returns() -> None:
    tries: list[float] = []

    def flaky(need: int) -> None:
        tries.append(gochan.monotonic())
        if len(tries) < need:
            raise ConnectionError("try again")

    def main() -> None:
        s = supervise(flaky, 4, backoff=1, jitter=0)
        s.join()
        assert gochan.num_goroutine() == 1
        assert [r.action for r in drain(s.reports)] == ["restart"] * 3

    vrun(main)
    assert tries == [0.0, 1.0, 3.0, 7.0]


def test_supervise_gives_up_like_a_supervisor() -> None:
    def main() -> None:
        supervise(panic, "always", max_restarts=2, backoff=0).join()

    with pytest.raises(TooManyRestarts, match="after 2 restart"):
        vrun(main)


def test_supervise_can_be_stopped() -> None:
    def main() -> None:
        s = supervise(gochan.sleep, 1e9, name="sleeper")
        gochan.sleep(1)
        assert s.task is not None and s.task.name == "sleeper"
        s.stop()
        assert gochan.num_goroutine() == 1

    vrun(main)


def test_reprs() -> None:
    s = Supervisor("root")
    c = s.add(print, restart="transient")
    assert repr(s) == "<Supervisor 'root' [stopped] one_for_one children=1>"
    assert repr(c) == "<Child 'print' transient [waiting] restarts=0>"
