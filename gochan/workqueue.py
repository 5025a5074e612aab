"""A work queue of keys for controllers: client-go's ``util/workqueue`` on gochan.

A Kubernetes-style controller does not queue *events*; it queues *keys*
(``"namespace/name"``) and, when a worker takes a key, it reads the object's
current state and makes the world match it. The queue is level-triggered:
ten updates to one object while it waits are one key, processed once. What
it promises:

* **Fair**: keys are handed out first in, first out.
* **Stingy**: a key is never processed by two workers at once. A key added
  while a worker has it is remembered and queued again when that worker
  calls ``done``, so the last change is never lost.
* **Coalescing**: adding a key that is already queued does nothing.
* **Delays and rate limits**: ``add_after`` queues a key later, on the
  scheduler clock (so ``clock="virtual"`` tests take no wall time);
  ``add_rate_limited`` asks a rate limiter how long to wait (per-key
  exponential backoff and an overall token bucket by default).
* **Two shutdowns**: ``shut_down`` refuses new keys and lets the workers
  drain what is queued; ``shut_down_with_drain`` also waits until every key
  in flight is ``done``.

Every call parks only the calling green task, and producers and workers may
live on different OS threads.

>>> import gochan
>>> from gochan import workqueue
>>> def main():
...     q = workqueue.Queue[str]()
...     for key in ["a", "b", "a"]:       # the second "a" is already queued
...         q.add(key)
...     seen = []
...     def worker():
...         for key in q:                 # until shut down and drained
...             seen.append(key)
...             q.done(key)
...     t = gochan.go(worker)
...     q.shut_down()
...     t.join()
...     return seen
>>> gochan.run(main, clock="virtual")
['a', 'b']
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ._runtime.chan import Chan
from ._runtime.duration import seconds as duration_seconds
from ._runtime.run import go
from ._runtime.scheduler import Scheduler
from ._runtime.select import select
from ._runtime.threads import get_scheduler, peek_scheduler
from ._runtime.timers import Ticker, TimerEntry, monotonic
from .sync import Cond, Mutex

__all__ = [
    "BucketRateLimiter",
    "CounterMetric",
    "GaugeMetric",
    "HistogramMetric",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "Metrics",
    "MetricsProvider",
    "Observations",
    "Queue",
    "RateLimiter",
    "SettableGaugeMetric",
    "WithMaxWaitRateLimiter",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)

# client-go refreshes the unfinished-work gauges this often (seconds).
UNFINISHED_WORK_UPDATE_PERIOD = 0.5


def _seconds(value: object, what: str) -> float:
    """A delay in seconds >= 0, read as every gochan duration is (NaN
    refused; ``math.inf``, or more than Go's largest duration, is
    ``math.inf``: never)."""
    d = duration_seconds(value, what)
    if d < 0:
        raise ValueError(f"{what} needs a delay >= 0 seconds, got {value!r}")
    return d


def _check_key(key: object) -> None:
    if key is None:
        raise ValueError("None cannot be a workqueue key: get() returns None at shutdown")
    try:
        hash(key)
    except TypeError:
        raise TypeError(
            f"a workqueue key must be hashable (a str, int, tuple, ...), got {key!r}"
        ) from None


# ---------------------------------------------------------------------------
# Rate limiters
# ---------------------------------------------------------------------------


class RateLimiter(Protocol):
    """What ``Queue.add_rate_limited`` asks: client-go's ``RateLimiter``.

    ``when(key)`` records one more failure of ``key`` and returns how many
    seconds it should wait before it is queued again; ``forget(key)`` stops
    tracking it (call it when the key succeeded or was given up on);
    ``num_requeues(key)`` is the number of failures recorded.

    >>> from gochan import workqueue
    >>> limiter: workqueue.RateLimiter = workqueue.default_controller_rate_limiter()
    >>> limiter.when("ns/pod"), limiter.when("ns/pod"), limiter.num_requeues("ns/pod")
    (0.005, 0.01, 2)
    """

    def when(self, key: Hashable) -> float: ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class _PerKeyCounts:
    """Failure counts per key, shared by the per-item limiters. Thread-safe:
    the lock is a plain one, held for a dictionary update and never across
    a park."""

    __slots__ = ("_failures", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[Hashable, int] = {}

    def bump(self, key: Hashable) -> int:
        """Record a failure; return the count before it."""
        with self._lock:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            return n

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class ItemExponentialFailureRateLimiter:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``max``.

    The n-th ``when(key)`` since the last ``forget(key)`` returns
    ``base * 2**(n-1)`` seconds, never more than ``max``. client-go's
    controller default is 5 ms up to 1000 s.

    >>> from gochan import workqueue
    >>> r = workqueue.ItemExponentialFailureRateLimiter(base=0.001, max=0.004)
    >>> [r.when("k") for _ in range(4)], r.num_requeues("k")
    ([0.001, 0.002, 0.004, 0.004], 4)
    >>> r.forget("k"); r.when("k")
    0.001
    """

    __slots__ = ("_counts", "base", "max")

    def __init__(self, base: float = 0.005, max: float = 1000.0) -> None:
        self.base = _seconds(base, "ItemExponentialFailureRateLimiter(base=)")
        self.max = _seconds(max, "ItemExponentialFailureRateLimiter(max=)")
        self._counts = _PerKeyCounts()

    def __repr__(self) -> str:
        return f"ItemExponentialFailureRateLimiter(base={self.base}, max={self.max})"

    def when(self, key: Hashable) -> float:
        """Record a failure of ``key``; its backoff in seconds."""
        exp = self._counts.bump(key)
        try:
            backoff = self.base * 2.0**exp
        except OverflowError:  # 2.0**1024 and up: certainly past max
            return self.max
        return self.max if backoff > self.max else backoff

    def forget(self, key: Hashable) -> None:
        """Stop tracking ``key``: its next backoff is ``base`` again."""
        self._counts.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """Failures of ``key`` since it was last forgotten."""
        return self._counts.num_requeues(key)


class ItemFastSlowRateLimiter:
    """Per-key: ``fast`` seconds for the first ``max_fast_attempts``
    failures, ``slow`` seconds after that.

    >>> from gochan import workqueue
    >>> r = workqueue.ItemFastSlowRateLimiter(fast=0.005, slow=10, max_fast_attempts=2)
    >>> [r.when("k") for _ in range(4)]
    [0.005, 0.005, 10.0, 10.0]
    """

    __slots__ = ("_counts", "fast", "max_fast_attempts", "slow")

    def __init__(self, fast: float, slow: float, max_fast_attempts: int) -> None:
        self.fast = _seconds(fast, "ItemFastSlowRateLimiter(fast=)")
        self.slow = _seconds(slow, "ItemFastSlowRateLimiter(slow=)")
        if isinstance(max_fast_attempts, bool) or not isinstance(max_fast_attempts, int):
            raise TypeError(f"max_fast_attempts must be an int, got {max_fast_attempts!r}")
        if max_fast_attempts < 0:
            raise ValueError(f"max_fast_attempts must be >= 0, got {max_fast_attempts!r}")
        self.max_fast_attempts = max_fast_attempts
        self._counts = _PerKeyCounts()

    def __repr__(self) -> str:
        return (
            f"ItemFastSlowRateLimiter(fast={self.fast}, slow={self.slow}, "
            f"max_fast_attempts={self.max_fast_attempts})"
        )

    def when(self, key: Hashable) -> float:
        """Record a failure of ``key``; ``fast`` or ``slow``."""
        n = self._counts.bump(key) + 1
        return self.fast if n <= self.max_fast_attempts else self.slow

    def forget(self, key: Hashable) -> None:
        """Stop tracking ``key``."""
        self._counts.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """Failures of ``key`` since it was last forgotten."""
        return self._counts.num_requeues(key)


class BucketRateLimiter:
    """An overall token bucket, for every key together: ``qps`` tokens a
    second, holding at most ``burst``; golang.org/x/time/rate's
    ``Limiter.Reserve().Delay()``.

    The bucket starts full. Each ``when`` takes a token, borrowing against
    the future when there is none, and returns how long until the token it
    took exists: with the defaults, 100 requeues in a burst go at once, the
    101st waits 0.1 s, the 102nd 0.2 s. Time is the scheduler clock
    (``gochan.monotonic()``). ``qps=math.inf`` never delays.

    >>> import gochan
    >>> from gochan import workqueue
    >>> def main():
    ...     r = workqueue.BucketRateLimiter(qps=10, burst=2)
    ...     now = [r.when(k) for k in "abcd"]      # a, b: the burst
    ...     gochan.sleep(1)                         # 10 tokens' time, capped at 2
    ...     return now, [r.when(k) for k in "efg"]
    >>> gochan.run(main, clock="virtual")
    ([0.0, 0.0, 0.1, 0.2], [0.0, 0.0, 0.1])
    """

    __slots__ = ("_last", "_lock", "_tokens", "burst", "qps")

    def __init__(self, qps: float = 10.0, burst: int = 100) -> None:
        if isinstance(qps, bool) or not isinstance(qps, (int, float)):
            raise TypeError(f"BucketRateLimiter(qps=) must be a number, got {qps!r}")
        if not qps > 0:  # also rejects NaN
            raise ValueError(f"BucketRateLimiter(qps=) must be > 0, got {qps!r}")
        if isinstance(burst, bool) or not isinstance(burst, int):
            raise TypeError(f"BucketRateLimiter(burst=) must be an int, got {burst!r}")
        if burst < 1:
            # x/time/rate allows 0 and then refuses every event: a key would
            # never be queued again. Say so now rather than lose keys.
            raise ValueError(f"BucketRateLimiter(burst=) must be >= 1, got {burst!r}")
        self.qps = float(qps)
        self.burst = burst
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last: float | None = None  # clock time of the last reservation

    def __repr__(self) -> str:
        return f"BucketRateLimiter(qps={self.qps}, burst={self.burst})"

    def when(self, key: Hashable) -> float:
        """Reserve a token; seconds until it may be used (0.0: now)."""
        if self.qps == math.inf:
            return 0.0
        now = monotonic()
        with self._lock:
            last, tokens = self._last, self._tokens
            at = now
            if last is not None:
                if now < last:  # another thread's clock read ran ahead: act from there
                    at = last
                else:
                    tokens = min(float(self.burst), tokens + (now - last) * self.qps)
            tokens -= 1.0
            self._last, self._tokens = at, tokens
        # The token exists at ``at + wait``; say how long that is from now.
        wait = -tokens / self.qps if tokens < 0 else 0.0
        return wait + (at - now)

    def forget(self, key: Hashable) -> None:
        """Nothing to forget: the bucket is not per key."""

    def num_requeues(self, key: Hashable) -> int:
        """Always 0: the bucket does not count per key."""
        return 0


class MaxOfRateLimiter:
    """Ask every limiter; wait as long as the slowest says.

    ``num_requeues`` is the largest of theirs; ``forget`` forgets in all.
    As client-go notes, next to per-key limiters a token bucket's burst can
    appear exceeded: a token is taken even when another limiter's longer
    delay wins.

    >>> from gochan import workqueue
    >>> r = workqueue.MaxOfRateLimiter(
    ...     workqueue.ItemFastSlowRateLimiter(fast=0.005, slow=3, max_fast_attempts=1),
    ...     workqueue.ItemExponentialFailureRateLimiter(base=0.001, max=1),
    ... )
    >>> [r.when("k") for _ in range(3)]
    [0.005, 3.0, 3.0]
    """

    __slots__ = ("limiters",)

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter() needs at least one rate limiter")
        for r in limiters:
            if not all(callable(getattr(r, m, None)) for m in ("when", "forget", "num_requeues")):
                raise TypeError(
                    f"{r!r} is not a rate limiter: it needs when(), forget() and num_requeues()"
                )
        self.limiters = limiters

    def __repr__(self) -> str:
        return f"MaxOfRateLimiter({', '.join(map(repr, self.limiters))})"

    def when(self, key: Hashable) -> float:
        """Every limiter's ``when`` (each records the failure); the largest."""
        return max([r.when(key) for r in self.limiters])

    def forget(self, key: Hashable) -> None:
        """Forget ``key`` in every limiter."""
        for r in self.limiters:
            r.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """The largest count among the limiters."""
        return max(r.num_requeues(key) for r in self.limiters)


class WithMaxWaitRateLimiter:
    """Another limiter's delays, capped at ``max_wait`` seconds.

    >>> from gochan import workqueue
    >>> r = workqueue.WithMaxWaitRateLimiter(
    ...     workqueue.ItemExponentialFailureRateLimiter(base=1, max=1000), max_wait=3
    ... )
    >>> [r.when("k") for _ in range(4)]
    [1.0, 2.0, 3.0, 3.0]
    """

    __slots__ = ("limiter", "max_wait")

    def __init__(self, limiter: RateLimiter, max_wait: float) -> None:
        self.limiter = limiter
        self.max_wait = _seconds(max_wait, "WithMaxWaitRateLimiter(max_wait=)")

    def __repr__(self) -> str:
        return f"WithMaxWaitRateLimiter({self.limiter!r}, max_wait={self.max_wait})"

    def when(self, key: Hashable) -> float:
        """The wrapped limiter's delay, at most ``max_wait``."""
        return min(self.limiter.when(key), self.max_wait)

    def forget(self, key: Hashable) -> None:
        """Forget ``key`` in the wrapped limiter."""
        self.limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """The wrapped limiter's count."""
        return self.limiter.num_requeues(key)


def default_controller_rate_limiter() -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: the slower of per-key
    exponential backoff (5 ms doubling up to 1000 s) and an overall token
    bucket (10 requeues a second, bursts of 100).

    The backoff keeps one failing key from hot-looping; the bucket keeps a
    mass failure (the API server is down: every key fails) from retrying
    faster than 10 a second overall once the burst is spent.

    >>> from gochan import workqueue
    >>> workqueue.default_controller_rate_limiter()
    MaxOfRateLimiter(ItemExponentialFailureRateLimiter(base=0.005, max=1000.0), \
BucketRateLimiter(qps=10.0, burst=100))
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base=0.005, max=1000.0),
        BucketRateLimiter(qps=10.0, burst=100),
    )


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


class GaugeMetric(Protocol):
    """A value that goes up and down (``depth``). A ``prometheus_client.Gauge`` is one."""

    def inc(self) -> None: ...

    def dec(self) -> None: ...


class SettableGaugeMetric(Protocol):
    """A gauge that is set (the unfinished-work gauges)."""

    def set(self, value: float) -> None: ...


class CounterMetric(Protocol):
    """A count that only goes up (``adds``, ``retries``)."""

    def inc(self) -> None: ...


class HistogramMetric(Protocol):
    """Observed durations in seconds (queue latency, work duration)."""

    def observe(self, value: float) -> None: ...


class _NoopMetric:
    __slots__ = ()

    def inc(self) -> None:
        pass

    def dec(self) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


_NOOP = _NoopMetric()


class MetricsProvider:
    """Hands a queue the metric objects it updates as it works; client-go's
    ``MetricsProvider``. Subclass it and override the metrics you want (the
    others stay no-ops); each method is called once per queue, with the
    queue's name, when the queue is made. ``prometheus_client``'s Gauge,
    Counter and Histogram fit the protocols as they are.

    The metrics are updated with the queue's lock held: they must be quick
    and must not block. With a provider, the queue also starts a task, on
    the scheduler of the thread that makes it, that sets the two
    unfinished-work gauges every 0.5 s until the queue is shut down.

    >>> import gochan
    >>> from gochan import workqueue
    >>> class Adds:
    ...     n = 0
    ...     def inc(self):
    ...         self.n += 1
    >>> class Provider(workqueue.MetricsProvider):
    ...     def __init__(self):
    ...         self.adds = Adds()
    ...     def new_adds_metric(self, name):
    ...         return self.adds
    >>> def main():
    ...     p = Provider()
    ...     q = workqueue.Queue[str]("pods", metrics_provider=p)
    ...     q.add("a"); q.add("b"); q.add("a")
    ...     q.shut_down()
    ...     return p.adds.n
    >>> gochan.run(main, clock="virtual")
    2
    """

    def new_depth_metric(self, name: str) -> GaugeMetric:
        """Keys waiting to be processed (client-go ``workqueue_depth``)."""
        return _NOOP

    def new_adds_metric(self, name: str) -> CounterMetric:
        """Adds that queued a key (``workqueue_adds_total``)."""
        return _NOOP

    def new_latency_metric(self, name: str) -> HistogramMetric:
        """Seconds from add to get (``workqueue_queue_duration_seconds``)."""
        return _NOOP

    def new_work_duration_metric(self, name: str) -> HistogramMetric:
        """Seconds from get to done (``workqueue_work_duration_seconds``)."""
        return _NOOP

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric:
        """Sum of the ages of the keys in flight (``workqueue_unfinished_work_seconds``)."""
        return _NOOP

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric:
        """Age of the oldest key in flight
        (``workqueue_longest_running_processor_seconds``)."""
        return _NOOP

    def new_retries_metric(self, name: str) -> CounterMetric:
        """``add_after`` and ``add_rate_limited`` calls (``workqueue_retries_total``)."""
        return _NOOP


@dataclass(frozen=True)
class Observations:
    """A summary of observed durations: how many, their sum and the largest.

    >>> from gochan.workqueue import Observations
    >>> Observations(count=4, total=2.0, max=1.5).mean
    0.5
    """

    count: int = 0
    total: float = 0.0
    max: float = 0.0

    @property
    def mean(self) -> float:
        """The average duration (0.0 with no observations)."""
        return self.total / self.count if self.count else 0.0


class _Hist:
    __slots__ = ("count", "max", "metric", "total")

    def __init__(self, metric: HistogramMetric) -> None:
        self.count, self.total, self.max = 0, 0.0, 0.0
        self.metric = metric

    def observe(self, v: float) -> None:
        self.count += 1
        self.total += v
        if v > self.max:
            self.max = v
        self.metric.observe(v)

    def snapshot(self) -> Observations:
        return Observations(self.count, self.total, self.max)


@dataclass(frozen=True)
class Metrics:
    """A snapshot of a queue's metrics (``Queue.metrics()``); times in
    seconds on the scheduler clock. The first seven are client-go's.

    >>> import gochan
    >>> from gochan import workqueue
    >>> def main():
    ...     q = workqueue.Queue[str]()
    ...     q.add("a")
    ...     gochan.sleep(2)
    ...     key, _ = q.get()
    ...     gochan.sleep(3)
    ...     m = q.metrics()
    ...     return m.depth, m.adds, m.queue_latency.max, m.longest_running_processor_seconds
    >>> gochan.run(main, clock="virtual")
    (0, 1, 2.0, 3.0)
    """

    depth: int
    """Keys waiting to be processed: queued, or added again while in flight."""
    adds: int
    """Adds that made a key wait (adds of a waiting key do not count)."""
    queue_latency: Observations
    """Time each key waited, from the add that queued it to its ``get``."""
    work_duration: Observations
    """Time each key was in flight, from ``get`` to ``done``."""
    unfinished_work_seconds: float
    """Sum of how long each key in flight has been in flight, now."""
    longest_running_processor_seconds: float
    """How long the oldest key in flight has been in flight, now."""
    retries: int
    """``add_after`` and ``add_rate_limited`` calls made before shutdown."""
    in_flight: int
    """Keys between ``get`` and ``done``."""
    delayed: int
    """Keys waiting for an ``add_after`` delay to pass."""
    ignored_dones: int
    """``done(key)`` calls for a key that was not in flight (ignored)."""
    shutting_down: bool


# ---------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------


class _Waiting:
    """A key's pending ``add_after``: when it is due, and its timer."""

    __slots__ = ("timer", "when")

    def __init__(self, when: float) -> None:
        self.when = when
        self.timer: TimerEntry | None = None


_MISSING: Any = object()


class Queue(Generic[K]):
    """A fair, stingy work queue of keys: client-go's rate-limiting workqueue.

    ``add`` a key; workers ``get`` one (parking until there is one), work on
    it, then ``done`` it. See the module docstring for the guarantees, and
    docs/workqueue.md for a worker pool.

    ``name`` labels the metrics; ``rate_limiter`` decides the delays of
    ``add_rate_limited`` (default: ``default_controller_rate_limiter()``);
    ``metrics_provider`` receives live metrics (``metrics()`` gives a
    snapshot either way).

    Delays run on the scheduler of the thread that made the queue (or, if
    it had none, of the first thread to call ``add_after``): make the queue
    inside the program that runs its workers, and its ``add_after`` timers
    fire there, on the virtual clock under ``run(..., clock="virtual")``.

    >>> import gochan
    >>> from gochan import workqueue
    >>> def main():
    ...     q = workqueue.Queue[str]()
    ...     q.add("a")
    ...     key, _ = q.get()        # "a" is in flight
    ...     q.add("a")              # remembered, not handed to another worker
    ...     busy = q.len()
    ...     q.done("a")             # now it is queued again
    ...     return busy, q.len(), q.get()
    >>> gochan.run(main, clock="virtual")
    (0, 1, ('a', False))
    """

    # Invariants, all under _mu (checked by _check_invariants):
    #   * _dirty maps each key that needs processing to the clock time of
    #     the add that made it dirty (the queue-latency metric starts there);
    #   * every key in _queue is in _dirty and not in _processing, and
    #     appears in _queue once: _queue is exactly _dirty - _processing;
    #   * _processing maps each key in flight to the clock time of its get;
    #   * each key of _waiting has one armed timer on _home, due at .when;
    #     once _shutting_down, _waiting is empty and stays empty;
    #   * _dirty and _queue only grow while not _shutting_down, except that
    #     done() re-queues a key that was already dirty.
    # _due and _draining belong to _home's thread alone (its timer callbacks
    # and the drain task they start), so they need no lock.

    __slots__ = (
        "__weakref__",
        "_adds",
        "_cond",
        "_depth",
        "_dirty",
        "_drain",
        "_draining",
        "_due",
        "_home",
        "_idle",
        "_ignored_dones",
        "_latency",
        "_limiter",
        "_longest",
        "_m_adds",
        "_m_retries",
        "_mu",
        "_processing",
        "_queue",
        "_retries",
        "_shutting_down",
        "_stop",
        "_unfinished",
        "_waiting",
        "_work",
        "name",
    )

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        metrics_provider: MetricsProvider | None = None,
        unfinished_work_update_period: float = UNFINISHED_WORK_UPDATE_PERIOD,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Queue name must be a str, got {name!r}")
        if rate_limiter is not None and not all(
            callable(getattr(rate_limiter, m, None)) for m in ("when", "forget", "num_requeues")
        ):
            raise TypeError(
                f"{rate_limiter!r} is not a rate limiter: it needs when(), forget() "
                "and num_requeues()"
            )
        period = _seconds(unfinished_work_update_period, "Queue(unfinished_work_update_period=)")
        if period <= 0:
            raise ValueError("Queue(unfinished_work_update_period=) must be > 0")
        self.name = name
        self._limiter = rate_limiter
        self._mu = Mutex()
        self._cond = Cond(self._mu)  # get() waits here for a key or shutdown
        self._idle = Cond(self._mu)  # shut_down_with_drain() waits here for no key in flight
        self._queue: deque[K] = deque()
        # One dict, not a set beside a dict of add times: 12,800 queued keys
        # took 1,216 KiB as a set and a dict, 704 KiB as one dict (tracemalloc).
        self._dirty: dict[K, float] = {}
        self._processing: dict[K, float] = {}
        self._shutting_down = False
        self._drain = False
        self._waiting: dict[K, _Waiting] = {}
        self._due: deque[tuple[K, _Waiting]] = deque()
        self._draining = False
        self._home: Scheduler | None = peek_scheduler()
        self._stop: Chan[None] | None = None
        # Metrics.
        p = metrics_provider if metrics_provider is not None else MetricsProvider()
        self._depth = p.new_depth_metric(name)
        self._m_adds = p.new_adds_metric(name)
        self._latency = _Hist(p.new_latency_metric(name))
        self._work = _Hist(p.new_work_duration_metric(name))
        self._unfinished = p.new_unfinished_work_seconds_metric(name)
        self._longest = p.new_longest_running_processor_seconds_metric(name)
        self._m_retries = p.new_retries_metric(name)
        self._adds = self._retries = self._ignored_dones = 0
        if metrics_provider is not None:
            self._home = get_scheduler()
            self._stop = Chan[None]()
            t = go(self._update_unfinished_work_loop, self._stop, period)
            t.name = f"workqueue {name!r} metrics"

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        state = ", shutting down" if self._shutting_down else ""
        return (
            f"<gochan.workqueue.Queue{name} {len(self._queue)} queued, "
            f"{len(self._processing)} in flight, {len(self._waiting)} delayed{state}>"
        )

    def __bool__(self) -> bool:
        return True  # a queue is never falsy, even when empty (see __len__)

    # -- the basic queue ----------------------------------------------------

    def _now(self) -> float:
        s = self._home
        return s.clock.now() if s is not None else monotonic()

    def add(self, key: K) -> None:
        """Mark ``key`` as needing processing.

        Queued at the tail unless it already waits (then nothing happens)
        or is in flight (then it is queued when its worker calls ``done``).
        Ignored once the queue is shutting down. Raises ``TypeError`` for an
        unhashable key and ``ValueError`` for ``None``.
        """
        _check_key(key)
        with self._mu:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._adds += 1
        self._m_adds.inc()
        self._depth.inc()
        self._dirty[key] = self._now()
        if key in self._processing:
            return  # done() queues it
        self._queue.append(key)
        self._cond.signal()

    def len(self) -> int:
        """Keys queued now (not those in flight or delayed). For monitoring
        only: it may change right after."""
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def get(self) -> tuple[K | None, bool]:
        """Take the oldest queued key: ``(key, False)``.

        Parks the calling task while the queue is empty. Once the queue is
        shutting down and nothing is queued, returns ``(None, True)``: the
        worker should stop. The caller must call ``done(key)`` when it has
        finished with the key, however it finishes.
        """
        with self._mu:
            while not self._queue and not self._shutting_down:
                self._cond.wait()
            if not self._queue:
                return None, True
            key = self._queue.popleft()
            now = self._now()
            self._processing[key] = now
            added = self._dirty.pop(key)
            self._depth.dec()
            self._latency.observe(max(0.0, now - added))
            return key, False

    def __iter__(self) -> Iterator[K]:
        """``for key in q:`` gets keys until ``get`` says the queue is shut
        down and drained. The loop body must still call ``done(key)``."""
        while True:
            key, shutdown = self.get()
            if shutdown:
                return
            assert key is not None  # add() refuses None
            yield key

    def done(self, key: K) -> None:
        """Say that the worker has finished with ``key``.

        If ``key`` was added while in flight, it is queued again now. A
        ``done`` for a key that is not in flight (a second ``done``, or a
        key never taken with ``get``) is ignored and counted in
        ``metrics().ignored_dones``. (client-go ignores it too, except that
        a ``Done`` of a key that is queued but not in flight queues it a
        second time, so two workers could then get it at once; here nothing
        changes.)
        """
        with self._mu:
            start = self._processing.pop(key, _MISSING)
            if start is _MISSING:
                self._ignored_dones += 1
                return
            self._work.observe(max(0.0, self._now() - start))
            if key in self._dirty:
                self._queue.append(key)
                self._cond.signal()
            if not self._processing:
                self._idle.broadcast()

    # -- shutdown -------------------------------------------------------------

    def shut_down(self) -> None:
        """Stop taking keys: ``add`` and ``add_after`` are ignored from now
        on and pending delays are dropped. Workers still get the keys
        already queued (and those in flight that were added again), then
        ``get`` returns ``(None, True)``. Returns at once; also ends the wait
        of a ``shut_down_with_drain`` in progress. Safe to call again."""
        with self._mu:
            self._drain = False
            self._begin_shutdown_locked()
            self._idle.broadcast()

    def shut_down_with_drain(self) -> None:
        """``shut_down``, then park until no key is in flight: every key
        taken with ``get`` has been ``done``.

        As in client-go, keys that are queued but not taken do not hold it
        up, nor does a key that its ``done`` queued again because it was
        added while in flight: the workers drain those after it returns.
        Workers must call ``done`` for every key they take, or this never
        returns; a later ``shut_down`` ends the wait early."""
        with self._mu:
            self._drain = True
            self._begin_shutdown_locked()
            while self._processing and self._drain:
                self._idle.wait()

    def _begin_shutdown_locked(self) -> None:
        if not self._shutting_down:
            self._shutting_down = True
            home = self._home
            for w in self._waiting.values():
                if home is not None and w.timer is not None:
                    home.timers.cancel(w.timer)
            self._waiting.clear()
            if self._stop is not None:
                self._stop.close()
        self._cond.broadcast()  # idle workers: nothing more is coming

    def shutting_down(self) -> bool:
        """True once ``shut_down`` or ``shut_down_with_drain`` was called."""
        return self._shutting_down

    # -- delays -----------------------------------------------------------------

    def add_after(self, key: K, seconds: float) -> None:
        """Add ``key`` after ``seconds`` on the scheduler clock (0: now).

        If ``key`` is already waiting for an earlier time, this does
        nothing; if for a later one, it is moved earlier (client-go keeps
        the earliest). A plain ``add`` meanwhile queues it at once and does
        not cancel the delay. Ignored once shutting down. ``math.inf`` (or
        more than Go's largest duration, about 292 years) never comes due:
        the key waits for an earlier ``add_after``, an ``add`` or shutdown.
        A negative or NaN delay raises ``ValueError``.
        """
        d = _seconds(seconds, "add_after()")
        _check_key(key)
        with self._mu:
            if self._shutting_down:
                return
            self._retries += 1
            self._m_retries.inc()
            if d == 0:
                self._add_locked(key)
                return
            home = self._home
            if home is None:
                home = self._home = get_scheduler()
            when = home.clock.now() + d
            old = self._waiting.get(key)
            if old is not None:
                if old.when <= when:
                    return
                if old.timer is not None:
                    home.timers.cancel(old.timer)
            w = _Waiting(when)
            self._waiting[key] = w
            w.timer = home.timers.add(when, lambda: self._due_now(home, key, w))

    # Why a timer plus a drain task, and not one timer task per key or
    # client-go's waiting loop: a timer callback runs in the home scheduler's
    # loop, where nothing may block, so it cannot take _mu. It only notes the
    # key as due and, if no drain task is pending, starts one; the drain task
    # takes _mu once for every key that fell due meanwhile, in the order they
    # fell due. A long-lived waiting-loop task would keep a virtual clock
    # ticking (client-go's has a 10 s heartbeat) and never let gochan report
    # a deadlock; this way a queue with nothing delayed leaves no task behind.

    def _due_now(self, home: Scheduler, key: K, w: _Waiting) -> None:
        """Timer callback (home's loop, timer lock held): must not block."""
        self._due.append((key, w))
        if not self._draining:
            self._draining = True
            t = home.spawn(self._drain_due, (), {})
            t.name = f"workqueue {self.name!r} add_after"

    def _drain_due(self) -> None:
        try:
            with self._mu:
                due = self._due
                while due:
                    key, w = due.popleft()
                    if self._waiting.get(key) is w:  # not replaced, not shut down
                        del self._waiting[key]
                        self._add_locked(key)
        finally:
            self._draining = False

    # -- rate limiting ------------------------------------------------------------

    @property
    def rate_limiter(self) -> RateLimiter:
        """The queue's rate limiter (made on first use if none was given)."""
        r = self._limiter
        if r is None:
            r = self._limiter = default_controller_rate_limiter()
        return r

    def add_rate_limited(self, key: K) -> None:
        """``add_after(key, rate_limiter.when(key))``: requeue a key that
        failed, after the delay its failures so far call for."""
        _check_key(key)
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Tell the rate limiter that ``key`` is no longer failing (it
        succeeded, or was given up on). Does not ``done`` the key."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many times ``key`` failed since it was last forgotten."""
        return self.rate_limiter.num_requeues(key)

    # -- metrics ------------------------------------------------------------------

    def _unfinished_locked(self, now: float) -> tuple[float, float]:
        total = oldest = 0.0
        for start in self._processing.values():
            age = now - start
            total += age
            if age > oldest:
                oldest = age
        return total, oldest

    def metrics(self) -> Metrics:
        """A snapshot of the queue's metrics, taken now."""
        with self._mu:
            unfinished, longest = self._unfinished_locked(self._now())
            return Metrics(
                depth=len(self._dirty),
                adds=self._adds,
                queue_latency=self._latency.snapshot(),
                work_duration=self._work.snapshot(),
                unfinished_work_seconds=unfinished,
                longest_running_processor_seconds=longest,
                retries=self._retries,
                in_flight=len(self._processing),
                delayed=len(self._waiting),
                ignored_dones=self._ignored_dones,
                shutting_down=self._shutting_down,
            )

    def _update_unfinished_work_loop(self, stop: Chan[None], period: float) -> None:
        ticker = Ticker(period)
        try:
            while select(stop.recv, ticker.c.recv)[0] == 1:
                with self._mu:
                    if self._shutting_down:
                        return
                    unfinished, longest = self._unfinished_locked(self._now())
                    self._unfinished.set(unfinished)
                    self._longest.set(longest)
        finally:
            ticker.stop()

    # -- debugging ------------------------------------------------------------------

    def _check_invariants(self) -> None:
        """Assert the invariants stated at the top of the class (for tests)."""
        with self._mu:
            q = list(self._queue)
            assert len(q) == len(set(q)), f"a key is queued twice: {q}"
            assert set(q) == self._dirty.keys() - self._processing.keys(), (
                f"queue {q} is not dirty {self._dirty} minus in flight {set(self._processing)}"
            )
            if self._shutting_down:
                assert not self._waiting, f"delays pending after shutdown: {self._waiting}"
