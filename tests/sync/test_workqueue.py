"""gochan.workqueue: client-go's util/workqueue tests, ported, and more.

What this proves:

* The queue behaves as client-go's does in its own tests (queue_test.go,
  delaying_queue_test.go, rate_limiting_queue_test.go,
  default_rate_limiters_test.go, metrics_test.go); each port names its Go
  test in a comment. client-go steps a fake clock; here the virtual clock
  plays that part (``gochan.sleep(dt)`` is ``fakeClock.Step(dt)``), and
  instead of polling ``Len()`` with real sleeps, ``settle()`` returns once
  every other task is blocked.
* A hypothesis model test: random programs of add / get / done / stray
  done / add_after / time steps / shut_down, run by several worker tasks,
  match a plain reference model step by step (FIFO hand-out, stingy
  processing, coalescing, re-queue after done, earliest delay wins,
  shutdown); no key is ever held by two workers; every accepted add is
  followed by a get of its key; and shut_down_with_drain returns exactly
  once nothing is in flight.
* Producers and workers on several OS threads: nothing lost, nothing held
  twice, ``add_after`` from a foreign thread fires on the queue's scheduler.
* Cancellation of a waiting worker loses no key; bad input raises clear
  errors; a ``done`` of a key not in flight is ignored, counted, and never
  queues a key twice (client-go's can).
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gochan
from gochan import Chan, WaitGroup, go, run
from gochan.testing import wait_all_blocked
from gochan.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    Metrics,
    MetricsProvider,
    Queue,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)

SAFETY = 60.0  # seconds; a safety net for thread joins, never an assertion about speed


def settle() -> None:
    """Returns once every other task of this thread is blocked (time stands still)."""
    wait_all_blocked()


def vrun(main: Any, *args: Any) -> Any:
    return run(main, *args, clock="virtual")


@pytest.fixture
def gil_ping_pong() -> Iterator[None]:
    """Switch OS threads every few microseconds so that threads interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class Stingy:
    """Records which keys workers hold; fails if two hold one key at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[Any] = set()
        self.processed: list[Any] = []

    def begin(self, key: Any) -> None:
        with self.lock:
            assert key not in self.active, f"{key!r} processed by two workers at once"
            self.active.add(key)
            self.processed.append(key)

    def end(self, key: Any) -> None:
        with self.lock:
            self.active.discard(key)


# ---------------------------------------------------------------------------
# queue_test.go
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shutdown", ["shut_down", "shut_down_with_drain"])
def test_basic(shutdown: str) -> None:
    # TestBasic: 50 producers, 10 consumers; nothing added after shutdown is seen.
    def main() -> None:
        q: Queue[Any] = Queue()
        stingy = Stingy()
        producers, consumers = WaitGroup(), WaitGroup()

        def produce(i: int) -> None:
            for _ in range(50):
                q.add(i)
                gochan.sleep(0.001)

        def consume() -> None:
            while True:
                item, quit = q.get()
                assert item != "added after shutdown!"
                if quit:
                    return
                stingy.begin(item)
                gochan.sleep(0.003)
                stingy.end(item)
                q.done(item)

        for i in range(50):
            producers.go(produce, i)
        for _ in range(10):
            consumers.go(consume)
        producers.wait()
        getattr(q, shutdown)()
        q.add("added after shutdown!")
        consumers.wait()
        assert q.len() == 0
        assert set(stingy.processed) == set(range(50))
        q._check_invariants()

    vrun(main)


@pytest.mark.parametrize("shutdown", ["shut_down", "shut_down_with_drain"])
def test_add_while_processing(shutdown: str) -> None:
    # TestAddWhileProcessing: every worker re-adds each key it sees, up to twice.
    def main() -> None:
        q: Queue[int] = Queue()
        stingy = Stingy()
        producers, consumers = WaitGroup(), WaitGroup()
        for i in range(50):
            producers.go(q.add, i)

        def consume() -> None:
            counters: dict[int, int] = {}
            while True:
                item, quit = q.get()
                if quit:
                    return
                assert item is not None
                stingy.begin(item)
                counters[item] = counters.get(item, 0) + 1
                if counters[item] < 2:
                    q.add(item)  # dirty while processing
                gochan.gosched()
                stingy.end(item)
                q.done(item)

        for _ in range(10):
            consumers.go(consume)
        producers.wait()
        getattr(q, shutdown)()
        consumers.wait()
        assert q.len() == 0
        q._check_invariants()

    vrun(main)


def test_len() -> None:
    # TestLen
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        assert q.len() == 1
        q.add("bar")
        assert q.len() == 2
        q.add("foo")  # should not increase the queue length
        assert q.len() == len(q) == 2

    vrun(main)


def test_reinsert() -> None:
    # TestReinsert
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        i, _ = q.get()
        assert i == "foo"
        q.add("foo")  # add it back while processing
        q.done("foo")
        i, _ = q.get()  # it is back on the queue
        assert i == "foo"
        q.done("foo")
        assert q.len() == 0

    vrun(main)


def test_collapse() -> None:
    # TestCollapse (client-go also checks its Touch hook, which gochan does not have)
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("bar")
        q.add("bar")
        assert q.get() == ("bar", False)
        q.done("bar")
        assert q.len() == 0

    vrun(main)


def test_collapse_while_processing() -> None:
    # TestCollapseWhileProcessing
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        assert q.get() == ("foo", False)
        q.add("foo")
        q.add("foo")
        got: list[Any] = []

        def other_worker() -> None:
            key, _ = q.get()
            got.append(key)
            q.done("foo")

        t = go(other_worker)
        settle()
        assert not t.done(), "the other worker must wait until we are done"
        q.done("foo")
        t.join()
        assert got == ["foo"]
        assert q.len() == 0

    vrun(main)


def test_queue_drainage_using_shut_down_with_drain() -> None:
    # TestQueueDrainageUsingShutDownWithDrain
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        q.add("bar")
        first, _ = q.get()
        second, _ = q.get()
        assert (first, second) == ("foo", "bar")
        drain = go(q.shut_down_with_drain)
        shutting_down = False
        while not shutting_down:
            _, shutting_down = q.get()
        settle()
        assert not drain.done(), "must wait for the two keys in flight"
        q.done("foo")
        settle()
        assert not drain.done()
        q.done("bar")
        drain.join()

    vrun(main)


def test_no_queue_drainage_using_shut_down() -> None:
    # TestNoQueueDrainageUsingShutDown: shut_down does not wait for keys in flight.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        q.add("bar")
        q.get()
        q.get()
        go(q.shut_down).join()
        assert q.metrics().in_flight == 2

    vrun(main)


def test_force_queue_shutdown_using_shut_down() -> None:
    # TestForceQueueShutdownUsingShutDown: a later shut_down ends a drain wait.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        q.add("bar")
        q.get()
        q.get()
        drain = go(q.shut_down_with_drain)
        shutting_down = False
        while not shutting_down:
            _, shutting_down = q.get()
        settle()
        assert not drain.done()
        q.shut_down()
        drain.join()

    vrun(main)


def test_queue_drainage_using_shut_down_with_drain_with_dirty_item() -> None:
    # TestQueueDrainageUsingShutDownWithDrainWithDirtyItem
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("foo")
        gotten, _ = q.get()
        assert gotten == "foo"
        q.add("foo")  # dirty while in flight
        drain = go(q.shut_down_with_drain)
        shutting_down = False
        while not shutting_down:
            _, shutting_down = q.get()
        q.done("foo")  # the dirty key goes back on the queue, shutdown or not
        again, shutting_down = q.get()
        assert (again, shutting_down) == ("foo", False)
        q.done("foo")
        assert q.get() == (None, True)  # now we are really done
        drain.join()

    vrun(main)


def test_garbage_collection() -> None:
    # TestGarbageCollection: a key that went through the queue is not kept alive.
    class Big:
        pass

    def main() -> weakref.ref[Big]:
        q: Queue[Big] = Queue()
        obj = Big()
        ref = weakref.ref(obj)
        q.add(obj)
        key, _ = q.get()
        assert key is not None
        q.done(key)
        del obj, key
        gc.collect()
        return ref

    assert vrun(main)() is None


# ---------------------------------------------------------------------------
# metrics_test.go
# ---------------------------------------------------------------------------


class Recorder:
    """A test metric: every kind at once, like client-go's testMetric."""

    def __init__(self) -> None:
        self.incs = self.decs = 0
        self.value: float | None = None
        self.observations: list[float] = []

    def inc(self) -> None:
        self.incs += 1

    def dec(self) -> None:
        self.decs += 1

    def set(self, value: float) -> None:
        self.value = value

    def observe(self, value: float) -> None:
        self.observations.append(value)

    @property
    def gauge(self) -> float:
        return self.value if self.value is not None else float(self.incs - self.decs)


class RecordingProvider(MetricsProvider):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.depth, self.adds, self.latency, self.duration = (Recorder() for _ in range(4))
        self.unfinished, self.longest, self.retries = (Recorder() for _ in range(3))

    def _named(self, name: str, r: Recorder) -> Recorder:
        self.names.add(name)
        return r

    def new_depth_metric(self, name: str) -> Recorder:
        return self._named(name, self.depth)

    def new_adds_metric(self, name: str) -> Recorder:
        return self._named(name, self.adds)

    def new_latency_metric(self, name: str) -> Recorder:
        return self._named(name, self.latency)

    def new_work_duration_metric(self, name: str) -> Recorder:
        return self._named(name, self.duration)

    def new_unfinished_work_seconds_metric(self, name: str) -> Recorder:
        return self._named(name, self.unfinished)

    def new_longest_running_processor_seconds_metric(self, name: str) -> Recorder:
        return self._named(name, self.longest)

    def new_retries_metric(self, name: str) -> Recorder:
        return self._named(name, self.retries)


def test_metrics() -> None:
    # TestMetrics: adds, depth, latency, work duration, unfinished work, longest.
    def main() -> None:
        mp = RecordingProvider()
        q: Queue[str] = Queue("test", metrics_provider=mp, unfinished_work_update_period=0.001)
        assert mp.names == {"test"}
        q.add("foo")
        assert (mp.adds.gauge, mp.depth.gauge) == (1.0, 1.0)
        gochan.sleep(50e-6)
        assert q.get() == ("foo", False)
        assert mp.latency.observations == [pytest.approx(5e-05)]
        for _ in range(5):  # added back while processing: de-duplicated
            q.add("foo")
        assert (mp.adds.gauge, mp.depth.gauge) == (2.0, 1.0)  # one thing remains queued
        gochan.sleep(25e-6)
        q.done("foo")
        assert mp.duration.observations == [pytest.approx(2.5e-05)]
        assert mp.depth.gauge == 1.0
        assert q.get() == ("foo", False)
        assert mp.latency.observations[1] == pytest.approx(2.5e-05)
        gochan.sleep(0.001)
        # The updater task ticked at t = 1 ms, when "foo" had been in flight
        # since t = 75 us (client-go's fake clock updates at the end of the step).
        assert mp.unfinished.gauge == pytest.approx(0.001 - 75e-6)
        assert mp.longest.gauge == pytest.approx(0.001 - 75e-6)
        snap = q.metrics()  # a snapshot is exact: taken now
        assert snap.unfinished_work_seconds == pytest.approx(0.001)
        assert snap.longest_running_processor_seconds == pytest.approx(0.001)
        q.done("foo")
        assert mp.duration.observations[1] == pytest.approx(0.001)
        q.add_after("bar", 1)
        assert mp.retries.incs == 1
        q.shut_down()

    vrun(main)


def test_metric_shutdown() -> None:
    # TestMetricShutdown: the unfinished-work updater stops at shutdown.
    def main() -> None:
        mp = RecordingProvider()
        q: Queue[str] = Queue("q", metrics_provider=mp, unfinished_work_update_period=0.001)
        assert gochan.num_goroutine() == 2  # main and the updater
        q.add("a")
        q.get()
        gochan.sleep(0.0015)
        assert mp.unfinished.gauge == pytest.approx(0.001)
        q.shut_down()
        settle()
        assert gochan.num_goroutine() == 1
        gochan.sleep(3600)
        assert mp.unfinished.gauge == pytest.approx(0.001)  # no update after shutdown

    vrun(main)


def test_metrics_snapshot() -> None:
    def main() -> Metrics:
        q: Queue[str] = Queue()
        q.add("a")
        q.add("b")
        gochan.sleep(1)
        q.get()  # a: waited 1 s
        gochan.sleep(2)
        q.get()  # b: waited 3 s
        gochan.sleep(4)
        q.done("a")  # a: 6 s in flight
        q.add_after("c", 10)
        q.done("zzz")  # not in flight: ignored, counted
        return q.metrics()

    m = vrun(main)
    assert (m.depth, m.adds, m.in_flight, m.delayed, m.retries) == (0, 2, 1, 1, 1)
    assert (m.queue_latency.count, m.queue_latency.total, m.queue_latency.max) == (2, 4.0, 3.0)
    assert m.queue_latency.mean == 2.0
    assert (m.work_duration.count, m.work_duration.max) == (1, 6.0)
    assert m.unfinished_work_seconds == m.longest_running_processor_seconds == 4.0
    assert m.ignored_dones == 1 and not m.shutting_down


# ---------------------------------------------------------------------------
# delaying_queue_test.go
# ---------------------------------------------------------------------------


def test_simple_queue() -> None:
    # TestSimpleQueue
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("foo", 0.050)
        settle()
        assert q.len() == 0
        gochan.sleep(0.060)
        assert q.len() == 1
        key, _ = q.get()
        assert key == "foo"
        q.done("foo")
        gochan.sleep(10)  # past client-go's heartbeat: nothing more is added
        assert q.len() == 0

    vrun(main)


def test_deduping() -> None:
    # TestDeduping: a waiting key keeps its earliest time.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("foo", 0.050)
        q.add_after("foo", 0.070)  # later: dropped
        assert q.len() == 0
        gochan.sleep(0.060)
        assert q.len() == 1
        q.done(q.get()[0] or "")
        gochan.sleep(0.020)  # past the second add_after: nothing
        assert q.len() == 0
        # Again, but this time the earlier one overrides.
        q.add_after("foo", 0.050)
        q.add_after("foo", 0.030)
        assert q.len() == 0
        gochan.sleep(0.040)
        assert q.len() == 1
        q.done(q.get()[0] or "")
        gochan.sleep(0.020)  # past the first add_after: it was replaced
        assert q.len() == 0

    vrun(main)


def test_add_two_fire_early() -> None:
    # TestAddTwoFireEarly
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("foo", 1)
        q.add_after("bar", 0.050)
        assert q.len() == 0
        gochan.sleep(0.060)
        assert q.len() == 1
        assert q.get()[0] == "bar"
        q.add_after("baz", 2)
        gochan.sleep(1)
        assert q.len() == 1
        assert q.get()[0] == "foo"
        gochan.sleep(2)
        assert q.len() == 1
        assert q.get()[0] == "baz"

    vrun(main)


def test_copy_shifting() -> None:
    # TestCopyShifting: keys that fall due together are queued in due order.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("foo", 1)
        q.add_after("bar", 0.5)
        q.add_after("baz", 0.25)
        assert q.len() == 0
        gochan.sleep(2)
        assert q.len() == 3
        assert [q.get()[0] for _ in range(3)] == ["baz", "bar", "foo"]

    vrun(main)


def test_add_after_wakes_a_waiting_worker_on_time() -> None:
    def main() -> list[tuple[str, float]]:
        q: Queue[str] = Queue()
        got: list[tuple[str, float]] = []

        def worker() -> None:
            for key in q:
                got.append((key, gochan.monotonic()))
                q.done(key)

        t = go(worker)
        q.add_after("a", 3)
        q.add_after("b", 1.5)
        q.add_after("c", 0)  # zero: added now
        gochan.sleep(5)
        q.shut_down()
        t.join()
        return got

    assert vrun(main) == [("c", 0.0), ("b", 1.5), ("a", 3.0)]


def test_shut_down_stops_pending_delays() -> None:
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("a", 1)
        q.add_after("b", 2)
        assert q.metrics().delayed == 2
        q.shut_down()
        assert q.metrics().delayed == 0
        q.add_after("c", 1)  # ignored, and not counted as a retry
        gochan.sleep(10)
        assert q.get() == (None, True)
        assert q.metrics().retries == 2
        q._check_invariants()

    vrun(main)


def test_plain_add_does_not_cancel_a_delay() -> None:
    # client-go: the delayed add still happens, and re-queues the key if it was processed.
    def main() -> list[Any]:
        q: Queue[str] = Queue()
        q.add_after("a", 1)
        q.add("a")
        first = q.get()
        q.done("a")
        gochan.sleep(1)
        return [first, q.get()]

    assert vrun(main) == [("a", False), ("a", False)]


def test_no_task_is_left_behind() -> None:
    # Delays use the scheduler's timers, not a waiting-loop task: nothing lingers.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("a", 1)
        assert gochan.num_goroutine() == 1
        gochan.sleep(2)
        settle()
        assert gochan.num_goroutine() == 1
        assert q.len() == 1

    vrun(main)


def test_deadlock_is_still_reported() -> None:
    # A worker waiting on a queue nobody feeds is a deadlock, as in Go.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add_after("a", 1)
        q.get()
        q.get()  # nothing else will ever come

    with pytest.raises(gochan.Deadlock, match=r"sync\.Cond\.Wait"):
        vrun(main)


# ---------------------------------------------------------------------------
# rate_limiting_queue_test.go
# ---------------------------------------------------------------------------


def test_rate_limiting_queue() -> None:
    # TestRateLimitingQueue: delays from the limiter, num_requeues, forget.
    def main() -> None:
        q: Queue[str] = Queue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 1))

        def requeue_delay(key: str) -> float:
            """add_rate_limited, then how long until the key is queued."""
            start = gochan.monotonic()
            q.add_rate_limited(key)
            got, _ = q.get()
            assert got == key
            q.done(key)
            return gochan.monotonic() - start

        assert requeue_delay("one") == pytest.approx(0.001)
        assert requeue_delay("one") == pytest.approx(0.002)
        assert q.num_requeues("one") == 2
        assert requeue_delay("two") == pytest.approx(0.001)
        assert requeue_delay("two") == pytest.approx(0.002)
        q.forget("one")
        assert q.num_requeues("one") == 0
        assert requeue_delay("one") == pytest.approx(0.001)
        assert q.metrics().retries == 5

    vrun(main)


def test_default_rate_limiter_is_client_gos() -> None:
    def main() -> None:
        q: Queue[str] = Queue()
        r = q.rate_limiter
        assert repr(r) == repr(default_controller_rate_limiter())
        assert isinstance(r, MaxOfRateLimiter)
        exp, bucket = r.limiters
        assert isinstance(exp, ItemExponentialFailureRateLimiter)
        assert (exp.base, exp.max) == (0.005, 1000.0)
        assert isinstance(bucket, BucketRateLimiter)
        assert (bucket.qps, bucket.burst) == (10.0, 100)
        # 100 distinct failing keys: the per-key 5 ms wins; then the bucket.
        delays = [r.when(f"k{i}") for i in range(102)]
        assert delays[:100] == [0.005] * 100
        assert delays[100:] == [pytest.approx(0.1), pytest.approx(0.2)]

    vrun(main)


# ---------------------------------------------------------------------------
# default_rate_limiters_test.go
# ---------------------------------------------------------------------------


def test_item_exponential_failure_rate_limiter() -> None:
    # TestItemExponentialFailureRateLimiter
    r = ItemExponentialFailureRateLimiter(0.001, 1)
    assert [r.when("one") for _ in range(5)] == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert r.num_requeues("one") == 5
    assert [r.when("two") for _ in range(2)] == [0.001, 0.002]
    assert r.num_requeues("two") == 2
    r.forget("one")
    assert r.num_requeues("one") == 0
    assert r.when("one") == 0.001


def test_item_exponential_failure_rate_limiter_overflow() -> None:
    # TestItemExponentialFailureRateLimiterOverFlow
    r = ItemExponentialFailureRateLimiter(0.001, 1000)
    for _ in range(5):
        r.when("one")
    assert r.when("one") == 0.032
    for _ in range(1000):
        r.when("overflow1")
    assert r.when("overflow1") == 1000
    r = ItemExponentialFailureRateLimiter(60, 1000 * 3600)
    for _ in range(2):
        r.when("two")
    assert r.when("two") == 4 * 60
    for _ in range(1100):  # past 2.0**1024, where float pow overflows
        r.when("overflow2")
    assert r.when("overflow2") == 1000 * 3600


def test_item_fast_slow_rate_limiter() -> None:
    # TestItemFastSlowRateLimiter
    r = ItemFastSlowRateLimiter(0.005, 10, 3)
    assert [r.when("one") for _ in range(5)] == [0.005, 0.005, 0.005, 10, 10]
    assert r.num_requeues("one") == 5
    assert [r.when("two") for _ in range(2)] == [0.005, 0.005]
    assert r.num_requeues("two") == 2
    r.forget("one")
    assert r.num_requeues("one") == 0
    assert r.when("one") == 0.005


def test_max_of_rate_limiter() -> None:
    # TestMaxOfRateLimiter
    r = MaxOfRateLimiter(
        ItemFastSlowRateLimiter(0.005, 3, 3),
        ItemExponentialFailureRateLimiter(0.001, 1),
    )
    assert [r.when("one") for _ in range(5)] == [0.005, 0.005, 0.005, 3, 3]
    assert r.num_requeues("one") == 5
    assert [r.when("two") for _ in range(2)] == [0.005, 0.005]
    assert r.num_requeues("two") == 2
    r.forget("one")
    assert r.num_requeues("one") == 0
    assert r.when("one") == 0.005


class StepRateLimiter:
    """client-go's test helper: base delay for the first ``threshold`` calls."""

    def __init__(self, base: float, max: float, threshold: int) -> None:
        self.base, self.max, self.threshold, self.count = base, max, threshold, 0

    def when(self, key: Any) -> float:
        self.count += 1
        return self.base if self.count <= self.threshold else self.max

    def forget(self, key: Any) -> None:
        pass

    def num_requeues(self, key: Any) -> int:
        return 0


def test_with_max_wait_rate_limiter() -> None:
    # TestWithMaxWaitRateLimiter
    r = WithMaxWaitRateLimiter(StepRateLimiter(0.005, 1000, 100), 500)
    assert [r.when(i) for i in range(100)] == [0.005] * 100
    assert [r.when(i) for i in range(100, 200)] == [500] * 100


def test_bucket_rate_limiter() -> None:
    # x/time/rate's Reserve().Delay() semantics (client-go has no test of its own).
    def main() -> None:
        r = BucketRateLimiter(qps=10, burst=3)
        assert [r.when(i) for i in range(3)] == [0.0, 0.0, 0.0]  # starts full
        assert [r.when(i) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])  # borrowed
        gochan.sleep(0.3)  # repays the debt; the bucket is empty again
        assert r.when("x") == pytest.approx(0.1)
        gochan.sleep(60)  # refills, but never past the burst
        assert [r.when(i) for i in range(4)] == pytest.approx([0, 0, 0, 0.1])
        assert r.num_requeues("x") == 0
        r.forget("x")  # no-op: not per key
        unlimited = BucketRateLimiter(qps=math.inf, burst=1)
        assert [unlimited.when(i) for i in range(5)] == [0.0] * 5

    vrun(main)


def test_bucket_rate_limiter_across_threads(gil_ping_pong: None) -> None:
    # One token per reservation, however many threads reserve at once.
    r = BucketRateLimiter(qps=1e-9, burst=1000)  # effectively no refill

    def reserve() -> None:
        for i in range(250):
            r.when(i)

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SAFETY)
    assert 0 < r.when("one more") <= 1.5e9  # the bucket is spent: ~1/qps


# ---------------------------------------------------------------------------
# Bad input, misuse, cancellation
# ---------------------------------------------------------------------------


def test_bad_input_raises_clear_errors() -> None:
    def main() -> None:
        q: Queue[Any] = Queue()
        with pytest.raises(ValueError, match=r"add_after\(\) needs a delay >= 0"):
            q.add_after("a", -1)
        with pytest.raises(ValueError, match=r"add_after\(\) got NaN"):
            q.add_after("a", math.nan)
        with pytest.raises(TypeError, match="duration in seconds"):
            q.add_after("a", True)
        with pytest.raises(TypeError, match="duration in seconds"):
            q.add_after("a", "1s")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="None cannot be a workqueue key"):
            q.add(None)
        with pytest.raises(TypeError, match="must be hashable"):
            q.add(["not", "hashable"])
        with pytest.raises(TypeError, match="must be hashable"):
            q.add_rate_limited({})
        assert q.metrics().retries == 0  # nothing above was accepted

    vrun(main)
    with pytest.raises(TypeError, match="is not a rate limiter"):
        Queue(rate_limiter=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not a rate limiter"):
        MaxOfRateLimiter(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()
    with pytest.raises(ValueError, match="qps"):
        BucketRateLimiter(qps=0)
    with pytest.raises(ValueError, match="burst"):
        BucketRateLimiter(burst=0)
    with pytest.raises(TypeError, match="burst"):
        BucketRateLimiter(burst=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base"):
        ItemExponentialFailureRateLimiter(base=-1)
    with pytest.raises(ValueError, match="max_fast_attempts"):
        ItemFastSlowRateLimiter(1, 2, -1)
    with pytest.raises(TypeError, match="name"):
        Queue(name=3)  # type: ignore[arg-type]


def test_done_of_a_key_not_in_flight_is_ignored_and_counted() -> None:
    # client-go's Done of a queued (dirty, not in flight) key queues it a second
    # time, so two workers could get it at once. Here it changes nothing.
    def main() -> None:
        q: Queue[str] = Queue()
        q.add("a")
        q.done("a")  # queued, not in flight
        q.done("never-added")
        assert q.len() == 1
        q._check_invariants()
        assert q.get() == ("a", False)
        q.done("a")
        q.done("a")  # a second done
        assert q.metrics().ignored_dones == 3
        q.shut_down()
        assert q.get() == (None, True)

    vrun(main)


@pytest.mark.parametrize("cancel_first", [True, False])
def test_cancelled_waiting_worker_loses_no_key(cancel_first: bool) -> None:
    # Cancelled while parked in get(): it leaves the wait, the key goes to the
    # other worker. Cancelled just after add() signalled it: cancellation is
    # delivered at its next blocking point, so it still takes the key.
    def main() -> None:
        q: Queue[str] = Queue()
        got: list[tuple[int, str]] = []

        def worker(i: int) -> None:
            key, _ = q.get()
            assert key is not None
            got.append((i, key))
            q.done(key)

        first, second = go(worker, 1), go(worker, 2)
        settle()
        if cancel_first:
            first.cancel()
            settle()
            q.add("a")
        else:
            q.add("a")  # signals the first waiter ...
            first.cancel()  # ... before it runs again
        settle()
        if cancel_first:
            assert got == [(2, "a")] and first.cancelled() and second.done()
        else:
            assert got == [(1, "a")] and first.done() and not second.done()
            second.cancel()
            settle()
        assert q.metrics().in_flight == 0
        q._check_invariants()

    vrun(main)


def test_shutdown_wakes_every_waiting_worker() -> None:
    def main() -> None:
        q: Queue[str] = Queue()
        results = Chan[tuple[Any, bool]](10)
        for _ in range(5):
            go(lambda: results.send(q.get()))
        settle()
        assert q.shutting_down() is False
        q.shut_down()
        q.shut_down()  # again: harmless
        assert q.shutting_down() is True
        assert [results.recv() for _ in range(5)] == [(None, True)] * 5

    vrun(main)


def test_repr_and_truthiness() -> None:
    def main() -> None:
        q: Queue[str] = Queue("pods")
        assert q and len(q) == 0  # an empty queue is still truthy
        q.add("a")
        q.add("b")
        q.get()
        q.add_after("c", 1)
        assert repr(q) == "<gochan.workqueue.Queue 'pods' 1 queued, 1 in flight, 1 delayed>"
        q.shut_down()
        assert repr(q).endswith("0 delayed, shutting down>")

    vrun(main)


def test_iteration_stops_at_shutdown() -> None:
    def main() -> list[str]:
        q: Queue[str] = Queue()
        for k in "abc":
            q.add(k)
        q.shut_down()
        out = []
        for key in q:
            out.append(key)
            q.done(key)
        return out

    assert vrun(main) == ["a", "b", "c"]


# ---------------------------------------------------------------------------
# OS threads
# ---------------------------------------------------------------------------


def test_producers_and_workers_on_os_threads(gil_ping_pong: None) -> None:
    # Producers on three plain threads; workers on the main thread and on a
    # second thread running its own scheduler. Every key's last get comes after
    # its last add; no key is held by two workers at once, across threads.
    keys = 40
    lock = threading.Lock()
    seq = [0]
    last_add: dict[int, int] = {}
    last_get: dict[int, int] = {}
    stingy = Stingy()

    def tick() -> int:
        seq[0] += 1
        return seq[0]

    def main() -> None:
        q: Queue[int] = Queue()

        def produce(offset: int) -> None:
            for i in range(600):
                k = (i * 7 + offset) % keys
                with lock:
                    last_add[k] = tick()
                q.add(k)

        def work() -> None:
            for key in q:
                with lock:
                    last_get[key] = tick()
                stingy.begin(key)
                gochan.gosched()
                stingy.end(key)
                q.done(key)

        def thread_workers() -> None:
            wg = WaitGroup()
            for _ in range(3):
                wg.go(work)
            wg.wait()

        producers = [threading.Thread(target=produce, args=(o,)) for o in range(3)]
        other = threading.Thread(target=run, args=(thread_workers,))
        for t in [*producers, other]:
            t.start()
        wg = WaitGroup()
        for _ in range(3):
            wg.go(work)
        for t in producers:
            gochan.blocking(t.join, SAFETY)
        q.shut_down_with_drain()
        wg.wait()
        gochan.blocking(other.join, SAFETY)
        assert not other.is_alive()
        q._check_invariants()
        assert q.metrics().in_flight == 0 and q.len() == 0

    run(main)
    assert set(last_get) == set(last_add) == set(range(keys))
    for k in range(keys):
        assert last_get[k] > last_add[k], f"key {k}: added after its last processing"


def test_add_after_from_a_foreign_thread_fires_on_the_queues_scheduler() -> None:
    def main() -> list[tuple[str, float]]:
        q: Queue[str] = Queue()

        def produce() -> None:
            q.add_after("late", 5)
            q.add_after("early", 2)
            q.add("now")

        out = []

        def worker() -> None:
            for _ in range(3):
                key, _ = q.get()
                assert key is not None
                out.append((key, gochan.monotonic()))
                q.done(key)

        w = go(worker)
        t = threading.Thread(target=produce)
        t.start()
        # Virtual time stands still while a blocking() call is pending, so the
        # clock cannot jump to the first delay before the thread has armed both.
        gochan.blocking(t.join, SAFETY)
        w.join()
        return out

    assert vrun(main) == [("now", 0.0), ("early", 2.0), ("late", 5.0)]


def test_worker_pool_on_every_backend(gochan_backend: str) -> None:
    # A small controller: failures requeued rate-limited, one key requeued
    # after a delay, a producer on another thread; same timeline on each backend.
    def main() -> list[tuple[float, str]]:
        q: Queue[str] = Queue(rate_limiter=ItemExponentialFailureRateLimiter(0.5, 10))
        log: list[tuple[float, str]] = []
        failures = {"flaky": 2}

        def worker() -> None:
            for key in q:
                gochan.sleep(0.25)
                log.append((gochan.monotonic(), key))
                if failures.get(key, 0):
                    failures[key] -= 1
                    q.add_rate_limited(key)
                elif key == "periodic":
                    q.forget(key)
                    q.add_after("resync", 3)
                q.done(key)

        wg = WaitGroup()
        for _ in range(2):
            wg.go(worker)

        def produce() -> None:
            for k in ("flaky", "periodic"):
                q.add(k)

        producer = threading.Thread(target=produce)
        producer.start()
        gochan.blocking(producer.join, SAFETY)
        gochan.sleep(5)
        q.shut_down_with_drain()
        wg.wait()
        return log

    assert vrun(main) == [
        (0.25, "flaky"),
        (0.25, "periodic"),
        (1.0, "flaky"),  # 0.25 + 0.5 backoff + 0.25 work
        (2.25, "flaky"),  # 1.0 + 1.0 backoff + 0.25
        (3.5, "resync"),  # 0.25 + 3 + 0.25
    ]


# ---------------------------------------------------------------------------
# Model test (hypothesis)
# ---------------------------------------------------------------------------

WORKERS = 3
KEYS = "abc"

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KEYS)),
        st.tuples(st.just("add"), st.sampled_from(KEYS)),
        st.tuples(st.just("get"), st.integers(0, WORKERS - 1)),
        st.tuples(st.just("get"), st.integers(0, WORKERS - 1)),
        st.tuples(st.just("done"), st.integers(0, WORKERS - 1)),
        st.tuples(st.just("done"), st.integers(0, WORKERS - 1)),
        st.tuples(st.just("stray_done"), st.sampled_from(KEYS)),
        st.tuples(st.just("add_after"), st.sampled_from(KEYS), st.sampled_from([0, 0.5, 1, 2])),
        st.tuples(st.just("add_after"), st.sampled_from(KEYS), st.sampled_from([0.5, 1, 2])),
        st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 1.5])),
        st.tuples(st.just("shut_down")),
    ),
    max_size=40,
)


@dataclass
class Model:
    """client-go's queue, written as plainly as possible."""

    now: float = 0.0
    queue: list[str] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    processing: dict[str, int] = field(default_factory=dict)  # key -> worker
    waiting: dict[str, tuple[float, int]] = field(default_factory=dict)  # key -> (when, seq)
    seq: int = 0
    shutting_down: bool = False
    blocked: list[int] = field(default_factory=list)  # workers parked in get(), FIFO
    state: list[str] = field(default_factory=lambda: ["idle"] * WORKERS)
    holding: dict[int, str] = field(default_factory=dict)
    results: list[list[tuple[Any, bool]]] = field(
        default_factory=lambda: [[] for _ in range(WORKERS)]
    )
    ignored_dones: int = 0
    retries: int = 0
    drain: str = "none"  # shut_down_with_drain: "none" called, "waiting", "returned"
    log: list[tuple[str, str]] = field(default_factory=list)  # ("add"|"get", key)

    def add(self, key: str) -> None:
        if self.shutting_down or key in self.dirty:
            return
        self.log.append(("add", key))
        self.dirty.add(key)
        if key in self.processing:
            return
        self.queue.append(key)
        self._hand_out()

    def _hand_out(self) -> None:
        while self.blocked and self.queue:
            self._take(self.blocked.pop(0), self.queue.pop(0))

    def _take(self, w: int, key: str) -> None:
        self.log.append(("get", key))
        self.processing[key] = w
        self.dirty.discard(key)
        self.state[w], self.holding[w] = "holding", key
        self.results[w].append((key, False))

    def get(self, w: int) -> None:
        if self.queue:
            self._take(w, self.queue.pop(0))
        elif self.shutting_down:
            self.results[w].append((None, True))
            self.state[w] = "exited"
        else:
            self.blocked.append(w)
            self.state[w] = "blocked"

    def done(self, w: int) -> None:
        key = self.holding.pop(w)
        del self.processing[key]
        self.state[w] = "idle"
        if key in self.dirty:
            self.queue.append(key)
            self._hand_out()
        if not self.processing and self.drain == "waiting":
            self.drain = "returned"  # keys still queued do not hold it up

    def stray_done(self, key: str) -> None:
        assert key not in self.processing
        self.ignored_dones += 1

    def add_after(self, key: str, d: float) -> None:
        if self.shutting_down:
            return
        self.retries += 1
        if d == 0:
            self.add(key)
            return
        when = self.now + d
        old = self.waiting.get(key)
        if old is not None and old[0] <= when:
            return
        self.seq += 1
        self.waiting[key] = (when, self.seq)

    def advance(self, dt: float) -> None:
        target = self.now + dt
        due = sorted((w, key) for key, w in self.waiting.items() if w[0] <= target)
        for _, key in due:
            del self.waiting[key]
            self.add(key)
        self.now = target

    def shut_down(self, drain: bool = False) -> None:
        if drain and self.drain == "none":
            self.drain = "returned" if not self.processing else "waiting"
        elif self.drain == "waiting":
            self.drain = "returned"  # a plain shut_down ends the drain wait
        self.shutting_down = True
        self.waiting.clear()
        for w in self.blocked:
            self.results[w].append((None, True))
            self.state[w] = "exited"
        self.blocked.clear()


def _playable(m: Model, op: tuple[Any, ...]) -> bool:
    """Ops that make no sense in this state are skipped, in both."""
    kind = op[0]
    if kind == "get":
        return bool(m.state[op[1]] == "idle")
    if kind == "done":
        return bool(m.state[op[1]] == "holding")
    if kind == "stray_done":
        return op[1] not in m.processing
    return True


def _finish_ops(m: Model) -> Iterator[tuple[Any, ...]]:
    """Drive every worker until all have seen the shutdown."""
    if not m.shutting_down:
        yield ("shut_down",)
    while any(s != "exited" for s in m.state):
        for w in range(WORKERS):
            if m.state[w] == "holding":
                yield ("done", w)
            elif m.state[w] == "idle":
                yield ("get", w)


@settings(max_examples=300, deadline=None)
@given(ops, st.booleans())
def test_queue_matches_model(program: list[tuple[Any, ...]], drain: bool) -> None:
    m = Model()

    def main() -> None:
        q: Queue[str] = Queue()
        cmds = [Chan[str]() for _ in range(WORKERS)]
        results: list[list[tuple[Any, bool]]] = [[] for _ in range(WORKERS)]
        stingy = Stingy()

        def worker(i: int) -> None:
            while cmds[i].recv() == "get":
                key, shut = q.get()
                results[i].append((key, shut))
                if shut:
                    return
                stingy.begin(key)
                cmds[i].recv()  # "done"
                stingy.end(key)
                q.done(key or "")

        for i in range(WORKERS):
            go(worker, i)
        drainer: gochan.Task | None = None

        def step(op: tuple[Any, ...]) -> None:
            nonlocal drainer
            kind = op[0]
            if kind == "add":
                q.add(op[1])
                m.add(op[1])
            elif kind == "get":
                cmds[op[1]].send("get")
                m.get(op[1])
            elif kind == "done":
                cmds[op[1]].send("done")
                m.done(op[1])
            elif kind == "stray_done":
                q.done(op[1])
                m.stray_done(op[1])
            elif kind == "add_after":
                q.add_after(op[1], op[2])
                m.add_after(op[1], op[2])
            elif kind == "advance":
                gochan.sleep(op[1])
                m.advance(op[1])
            elif kind == "shut_down":
                if drain and drainer is None:
                    drainer = go(q.shut_down_with_drain)
                    m.shut_down(drain=True)
                else:
                    q.shut_down()
                    m.shut_down()
            settle()
            assert gochan.monotonic() == m.now
            assert results == m.results, f"after {op}"
            assert q.len() == len(m.queue)
            snap = q.metrics()
            assert snap.depth == len(m.dirty)
            assert snap.in_flight == len(m.processing)
            assert snap.delayed == len(m.waiting)
            assert snap.ignored_dones == m.ignored_dones
            assert snap.retries == m.retries
            assert snap.shutting_down == m.shutting_down
            if drainer is not None:  # returns as soon as nothing is in flight
                assert drainer.done() == (m.drain == "returned"), f"after {op}"
            q._check_invariants()

        for op in program:
            if _playable(m, op):
                step(op)
        for op in _finish_ops(m):
            step(op)
        assert drainer is None or drainer.done()

    vrun(main)
    # Nothing lost: every accepted add of a key is followed by a get of it.
    pending: set[str] = set()
    for kind, key in m.log:
        if kind == "add":
            pending.add(key)
        else:
            pending.discard(key)
    assert not pending, f"added but never processed afterwards: {pending}"
