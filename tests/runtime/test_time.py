"""Time: sleep, after, tick, Timer (Go 1.23 stop/reset), Ticker (drops
ticks), after_func, monotonic, the virtual clock. All on virtual time."""

from __future__ import annotations

import time

import pytest

import gochan
from gochan import Chan, Ticker, Timer, go, run


def vrun(main, /, *args, **kwargs):  # type: ignore[no-untyped-def]
    return run(main, *args, clock="virtual", **kwargs)


def test_virtual_sleep_of_an_hour_takes_no_wall_time() -> None:
    t0 = time.monotonic()
    assert vrun(lambda: (gochan.sleep(3600), gochan.monotonic())[1]) == 3600.0
    assert time.monotonic() - t0 < 30  # a safety net, not a speed claim


def test_sleep_zero_or_negative_returns_at_once() -> None:
    def main() -> float:
        gochan.sleep(0)
        gochan.sleep(-5)
        return gochan.monotonic()

    assert vrun(main) == 0.0


def test_sleepers_wake_in_deadline_order() -> None:
    def main() -> list[int]:
        out = Chan[int](5)
        for d in (3, 1, 2, 5, 4):
            go(lambda d: (gochan.sleep(d), out.send(d)), d)
        return [out.recv() for _ in range(5)]  # type: ignore[misc]

    assert vrun(main) == [1, 2, 3, 4, 5]


def test_after_delivers_firing_time_once() -> None:
    def main() -> None:
        c = gochan.after(2.5)
        assert c.recv() == 2.5
        assert gochan.select(c.recv, gochan.default) == (1, None)

    vrun(main)


def test_timeout_pattern() -> None:
    def main() -> tuple[int, object]:
        never = Chan[int]()
        return gochan.select(never.recv, gochan.after(1).recv)

    assert vrun(main) == (1, 1.0)


def test_timer_stop_before_fire() -> None:
    def main() -> None:
        t = Timer(5)
        assert t.stop() is True
        assert t.stop() is False
        assert gochan.select(t.c.recv, gochan.after(10).recv)[0] == 1  # never fires

    vrun(main)


def test_timer_stop_after_fire_and_receive_is_false() -> None:
    def main() -> None:
        t = Timer(1)
        assert t.c.recv() == 1.0
        assert t.stop() is False
        assert t.reset(1) is False

    vrun(main)


def test_timer_fired_but_unreceived_counts_as_active_and_is_drained() -> None:
    # Go 1.23: no stale value after Stop/Reset; Stop reports True.
    def main() -> None:
        t = Timer(1)
        gochan.sleep(2)  # fired into c, nobody received
        assert t.stop() is True
        assert gochan.select(t.c.recv, gochan.default) == (1, None)  # no stale value
        t.reset(3)
        gochan.sleep(1)
        assert t.reset(1) is True  # still pending
        assert t.c.recv() == 4.0

    vrun(main)


def test_timer_reset_reschedules() -> None:
    def main() -> float:
        t = Timer(10)
        gochan.sleep(1)
        assert t.reset(2) is True
        return t.c.recv()

    assert vrun(main) == 3.0


def test_timer_negative_duration_fires_immediately() -> None:
    assert vrun(lambda: Timer(-1).c.recv()) == 0.0


def test_ticker_ticks_on_schedule() -> None:
    def main() -> list[float]:
        t = Ticker(1)
        got = [t.c.recv() for _ in range(3)]
        t.stop()
        return got

    assert vrun(main) == [1.0, 2.0, 3.0]


def test_ticker_drops_ticks_for_a_slow_reader() -> None:
    def main() -> list[float]:
        t = Ticker(1)
        gochan.sleep(5.5)  # ticks at 1..5: only the first stays buffered (cap 1)
        got = [t.c.recv(), t.c.recv()]
        t.stop()
        return got

    assert vrun(main) == [1.0, 6.0]


def test_ticker_stop_and_reset() -> None:
    def main() -> None:
        t = Ticker(1)
        assert t.c.recv() == 1.0
        t.stop()
        assert gochan.select(t.c.recv, gochan.after(5).recv)[0] == 1
        t.reset(2)  # now at 6.0: next tick at 8.0
        assert t.c.recv() == 8.0
        t.stop()

    vrun(main)


def test_ticker_rejects_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        vrun(Ticker, 0)


def test_tick_of_non_positive_is_nil_channel() -> None:
    def main() -> None:
        assert gochan.tick(0) is gochan.nilchan
        c = gochan.tick(2)
        assert [c.recv(), c.recv()] == [2.0, 4.0]

    vrun(main)


def test_after_func_runs_in_its_own_task_and_can_be_stopped() -> None:
    def main() -> None:
        ran = Chan[str](2)
        t1 = gochan.after_func(1, lambda: ran.send(gochan.current().name))
        t2 = gochan.after_func(2, lambda: ran.send("should not run"))
        assert t1.c is gochan.nilchan
        assert t2.stop() is True
        assert ran.recv() != "main"
        gochan.sleep(5)
        assert len(ran) == 0
        assert t1.stop() is False

    vrun(main)


def test_monotonic_outside_any_scheduler_is_wall_monotonic() -> None:
    a = gochan.monotonic()
    assert abs(a - time.monotonic()) < 60


def test_duration_type_errors() -> None:
    def main() -> None:
        with pytest.raises(TypeError, match="seconds"):
            gochan.sleep("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="seconds"):
            Timer(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="callable"):
            gochan.after_func(1, 3)  # type: ignore[arg-type]

    vrun(main)


def test_real_clock_sleep_really_waits_a_little() -> None:
    # Not a speed claim: only that real time passes and ordering holds.
    def main() -> float:
        t0 = gochan.monotonic()
        gochan.sleep(0.01)
        return gochan.monotonic() - t0

    assert run(main) >= 0.01


def test_virtual_time_only_moves_when_all_tasks_block() -> None:
    def main() -> list[float]:
        stamps = []

        def busy() -> None:
            for _ in range(100):
                stamps.append(gochan.monotonic())
                gochan.gosched()

        t = go(busy)
        gochan.sleep(1)  # cannot fire while busy keeps the run queue non-empty
        stamps.append(gochan.monotonic())
        t.join()
        return stamps

    stamps = vrun(main)
    assert stamps[:100] == [0.0] * 100 and stamps[-1] == 1.0


def test_ticker_deadlines_do_not_drift_in_floating_point() -> None:
    """Ten ticks of Ticker(0.1) land at 0.1, 0.2, ... 1.0 exactly (Go counts
    whole nanoseconds; adding 0.1 ten times in floats gives 0.9999999999999999),
    so a tick and an after() set for the same instant are due together."""

    def main() -> list[float]:
        ticker = gochan.Ticker(0.1)
        at = []
        for _ in range(10):
            ticker.c.recv()
            at.append(gochan.monotonic())
        ticker.stop()
        return at

    assert vrun(main) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
