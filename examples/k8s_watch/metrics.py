"""``/metrics`` for the controller, in Prometheus' text format, with ``prometheus_client``.

The workqueue's metrics carry client-go's names and meanings (its
``workqueue`` Prometheus provider), labelled ``name`` (the queue's name):

- ``workqueue_depth`` (gauge): keys waiting to be processed;
- ``workqueue_adds_total`` (counter): adds that queued a key;
- ``workqueue_queue_duration_seconds`` (histogram): seconds a key waited, add to get;
- ``workqueue_work_duration_seconds`` (histogram): seconds in flight, get to done;
- ``workqueue_unfinished_work_seconds`` (gauge): sum of the ages of the keys in flight;
- ``workqueue_longest_running_processor_seconds`` (gauge): age of the oldest key in flight;
- ``workqueue_retries_total`` (counter): ``add_after`` / ``add_rate_limited`` calls.

The queue updates them itself, through `gochan.workqueue.MetricsProvider`
(the two unfinished-work gauges every 0.5 s). The reflector's and the
controller's counters are read from their stats when scraped:

- ``reflector_lists_total``, ``reflector_list_pages_total``,
  ``reflector_watches_total``, ``reflector_watch_events_total``,
  ``reflector_bookmarks_total``, ``reflector_relists_total``,
  ``reflector_dead_streams_total``, ``reflector_backoffs_total``,
  ``reflector_bad_events_total``, ``reflector_retry_afters_total``
  (label ``name``: the informer's name);
- controller-runtime's ``controller_runtime_reconcile_total`` (labels
  ``controller`` and ``result``: ``success``, ``error``, ``requeue``,
  ``requeue_after``), ``controller_runtime_reconcile_errors_total``,
  ``controller_runtime_reconcile_panics_total``,
  ``controller_runtime_active_workers`` and
  ``controller_runtime_max_concurrent_reconciles`` (label ``controller``),
  plus ``controller_reconciles_started_total``,
  ``controller_worker_restarts_total``,
  ``controller_max_in_flight`` and ``controller_concurrent_reconciles_total``
  (a key reconciled by two workers at once: must stay 0).

`MetricsServer` serves one registry on ``http://127.0.0.1:<port>/metrics``
with ``prometheus_client``'s own HTTP server (a daemon thread: a scrape
never runs on the scheduler); `scrape` reads it back with
``prometheus_client``'s parser.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from gochan import workqueue

if TYPE_CHECKING:
    from .controller import Controller
    from .reflector import Reflector

# client-go's buckets: prometheus.ExponentialBuckets(10e-9, 10, 10), 10 ns to 100 s.
DURATION_BUCKETS = tuple(10e-9 * 10**i for i in range(10))

# (MetricsProvider method, metric type, name, help), label ``name`` (the queue's).
WORKQUEUE_METRICS = (
    ("depth", Gauge, "workqueue_depth", "Keys waiting in the queue."),
    ("adds", Counter, "workqueue_adds", "Adds that queued a key."),
    ("latency", Histogram, "workqueue_queue_duration_seconds", "Seconds from add to get."),
    ("work_duration", Histogram, "workqueue_work_duration_seconds", "Seconds from get to done."),
    (
        "unfinished_work_seconds",
        Gauge,
        "workqueue_unfinished_work_seconds",
        "Sum of the ages of the keys in flight; a steady climb means stuck workers.",
    ),
    (
        "longest_running_processor_seconds",
        Gauge,
        "workqueue_longest_running_processor_seconds",
        "Age of the oldest key in flight.",
    ),
    ("retries", Counter, "workqueue_retries", "add_after and add_rate_limited calls."),
)

REFLECTOR_COUNTERS = (  # (ReflectorStats field, name, help), label ``name`` (the informer's)
    ("lists", "reflector_lists_total", "Lists done, first or after a 410/error."),
    ("list_pages", "reflector_list_pages_total", "Pages read by those lists."),
    ("watches", "reflector_watches_total", "Watches started."),
    ("events", "reflector_watch_events_total", "ADDED/MODIFIED/DELETED events received."),
    ("bookmarks", "reflector_bookmarks_total", "BOOKMARK events received."),
    ("relists", "reflector_relists_total", "Lists forced by a 410, a 504 or an API error."),
    ("dead_streams", "reflector_dead_streams_total", "Watches dropped for silence."),
    ("backoffs", "reflector_backoffs_total", "Backoff pauses after a fault."),
    ("bad_events", "reflector_bad_events_total", "Undecodable or unknown events."),
    ("retry_afters", "reflector_retry_afters_total", "429s honoured with Retry-After."),
)

# (type, name, help, value of a Controller), label ``controller`` (its name).
CONTROLLER_METRICS: tuple[tuple[type, str, str, Callable[[Controller], float]], ...] = (
    (CounterMetricFamily, "controller_runtime_reconcile_errors", "Reconciles that raised.",
     lambda c: c.stats.errors + c.stats.panics),
    (CounterMetricFamily, "controller_runtime_reconcile_panics", "Reconciles that panicked.",
     lambda c: c.stats.panics),
    (GaugeMetricFamily, "controller_runtime_active_workers", "Reconciles running now.",
     lambda c: len(c.in_flight)),
    (GaugeMetricFamily, "controller_runtime_max_concurrent_reconciles", "Workers.",
     lambda c: c.workers),
    (CounterMetricFamily, "controller_reconciles_started", "Reconciles begun.",
     lambda c: c.stats.started),
    (CounterMetricFamily, "controller_worker_restarts",
     "Workers restarted by the supervisor after a crash outside reconcile.",
     lambda c: c.stats.worker_restarts),
    (CounterMetricFamily, "controller_concurrent_reconciles",
     "Keys reconciled by two workers at once (must stay 0).", lambda c: c.stats.concurrent),
    (GaugeMetricFamily, "controller_max_in_flight", "Most keys reconciled at once so far.",
     lambda c: c.stats.max_in_flight),
)  # fmt: skip


class PrometheusMetricsProvider(workqueue.MetricsProvider):
    """client-go's workqueue metrics, in ``registry``, one child per queue name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families: dict[str, Any] = {}
        for key, kind, name, doc in WORKQUEUE_METRICS:
            extra: dict[str, Any] = {"buckets": DURATION_BUCKETS} if kind is Histogram else {}
            self.families[key] = kind(name, doc, ["name"], registry=registry, **extra)

    def new_depth_metric(self, name: str) -> Any:
        return self.families["depth"].labels(name=name)

    def new_adds_metric(self, name: str) -> Any:
        return self.families["adds"].labels(name=name)

    def new_latency_metric(self, name: str) -> Any:
        return self.families["latency"].labels(name=name)

    def new_work_duration_metric(self, name: str) -> Any:
        return self.families["work_duration"].labels(name=name)

    def new_unfinished_work_seconds_metric(self, name: str) -> Any:
        return self.families["unfinished_work_seconds"].labels(name=name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> Any:
        return self.families["longest_running_processor_seconds"].labels(name=name)

    def new_retries_metric(self, name: str) -> Any:
        return self.families["retries"].labels(name=name)


class _StatsCollector(Collector):
    """The reflectors' and controllers' counters, read from their stats at scrape time."""

    def __init__(self) -> None:
        self.reflectors: list[tuple[str, Reflector]] = []
        self.controllers: list[Controller] = []

    def collect(self) -> Iterator[Any]:
        for attr, metric, doc in REFLECTOR_COUNTERS:
            fam = CounterMetricFamily(metric.removesuffix("_total"), doc, labels=["name"])
            for name, r in self.reflectors:
                fam.add_metric([name], getattr(r.stats, attr))
            yield fam
        total = CounterMetricFamily(
            "controller_runtime_reconcile", "Reconciles by result.", labels=["controller", "result"]
        )
        for c in self.controllers:
            st = c.stats
            total.add_metric([c.name, "success"], st.reconciled - st.requeued_after)
            total.add_metric([c.name, "requeue_after"], st.requeued_after)
            total.add_metric([c.name, "requeue"], st.requeued)
            total.add_metric([c.name, "error"], st.errors + st.panics)
        yield total
        for kind, metric, doc, get in CONTROLLER_METRICS:
            fam = kind(metric, doc, labels=["controller"])
            for c in self.controllers:
                fam.add_metric([c.name], get(c))
            yield fam


class ControllerMetrics:
    """One registry: the workqueue provider, the stats collector, and its HTTP server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.provider = PrometheusMetricsProvider(self.registry)
        self._stats = _StatsCollector()
        self.registry.register(self._stats)

    def add_reflector(self, name: str, reflector: Reflector) -> None:
        self._stats.reflectors.append((name, reflector))

    def add_controller(self, controller: Controller) -> None:
        self._stats.controllers.append(controller)

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> MetricsServer:
        return MetricsServer(self.registry, port, addr)


class MetricsServer:
    """``prometheus_client``'s HTTP server for one registry; port 0 picks a free one."""

    def __init__(self, registry: CollectorRegistry, port: int = 0, addr: str = "127.0.0.1"):
        self._server, self._thread = start_http_server(port, addr, registry=registry)
        self.port = int(self._server.server_address[1])
        self.url = f"http://{addr}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by (sample name, sorted labels)."""
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def scrape(url: str, timeout: float = 5.0) -> Samples:
    """GET ``url`` (blocking: from a task, wrap it in ``gochan.blocking``) and parse it."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return parse(r.read().decode())


def value(samples: Samples, sample: str, /, **labels: str) -> float:
    """One sample's value (0.0 when absent)."""
    return samples.get((sample, tuple(sorted(labels.items()))), 0.0)


__all__ = [
    "ControllerMetrics",
    "MetricsServer",
    "PrometheusMetricsProvider",
    "parse",
    "scrape",
    "value",
]
