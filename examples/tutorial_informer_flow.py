"""Tutorial: a tiny informer -> workqueue -> workers flow.

The Go original (the shape of every client-go controller)::

    informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
        AddFunc:    func(obj any) { key, _ := cache.MetaNamespaceKeyFunc(obj); queue.Add(key) },
        UpdateFunc: func(old, new any) { ...; queue.Add(key) },
        DeleteFunc: func(obj any) { ...; queue.Add(key) },
    })
    for i := 0; i < workers; i++ {
        go wait.Until(func() { for processNextWorkItem() {} }, time.Second, stopCh)
    }

    func processNextWorkItem() bool {
        key, shutdown := queue.Get()
        if shutdown { return false }
        defer queue.Done(key)
        if err := reconcile(key); err != nil { queue.AddRateLimited(key); return true }
        queue.Forget(key)
        return true
    }

What to look at: the informer keeps a *store* of the latest objects and
puts only *keys* on the queue. The workers read the current object from
the store when they get a key (level-triggered), so three quick updates of
``default/web`` while it waits in the queue are one reconcile of its
newest state, and a deleted object is seen as gone. ``gochan.workqueue``
never hands a key to two workers at once, and a failed reconcile comes
back after the rate limiter's backoff. Here the "watch" is a fake list of
events on the virtual clock; examples/k8s_watch/ is the real thing
(reflector, informer, supervised workers, leader election, against an
embedded API server).
"""

from __future__ import annotations

from typing import Any

import gochan
from gochan import defer, workqueue

# (time, event type, key, object): what a watch on pods might deliver
EVENTS: list[tuple[float, str, str, dict[str, Any] | None]] = [
    (0.0, "ADDED", "default/web", {"image": "web:1"}),
    (0.0, "ADDED", "default/db", {"image": "db:1"}),
    (0.1, "ADDED", "default/cache", {"image": "cache:1"}),
    (0.3, "MODIFIED", "default/web", {"image": "web:2"}),
    (0.3, "MODIFIED", "default/web", {"image": "web:3"}),
    (0.3, "MODIFIED", "default/web", {"image": "web:4"}),
    (0.5, "DELETED", "default/cache", None),
]


def log(who: str, msg: str) -> None:
    print(f"{gochan.monotonic():.3f}  {who:8} {msg}")


def informer(store: dict[str, dict[str, Any]], q: workqueue.Queue[str]) -> None:
    for at, kind, key, obj in EVENTS:
        gochan.sleep(at - gochan.monotonic())
        if obj is None:
            store.pop(key, None)
        else:
            store[key] = obj
        q.add(key)  # only the key: a key already queued is not queued twice
        log("informer", f"{kind:8} {key} (queued keys: {q.len()})")


class Reconciler:
    def __init__(self, store: dict[str, dict[str, Any]]) -> None:
        self.store = store
        self.failures_left = {"default/db": 1}  # db's first reconcile fails

    def reconcile(self, who: str, key: str) -> None:
        obj = self.store.get(key)  # the state now, not the event that queued the key
        gochan.sleep(0.2)  # talk to the API server
        if self.failures_left.get(key, 0) > 0:
            self.failures_left[key] -= 1
            raise ConnectionError("apiserver unavailable")
        if obj is None:
            log(who, f"{key}: gone, cleaned up")
        else:
            log(who, f"{key}: running {obj['image']}")


@gochan.func
def process_next_work_item(q: workqueue.Queue[str], r: Reconciler, who: str) -> bool:
    key, shutdown = q.get()
    if shutdown or key is None:
        return False
    defer(q.done, key)
    try:
        r.reconcile(who, key)
    except ConnectionError as e:
        log(who, f"{key}: {e}; requeued after backoff")
        q.add_rate_limited(key)
        return True
    q.forget(key)
    return True


def worker(q: workqueue.Queue[str], r: Reconciler, who: str) -> None:
    while process_next_work_item(q, r, who):
        pass


def main() -> None:
    store: dict[str, dict[str, Any]] = {}
    q = workqueue.Queue[str]("pods")
    r = Reconciler(store)
    wg = gochan.WaitGroup()
    gochan.go(informer, store, q)
    for who in ("worker-1", "worker-2"):
        wg.go(worker, q, r, who)
    gochan.sleep(2)
    q.shut_down_with_drain()
    wg.wait()
    m = q.metrics()
    print(
        f"events: {len(EVENTS)}, adds: {m.adds}, reconciles: {m.work_duration.count}, "
        f"retries: {m.retries}"
    )


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
