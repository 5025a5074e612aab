"""The worker pool: get, defer done, reconcile, and what each outcome does to the key.

The pool tests run on the virtual clock with a scripted reconcile, so retry
delays are the rate limiter's exact numbers. The last tests run the real
ConfigMap reconcile against the embedded apiserver, with forced conflicts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import workqueue
from gochan.testing import VirtualClockFixture, wait_all_blocked

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch import reflector, store, transport, transports  # noqa: E402
from examples.k8s_watch.apiserver import APIServer, serve  # noqa: E402
from examples.k8s_watch.controller import Controller, Outcome, Result  # noqa: E402
from examples.k8s_watch.fake import FakeListerWatcher, FakeWatch, obj  # noqa: E402
from examples.k8s_watch.informer import Informer  # noqa: E402
from examples.k8s_watch.reconcile import (  # noqa: E402
    ConfigMapReconciler,
    PodConfigMaps,
    configmap_name,
    desired_data,
    owner_uid,
)
from examples.k8s_watch.store import JSON  # noqa: E402
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402


@pytest.fixture
def vrun(virtual_clock: VirtualClockFixture) -> Callable[[Callable[[], Any]], Any]:
    return virtual_clock.run


class Script:
    """A reconcile that does what the test says per key, and logs each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.plans: dict[str, list[Callable[[], Result | None]]] = {}
        self.busy: set[str] = set()
        self.overlaps = 0

    def plan(self, key: str, *steps: Callable[[], Result | None]) -> None:
        self.plans.setdefault(key, []).extend(steps)

    def __call__(self, key: str) -> Result | None:
        if key in self.busy:
            self.overlaps += 1
        self.busy.add(key)
        try:
            self.calls.append((round(gochan.monotonic(), 6), key))
            steps = self.plans.get(key)
            if steps:
                return steps.pop(0)()
            return None
        finally:
            self.busy.discard(key)

    def times(self, key: str) -> list[float]:
        return [t for t, k in self.calls if k == key]


def recv_watch(lw: FakeListerWatcher) -> FakeWatch:
    w = lw.watches.recv()
    assert w is not None
    return w


def fail() -> None:
    raise ConnectionError("apiserver unavailable")


def nap() -> None:
    gochan.sleep(0.01)


def slow() -> None:
    gochan.sleep(1)


def test_success_forgets_and_errors_retry_with_exponential_backoff(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        s = Script()
        s.plan("default/flaky", fail, fail, fail, lambda: None)
        c = Controller("pods", s, workers=2)
        c.start()
        c.queue.add("default/ok")
        c.queue.add("default/flaky")
        gochan.sleep(1)
        assert s.times("default/ok") == [0]
        # 5 ms, 10 ms, 20 ms: the default controller rate limiter
        assert s.times("default/flaky") == [0, 0.005, 0.015, 0.035]
        assert c.queue.num_requeues("default/flaky") == 0  # forgotten after the success
        assert (c.stats.errors, c.stats.reconciled) == (3, 2)
        assert c.queue.metrics().retries == 3
        c.stop()

    vrun(main)


def test_requeue_after_forgets_then_adds_after(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        s = Script()
        s.plan("default/a", fail, lambda: Result(requeue_after=30), lambda: None)
        c = Controller("pods", s, workers=1)
        c.start()
        c.queue.add("default/a")
        gochan.sleep(60)
        assert s.times("default/a") == [0, 0.005, 30.005]
        assert c.stats.requeued_after == 1 and c.queue.num_requeues("default/a") == 0
        c.stop()

    vrun(main)


def test_requeue_true_is_rate_limited(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        s = Script()
        s.plan("default/a", lambda: Result(requeue=True), lambda: Result(requeue=True))
        c = Controller("pods", s, workers=1)
        c.start()
        c.queue.add("default/a")
        gochan.sleep(1)
        assert s.times("default/a") == [0, 0.005, 0.015]
        assert c.stats.requeued == 2
        c.stop()

    vrun(main)


def test_a_panic_in_reconcile_is_recovered_and_retried(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        s = Script()

        def nil_map() -> None:
            gochan.panic("assignment to entry in nil map")

        def divide() -> None:
            _ = 1 // 0

        s.plan("default/a", nil_map, divide, lambda: None)
        outcomes: list[Outcome] = []
        c = Controller("pods", s, workers=1, on_result=outcomes.append)
        c.start()
        c.queue.add("default/a")
        gochan.sleep(1)
        assert [o.kind for o in outcomes] == ["panic", "error", "ok"]
        assert isinstance(outcomes[0].error, gochan.Panic)
        assert isinstance(outcomes[1].error, ZeroDivisionError)
        assert (c.stats.panics, c.stats.errors, c.stats.worker_restarts) == (1, 1, 0)
        assert s.times("default/a") == [0, 0.005, 0.015]
        c.stop()

    vrun(main)


def test_on_result_comes_once_the_key_is_done(vrun: Callable[..., Any]) -> None:
    # convergence.settle re-checks at each on_result only when nothing is in
    # flight: the reporting worker must have let go of its key by then.
    def main() -> None:
        seen: list[tuple[bool, int]] = []
        c = Controller(
            "pods",
            Script(),
            workers=1,
            on_result=lambda o: seen.append((o.key in c.in_flight, c.queue.metrics().in_flight)),
        )
        c.start()
        c.queue.add("default/a")
        wait_all_blocked()
        assert seen == [(False, 0)]
        c.stop()

    vrun(main)


def test_a_crash_outside_reconcile_restarts_the_worker_and_frees_the_key(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        s = Script()
        crashes = [1]

        def on_result(o: Outcome) -> None:
            if o.key == "default/a" and crashes:
                crashes.pop()
                raise RuntimeError("bug in the bookkeeping")

        c = Controller("pods", s, workers=1, on_result=on_result)
        c.start()
        c.queue.add("default/a")
        wait_all_blocked()
        gochan.sleep(1)  # the supervisor's restart backoff
        assert c.stats.worker_restarts == 1
        assert c.queue.metrics().in_flight == 0  # the deferred done ran
        c.queue.add("default/a")  # not stuck: it is processed again
        c.queue.add("default/b")
        gochan.sleep(1)
        assert s.times("default/a") == [0, 1] and s.times("default/b") == [1]
        c.stop()

    vrun(main)


def test_a_key_is_never_reconciled_by_two_workers_at_once(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        s = Script()
        for k in ("default/hot", "default/warm"):
            s.plan(k, *[nap] * 50)
        c = Controller("pods", s, workers=8)
        c.start()

        def churn() -> None:
            for i in range(500):
                c.queue.add("default/hot")
                c.queue.add("default/warm")
                c.queue.add(f"default/cold-{i % 20}")
                gochan.sleep(0.001)

        gochan.go(churn).join()
        c.stop()  # drains
        assert s.overlaps == 0 and c.stats.concurrent == 0
        # Re-adds while in flight were remembered, not lost: the last one was processed.
        assert s.times("default/hot")[-1] >= 0.499
        assert c.stats.max_in_flight > 2

    vrun(main)


def test_n_workers_overlap_n_reconciles(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        gate = gochan.Chan[None]()

        def wait(key: str) -> None:
            gate.recv()

        c = Controller("pods", wait, workers=16)
        c.start()
        for i in range(100):
            c.queue.add(f"default/p{i}")
        wait_all_blocked()
        assert c.queue.metrics().in_flight == 16 and len(c.in_flight) == 16
        gate.close()
        c.stop()
        assert c.stats.reconciled == 100 and c.stats.max_in_flight == 16

    vrun(main)


def test_stop_without_drain_leaves_the_queued_keys(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        s = Script()
        for i in range(10):
            s.plan(f"default/p{i}", slow)
        c = Controller("pods", s, workers=2)
        c.start()
        for i in range(10):
            c.queue.add(f"default/p{i}")
        gochan.sleep(0.5)
        c.stop(drain=False)
        assert len(s.calls) == 2

    vrun(main)


def test_the_handler_queues_keys_of_adds_updates_and_tombstones(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1"), obj("b", "2")], resource_version="10")
        keys: list[str] = []

        def record(key: str) -> None:
            keys.append(key)

        c = Controller("pods", record, workers=1)
        inf = Informer(lw, name="pods")
        inf.add_event_handler(c.handler())
        inf.start()
        c.start()
        w = recv_watch(lw)
        wait_all_blocked()
        w.modified(obj("a", "11"))
        wait_all_blocked()
        lw.objects = []
        w.error(410, "Expired")
        recv_watch(lw)
        wait_all_blocked()
        assert keys == ["default/a", "default/b", "default/a", "default/a", "default/b"]
        c.stop()
        inf.stop()

    vrun(main)


# ---- the ConfigMap reconcile against the embedded apiserver ------------------------------------


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(bookmark_interval=0.5) as s:
        yield s


def pod(name: str, image: str = "busybox") -> JSON:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}]}}


def converged(srv: APIServer) -> tuple[list[str], list[str]]:
    """(pods whose ConfigMap is missing or stale, ConfigMaps whose pod is gone)."""
    pods = {p["metadata"]["name"]: p for p in srv.objects("pods")}
    cms = {c["metadata"]["name"]: c for c in srv.objects("configmaps")}
    stale = [
        n for n, p in pods.items() if cms.get(configmap_name(n), {}).get("data") != desired_data(p)
    ]
    orphans = [n for n in cms if n.removesuffix("-info") not in pods]
    return stale, orphans


def run_controller(srv: APIServer, body: Callable[[Controller, ConfigMapReconciler], None]) -> None:
    def main() -> None:
        client = GreenClient(srv.url, timeout=5)
        queue = workqueue.Queue[str](
            "pods", rate_limiter=workqueue.ItemExponentialFailureRateLimiter(0.001, 0.05)
        )
        c = PodConfigMaps(client, "default", workers=8, bookmark_interval=0.5, queue=queue)
        try:
            assert c.start(sync_timeout=10)
            body(c.controller, c.reconciler)
            deadline = gochan.monotonic() + 20  # a safety net
            while converged(srv) != ([], []) or queue.len() or c.controller.in_flight:
                assert gochan.monotonic() < deadline, f"no convergence: {converged(srv)}"
                gochan.sleep(0.01)
        finally:
            c.stop()
            client.close()
        assert c.controller.stats.concurrent == 0

    gochan.run(main)


def test_every_pod_gets_its_configmap_and_deletions_clean_up(srv: APIServer) -> None:
    for i in range(60):
        srv.create("pods", pod(f"p{i}"))

    def body(ctl: Controller, rec: ConfigMapReconciler) -> None:
        def writes() -> None:
            for i in range(0, 60, 3):
                srv.update("pods", {**srv.get("pods", f"p{i}"), "spec": pod("x", "nginx")["spec"]})
            for i in range(1, 60, 3):
                srv.delete("pods", f"p{i}")
            for i in range(60, 80):
                srv.create("pods", pod(f"p{i}"))

        gochan.blocking(writes)

    run_controller(srv, body)
    assert len(srv.objects("configmaps")) == 60
    assert srv.get("configmaps", "p0-info")["data"]["images"] == "nginx"


def test_conflicts_and_errors_are_retried_until_converged(srv: APIServer) -> None:
    for i in range(20):
        srv.create("pods", pod(f"p{i}"))

    def body(ctl: Controller, rec: ConfigMapReconciler) -> None:
        # Wait for the first round, then change every pod with conflicts forced on
        # ConfigMap updates and a few 500s on any configmap request.
        deadline = gochan.monotonic() + 20
        while converged(srv) != ([], []):
            assert gochan.monotonic() < deadline
            gochan.sleep(0.01)

        def writes() -> None:
            srv.force_conflict(count=15, resource="configmaps")
            srv.fail_requests(500, count=5, verbs=None, resource="configmaps", retry_after=None)
            for i in range(20):
                srv.update("pods", {**srv.get("pods", f"p{i}"), "spec": pod("x", "v2")["spec"]})

        gochan.blocking(writes)

    run_controller(srv, body)
    faults = srv.faults.describe()["injected"]
    assert faults.get("conflict") == 15 and faults.get("http_error") == 5


def test_reconcile_repoints_the_owner_and_deletes_only_a_cached_configmap(
    srv: APIServer,
) -> None:
    """The one reconcile (the plain controller's and every shard's): a ConfigMap
    owned by an earlier pod of the same name is re-pointed; a delete touches only
    a ConfigMap the cache holds, and only as the cache saw it (uid and
    resourceVersion preconditions)."""
    srv.create("configmaps", {"metadata": {"name": "other-info"}, "data": {"a": "b"}})
    p = srv.create("pods", pod("p"))

    def main() -> None:
        client = transports.make_transport("green", srv.url, timeout=5)
        pods, cms = store.Store(), store.Store()
        pods.add(p)
        rec = ConfigMapReconciler(client, pods, cms)
        try:
            rec("default/p")
            cm = srv.get("configmaps", "p-info")
            cm["metadata"]["ownerReferences"][0]["uid"] = "uid-of-a-pod-before-it"
            srv.update("configmaps", cm)
            rec("default/p")  # the data is as wanted, the owner is not
            assert owner_uid(srv.get("configmaps", "p-info")) == p["metadata"]["uid"]
            assert rec.counts == {"create": 1, "update": 1}
            rec("default/other")  # no pod, and its ConfigMap is not in the cache: not ours
            assert srv.get("configmaps", "other-info")["data"] == {"a": "b"}
            pods.delete(p)
            cms.add(srv.get("configmaps", "p-info"))
            srv.patch("configmaps", "p-info", {"metadata": {"labels": {"x": "y"}}})
            with pytest.raises(transport.APIStatusError) as e:  # changed since the cache saw it
                rec("default/p")
            assert e.value.code == 409 and srv.objects("configmaps")
            cms.add(srv.get("configmaps", "p-info"))
            rec("default/p")
            assert [c["metadata"]["name"] for c in srv.objects("configmaps")] == ["other-info"]
            assert rec.counts == {"create": 1, "update": 1, "delete": 1}
        finally:
            client.close()

    gochan.run(main)


def test_both_informers_back_off_by_the_given_policy_each_its_own() -> None:
    """The ConfigMap cache decides deletes: it must not stay down on client-go's 0.8 s
    to 30 s default while the pods' informer is on the policy it was given."""
    policy = reflector.Backoff(0.1, 2.0, reset_after=1.0, jitter=0)
    c = PodConfigMaps(None, "default", backoff=policy)  # type: ignore[arg-type]
    pods, cms = c.pods.reflector.backoff, c.configmaps.reflector.backoff
    assert pods is policy and cms is not policy
    assert [cms.next() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert pods.next() == 0.1  # its own steps: the ConfigMaps' did not advance it
