"""Chaos: random faults during a churn of thousands of writes over a few hundred keys.

The controller (two informers, the workqueue, supervised workers, the
ConfigMap reconcile) runs against the embedded apiserver over real HTTP,
while a load writes pods (creates, updates, deletes, and names deleted then
created again) and a seeded schedule fires every fault of faults.py's list
at random points, each at least once, some twice. Then, with the load
stopped and the faults cleared, `convergence.settle` waits (on reconcile
hand-offs, not a timer) and the invariants are checked against the
apiserver's own state:

* every live pod's ConfigMap holds the pod's *last* resourceVersion and uid
  (no lost update), and every deleted pod's ConfigMap is gone (no lost
  delete);
* no key was ever reconciled by two workers at once (an in-flight set around
  reconcile, plus the controller's own count);
* every kind of fault was really injected (the apiserver's counters), so the
  test cannot pass by having nothing go wrong.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import gochan
from gochan import workqueue

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIError, APIServer, serve  # noqa: E402
from examples.k8s_watch.convergence import settle  # noqa: E402
from examples.k8s_watch.reconcile import PodConfigMaps  # noqa: E402
from examples.k8s_watch.reflector import Backoff  # noqa: E402
from examples.k8s_watch.store import JSON  # noqa: E402
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402

NS = "default"
KEYS = 300  # pod names the churn writes over
ROUNDS = 30
WRITES_PER_ROUND = 80  # 2400 churn writes, plus the bursts
BURST = 600  # writes per burst fault, over BURST // 5 names of its own
# At most this many more churn rounds wait for a late fault to hit (then it fails).
EXTRA_ROUNDS = 30
BOOKMARK = 0.5  # s; a silent stream is dead after 1 s


def pod(name: str, rev: int) -> JSON:
    return {
        "metadata": {"name": name, "labels": {"app": "chaos", "rev": str(rev)}},
        "spec": {"containers": [{"name": "main", "image": f"busybox:{rev}"}]},
    }


@dataclass
class Churn:
    """Seeded creates, updates and deletes over ``KEYS`` names (through the Python API)."""

    srv: APIServer
    rng: random.Random
    seen: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)

    def round(self, writes: int) -> None:
        for _ in range(writes):
            name = f"pod-{self.rng.randrange(KEYS):03d}"
            rev = self.rng.randrange(1_000_000)
            try:
                self.srv.get("pods", name, NS)
            except APIError:
                self.srv.create("pods", pod(name, rev), NS)
                self.seen.add(name)
                self.counts["create"] += 1
                continue
            if self.rng.random() < 0.25:
                self.srv.delete("pods", name, NS)
                self.counts["delete"] += 1
            else:
                self.srv.patch("pods", name, {"metadata": {"labels": {"rev": str(rev)}}}, NS)
                self.counts["update"] += 1


# ---- the faults -------------------------------------------------------------------------------


def _live(srv: APIServer) -> None:
    """Hit a live stream, not one that is still down from the last fault."""
    srv.wait_for_watchers(1, "pods", 30.0)


def _hit(srv: APIServer, action: Callable[[], int]) -> None:
    """Run a fault on live streams until it hits one: a stream whose client has just
    hung up still counts as live for `wait_for_watchers` for a moment, not for the fault."""
    for _ in range(200):
        _live(srv)
        if action():
            return
        time.sleep(0.01)  # the reflector reconnecting; bounded
    raise AssertionError("no live stream to hit")


def _http_errors(srv: APIServer, salt: int) -> None:
    # 429 + Retry-After on the pods relist or re-watch (the 410 forces one), and
    # 500s on the reconcile's ConfigMap calls.
    srv.fail_requests(429, count=1, verbs=["list", "watch"], resource="pods", retry_after=1)
    srv.fail_requests(500, count=5, verbs=None, resource="configmaps", retry_after=None)
    _hit(srv, lambda: srv.expire_watches("pods"))


def _stall(srv: APIServer, salt: int) -> None:
    srv.stall_after_headers(count=1, resource="pods")  # the next watch: headers, then silence
    _hit(srv, lambda: srv.end_watches("pods"))


def _compact(srv: APIServer, salt: int) -> None:
    srv.compact()
    _hit(srv, lambda: srv.end_watches("pods"))  # re-watch from an RV at or below the new horizon


def _backlog(srv: APIServer, salt: int) -> None:
    """Slow watches and a burst: the streams fall behind and are closed for it."""
    srv.slow_watches(0.005)  # a watcher sends one event per 5 ms: a burst leaves it behind
    try:
        for attempt in range(5):  # again if no stream was behind (none live, say)
            _live(srv)
            srv.burst(writes=BURST, keys=BURST // 5, namespace=NS, seed=salt * 10 + attempt)
            if srv.close_backlogged_watchers(0, "pods"):
                return
    finally:
        srv.slow_watches(0)


def _tear(srv: APIServer, salt: int) -> None:
    _hit(srv, lambda: srv.tear_watches("pods"))


def _expire(srv: APIServer, salt: int) -> None:
    _hit(srv, lambda: srv.expire_watches("pods"))


def _corrupt(kind: str) -> Callable[[APIServer, int], None]:
    def inject(srv: APIServer, salt: int) -> None:
        _hit(srv, lambda: srv.corrupt_watches(None, kind))  # pods and configmaps streams

    return inject


# name -> (action(srv, salt), the apiserver's injected-counter keys it must move)
FAULTS: dict[str, tuple[Callable[[APIServer, int], None], tuple[str, ...]]] = {
    "torn stream": (_tear, ("watch_tear",)),
    "410 now": (_expire, ("watch_expire",)),
    "compaction": (_compact, ("compact",)),
    "HTTP errors + Retry-After": (_http_errors, ("http_error",)),
    "stall after headers": (_stall, ("stall",)),
    "forced 409s": (
        lambda srv, _: srv.force_conflict(count=10, resource="configmaps"),
        ("conflict",),
    ),
    "restart with state": (lambda srv, _: srv.restart(keep_state=True), ("restart",)),
    "corrupt JSON line": (_corrupt("json"), ("watch_corrupt_json",)),
    "unknown event type": (_corrupt("type"), ("watch_corrupt_type",)),
    "truncated chunk": (_corrupt("truncated"), ("watch_corrupt_truncated",)),
    "slow watch + burst, backlogged watcher closed": (_backlog, ("burst", "watch_backlog")),
}


def not_yet_injected(srv: APIServer, fired: list[str]) -> list[str]:
    """The counter keys of fired faults that the apiserver has not injected yet."""
    injected = Counter(gochan.blocking(srv.faults.describe)["injected"])
    return [key for name in set(fired) for key in FAULTS[name][1] if injected[key] < 1]


def schedule(rng: random.Random) -> dict[int, list[str]]:
    """Round -> faults: every fault once at a random round, and four more at random."""
    names = list(FAULTS) + rng.sample(sorted(FAULTS), 4)
    plan: dict[int, list[str]] = {}
    for name in names:
        plan.setdefault(rng.randrange(1, ROUNDS - 1), []).append(name)
    return plan


# ---- the test -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_during_churn_converge_with_nothing_lost(seed: int) -> None:
    started = time.monotonic()
    rng = random.Random(seed)
    plan = schedule(rng)
    busy: set[str] = set()
    overlaps: list[str] = []
    fired: list[str] = []
    extra = [0]  # churn rounds after the planned ones

    with serve(bookmark_interval=BOOKMARK, seed=seed) as srv:
        churn = Churn(srv, random.Random(seed))

        def main() -> None:
            client = GreenClient(srv.url, timeout=5)
            queue = workqueue.Queue[str](
                "pods", rate_limiter=workqueue.ItemExponentialFailureRateLimiter(0.005, 0.2)
            )
            c = PodConfigMaps(
                client,
                NS,
                workers=8,
                bookmark_interval=BOOKMARK,
                backoff=Backoff(0.05, 0.5, reset_after=2.0, rng=random.Random(seed)),
                queue=queue,
            )
            # PodConfigMaps gives its backoff to the pods informer only; the corrupt
            # faults hit the ConfigMaps stream too.
            c.configmaps.reflector.backoff = Backoff(
                0.05, 0.5, reset_after=2.0, rng=random.Random(seed + 1)
            )
            inner = c.controller.reconcile

            def instrumented(key: str) -> object:
                if key in busy:
                    overlaps.append(key)
                busy.add(key)
                try:
                    return inner(key)
                finally:
                    busy.discard(key)

            c.controller.reconcile = instrumented  # type: ignore[assignment]
            try:
                assert c.start(sync_timeout=30)
                for r in range(ROUNDS):
                    for name in plan.get(r, []):
                        gochan.blocking(FAULTS[name][0], srv, seed * 100 + r)
                        fired.append(name)
                    gochan.blocking(churn.round, WRITES_PER_ROUND)
                    gochan.sleep(0.05)  # pacing the load, not waiting for an outcome
                # A fault armed late (forced 409s wait for the controller's next
                # ConfigMap write) may still be waiting for its request: churn on
                # until every fired fault has hit, rather than clear it unseen.
                while not_yet_injected(srv, fired) and extra[0] < EXTRA_ROUNDS:
                    gochan.blocking(churn.round, WRITES_PER_ROUND)
                    gochan.sleep(0.05)
                    extra[0] += 1
                gochan.blocking(srv.clear_faults)
                load_time = time.monotonic() - started
                names = churn.seen | {f"burst-{k}" for k in range(BURST // 5)}
                verdict = settle(c, srv, names, timeout=60)
                assert verdict.ok and verdict.idle, f"no convergence: {verdict} {verdict.detail}"
                # The caches agree with the apiserver too.
                cached = {o["metadata"]["name"]: o for o in c.pods.store.list()}
                server = {o["metadata"]["name"]: o for o in srv.objects("pods", NS)}
                assert {n: o["metadata"]["resourceVersion"] for n, o in cached.items()} == {
                    n: o["metadata"]["resourceVersion"] for n, o in server.items()
                }
                print(
                    f"seed {seed}: load {load_time:.1f} s, {dict(churn.counts)} churn writes, "
                    f"{len(churn.seen)} names, "
                    f"{verdict}; settled in {verdict.waited:.1f} s after {verdict.checks} checks; "
                    f"{c.controller.stats}; pods reflector {c.pods.reflector.stats} "
                    f"{dict(c.pods.reflector.errors)}"
                )
            finally:
                c.stop(drain=False)
                client.close()
            assert c.controller.stats.concurrent == 0
            assert c.controller.stats.started > 1000

        gochan.run(main, seed=seed)
        injected = Counter(srv.faults.describe()["injected"])

    print(f"seed {seed}: fired {fired}; injected {dict(sorted(injected.items()))}")
    assert overlaps == [], f"keys reconciled by two workers at once: {overlaps[:10]}"
    assert sorted(set(fired)) == sorted(FAULTS)
    missing = [
        (name, key) for name, (_, keys) in FAULTS.items() for key in keys if injected[key] < 1
    ]
    assert missing == [], f"faults scheduled but never injected: {missing}; {injected}"
    assert sum(churn.counts.values()) == (ROUNDS + extra[0]) * WRITES_PER_ROUND
    assert churn.counts["delete"] > 100 and churn.counts["create"] > KEYS
    print(f"seed {seed}: {time.monotonic() - started:.1f} s")
