"""Has the controller converged? The check the demo and the tests share.

`check` compares the apiserver's own state (never a cache): every pod has
its ConfigMap holding `desired_data` of the pod as it is now (its *last*
resourceVersion, its uid: a pod deleted and created again under the same
name must not keep the old one's), and no ConfigMap outlives its pod.

`settle` waits for that from a green task, re-checking when a reconcile
ends (the only thing that writes ConfigMaps) rather than on a timer: with
the load stopped, each reconcile either brings the state closer or leaves
it as it is, so the last one to end is the moment to look. ``timeout`` is
only a safety net.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import gochan

from .apiserver import APIServer
from .controller import Outcome
from .reconcile import PodConfigMaps, configmap_name, desired_data


@dataclass
class Verdict:
    pods: int  # live pods
    stale: list[str]  # live pods whose ConfigMap is missing or not their last version
    deleted: int  # pods seen at some point and gone now
    leftovers: list[str]  # ConfigMaps whose pod is gone
    idle: bool = True  # nothing queued or in flight (`settle` only)
    waited: float = 0.0  # seconds `settle` waited
    checks: int = 0  # how many times `settle` looked
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.stale and not self.leftovers

    def __str__(self) -> str:
        return (
            f"{self.pods - len(self.stale)}/{self.pods} pods at their last version, "
            f"{self.deleted} deleted, {len(self.leftovers)} ConfigMaps left behind; "
            f"stale {self.stale[:10]}, leftovers {self.leftovers[:10]}"
        )


def check(srv: APIServer, seen: Iterable[str] = (), namespace: str = "default") -> Verdict:
    """Compare the apiserver's pods and ConfigMaps (its own state, not the cache).

    ``seen``: every pod name the load ever created (only to count the deleted).
    """
    pods = {p["metadata"]["name"]: p for p in srv.objects("pods", namespace)}
    cms = {c["metadata"]["name"]: c for c in srv.objects("configmaps", namespace)}
    stale = [
        n
        for n, p in pods.items()
        if (cms.get(configmap_name(n)) or {}).get("data") != desired_data(p)
    ]
    gone = set(seen) - set(pods)
    leftovers = [n for n in cms if n.removesuffix("-info") not in pods]
    return Verdict(len(pods), stale, len(gone), leftovers)


def settle(
    c: PodConfigMaps,
    srv: APIServer,
    seen: Iterable[str] = (),
    *,
    timeout: float = 60.0,
    namespace: str = "default",
) -> Verdict:
    """From a task: wait until `check` holds and no key is queued or in flight.

    Looks once now, then each time a reconcile ends (a hand-off through the
    controller's ``on_result``; the hook already there is kept and called
    first). Returns the last verdict: ``ok and idle``, or what was still
    wrong when ``timeout`` ran out.
    """
    names = set(seen)
    ctl = c.controller
    kick: gochan.Chan[None] = gochan.Chan(1)
    previous = ctl.on_result

    def on_result(o: Outcome) -> None:
        gochan.select((kick.send, None), gochan.default)
        if previous is not None:
            previous(o)

    ctl.on_result = on_result
    start = gochan.monotonic()
    timer = gochan.Timer(timeout)
    checks = 0
    v: Verdict | None = None
    try:
        while True:
            idle = ctl.queue.len() == 0 and not ctl.in_flight
            if idle or v is None:  # the state is only worth reading when the queue is idle
                checks += 1
                v = check(srv, names, namespace)
            v.idle = idle
            if v.ok and v.idle:
                break
            i, _ = gochan.select(kick.recv, timer.c.recv)
            if i == 1:
                break
    finally:
        timer.stop()
        ctl.on_result = previous
    assert v is not None
    v.waited = gochan.monotonic() - start
    v.checks = checks
    m = ctl.queue.metrics()
    v.detail = {
        "queued": m.depth,
        "in_flight": m.in_flight,
        "delayed": m.delayed,
        "pending": c.pending(),
        "pods_cached": len(c.pods.store),
    }
    return v


__all__ = ["Verdict", "check", "settle"]
