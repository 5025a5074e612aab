"""The controller's ``/metrics``: client-go's workqueue names, reflector and reconcile counters.

A controller runs on the virtual clock with a reconcile that fails once for one
key; its registry is served by ``prometheus_client``'s HTTP server, scraped over
HTTP and parsed with ``prometheus_client``'s parser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import gochan  # noqa: E402
from examples.k8s_watch.controller import Controller  # noqa: E402
from examples.k8s_watch.metrics import ControllerMetrics, scrape, value  # noqa: E402
from examples.k8s_watch.reflector import ReflectorStats  # noqa: E402
from gochan import workqueue  # noqa: E402


class FakeReflector:
    def __init__(self) -> None:
        self.stats = ReflectorStats(lists=2, list_pages=3, watches=4, events=7, relists=1)


def test_metrics_are_served_with_client_go_names_and_counts() -> None:
    metrics = ControllerMetrics()
    metrics.add_reflector("pods", FakeReflector())  # type: ignore[arg-type]
    failed: set[str] = set()

    def reconcile(key: str) -> None:
        gochan.sleep(0.25)  # work duration, on the virtual clock
        if key == "default/b" and key not in failed:
            failed.add(key)
            raise RuntimeError("first try fails")

    def main() -> None:
        q = workqueue.Queue[str](
            "pods",
            rate_limiter=workqueue.ItemExponentialFailureRateLimiter(0.01, 1.0),
            metrics_provider=metrics.provider,
        )
        ctl = Controller("pods", reconcile, workers=1, queue=q)
        metrics.add_controller(ctl)
        for key in ("default/a", "default/b", "default/c", "default/a"):
            q.add(key)
        ctl.start()
        while ctl.stats.reconciled < 3:
            gochan.sleep(0.05)
        ctl.stop()

    gochan.run(main, clock="virtual")
    with metrics.serve(0) as server:
        samples = scrape(server.url)
        with __import__("urllib.request").request.urlopen(server.url) as r:
            families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    q = {"name": "pods"}
    assert value(samples, "workqueue_adds_total", **q) == 4  # a, b, c, then b's retry
    assert value(samples, "workqueue_retries_total", **q) == 1
    assert value(samples, "workqueue_depth", **q) == 0
    assert value(samples, "workqueue_work_duration_seconds_count", **q) == 4
    assert value(samples, "workqueue_work_duration_seconds_sum", **q) == pytest.approx(1.0)
    assert value(samples, "workqueue_queue_duration_seconds_count", **q) == 4
    # The two unfinished-work gauges are sampled every 0.5 s: present, checked below.
    assert ("workqueue_unfinished_work_seconds", (("name", "pods"),)) in samples
    for name, kind in (
        ("workqueue_depth", "gauge"),
        ("workqueue_adds", "counter"),
        ("workqueue_queue_duration_seconds", "histogram"),
        ("workqueue_work_duration_seconds", "histogram"),
        ("workqueue_unfinished_work_seconds", "gauge"),
        ("workqueue_longest_running_processor_seconds", "gauge"),
        ("workqueue_retries", "counter"),
    ):
        assert families[name].type == kind, name
    # client-go's buckets: 10 ns to 100 s; every 0.25 s duration falls in the 1 s bucket.
    assert value(samples, "workqueue_work_duration_seconds_bucket", le="0.1", **q) == 0
    assert value(samples, "workqueue_work_duration_seconds_bucket", le="1.0", **q) == 4
    c = {"controller": "pods"}
    assert value(samples, "controller_runtime_reconcile_total", result="success", **c) == 3
    assert value(samples, "controller_runtime_reconcile_total", result="error", **c) == 1
    assert value(samples, "controller_runtime_reconcile_errors_total", **c) == 1
    assert value(samples, "controller_reconciles_started_total", **c) == 4
    assert value(samples, "controller_concurrent_reconciles_total", **c) == 0
    assert value(samples, "controller_runtime_max_concurrent_reconciles", **c) == 1
    r = {"name": "pods"}
    assert value(samples, "reflector_lists_total", **r) == 2
    assert value(samples, "reflector_watches_total", **r) == 4
    assert value(samples, "reflector_watch_events_total", **r) == 7
    assert value(samples, "reflector_relists_total", **r) == 1


def test_unfinished_work_gauges_show_a_stuck_key() -> None:
    metrics = ControllerMetrics()
    seen: dict[str, float] = {}

    def main() -> None:
        q = workqueue.Queue[str]("stuck", metrics_provider=metrics.provider)
        q.add("k")
        key, _ = q.get()
        gochan.sleep(3.0)  # the provider's loop sets the gauges every 0.5 s
        samples = metrics_samples()
        seen["longest"] = value(
            samples, "workqueue_longest_running_processor_seconds", name="stuck"
        )
        seen["depth"] = value(samples, "workqueue_depth", name="stuck")
        q.done(key)
        q.shut_down()

    def metrics_samples() -> dict:  # type: ignore[type-arg]
        from prometheus_client import generate_latest

        from examples.k8s_watch.metrics import parse

        return parse(generate_latest(metrics.registry).decode())

    gochan.run(main, clock="virtual")
    assert seen["depth"] == 0 and 2.5 <= seen["longest"] <= 3.0
